# Zynq-7000 processing system for the fq_accel overlay (processing_system7).
# Defines the fq_ps_* procedures that overlay.tcl calls; board.tcl chose the ports, settings.tcl the clock.

# slave port -> {enable property, data-width property, clock pin, DDR address segments (under the PS cell)}
array set fq_ps_slave {
    S_AXI_HP0 {PCW_USE_S_AXI_HP0 PCW_S_AXI_HP0_DATA_WIDTH S_AXI_HP0_ACLK {S_AXI_HP0/HP0_DDR_LOWOCM}}
    S_AXI_HP1 {PCW_USE_S_AXI_HP1 PCW_S_AXI_HP1_DATA_WIDTH S_AXI_HP1_ACLK {S_AXI_HP1/HP1_DDR_LOWOCM}}
    S_AXI_HP2 {PCW_USE_S_AXI_HP2 PCW_S_AXI_HP2_DATA_WIDTH S_AXI_HP2_ACLK {S_AXI_HP2/HP2_DDR_LOWOCM}}
    S_AXI_HP3 {PCW_USE_S_AXI_HP3 PCW_S_AXI_HP3_DATA_WIDTH S_AXI_HP3_ACLK {S_AXI_HP3/HP3_DDR_LOWOCM}}
}
# master port -> {enable property, clock pin, base address of the PL window}
array set fq_ps_master {
    M_AXI_GP0 {PCW_USE_M_AXI_GP0 M_AXI_GP0_ACLK 0x40000000}
    M_AXI_GP1 {PCW_USE_M_AXI_GP1 M_AXI_GP1_ACLK 0x80000000}
}

proc fq_ps_create {} {
    global fq fq_ps_slave fq_ps_master
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7 ps7]
    # DDR and FIXED_IO become ports; the board preset (MIO, DDR timing) only when the board files exist.
    set preset [expr {$fq(board_part) ne "" ? 1 : 0}]
    apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
        -config [list make_external "FIXED_IO, DDR" apply_board_preset $preset Master Disable Slave Disable] $ps
    # HP ports are at most 64 bits wide on Zynq-7000; the SmartConnect converts wider IP ports.
    set width [expr {$fq(axi_bits) > 64 ? 64 : $fq(axi_bits)}]
    set props [list CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $fq(clock_mhz) CONFIG.PCW_EN_CLK0_PORT 1 \
                   CONFIG.PCW_EN_RST0_PORT 1]
    foreach port [array names fq_ps_master] {
        lappend props CONFIG.[lindex $fq_ps_master($port) 0] [expr {$port eq $fq(ctrl_port) ? 1 : 0}]
    }
    foreach port $fq(mem_ports) {
        if {![info exists fq_ps_slave($port)]} { error "fq-hls overlay: $port is not a Zynq-7000 HP port" }
        lappend props CONFIG.[lindex $fq_ps_slave($port) 0] 1 CONFIG.[lindex $fq_ps_slave($port) 1] $width
    }
    if {![info exists fq_ps_master($fq(ctrl_port))]} { error "fq-hls overlay: $fq(ctrl_port) is not a Zynq-7000 GP master" }
    set_property -dict $props $ps
    return $ps
}

proc fq_ps_clock_pin {} { return FCLK_CLK0 }
proc fq_ps_reset_pin {} { return FCLK_RESET0_N }
proc fq_ps_master_space {} { return Data }
proc fq_ps_port_clock {port} {
    global fq_ps_slave fq_ps_master
    if {[info exists fq_ps_slave($port)]} { return [lindex $fq_ps_slave($port) 2] }
    return [lindex $fq_ps_master($port) 1]
}
proc fq_ps_ddr_segments {port} { global fq_ps_slave; return [lindex $fq_ps_slave($port) 3] }
proc fq_ps_ctrl_base {port} { global fq_ps_master; return [lindex $fq_ps_master($port) 2] }
