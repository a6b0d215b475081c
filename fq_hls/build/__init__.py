"""Vitis HLS / Vivado builds of the fq_accel overlay: TCL writers, tool runners, TCL dry-run, report parsers.

    write_hls_project(cfg, outdir)                  Vitis HLS project (both TCL dialects) -> run_hls.tcl
    write_vivado_project(cfg, outdir, ip_repo=...)  block design + bitstream scripts -> build_overlay.tcl
    dry_run_tcl(script)                             run a script in tclsh with recording stubs -> TclTrace
    parse_csynth_xml / parse_vivado_utilization / parse_vivado_timing   reports -> dicts with evidence
    parse_hls_reports(csynth_xml)                   csynth.xml + per-module reports: loops with achieved/target II
    check_design(cfg, hls, vivado, model=...)       loop IIs and resource totals against the model -> DesignCheck
    hls_flow / build_flow / collect_build           what `fq-hls hls` and `fq-hls build` do

Flow and outputs: docs/build.md.
"""

from .dryrun import DryRunError, TclCall, TclTrace, dry_run_tcl
from .flow import build_flow, collect_build, hls_flow, write_build
from .hls_project import write_hls_project
from .model_check import DesignCheck, DesignCheckError, check_design, model_resources, pipelined_labels
from .reports import (
    parse_csynth_rpt_loops,
    parse_csynth_xml,
    parse_hls_reports,
    parse_vivado_timing,
    parse_vivado_utilization,
)
from .tools import ToolFailedError
from .vivado_project import write_vivado_project

__all__ = [
    "DesignCheck",
    "DesignCheckError",
    "DryRunError",
    "TclCall",
    "TclTrace",
    "ToolFailedError",
    "build_flow",
    "check_design",
    "collect_build",
    "dry_run_tcl",
    "hls_flow",
    "model_resources",
    "parse_csynth_rpt_loops",
    "parse_csynth_xml",
    "parse_hls_reports",
    "parse_vivado_timing",
    "parse_vivado_utilization",
    "pipelined_labels",
    "write_build",
    "write_hls_project",
    "write_vivado_project",
]
