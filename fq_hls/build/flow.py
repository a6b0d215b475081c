"""The two build flows behind `fq-hls hls` and `fq-hls build`: write every script first, then run what the
installed tools allow, then gather the outputs; stop with ToolMissingError at the first missing tool.

A build folder (`fq-hls build -o DIR`):

    DIR/hls/              Vitis HLS project (fq_hls.build.hls_project), exported IP under it
    DIR/vivado/           Vivado scripts and project (fq_hls.build.vivado_project)
    DIR/reports/          vivado_utilization.rpt, vivado_timing_summary.rpt, hls.json, vivado.json
    DIR/fq_accel.bit      the overlay, with DIR/fq_accel.hwh next to it (the pair pynq.Overlay loads)
    DIR/model.fqz         the model the runtime loads into DDR (the IP does not depend on it)
    DIR/hw_config.json    {"hardware": HardwareConfig, ...}: what `fq-hls run DIR` reads
    DIR/build.sh          finishes the build by hand where the tools are
    DIR/run_on_board.py   `fq-hls run DIR` on the board
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, ToolMissingError
from ..hw import abi
from ..hw.config import HardwareConfig
from . import hls_project, reports, tools, vivado_project
from .tools import ToolFailedError

MODEL_NAME = "model.fqz"
CONFIG_NAME = "hw_config.json"


@dataclass
class BuildLayout:
    root: Path

    @property
    def hls(self) -> Path:
        return self.root / "hls"

    @property
    def vivado(self) -> Path:
        return self.root / "vivado"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def bit(self) -> Path:
        return self.root / f"{vivado_project.OVERLAY_NAME}.bit"

    @property
    def hwh(self) -> Path:
        return self.root / f"{vivado_project.OVERLAY_NAME}.hwh"

    @property
    def model(self) -> Path:
        return self.root / MODEL_NAME

    @property
    def config(self) -> Path:
        return self.root / CONFIG_NAME


def copy_model(model: str | Path, dest: Path, *, validate: bool = True) -> Path:
    """Check `model` is a readable .fqz and copy it to `dest` (never over the input itself)."""
    model = Path(model)
    if not model.is_file():
        raise InputError(f"{model}: no such model file")
    if validate:
        from ..fqz import read_fqz

        read_fqz(str(model))  # ModelFileError names the file and the defect
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and dest.resolve() == model.resolve():
        return dest
    shutil.copyfile(model, dest)
    return dest


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


# ---- fq-hls hls -------------------------------------------------------------------------------------------

def hls_flow(cfg: HardwareConfig, outdir: str | Path, model: str | Path | None, *,
             steps: Iterable[str] = hls_project.DEFAULT_STEPS, runner: str = "auto",
             write_sources: Callable | None = None, validate_model: bool = True) -> dict:
    """Write the HLS project into `outdir` (+ model.fqz), run it when a runner is on PATH; return a summary."""
    outdir = Path(outdir)
    steps = hls_project.parse_steps(list(steps))
    script = hls_project.write_hls_project(cfg, outdir, steps=steps, write_sources=write_sources)
    if model is not None:
        copy_model(model, outdir / MODEL_NAME, validate=validate_model)
    if tools.find_hls_runner(runner) is None:
        raise ToolMissingError(hls_project.hls_missing_message(outdir))
    used = hls_project.run_hls(script, runner)
    summary = {"project": str(outdir), "runner": used, "steps": list(steps)}
    if "csynth" in steps:
        summary["hls"] = collect_hls_report(outdir, outdir / "reports")
    if "export" in steps:
        ip = hls_project.find_exported_ip(outdir)
        if ip is None:
            raise ToolFailedError(f"export_design ran but no impl/ip/component.xml appeared under {outdir}")
        summary["ip"] = str(ip)
    return summary


def collect_hls_report(hls_dir: Path, report_dir: Path) -> dict:
    xml = hls_project.find_csynth_xml(hls_dir)
    if xml is None:
        raise ToolFailedError(f"no syn/report/csynth.xml under {hls_dir}: did csynth_design run?")
    data = reports.parse_csynth_xml(xml)
    write_json(report_dir / "hls.json", data)
    return data


# ---- fq-hls build -----------------------------------------------------------------------------------------

_BUILD_SH = """#!/bin/sh
# Finish this fq-hls build where Vitis HLS and Vivado are installed (source their settings64.sh first):
# HLS synthesis + IP export, then the Vivado overlay; then `fq-hls build --collect -o .` parses the reports.
set -e
cd "$(dirname "$0")"
./hls/run_hls.sh run_hls.tcl
cd vivado
vivado -mode batch -notrace -nojournal -log vivado.log -source build_overlay.tcl
"""

_RUN_ON_BOARD = '''#!/usr/bin/env python3
"""Run ResNet-18 inference on this overlay through the PYNQ driver: `fq-hls run <this folder>`.

Copy the folder to the board (fq-hls installed there, `pip install fq-hls[board]`), then:
    sudo python3 run_on_board.py [options of fq-hls run]
"""

import sys
from pathlib import Path

from fq_hls.cli import main

ENGINE = "{engine}"  # the engine this overlay was built for

if __name__ == "__main__":
    sys.exit(main(["run", str(Path(__file__).resolve().parent), "--engine", ENGINE, *sys.argv[1:]]))
'''


def _manifest(cfg: HardwareConfig, layout: BuildLayout, built: bool, report_files: dict) -> dict:
    return {
        "hardware": cfg.to_dict(),
        "board": cfg.board,
        "part": cfg.info.part,
        "pynq_board": cfg.info.pynq_board,
        "ip_vlnv": abi.VLNV,
        "overlay": vivado_project.OVERLAY_NAME,
        "bitstream": layout.bit.name,
        "hwh": layout.hwh.name,
        "model": MODEL_NAME,
        "built": built,
        "reports": report_files,
    }


def write_build(cfg: HardwareConfig, root: str | Path, model: str | Path, *,
                write_sources: Callable | None = None, validate_model: bool = True) -> BuildLayout:
    """Write every script and file of a build folder (nothing is run)."""
    layout = BuildLayout(Path(root))
    layout.root.mkdir(parents=True, exist_ok=True)
    hls_project.write_hls_project(cfg, layout.hls, steps=("csynth", "export"), write_sources=write_sources)
    vivado_project.write_vivado_project(cfg, layout.vivado, ip_repo=layout.hls, out_dir=layout.root,
                                        report_dir=layout.reports)
    copy_model(model, layout.model, validate=validate_model)
    sh = layout.root / "build.sh"
    sh.write_text(_BUILD_SH)
    sh.chmod(0o755)
    run = layout.root / "run_on_board.py"
    run.write_text(_RUN_ON_BOARD.replace("{engine}", cfg.engine))
    run.chmod(0o755)
    write_json(layout.config, _manifest(cfg, layout, False, {}))
    return layout


def collect_build(root: str | Path) -> dict:
    """Parse whatever reports a build folder holds into reports/*.json and update hw_config.json."""
    layout = BuildLayout(Path(root))
    if not layout.config.is_file():
        raise InputError(f"{layout.root}: no {CONFIG_NAME}: not an fq-hls build folder")
    try:
        manifest = json.loads(layout.config.read_text())
        cfg = HardwareConfig(**manifest["hardware"])
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{layout.config}: not an fq-hls build manifest ({e})") from None
    found: dict[str, str] = {}
    out: dict[str, dict] = {}
    if hls_project.find_csynth_xml(layout.hls) is not None:
        out["hls"] = collect_hls_report(layout.hls, layout.reports)
        found["hls"] = "reports/hls.json"
    util = layout.reports / "vivado_utilization.rpt"
    timing = layout.reports / "vivado_timing_summary.rpt"
    if util.is_file() and timing.is_file():
        vivado = {"evidence": "vivado", "utilization": reports.parse_vivado_utilization(util),
                  "timing": reports.parse_vivado_timing(timing)}
        write_json(layout.reports / "vivado.json", vivado)
        out["vivado"] = vivado
        found["vivado"] = "reports/vivado.json"
    built = layout.bit.is_file() and layout.hwh.is_file()
    write_json(layout.config, _manifest(cfg, layout, built, found))
    out["built"] = built
    return out


def build_flow(cfg: HardwareConfig, root: str | Path, model: str | Path, *, runner: str = "auto",
               write_sources: Callable | None = None, validate_model: bool = True) -> dict:
    """HLS synthesis + IP export, then Vivado, then gather DIR; ToolMissingError at the first missing tool."""
    layout = write_build(cfg, root, model, write_sources=write_sources, validate_model=validate_model)
    if tools.find_hls_runner(runner) is None:
        raise ToolMissingError(
            f"neither vitis_hls nor vitis-run is on PATH: wrote the HLS project ({layout.hls}), the Vivado "
            f"scripts ({layout.vivado}) and {layout.model.name}. Finish the build where the tools are: "
            f"{layout.root / 'build.sh'}, then fq-hls build --collect -o {layout.root}")
    hls_project.run_hls(layout.hls / "run_hls.tcl", runner)
    if hls_project.find_exported_ip(layout.hls) is None:
        raise ToolFailedError(f"export_design ran but no impl/ip/component.xml appeared under {layout.hls}")
    collect_hls_report(layout.hls, layout.reports)
    if tools.which("vivado") is None:
        collect_build(layout.root)
        raise ToolMissingError(
            f"vivado is not on PATH: the HLS IP is exported under {layout.hls} and the overlay scripts are in "
            f"{layout.vivado}. Run: cd {layout.vivado} && vivado -mode batch -source build_overlay.tcl, "
            f"then fq-hls build --collect -o {layout.root}")
    vivado_project.run_vivado(layout.vivado / "build_overlay.tcl")
    if not (layout.bit.is_file() and layout.hwh.is_file()):
        raise ToolFailedError(f"vivado finished but {layout.bit.name}/{layout.hwh.name} are not in {layout.root}")
    return collect_build(layout.root)
