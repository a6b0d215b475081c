# Zynq UltraScale+ MPSoC processing system for the fq_accel overlay (zynq_ultra_ps_e).
# Defines the fq_ps_* procedures that overlay.tcl calls; board.tcl chose the ports, settings.tcl the clock.

# slave port -> {enable property, data-width property, clock pin, DDR address segments (under the PS cell)}
array set fq_ps_slave {
    S_AXI_HPC0_FPD {PSU__USE__S_AXI_GP0 PSU__SAXIGP0__DATA_WIDTH saxihpc0_fpd_aclk {SAXIGP0/HPC0_DDR_LOW SAXIGP0/HPC0_DDR_HIGH}}
    S_AXI_HPC1_FPD {PSU__USE__S_AXI_GP1 PSU__SAXIGP1__DATA_WIDTH saxihpc1_fpd_aclk {SAXIGP1/HPC1_DDR_LOW SAXIGP1/HPC1_DDR_HIGH}}
    S_AXI_HP0_FPD  {PSU__USE__S_AXI_GP2 PSU__SAXIGP2__DATA_WIDTH saxihp0_fpd_aclk  {SAXIGP2/HP0_DDR_LOW SAXIGP2/HP0_DDR_HIGH}}
    S_AXI_HP1_FPD  {PSU__USE__S_AXI_GP3 PSU__SAXIGP3__DATA_WIDTH saxihp1_fpd_aclk  {SAXIGP3/HP1_DDR_LOW SAXIGP3/HP1_DDR_HIGH}}
    S_AXI_HP2_FPD  {PSU__USE__S_AXI_GP4 PSU__SAXIGP4__DATA_WIDTH saxihp2_fpd_aclk  {SAXIGP4/HP2_DDR_LOW SAXIGP4/HP2_DDR_HIGH}}
    S_AXI_HP3_FPD  {PSU__USE__S_AXI_GP5 PSU__SAXIGP5__DATA_WIDTH saxihp3_fpd_aclk  {SAXIGP5/HP3_DDR_LOW SAXIGP5/HP3_DDR_HIGH}}
}
# master port -> {enable property, data-width property, clock pin, base address of the PL window}
array set fq_ps_master {
    M_AXI_HPM0_FPD {PSU__USE__M_AXI_GP0 PSU__MAXIGP0__DATA_WIDTH maxihpm0_fpd_aclk 0xA0000000}
    M_AXI_HPM1_FPD {PSU__USE__M_AXI_GP1 PSU__MAXIGP1__DATA_WIDTH maxihpm1_fpd_aclk 0xB0000000}
    M_AXI_HPM0_LPD {PSU__USE__M_AXI_GP2 PSU__MAXIGP2__DATA_WIDTH maxihpm0_lpd_aclk 0x80000000}
}

proc fq_ps_create {} {
    global fq fq_ps_slave fq_ps_master
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:zynq_ultra_ps_e zynq_ps]
    if {$fq(board_part) ne ""} {
        apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {apply_board_preset "1"} $ps
    }
    set props [list CONFIG.PSU__FPGA_PL0_ENABLE 1 CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $fq(clock_mhz)]
    # Presets enable masters we do not use; an enabled master with an unconnected clock fails validation.
    foreach port [array names fq_ps_master] {
        lappend props CONFIG.[lindex $fq_ps_master($port) 0] [expr {$port eq $fq(ctrl_port) ? 1 : 0}]
    }
    if {![info exists fq_ps_master($fq(ctrl_port))]} { error "fq-hls overlay: $fq(ctrl_port) is not an MPSoC HPM master" }
    lappend props CONFIG.[lindex $fq_ps_master($fq(ctrl_port)) 1] 32
    foreach port $fq(mem_ports) {
        if {![info exists fq_ps_slave($port)]} { error "fq-hls overlay: $port is not an MPSoC HP/HPC port" }
        lappend props CONFIG.[lindex $fq_ps_slave($port) 0] 1 CONFIG.[lindex $fq_ps_slave($port) 1] $fq(axi_bits)
    }
    set_property -dict $props $ps
    return $ps
}

proc fq_ps_clock_pin {} { return pl_clk0 }
proc fq_ps_reset_pin {} { return pl_resetn0 }
proc fq_ps_master_space {} { return Data }
proc fq_ps_port_clock {port} {
    global fq_ps_slave fq_ps_master
    if {[info exists fq_ps_slave($port)]} { return [lindex $fq_ps_slave($port) 2] }
    return [lindex $fq_ps_master($port) 2]
}
proc fq_ps_ddr_segments {port} { global fq_ps_slave; return [lindex $fq_ps_slave($port) 3] }
proc fq_ps_ctrl_base {port} { global fq_ps_master; return [lindex $fq_ps_master($port) 3] }
