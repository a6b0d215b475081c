"""`fq-hls hls`: write the Vitis HLS project of the fq_accel IP for a board, and run it when Vitis HLS is
on PATH (vitis_hls, or vitis-run from 2024.2). Without the tool everything is written and the command stops
with a message saying how to run the scripts later."""

from __future__ import annotations

import argparse
import json

from . import argtypes


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..build.hls_project import DEFAULT_STEPS, STEPS
    from ..hw.config import board_names

    p.add_argument("model", metavar="MODEL.fqz",
                   help="compressed model; copied into the project for the later steps (the IP does not depend on it)")
    p.add_argument("--board", required=True, choices=board_names(), help="target board")
    p.add_argument("-o", "--output", default=None, metavar="DIR",
                   help="project folder (default: build/<board>_<engine>/hls)")
    add_engine_options(p)
    p.add_argument("--steps", default=",".join(DEFAULT_STEPS),
                   help=f"comma-separated steps of {','.join(STEPS)} (default {','.join(DEFAULT_STEPS)}; csim and "
                        "cosim run the testbench on a one-layer test program, bit-exact against the reference; "
                        "cosim checks the synthesised RTL)")
    p.add_argument("--runner", choices=("auto", "vitis_hls", "vitis-run"), default="auto",
                   help="Vitis HLS front end (default: whichever is on PATH, vitis_hls first)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--force", action="store_true",
                   help="write into an existing non-empty folder that is not an fq-hls HLS project")


def check_inputs(model: str | None, out, *, force: bool, marker: str, what: str):
    """Before anything is written: the model reads and validates, and the output folder can be filled
    (InputError/ModelFileError otherwise). Returns the output folder as a Path."""
    from ..fqz import read_fqz
    from ..safeio import check_output_dir

    if model is not None:
        read_fqz(model)
    return check_output_dir(out, force=force, marker=marker, what=what)


VARIANT_FIELDS = ("fill_overlap", "in_ports", "lb_uram", "lb_words", "int8_pack", "dsp_lanes", "lut_lanes")


def add_engine_options(p: argparse.ArgumentParser, engine: bool = True, clock: bool = True) -> None:
    """The options that pick the engine a command builds or runs (`hls`, `build`, `csim`, `run`): by default
    the board's sized engine (fq_hls/data/sized_engines.json, what `fq-hls report` models)."""
    from ..hw.config import HardwareConfig

    if engine:
        from ..hw.sized import ENGINES

        p.add_argument("--engine", choices=ENGINES, default="fq",
                       help="engine flavour: fq (shift PEs, sparse), int8 (dense int8 MACs), int8_sparse "
                            "(int8 MACs, sparse stream); default fq")
    p.add_argument("--config", choices=("sized", "default"), default="sized",
                   help="sized (default): the engine `fq-hls report` sized for the board (shipped with "
                        "fq-hls); default: the board's default engine")
    p.add_argument("--lanes", type=argtypes.int_range(1, 1024), default=None, metavar="P",
                   help="lanes P (output channels in parallel) instead of the chosen configuration's")
    p.add_argument("--pixels", type=argtypes.int_range(1, 256), default=None, metavar="V",
                   help="pixels V per lane instead of the chosen configuration's")
    if clock:
        p.add_argument("--clock-mhz", type=argtypes.float_range(10.0, 800.0), default=None,
                       help="clock instead of the chosen configuration's (10..800 MHz)")
    fields = [f for f in VARIANT_FIELDS if f in HardwareConfig.__dataclass_fields__]
    p.add_argument("--variant", action="append", default=[], metavar="FIELD=VALUE",
                   help=f"set an engine variant field (repeatable): {', '.join(fields)}; e.g. fill_overlap=0")


def _variant(text: str) -> tuple[str, object]:
    from ..errors import InputError
    from ..hw.config import HardwareConfig

    field, sep, value = text.partition("=")
    fields = [f for f in VARIANT_FIELDS if f in HardwareConfig.__dataclass_fields__]
    if not sep or field not in fields:
        raise InputError(f"--variant {text!r}: expected FIELD=VALUE with FIELD one of {', '.join(fields)}")
    if isinstance(getattr(HardwareConfig, field, None), bool) or field in ("fill_overlap", "lb_uram", "int8_pack"):
        if value.lower() not in ("0", "1", "true", "false"):
            raise InputError(f"--variant {text!r}: {field} takes 0/1 or true/false")
        return field, value.lower() in ("1", "true")
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise InputError(f"--variant {text!r}: {field} takes an integer >= 0")
    return field, n


def engine_from_args(args: argparse.Namespace, board: str | None = None):
    """(HardwareConfig, origin) from the engine options (add_engine_options): the sized engine of the board,
    or its default (--config default), with --lanes/--pixels/--clock-mhz/--variant applied."""
    from ..hw.sized import engine_config

    board = board or args.board
    overrides = dict(_variant(v) for v in getattr(args, "variant", []) or [])
    overrides.update(lanes=getattr(args, "lanes", None), pixels=getattr(args, "pixels", None),
                     clock_mhz=getattr(args, "clock_mhz", None))
    return engine_config(board, getattr(args, "engine", "fq"), use_sized=getattr(args, "config", "sized") == "sized",
                         **overrides)


def fit_to_model(cfg, origin: str, model: str | None):
    """(cfg, origin) with the buffer limits raised to what `model` needs (fq_hls.hw.fit: ResNet-50's 2048
    channels), so that the engine built for a model can run it; the origin names what was raised."""
    if model is None:
        return cfg, origin
    from ..hw.fit import fit_config, fit_note
    from ..runtime.runner import load_graph

    fitted = fit_config(cfg, load_graph(str(model)))
    return (fitted, f"{origin}; {fit_note(cfg, fitted)}") if fitted != cfg else (cfg, origin)


def board_config(board: str, engine: str, clock_mhz: float | None = None):
    """The sized HardwareConfig of a command-line board name (InputError listing the boards when unknown);
    `clock_mhz` replaces its clock."""
    from ..hw.sized import engine_config

    return engine_config(board, engine, clock_mhz=clock_mhz)[0]


def run(args) -> int:
    from pathlib import Path

    from ..build import hls_project
    from ..build.flow import hls_flow

    cfg, origin = engine_from_args(args)
    steps = hls_project.parse_steps(args.steps)
    out = Path(args.output) if args.output else Path("build") / f"{cfg.board}_{cfg.engine}" / "hls"
    check_inputs(args.model, out, force=args.force, marker="hls_config.json", what="HLS project folder")
    cfg, origin = fit_to_model(cfg, origin, args.model)
    summary = hls_flow(cfg, out, args.model, steps=steps, runner=args.runner)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"fq-hls hls: {cfg.board} ({cfg.info.part}), engine {cfg.engine} P={cfg.lanes} V={cfg.pixels} "
          f"({origin}), {cfg.clock_mhz:g} MHz: ran {','.join(steps)} with {summary['runner']} in {out}")
    rep = summary.get("hls")
    if rep:
        r = rep["resources"]
        print(f"  HLS estimate [hls]: LUT {r.get('lut')}  FF {r.get('ff')}  DSP {r.get('dsp')}  "
              f"BRAM_18K {r.get('bram18')}  URAM {r.get('uram')}  clock {rep['estimated_clock_ns']} ns")
    check = summary.get("check")
    if check:
        n = len(check["discrepancies"])
        print(f"  loop IIs and resources against the model: {'ok' if check['ok'] else 'FAILED'}"
              + (f", {n} discrepancies ({out}/reports/model_check.json)" if n else ""))
    if summary.get("ip"):
        print(f"  IP: {summary['ip']}")
    return 0
