# PYNQ-Z2 (TUL, Zynq-7020): board parameters of the fq_accel overlay.
# Sourced by build_overlay.tcl after settings.tcl, which holds what fq_hls.hw.config knows (part, family,
# clock, AXI width); this file holds only what the block design needs beyond it.
# Edit here, not in the generated copies under <build>/vivado/.

# Board files used when installed (PS preset: DDR, MIO); otherwise the bare part is used.
set fq(board_part_pattern) {tul.com.tw:pynq-z2:part0:*}
# PS slave ports for the IP's m_axi bundles, in the order of fq(bundles) (gmem_w gmem_in gmem_out gmem_in2).
set fq(mem_ports) {S_AXI_HP0 S_AXI_HP1 S_AXI_HP2 S_AXI_HP3}
# PS master port that drives the s_axilite control bundle.
set fq(ctrl_port) {M_AXI_GP0}
