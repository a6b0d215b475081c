"""The Vitis HLS project of the fq_accel IP: sources (from codegen), step scripts, runner, output lookup.

Layout written under `outdir`:

    src/            the C++ sources and generated config (fq_hls.codegen.write_sources), tb_fq_accel.cpp
    tb_data/        the testbench's program image and reference output (fq_hls.build.testbench)
    project.tcl     opens the project/component, adds files (with the m_axi depth macros), part, clock,
                    the pinned m_axi interface settings (config_interface), IP export settings
    csim.tcl csynth.tcl cosim.tcl export.tcl   one step each (for running by hand)
    run_hls.tcl     the selected steps in order, in one tool session
    run_hls.sh      runs a script with whichever runner is on PATH
    hls_config.json the hardware configuration and steps this project was written for

The scripts speak both dialects: `open_project`/`open_solution` (vitis_hls -f, Vitis <= 2024.1) and
`open_component` (vitis-run --mode hls --tcl, 2024.2+); FQ_HLS_DIALECT picks one, otherwise the script
uses open_component when the tool has it. Both dialects take the same Tcl configuration commands
(config_interface, config_export), so the interface settings are written once for both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ..errors import InputError, ToolMissingError
from ..hw import abi
from ..hw.config import HardwareConfig
from ..hw.cycles import DEPTHS
from . import tools
from .tclquote import tcl_word
from .testbench import DEFAULT_DEPTHS

STEPS = ("csim", "csynth", "cosim", "export")
# C simulation, synthesis, C/RTL co-simulation of the synthesised RTL against the same testbench, IP export
DEFAULT_STEPS = STEPS
TB_DATA = "tb_data"  # testbench data folder (fq_hls.build.testbench), passed to csim/cosim as argv[1]
PROJECT = "fq_accel_prj"  # open_project dialect: <PROJECT>/<SOLUTION>/...
SOLUTION = "sol"
COMPONENT = "fq_accel_comp"  # open_component dialect: <COMPONENT>/hls/...
CFLAGS = "-std=c++14"
SOURCE_SUFFIXES = (".cpp", ".cc", ".cxx", ".c")

_STEP_COMMAND = {
    "csim": "csim_design",
    "csynth": "csynth_design",
    "cosim": "cosim_design -rtl verilog",
    "export": "export_design -format ip_catalog",
}


# The arguments of the top function in order, as they lay out the s_axilite `control` registers
# (hls_src/fq_accel.cpp): pointers are m_axi offsets held in the control bundle, n_layers a 32-bit scalar.
TOP_ARGS = (("weights", "pointer"), ("act_in", "pointer"), ("act_out", "pointer"), ("desc", "pointer"),
            ("n_layers", "scalar32"), ("act_in2", "pointer"))
M_AXI_ADDR64 = True  # fq_hls.hw.abi's register map is the 64-bit address layout: see s_axilite_offsets


def s_axilite_offsets(addr64: bool = M_AXI_ADDR64) -> dict[str, int]:
    """Register offsets Vitis HLS gives TOP_ARGS in the control bundle: from 0x10, each argument's data words
    (two for a 64-bit m_axi offset, one for a 32-bit scalar or address) followed by one reserved word."""
    offsets, at = {}, 0x10
    for name, kind in TOP_ARGS:
        offsets[name] = at
        words = 2 if kind == "pointer" and addr64 else 1
        at += 4 * (words + 1)
    return offsets


def check_register_map(addr64: bool = M_AXI_ADDR64) -> None:
    """InputError when fq_hls.hw.abi.REGISTERS is not the layout Vitis HLS builds with this address width."""
    built = s_axilite_offsets(addr64)
    if built != abi.REGISTERS:
        diff = ", ".join(f"{k} 0x{abi.REGISTERS.get(k, -1):x} != 0x{v:x}" for k, v in built.items()
                         if abi.REGISTERS.get(k) != v)
        raise InputError(f"fq_hls.hw.abi.REGISTERS does not match the s_axilite map of -m_axi_addr64 "
                         f"{str(addr64).lower()} ({diff})")


def interface_settings(cfg: HardwareConfig) -> dict[str, str]:
    """config_interface options pinned for `cfg` (Vitis HLS defaults differ between releases and flow targets).

    -m_axi_addr64 true: 64-bit m_axi addresses; fq_hls.hw.abi's offsets (0x10, 0x1c, 0x28, 0x34 for the
      pointers, 0x40 n_layers, 0x48 act_in2) are that layout (check_register_map).
    -m_axi_alignment_byte_size / -m_axi_max_widen_bitwidth: one AXI beat of the board config; the driver's
      buffers are page-aligned and every tensor and weight stream starts on a 64-byte boundary, so HLS may
      widen the byte pointers' bursts to the full port width (the pragmas cap each port at FQ_AXI_BITS).
    -m_axi_latency: the AXI read latency the cycle model assumes (fq_hls.hw.cycles.DEPTHS["load"]), so the
      schedule issues reads as early as the model expects.
    -m_axi_auto_max_ports false: ports share bundles as the pragmas say (desc on gmem_w), one adapter each.
    """
    bits = int(cfg.axi_bits)
    if bits < 8 or bits > 1024 or bits & (bits - 1):
        raise InputError(f"axi_bits {cfg.axi_bits}: the m_axi port width must be a power of two from 8 to 1024")
    return {
        "-m_axi_addr64": "true" if M_AXI_ADDR64 else "false",
        "-m_axi_alignment_byte_size": str(bits // 8),
        "-m_axi_max_widen_bitwidth": str(bits),
        "-m_axi_latency": str(int(DEPTHS["load"])),
        "-m_axi_auto_max_ports": "false",
    }


def vlnv_parts(vlnv: str = abi.VLNV) -> tuple[str, str, str, str]:
    parts = vlnv.split(":")
    if len(parts) != 4:
        raise InputError(f"IP VLNV {vlnv!r} is not vendor:library:name:version")
    return parts[0], parts[1], parts[2], parts[3]


def parse_steps(text: str | Sequence[str]) -> tuple[str, ...]:
    """'csynth,export' -> ('csynth', 'export') in flow order; unknown steps raise InputError."""
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    bad = [s for s in items if s not in STEPS]
    if bad or not items:
        raise InputError(f"--steps: unknown or empty {', '.join(bad) or text!r}; choose from {','.join(STEPS)}")
    return tuple(s for s in STEPS if s in items)


def is_testbench(path: Path) -> bool:
    stem = path.stem
    return stem.startswith("tb_") or stem.endswith("_tb") or stem.endswith("_test")


def _default_write_sources(cfg: HardwareConfig, src: Path) -> list[Path]:
    from .. import codegen

    write = getattr(codegen, "write_sources", None)
    if write is None:
        raise InputError("fq_hls.codegen.write_sources is not available in this build: cannot write HLS sources")
    return list(write(cfg, src))


def depth_cflags(depths: dict[str, int]) -> str:
    return " ".join(f"-D{k}={int(v)}" for k, v in depths.items())


def _project_tcl(cfg: HardwareConfig, design: list[str], testbench: list[str], depths: dict[str, int]) -> str:
    vendor, library, name, version = vlnv_parts()
    period = 1000.0 / cfg.clock_mhz
    iface = interface_settings(cfg)
    lines = [
        f"# fq_accel Vitis HLS project for {cfg.board} (engine {cfg.engine}, {cfg.clock_mhz:g} MHz), written by",
        "# fq-hls. Sourced by the step scripts; set fq_reset 1 before sourcing to start from a clean project.",
        "set here [file dirname [file normalize [info script]]]",
        "cd $here",
        "set fq_src [file join $here src]",
        "# m_axi depths (elements) for the INTERFACE pragmas (depth = FQ_DEPTH_*): co-simulation's memory model",
        "# of each argument holds this many; the testbench allocates as many (fq_hls.build.testbench)",
        f'set fq_cflags "{CFLAGS} -I$fq_src {depth_cflags(depths)}"',
        "if {![info exists fq_reset]} { set fq_reset 0 }",
        "if {[info exists ::env(FQ_HLS_DIALECT)]} {",
        "    set fq_dialect $::env(FQ_HLS_DIALECT)",
        "} elseif {[llength [info commands open_component]]} {",
        "    set fq_dialect component",
        "} else {",
        "    set fq_dialect project",
        "}",
        "if {$fq_dialect eq {component}} {",
        f"    if {{$fq_reset}} {{ open_component -reset {COMPONENT} -flow_target vivado }} "
        f"else {{ open_component {COMPONENT} -flow_target vivado }}",
        "} else {",
        "    # -reset drops the file list and top only; the solution keeps its results for later steps",
        f"    open_project -reset {PROJECT}",
        "}",
        f"set_top {abi.TOP}",
    ]
    for rel in design:
        lines.append(f"add_files [file join $fq_src {tcl_word(rel)}] -cflags $fq_cflags")
    for rel in testbench:
        lines.append(f"add_files -tb [file join $fq_src {tcl_word(rel)}] -cflags $fq_cflags")
    lines += [
        "if {$fq_dialect ne {component}} {",
        f"    if {{$fq_reset}} {{ open_solution -reset -flow_target vivado {SOLUTION} }} "
        f"else {{ open_solution -flow_target vivado {SOLUTION} }}",
        "}",
        f"set_part {tcl_word(cfg.info.part)}",
        f"create_clock -period {period:.3f} -name default",
        f"# m_axi interface pinned for {cfg.axi_bits}-bit ports (fq_hls.build.hls_project.interface_settings):",
        "# 64-bit addresses give the s_axilite map of fq_hls.hw.abi (0x10 weights, 0x1c act_in, 0x28 act_out,",
        "# 0x34 desc, 0x40 n_layers, 0x48 act_in2); alignment and widening = one AXI beat; read latency = the",
        "# cycle model's; bundles exactly as the pragmas give them",
        "config_interface " + " ".join(f"{k} {v}" for k, v in iface.items()),
        f"config_export -format ip_catalog -rtl verilog -vendor {tcl_word(vendor)} -library {tcl_word(library)} "
        f"-version {tcl_word(version)} -ipname {tcl_word(name)} "
        f"-display_name {tcl_word(f'fq_accel ({cfg.engine} engine, {cfg.lanes}x{cfg.pixels})')}",
        "",
    ]
    return "\n".join(lines)


def _steps_tcl(steps: Sequence[str], purpose: str, tb_argv: bool) -> str:
    reset = "1" if "csynth" in steps else "0"  # a fresh synthesis; other steps reuse its results
    lines = [
        f"# {purpose} (fq-hls). Run: vitis_hls -f <this> | vitis-run --mode hls --tcl <this> | ./run_hls.sh <this>",
        f"set fq_reset {reset}",
        "source [file join [file dirname [file normalize [info script]]] project.tcl]",
    ]
    argv = f" -argv [file join $here {TB_DATA}]" if tb_argv else ""
    lines += [_STEP_COMMAND[s] + (argv if s in ("csim", "cosim") else "") for s in steps]
    lines += ["exit", ""]
    return "\n".join(lines)


_RUN_SH = """#!/bin/sh
# Run a script of this Vitis HLS project with whichever runner is on PATH. Usage: ./run_hls.sh [script.tcl]
cd "$(dirname "$0")" || exit 1
script="${1:-run_hls.tcl}"
if command -v vitis_hls >/dev/null 2>&1; then
    FQ_HLS_DIALECT=project exec vitis_hls -f "$script"
elif command -v vitis-run >/dev/null 2>&1; then
    FQ_HLS_DIALECT=component exec vitis-run --mode hls --tcl "$script"
else
    echo "neither vitis_hls nor vitis-run is on PATH: source <Xilinx>/Vitis/<version>/settings64.sh first" >&2
    exit 127
fi
"""


def write_hls_project(
    cfg: HardwareConfig,
    outdir: str | Path,
    *,
    steps: Iterable[str] = DEFAULT_STEPS,
    write_sources: Callable[[HardwareConfig, Path], list[Path]] | None = None,
    testbench: bool = True,
) -> Path:
    """Write the Vitis HLS project for `cfg` into `outdir`; return the path of run_hls.tcl.

    `write_sources(cfg, outdir / "src")` (default: fq_hls.codegen.write_sources) writes the C++; files named
    tb_*, *_tb or *_test are the C-simulation/co-simulation testbench. When it writes none and `testbench`
    is true, fq_hls.build.testbench adds tb_fq_accel.cpp and its data (outdir/tb_data).
    """
    outdir = Path(outdir)
    steps = parse_steps(list(steps))
    src = outdir / "src"
    src.mkdir(parents=True, exist_ok=True)
    files = [Path(p) for p in (write_sources or _default_write_sources)(cfg, src)]
    rel = []
    for p in files:
        p = p if p.is_absolute() else src / p
        try:
            rel.append(p.resolve().relative_to(src.resolve()))
        except ValueError as e:
            raise InputError(f"write_sources returned {p}, outside {src}") from e
    design = [r.as_posix() for r in rel if r.suffix in SOURCE_SUFFIXES and not is_testbench(r)]
    tb_files = [r.as_posix() for r in rel if is_testbench(r)]
    ours = False
    depths = dict(DEFAULT_DEPTHS)
    if not tb_files and testbench:
        from .testbench import m_axi_depths, write_testbench

        tb = write_testbench(cfg, src, outdir / TB_DATA)[0]
        tb_files, ours = [tb.relative_to(src).as_posix()], True
        depths = m_axi_depths(cfg, outdir / TB_DATA)
    if not any(Path(d).stem == abi.TOP for d in design):
        raise InputError(f"write_sources wrote no {abi.TOP}.cpp under {src} (got {', '.join(map(str, rel))})")
    needs_tb = [s for s in steps if s in ("csim", "cosim")]
    if needs_tb and not tb_files:
        raise InputError(f"steps {','.join(needs_tb)} need a testbench (tb_*.cpp) but codegen wrote none in {src}")

    check_register_map()
    (outdir / "project.tcl").write_text(_project_tcl(cfg, design, tb_files, depths))
    for step in STEPS:
        if step in ("csim", "cosim") and not tb_files:
            continue
        (outdir / f"{step}.tcl").write_text(_steps_tcl([step], f"Vitis HLS step {step}", ours))
    run = outdir / "run_hls.tcl"
    run.write_text(_steps_tcl(steps, f"Vitis HLS steps {','.join(steps)}", ours))
    sh = outdir / "run_hls.sh"
    sh.write_text(_RUN_SH)
    sh.chmod(0o755)
    from ..hw.sized import origin_of

    meta = {"config": cfg.to_dict(), "config_origin": origin_of(cfg), "part": cfg.info.part, "top": abi.TOP, "vlnv": abi.VLNV, "steps": list(steps),
            "design_files": design, "testbench_files": tb_files, "testbench_data": TB_DATA if ours else None,
            "m_axi_depths": depths, "config_interface": interface_settings(cfg)}
    (outdir / "hls_config.json").write_text(json.dumps(meta, indent=2) + "\n")
    return run


def hls_missing_message(hls_dir: Path, script: str = "run_hls.tcl") -> str:
    return (
        f"neither vitis_hls nor vitis-run is on PATH; the Vitis HLS project is written to {hls_dir}. "
        f"Run it later where Vitis is installed: cd {hls_dir} && ./run_hls.sh {script} "
        f"(= vitis_hls -f {script} up to 2024.1, vitis-run --mode hls --tcl {script} from 2024.2)"
    )


def run_hls(script: Path, runner: str = "auto") -> str:
    """Run an HLS script of a written project with the available runner; return the runner used."""
    script = Path(script)
    found = tools.find_hls_runner(runner)
    if found is None:
        raise ToolMissingError(hls_missing_message(script.parent, script.name))
    tools.run_tool(tools.hls_command(found, script), cwd=script.parent,
                   log=script.parent / f"{script.stem}.log", env=tools.hls_env(found))
    return found


def find_csynth_xml(hls_dir: Path) -> Path | None:
    """The top-level synthesis report of either layout (csynth.xml, else <top>_csynth.xml), or None."""
    hls_dir = Path(hls_dir)
    for name in ("csynth.xml", f"{abi.TOP}_csynth.xml"):
        for cand in (hls_dir / PROJECT / SOLUTION / "syn" / "report" / name,
                     hls_dir / COMPONENT / "hls" / "syn" / "report" / name):
            if cand.is_file():
                return cand
        found = sorted(hls_dir.rglob(f"syn/report/{name}"))
        if found:
            return found[0]
    return None


def find_exported_ip(hls_dir: Path) -> Path | None:
    """Directory of the exported IP (holds component.xml), or None."""
    found = sorted(Path(hls_dir).rglob("impl/ip/component.xml"))
    return found[0].parent if found else None
