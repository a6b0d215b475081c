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
    p.add_argument("--board", required=True, help=f"target board: {', '.join(board_names())}")
    p.add_argument("-o", "--output", default=None, metavar="DIR",
                   help="project folder (default: build/<board>_<engine>/hls)")
    p.add_argument("--engine", choices=("fq", "int8"), default="fq", help="engine flavour (default fq)")
    p.add_argument("--steps", default=",".join(DEFAULT_STEPS),
                   help=f"comma-separated steps of {','.join(STEPS)} (default {','.join(DEFAULT_STEPS)}; csim and "
                        "cosim run tb_fq_accel.cpp on a one-layer test program, bit-exact against the reference; "
                        "cosim checks the synthesised RTL)")
    p.add_argument("--runner", choices=("auto", "vitis_hls", "vitis-run"), default="auto",
                   help="Vitis HLS front end (default: whichever is on PATH, vitis_hls first)")
    p.add_argument("--clock-mhz", type=argtypes.float_range(10.0, 800.0), default=None,
                   help="override the board's default clock (10..800 MHz)")
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


def board_config(board: str, engine: str, clock_mhz: float | None = None):
    """HardwareConfig for a command-line board name; InputError listing the boards when unknown."""
    from ..errors import InputError
    from ..hw.config import hardware_config

    try:
        overrides = {"clock_mhz": float(clock_mhz)} if clock_mhz else {}
        if clock_mhz is not None and not 10.0 <= float(clock_mhz) <= 800.0:
            raise ValueError(f"--clock-mhz {clock_mhz}: outside 10..800 MHz")
        return hardware_config(board, engine, **overrides)
    except ValueError as e:
        raise InputError(str(e)) from None


def run(args) -> int:
    from pathlib import Path

    from ..build import hls_project
    from ..build.flow import hls_flow

    cfg = board_config(args.board, args.engine, args.clock_mhz)
    steps = hls_project.parse_steps(args.steps)
    out = Path(args.output) if args.output else Path("build") / f"{cfg.board}_{cfg.engine}" / "hls"
    check_inputs(args.model, out, force=args.force, marker="hls_config.json", what="HLS project folder")
    summary = hls_flow(cfg, out, args.model, steps=steps, runner=args.runner)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"fq-hls hls: {cfg.board} ({cfg.info.part}), engine {cfg.engine}, {cfg.clock_mhz:g} MHz: "
          f"ran {','.join(steps)} with {summary['runner']} in {out}")
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
