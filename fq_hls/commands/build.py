"""`fq-hls build`: the overlay for a board: Vitis HLS synthesis + IP export, then the Vivado block design and
bitstream, gathered with the model, reports and a run script into one folder. Every script is written first;
the command stops with a clear message at the first tool that is not on PATH."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..build.hls_project import DEFAULT_STEPS
    from ..hw.config import board_names
    from .hls import add_engine_options

    p.add_argument("model", nargs="?", metavar="MODEL.fqz", help="compressed model to ship with the overlay")
    p.add_argument("--board", default=None, choices=board_names(), help="target board")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="build folder")
    add_engine_options(p)
    p.add_argument("--runner", choices=("auto", "vitis_hls", "vitis-run"), default="auto",
                   help="Vitis HLS front end (default: whichever is on PATH, vitis_hls first)")
    p.add_argument("--steps", default=",".join(DEFAULT_STEPS),
                   help=f"Vitis HLS steps before Vivado (default {','.join(DEFAULT_STEPS)}; csynth and export are "
                        "required; leave out csim,cosim to skip the testbench runs)")
    p.add_argument("--collect", action="store_true",
                   help="only parse the reports of a build finished by hand (build.sh) into DIR/reports/*.json")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--force", action="store_true",
                   help="write into an existing non-empty folder that is not an fq-hls build folder")


def _print(summary: dict, out) -> None:
    rep = summary.get("hls")
    if rep:
        r = rep["resources"]
        print(f"  HLS estimate [hls]:   LUT {r.get('lut')}  FF {r.get('ff')}  DSP {r.get('dsp')}  "
              f"BRAM_18K {r.get('bram18')}  URAM {r.get('uram')}")
    viv = summary.get("vivado")
    if viv:
        r, t = viv["utilization"]["resources"], viv["timing"]
        print(f"  implemented [vivado]: LUT {r.get('lut')}  FF {r.get('ff')}  DSP {r.get('dsp')}  "
              f"BRAM36 {r.get('bram36')}  URAM {r.get('uram', 0)}")
        print(f"  timing [vivado]: WNS {t['wns_ns']} ns, TNS {t['tns_ns']} ns: "
              + ("met" if t["timing_met"] else "NOT MET (the overlay may misbehave; lower --clock-mhz)"))
    check = summary.get("check")
    if check:
        n = len(check["discrepancies"])
        print(f"  check against the model: {'ok' if check['ok'] else 'FAILED'}"
              + (f", {n} discrepancies (reports/model_check.json)" if n else ""))
    if summary.get("built"):
        print(f"  overlay: {out}/fq_accel.bit + fq_accel.hwh; on the board: sudo /usr/local/share/pynq-venv/bin/python3 {out}/run_on_board.py")


def run(args) -> int:
    from pathlib import Path

    from ..build.flow import build_flow, collect_build
    from ..errors import InputError
    from .hls import check_inputs, engine_from_args, fit_to_model

    out = Path(args.output)
    if args.collect:
        summary = collect_build(out)
    else:
        if args.board is None or args.model is None:
            raise InputError("fq-hls build needs --board and MODEL.fqz (or --collect -o DIR)")
        cfg, origin = engine_from_args(args)
        check_inputs(args.model, out, force=args.force, marker="hw_config.json", what="build folder")
        cfg, origin = fit_to_model(cfg, origin, args.model)  # the overlay must run this model
        if not args.json:
            print(f"fq-hls build: {cfg.board} engine {cfg.engine} P={cfg.lanes} V={cfg.pixels} "
                  f"{cfg.clock_mhz:g} MHz ({origin}; recorded in hw_config.json)")
        summary = build_flow(cfg, out, args.model, runner=args.runner, steps=args.steps.split(","))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"fq-hls build: {out}")
        _print(summary, out)
    return 0
