"""The Vivado project of the fq_accel overlay: block design, bitstream, reports, the PYNQ .bit/.hwh pair.

Layout written under `outdir` (the `vivado/` folder of a build):

    settings.tcl       what fq_hls.hw.config and the ABI say (part, family, clock, widths, VLNV, paths)
    board.tcl          copy of overlays/<board>/board.tcl (board part, PS ports)
    bd_<family>.tcl    copy of the PS procedures for Zynq-7000 or Zynq UltraScale+
    overlay.tcl        copy of the common flow (project, block design, runs, reports, copies)
    build_overlay.tcl  sources the four above; run `vivado -mode batch -source build_overlay.tcl`

The flow copies `<bd>_wrapper.bit` and `<bd>.hwh` to `<out_dir>/<overlay>.bit` / `.hwh` (the names
pynq.Overlay pairs) and writes vivado_utilization.rpt / vivado_timing_summary.rpt into `<report_dir>`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import InputError, ToolMissingError
from ..hw import abi
from ..hw.config import BOARDS, HardwareConfig
from . import tools
from .tclquote import tcl_word

TCL_DIR = Path(__file__).parent / "tcl"
OVERLAYS_DIR = Path(__file__).resolve().parents[2] / "overlays"
OVERLAY_NAME = "fq_accel"
BD_NAME = "fq_bd"
PROJECT = "fq_overlay"
BUNDLES = ("gmem_w", "gmem_in", "gmem_out", "gmem_in2")  # m_axi bundles of fq_accel (docs/accel_abi.md)
CTRL_BUNDLE = "control"


def board_tcl(board: str) -> Path:
    if board not in BOARDS:
        raise InputError(f"unknown board {board!r}; choose one of {', '.join(BOARDS)}")
    path = OVERLAYS_DIR / board / "board.tcl"
    if not path.is_file():
        raise InputError(f"{path}: board parameters missing for {board}")
    return path


def _rel(target: Path, start: Path) -> str:
    return Path(os.path.relpath(Path(target).resolve(), Path(start).resolve())).as_posix()


def _settings_tcl(cfg: HardwareConfig, outdir: Path, ip_repo: Path, out_dir: Path, report_dir: Path,
                  overlay_name: str, jobs: int) -> str:
    info = cfg.info
    here_rel = {k: _rel(v, outdir) for k, v in (("ip_repo", ip_repo), ("out_dir", out_dir),
                                               ("report_dir", report_dir), ("proj_dir", outdir / PROJECT))}
    lines = [
        f"# fq_accel overlay settings for {cfg.board} (engine {cfg.engine}), written by fq-hls from",
        "# fq_hls.hw.config and fq_hls.hw.abi. Paths are relative to this folder, so the build can move.",
        "set fq_here [file dirname [file normalize [info script]]]",
        f"set fq(board) {tcl_word(cfg.board)}",
        f"set fq(engine) {tcl_word(cfg.engine)}",
        f"set fq(part) {tcl_word(info.part)}",
        f"set fq(family) {tcl_word(info.family)}",
        f"set fq(clock_mhz) {cfg.clock_mhz:g}",
        f"set fq(axi_bits) {int(cfg.axi_bits)}",
        f"set fq(ip_vlnv) {tcl_word(abi.VLNV)}",
        f"set fq(bundles) {{{' '.join(BUNDLES)}}}",
        f"set fq(ctrl_bundle) {CTRL_BUNDLE}",
        f"set fq(ctrl_range) 0x{abi.ADDRESS_RANGE:08X}",
        f"set fq(project) {PROJECT}",
        f"set fq(bd) {BD_NAME}",
        f"set fq(overlay) {tcl_word(overlay_name)}",
        f"set fq(jobs) {int(jobs)}",
    ]
    for key, rel in here_rel.items():
        lines.append(f"set fq({key}) [file normalize [file join $fq_here {tcl_word(rel)}]]")
    return "\n".join(lines) + "\n"


_BUILD_TCL = """# Build the fq_accel overlay (fq-hls): vivado -mode batch -source build_overlay.tcl
set fq_dir [file dirname [file normalize [info script]]]
source [file join $fq_dir settings.tcl]
source [file join $fq_dir board.tcl]
source [file join $fq_dir bd_$fq(family).tcl]
source [file join $fq_dir overlay.tcl]
"""


def write_vivado_project(
    cfg: HardwareConfig,
    outdir: str | Path,
    *,
    ip_repo: str | Path,
    out_dir: str | Path | None = None,
    report_dir: str | Path | None = None,
    overlay_name: str = OVERLAY_NAME,
    jobs: int | None = None,
) -> Path:
    """Write the Vivado scripts for `cfg` into `outdir`; return build_overlay.tcl.

    ip_repo: folder holding the exported HLS IP (searched recursively, e.g. the HLS project folder).
    out_dir: where <overlay_name>.bit/.hwh land (default: outdir's parent). report_dir: Vivado reports
    (default: out_dir/reports).
    """
    outdir = Path(outdir)
    out_dir = Path(out_dir) if out_dir is not None else outdir.parent
    report_dir = Path(report_dir) if report_dir is not None else out_dir / "reports"
    if not overlay_name.isidentifier():
        raise InputError(f"overlay name {overlay_name!r}: use letters, digits and _ (it names the .bit/.hwh)")
    outdir.mkdir(parents=True, exist_ok=True)
    jobs = jobs or max(1, min(8, os.cpu_count() or 1))
    shutil.copyfile(board_tcl(cfg.board), outdir / "board.tcl")
    family = cfg.info.family
    shutil.copyfile(TCL_DIR / f"bd_{family}.tcl", outdir / f"bd_{family}.tcl")
    shutil.copyfile(TCL_DIR / "overlay.tcl", outdir / "overlay.tcl")
    (outdir / "settings.tcl").write_text(
        _settings_tcl(cfg, outdir, Path(ip_repo), out_dir, report_dir, overlay_name, jobs))
    script = outdir / "build_overlay.tcl"
    script.write_text(_BUILD_TCL)
    return script


def vivado_missing_message(vivado_dir: Path) -> str:
    return (
        f"vivado is not on PATH; the overlay scripts are written to {vivado_dir}. Run them later where Vivado "
        f"is installed: cd {vivado_dir} && vivado -mode batch -source build_overlay.tcl"
    )


def run_vivado(script: Path) -> None:
    script = Path(script)
    if tools.which("vivado") is None:
        raise ToolMissingError(vivado_missing_message(script.parent))
    tools.run_tool(tools.vivado_command(script), cwd=script.parent, log=script.parent / "vivado_run.log")
