"""The two build flows behind `fq-hls hls` and `fq-hls build`: write every script first, then run what the
installed tools allow, then gather the outputs; stop with ToolMissingError at the first missing tool.

A build folder (`fq-hls build -o DIR`):

    DIR/hls/              Vitis HLS project (fq_hls.build.hls_project), exported IP under it
    DIR/vivado/           Vivado scripts and project (fq_hls.build.vivado_project)
    DIR/reports/          vivado_utilization.rpt, vivado_timing_summary.rpt, hls.json, vivado.json,
                          model_check.json (fq_hls.build.model_check: loop IIs, resources vs the model)
    DIR/fq_accel.bit      the overlay, with DIR/fq_accel.hwh next to it (the pair pynq.Overlay loads)
    DIR/model.fqz         the model the runtime loads into DDR (the IP does not depend on it)
    DIR/hw_config.json    {"hardware": HardwareConfig, ...}: what `fq-hls run DIR` reads
    DIR/build.sh          finishes the build by hand where the tools are
    DIR/run_on_board.py   `fq-hls run DIR` on the board (the pynq venv's interpreter, root checked)
    DIR/reference_logits.npz  host-computed reference logits of the check images, for `run --check`

After a real run, whenever the reports exist, check_reports compares them with the model and stops the flow
(DesignCheckError) when a labelled pipelined loop misses its II or timing is not met.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import FQError, InputError, ToolMissingError
from ..hw import abi
from ..hw.config import HardwareConfig
from ..hw.program import PROGRAM_FORMAT
from . import hls_project, model_check, reports, tools, vivado_project
from .model_check import DesignCheckError
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
        summary["check"] = check_reports(cfg, outdir / "reports", outdir, hls=summary["hls"])
    if "export" in steps:
        ip = hls_project.find_exported_ip(outdir)
        if ip is None:
            raise ToolFailedError(f"export_design ran but no impl/ip/component.xml appeared under {outdir}")
        summary["ip"] = str(ip)
        _check_ip_registers(ip)
    return summary


def _check_ip_registers(ip_dir: Path) -> None:
    """The exported IP's register map (its x<top>_hw.h) against the ABI, where Vitis HLS wrote one."""
    from .regmap import check_driver_header, find_driver_header

    header = find_driver_header(ip_dir)
    if header is not None:
        check_driver_header(header)


def collect_hls_report(hls_dir: Path, report_dir: Path) -> dict:
    xml = hls_project.find_csynth_xml(hls_dir)
    if xml is None:
        raise ToolFailedError(f"no syn/report/csynth.xml under {hls_dir}: did csynth_design run?")
    data = reports.parse_hls_reports(xml)
    write_json(report_dir / "hls.json", data)
    return data


def check_reports(cfg: HardwareConfig, report_dir: Path, hls_dir: Path, *, hls: dict | None = None,
                  vivado: dict | None = None, echo: bool = True) -> dict:
    """Check parsed reports against the model (fq_hls.build.model_check), write report_dir/model_check.json,
    print the discrepancies; DesignCheckError when a labelled loop misses its II or WNS < 0."""
    try:
        model = model_check.model_resources(cfg)
        note = None
    except FQError as e:  # no Yosys and no cached unit costs: compare the loops only
        model, note = None, f"resource model unavailable: {e}"
    src = Path(hls_dir) / "src"
    labels = model_check.pipelined_labels([src]) if src.is_dir() else {}
    result = model_check.check_design(cfg, hls, vivado, model=model, loops=labels)
    if note:
        result.notes.append(note)
    data = result.to_dict()
    write_json(Path(report_dir) / "model_check.json", data)
    for line in result.discrepancies if echo else ():
        print(f"fq-hls: check against the model: {line}", file=sys.stderr)
    if result.failures:
        raise DesignCheckError(
            f"the built engine is not the modelled one ({len(result.failures)} failure(s); details in "
            f"{Path(report_dir) / 'model_check.json'}):\n  " + "\n  ".join(result.failures))
    return data


# ---- fq-hls build -----------------------------------------------------------------------------------------

_BUILD_SH = """#!/bin/sh
# Finish this fq-hls build where Vitis HLS and Vivado are installed (source their settings64.sh first):
# the HLS steps (run_hls.tcl), then the Vivado overlay; then `fq-hls build --collect -o .` parses the reports
# and checks them against the model.
set -e
cd "$(dirname "$0")"
./hls/run_hls.sh run_hls.tcl
cd vivado
vivado -mode batch -notrace -nojournal -log vivado.log -source build_overlay.tcl
"""

_RUN_ON_BOARD = '''#!/usr/bin/env python3
"""Run inference on this overlay through the PYNQ driver: `fq-hls run <this folder>` on the board.

On a PYNQ 3.x image pynq (and fq-hls, installed there with `pip install fq-hls[board]`, docs/board_guide.md)
live in the pynq virtual environment, not in the system python3, and pynq needs root. Run

    sudo {pynq_python} run_on_board.py [options of fq-hls run]

or start it with any python3: it re-runs itself with the pynq venv's interpreter, and without root it prints
the exact command to use instead.
"""

import os
import shlex
import sys
from pathlib import Path

ENGINE = "{engine}"  # the engine this overlay was built for
PYNQ_PYTHON = "{pynq_python}"
HERE = Path(__file__).resolve().parent


def _root_command(python):
    argv = [python, str(Path(__file__).resolve()), *sys.argv[1:]]
    return "sudo env XILINX_XRT=/usr " + " ".join(shlex.quote(a) for a in argv)


def launch():
    try:
        import pynq  # noqa: F401
        from fq_hls.cli import main
    except ImportError as e:
        here = os.path.realpath(sys.executable)
        if os.path.isfile(PYNQ_PYTHON) and here != os.path.realpath(PYNQ_PYTHON):
            os.execv(PYNQ_PYTHON, [PYNQ_PYTHON, str(Path(__file__).resolve()), *sys.argv[1:]])
        sys.stderr.write(f"run_on_board.py: {sys.executable} cannot import {e.name}; install fq-hls[board] into "
                         f"the pynq venv ({PYNQ_PYTHON} -m pip install ...; docs/board_guide.md)\\n")
        return 2
    emulate = "--emulate" in sys.argv[1:] or os.environ.get("FQ_HLS_EMULATE", "") not in ("", "0")
    wants_help = any(a in ("-h", "--help") for a in sys.argv[1:])
    if not (emulate or wants_help) and hasattr(os, "geteuid") and os.geteuid() != 0:
        sys.stderr.write("run_on_board.py: pynq needs root on the board to load the overlay; run:\\n  "
                         + _root_command(sys.executable) + "\\n")
        return 2
    return main(["run", str(HERE), "--engine", ENGINE, *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(launch())
'''


def launcher_text(engine: str, pynq_python: str | None = None) -> str:
    """run_on_board.py for an overlay built for `engine` (pynq_python: the board's pynq interpreter)."""
    from ..runtime.board import PYNQ_PYTHON

    return _RUN_ON_BOARD.replace("{engine}", engine).replace("{pynq_python}", pynq_python or PYNQ_PYTHON)


def _manifest(cfg: HardwareConfig, layout: BuildLayout, built: bool, report_files: dict) -> dict:
    from ..hw.sized import origin_of

    return {
        "hardware": cfg.to_dict(),
        "hardware_origin": origin_of(cfg),  # the sized engine (what the report models) or not
        "board": cfg.board,
        "part": cfg.info.part,
        "pynq_board": cfg.info.pynq_board,
        "ip_vlnv": abi.VLNV,
        "program_format": PROGRAM_FORMAT,  # the program layout the IP reads (fq_hls.runtime.agreement)
        "overlay": vivado_project.OVERLAY_NAME,
        "bitstream": layout.bit.name,
        "hwh": layout.hwh.name,
        "model": MODEL_NAME,
        "built": built,
        "reports": report_files,
    }


def build_steps(steps: Iterable[str]) -> tuple[str, ...]:
    """HLS steps of a build: any of DEFAULT_STEPS, but always synthesis and the IP export Vivado needs."""
    steps = hls_project.parse_steps(list(steps))
    missing = [s for s in ("csynth", "export") if s not in steps]
    if missing:
        raise InputError(f"--steps {','.join(steps)}: a build needs {' and '.join(missing)} (the IP Vivado uses)")
    return steps


def write_build(cfg: HardwareConfig, root: str | Path, model: str | Path, *,
                write_sources: Callable | None = None, validate_model: bool = True,
                steps: Iterable[str] = hls_project.DEFAULT_STEPS) -> BuildLayout:
    """Write every script and file of a build folder (nothing is run); run_hls.tcl runs `steps`."""
    layout = BuildLayout(Path(root))
    steps = build_steps(steps)
    layout.root.mkdir(parents=True, exist_ok=True)
    hls_project.write_hls_project(cfg, layout.hls, steps=steps, write_sources=write_sources)
    vivado_project.write_vivado_project(cfg, layout.vivado, ip_repo=layout.hls, out_dir=layout.root,
                                        report_dir=layout.reports)
    copy_model(model, layout.model, validate=validate_model)
    if validate_model:  # reference logits for `fq-hls run --check` on the board (runtime/refcheck.py)
        from ..runtime.refcheck import write_reference
        from ..runtime.runner import load_graph

        write_reference(layout.root, load_graph(str(layout.model)))
    sh = layout.root / "build.sh"
    sh.write_text(_BUILD_SH)
    sh.chmod(0o755)
    run = layout.root / "run_on_board.py"
    run.write_text(launcher_text(cfg.engine))
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
    out: dict = {}
    if hls_project.find_csynth_xml(layout.hls) is not None:
        out["hls"] = collect_hls_report(layout.hls, layout.reports)
        found["hls"] = "reports/hls.json"
    ip = hls_project.find_exported_ip(layout.hls)
    if ip is not None:
        _check_ip_registers(ip)
    util = layout.reports / "vivado_utilization.rpt"
    timing = layout.reports / "vivado_timing_summary.rpt"
    if util.is_file() and timing.is_file():
        vivado = {"evidence": "vivado", "utilization": reports.parse_vivado_utilization(util),
                  "timing": reports.parse_vivado_timing(timing)}
        write_json(layout.reports / "vivado.json", vivado)
        out["vivado"] = vivado
        found["vivado"] = "reports/vivado.json"
    built = layout.bit.is_file() and layout.hwh.is_file()
    if found:
        found["model_check"] = "reports/model_check.json"
    write_json(layout.config, _manifest(cfg, layout, built, found))
    out["built"] = built
    if found:  # after the manifest, so that a failed check still leaves the folder described
        out["check"] = check_reports(cfg, layout.reports, layout.hls, hls=out.get("hls"), vivado=out.get("vivado"))
    return out


def build_flow(cfg: HardwareConfig, root: str | Path, model: str | Path, *, runner: str = "auto",
               write_sources: Callable | None = None, validate_model: bool = True,
               steps: Iterable[str] = hls_project.DEFAULT_STEPS) -> dict:
    """HLS (C simulation, synthesis, co-simulation, IP export by default), then Vivado, then gather DIR;
    ToolMissingError at the first missing tool, DesignCheckError when the reports miss the model."""
    layout = write_build(cfg, root, model, write_sources=write_sources, validate_model=validate_model, steps=steps)
    if tools.find_hls_runner(runner) is None:
        raise ToolMissingError(
            f"neither vitis_hls nor vitis-run is on PATH: wrote the HLS project ({layout.hls}), the Vivado "
            f"scripts ({layout.vivado}) and {layout.model.name}. Finish the build where the tools are: "
            f"{layout.root / 'build.sh'}, then fq-hls build --collect -o {layout.root}")
    hls_project.run_hls(layout.hls / "run_hls.tcl", runner)
    ip = hls_project.find_exported_ip(layout.hls)
    if ip is None:
        raise ToolFailedError(f"export_design ran but no impl/ip/component.xml appeared under {layout.hls}")
    _check_ip_registers(ip)  # before hours of Vivado on an IP the runtime could not drive
    # an II miss stops the build here, before hours of Vivado on an engine slower than the modelled one
    check_reports(cfg, layout.reports, layout.hls, hls=collect_hls_report(layout.hls, layout.reports), echo=False)
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
