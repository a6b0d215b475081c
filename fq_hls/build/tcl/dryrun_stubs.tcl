# Dry-run stubs: Vivado / Vitis HLS commands that record each call (one JSON line: {"cmd", "args"}) and
# return plausible handles, so a generated script runs to its end in plain tclsh. Loaded by
# fq_hls.build.dryrun, which sets ::fqstub::log (an open channel) and ::fqstub::opt(...) first.

namespace eval ::fqstub {
    variable project ""
    variable proj_dir ""
    variable bd ""
    # options that take no value; every other -option consumes the next word
    variable flags {-force -quiet -norecurse -top -reset -tb -rebuild -verbose -all -no_ip_version
                    -exclude -append -no_script -reload -setup -hold}
}
if {![info exists ::fqstub::opt(board_parts)]} { set ::fqstub::opt(board_parts) 1 }
# SLACK of the timing paths get_timing_paths returns (ns); "" = no path
if {![info exists ::fqstub::opt(slack)]} { set ::fqstub::opt(slack) 0.250 }
if {![info exists ::fqstub::opt(missing)]} { set ::fqstub::opt(missing) {} }
if {![info exists ::fqstub::opt(tool_version)]} { set ::fqstub::opt(tool_version) 2023.2 }

proc ::fqstub::json_str {s} {
    set out ""
    foreach ch [split $s ""] {
        scan $ch %c code
        if {$ch eq "\""} { append out {\"}
        } elseif {$ch eq "\\"} { append out {\\}
        } elseif {$code < 32} { append out [format {\u%04x} $code]
        } else { append out $ch }
    }
    return "\"$out\""
}

proc ::fqstub::record {cmd arglist} {
    set items {}
    foreach a $arglist { lappend items [json_str $a] }
    puts $::fqstub::log "\{\"cmd\": [json_str $cmd], \"args\": \[[join $items {, }]\]\}"
    flush $::fqstub::log
}

# positional words of a call (options and their values removed)
proc ::fqstub::positional {arglist} {
    variable flags
    set out {}
    set skip 0
    foreach a $arglist {
        if {$skip} { set skip 0; continue }
        if {[string match -* $a] && ![string is double -strict $a]} {
            if {[lsearch -exact $flags $a] < 0} { set skip 1 }
            continue
        }
        lappend out $a
    }
    return $out
}

proc ::fqstub::option {arglist name {default ""}} {
    set i [lsearch -exact $arglist $name]
    if {$i < 0} { return $default }
    return [lindex $arglist [expr {$i + 1}]]
}

# every call is recorded; `body` computes the return value from $args
proc ::fqstub::define {name body} {
    proc ::$name args "::fqstub::record [list $name] \$args\n$body"
}

# ---- commands that only act (return nothing useful) -------------------------------------------------------
foreach cmd {
    set_property update_ip_catalog apply_bd_automation connect_bd_intf_net connect_bd_net assign_bd_address
    validate_bd_design save_bd_design generate_target add_files update_compile_order launch_runs wait_on_run
    open_run report_utilization report_timing_summary regenerate_bd_layout set_param set_msg_config
    open_project open_solution open_component set_top set_part create_clock config_export config_interface
    csim_design csynth_design cosim_design export_design close_project close_solution exclude_bd_addr_seg
    write_hw_platform
} { ::fqstub::define $cmd {return ""} }

# ---- commands that return handles -------------------------------------------------------------------------
::fqstub::define create_project {
    set pos [::fqstub::positional $args]
    set ::fqstub::project [lindex $pos 0]
    set ::fqstub::proj_dir [lindex $pos 1]
    return $::fqstub::project
}
::fqstub::define current_project { return $::fqstub::project }
::fqstub::define create_bd_design { set ::fqstub::bd [lindex [::fqstub::positional $args] 0]; return $::fqstub::bd }
::fqstub::define current_bd_design { return $::fqstub::bd }
::fqstub::define current_fileset { return sources_1 }
::fqstub::define create_bd_cell { return [lindex [::fqstub::positional $args] end] }
foreach cmd {get_bd_cells get_bd_pins get_bd_intf_pins get_bd_ports get_bd_intf_ports get_bd_nets
             get_bd_addr_spaces get_bd_addr_segs get_runs get_files} {
    # a list argument gives a list of objects, as the real get_* commands do
    ::fqstub::define $cmd { return [concat {*}[::fqstub::positional $args]] }
}
# board files: a concrete version for each pattern, or none when opt(board_parts) is 0
::fqstub::define get_board_parts {
    if {!$::fqstub::opt(board_parts)} { return "" }
    set out {}
    foreach p [::fqstub::positional $args] { lappend out [string map {* 1.1} $p] }
    return $out
}
::fqstub::define get_ipdefs {
    set out {}
    foreach p [::fqstub::positional $args] { lappend out [string map {* 1.0} $p] }
    return $out
}
# the worst path of the routed design: a handle whose SLACK is opt(slack), none when that is empty
::fqstub::define get_timing_paths {
    if {$::fqstub::opt(slack) eq ""} { return "" }
    set kind [expr {"-hold" in $args ? "hold" : "setup"}]
    return [list timing_path_${kind}_1]
}
::fqstub::define get_property {
    set pos [::fqstub::positional $args]
    switch -- [string toupper [lindex $pos 0]] {
        PROGRESS { return 100% }
        SLACK { if {[llength [lindex $pos 1]]} { return $::fqstub::opt(slack) } else { return "" } }
        STATUS { return "write_bitstream Complete!" }
        DIRECTORY { return [file join $::fqstub::proj_dir $::fqstub::project.runs [lindex $pos 1]] }
        default { return "" }
    }
}
::fqstub::define make_wrapper {
    return [file join $::fqstub::proj_dir $::fqstub::project.gen sources_1 bd $::fqstub::bd hdl \
                ${::fqstub::bd}_wrapper.v]
}
::fqstub::define version { return $::fqstub::opt(tool_version) }

# ---- file system: copies, deletes and directories are recorded, not done; `exists` says yes except for
# paths matching one of opt(missing) ----------------------------------------------------------------------
rename ::file ::fqstub::real_file
proc ::file {sub args} {
    switch -- $sub {
        copy - delete - mkdir - rename - attributes {
            ::fqstub::record "file $sub" $args
            return ""
        }
        exists {
            ::fqstub::record "file exists" $args
            foreach pat $::fqstub::opt(missing) {
                if {[string match $pat [lindex $args 0]]} { return 0 }
            }
            return 1
        }
        default { return [::fqstub::real_file $sub {*}$args] }
    }
}
rename ::exit ::fqstub::real_exit
proc ::exit {{code 0}} {
    ::fqstub::record exit [list $code]
    return -code error -errorcode [list FQSTUB_EXIT $code] "exit $code"
}
