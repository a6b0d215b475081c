# fq_accel overlay: Vivado project, block design (PS + fq_accel + SmartConnects + reset), bitstream,
# reports, and the PYNQ pair <overlay>.bit / <overlay>.hwh. Sourced by build_overlay.tcl after settings.tcl
# (fq(...) from fq_hls.hw.config), board.tcl (ports, board part) and bd_<family>.tcl (fq_ps_* procedures).

proc fq_fail {msg} { error "fq-hls overlay: $msg" }

proc fq_smartconnect {name} {
    set ic [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect $name]
    set_property -dict [list CONFIG.NUM_SI 1 CONFIG.NUM_MI 1] $ic
    return $ic
}

proc fq_check_run {run} {
    set progress [get_property PROGRESS [get_runs $run]]
    if {$progress ne "100%"} {
        fq_fail "$run stopped at $progress ([get_property STATUS [get_runs $run]]); see its runme.log"
    }
}

# ---- project and IP catalog -------------------------------------------------------------------------------
create_project -force $fq(project) $fq(proj_dir) -part $fq(part)
set fq(board_part) ""
if {$fq(board_part_pattern) ne ""} {
    set parts [lsort [get_board_parts -quiet $fq(board_part_pattern)]]
    if {[llength $parts]} {
        set fq(board_part) [lindex $parts end]
        set_property board_part $fq(board_part) [current_project]
    } else {
        puts "fq-hls overlay: no board files match $fq(board_part_pattern); building on the bare part $fq(part)"
    }
}
# Vivado scans the repository recursively: both HLS layouts (<prj>/<sol>/impl/ip, <comp>/hls/impl/ip) work.
set_property ip_repo_paths [list $fq(ip_repo)] [current_project]
update_ip_catalog -rebuild
if {[llength [get_ipdefs -quiet $fq(ip_vlnv)]] == 0} {
    fq_fail "IP $fq(ip_vlnv) not in the catalog (ip_repo_paths $fq(ip_repo)): run the HLS export step first"
}

# ---- block design -----------------------------------------------------------------------------------------
create_bd_design $fq(bd)
set ps [fq_ps_create]
set accel [create_bd_cell -type ip -vlnv $fq(ip_vlnv) fq_accel_0]
set rst [create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset rst_pl]

set clk [get_bd_pins $ps/[fq_ps_clock_pin]]
connect_bd_net $clk [get_bd_pins $accel/ap_clk] [get_bd_pins $rst/slowest_sync_clk]
connect_bd_net [get_bd_pins $ps/[fq_ps_reset_pin]] [get_bd_pins $rst/ext_reset_in]
connect_bd_net [get_bd_pins $rst/peripheral_aresetn] [get_bd_pins $accel/ap_rst_n]

# One PS slave port per m_axi bundle, so the three streams do not share DDR bandwidth of one port.
if {[llength $fq(bundles)] != [llength $fq(mem_ports)]} {
    fq_fail "[llength $fq(bundles)] m_axi bundles ($fq(bundles)) but [llength $fq(mem_ports)] PS ports ($fq(mem_ports))"
}
foreach bundle $fq(bundles) port $fq(mem_ports) {
    set ic [fq_smartconnect sc_$bundle]
    connect_bd_intf_net [get_bd_intf_pins $accel/m_axi_$bundle] [get_bd_intf_pins $ic/S00_AXI]
    connect_bd_intf_net [get_bd_intf_pins $ic/M00_AXI] [get_bd_intf_pins $ps/$port]
    connect_bd_net $clk [get_bd_pins $ic/aclk] [get_bd_pins $ps/[fq_ps_port_clock $port]]
    connect_bd_net [get_bd_pins $rst/interconnect_aresetn] [get_bd_pins $ic/aresetn]
}

# Control: the PS master drives the s_axilite bundle.
set ic [fq_smartconnect sc_control]
connect_bd_intf_net [get_bd_intf_pins $ps/$fq(ctrl_port)] [get_bd_intf_pins $ic/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins $ic/M00_AXI] [get_bd_intf_pins $accel/s_axi_$fq(ctrl_bundle)]
connect_bd_net $clk [get_bd_pins $ic/aclk] [get_bd_pins $ps/[fq_ps_port_clock $fq(ctrl_port)]]
connect_bd_net [get_bd_pins $rst/interconnect_aresetn] [get_bd_pins $ic/aresetn]

# ---- address map ------------------------------------------------------------------------------------------
# Each master of the IP sees the whole PS DDR through its own port (the runtime hands it physical addresses).
foreach bundle $fq(bundles) port $fq(mem_ports) {
    set space [get_bd_addr_spaces $accel/Data_m_axi_$bundle]
    set names {}
    foreach seg [fq_ps_ddr_segments $port] { lappend names $ps/$seg }
    set segs [get_bd_addr_segs -quiet $names]
    if {[llength $segs] == 0} { fq_fail "no DDR segment behind $ps/$port ($names)" }
    foreach seg $segs { assign_bd_address -target_address_space $space $seg }
}
assign_bd_address -target_address_space [get_bd_addr_spaces $ps/[fq_ps_master_space]] \
    -offset [fq_ps_ctrl_base $fq(ctrl_port)] -range $fq(ctrl_range) \
    [get_bd_addr_segs $accel/s_axi_$fq(ctrl_bundle)/Reg]

validate_bd_design
save_bd_design

# ---- synthesis, implementation, bitstream -----------------------------------------------------------------
set bd_file [get_files $fq(bd).bd]
generate_target all $bd_file
set wrapper [make_wrapper -files $bd_file -top]
add_files -norecurse $wrapper
set_property top $fq(bd)_wrapper [current_fileset]
update_compile_order -fileset sources_1

launch_runs synth_1 -jobs $fq(jobs)
wait_on_run synth_1
fq_check_run synth_1
# implementation up to route_design; the bitstream only once timing is known to be met
launch_runs impl_1 -jobs $fq(jobs)
wait_on_run impl_1
fq_check_run impl_1

open_run impl_1
file mkdir $fq(report_dir)
report_utilization -file [file join $fq(report_dir) vivado_utilization.rpt]
report_timing_summary -max_paths 10 -file [file join $fq(report_dir) vivado_timing_summary.rpt]

# ---- timing gate: the worst setup slack of the routed design (WNS) must not be negative -------------------
# A bitstream with negative slack may compute wrong results at the configured clock, so none is written; the
# reports above stay for `fq-hls build --collect`.
set fq(wns) [get_property SLACK [get_timing_paths -max_paths 1 -nworst 1 -setup]]
if {$fq(wns) eq ""} {
    fq_fail "no setup timing path in the routed design: is the PL clock constrained? No bitstream written"
}
if {$fq(wns) < 0} {
    fq_fail "timing not met: WNS $fq(wns) ns < 0 at $fq(clock_mhz) MHz\
        (see [file join $fq(report_dir) vivado_timing_summary.rpt]); no bitstream written: lower the clock\
        (fq-hls build --clock-mhz)"
}
puts "fq-hls overlay: timing met, WNS $fq(wns) ns at $fq(clock_mhz) MHz"
launch_runs impl_1 -to_step write_bitstream -jobs $fq(jobs)
wait_on_run impl_1
fq_check_run impl_1

# ---- the PYNQ pair: <overlay>.bit next to <overlay>.hwh ---------------------------------------------------
set bit [file join [get_property DIRECTORY [get_runs impl_1]] $fq(bd)_wrapper.bit]
if {![file exists $bit]} { fq_fail "bitstream $bit was not written" }
# Vivado 2020.1 and later put generated BD products under <project>.gen, older releases under <project>.srcs.
set hwh ""
foreach tree [list $fq(project).gen $fq(project).srcs] {
    set candidate [file join $fq(proj_dir) $tree sources_1 bd $fq(bd) hw_handoff $fq(bd).hwh]
    if {[file exists $candidate]} { set hwh $candidate; break }
}
if {$hwh eq ""} { fq_fail "no $fq(bd).hwh under $fq(proj_dir)/$fq(project).gen or .srcs" }
file mkdir $fq(out_dir)
file copy -force $bit [file join $fq(out_dir) $fq(overlay).bit]
file copy -force $hwh [file join $fq(out_dir) $fq(overlay).hwh]
puts "fq-hls overlay: wrote [file join $fq(out_dir) $fq(overlay).bit] and $fq(overlay).hwh"
