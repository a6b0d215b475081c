"""`fq-hls csim MODEL.fqz --board B`: C-simulate the HLS engine on images, bit-exact against the reference.

Lowers the model (fq_hls.lower), packs the program for the board's engine, runs the g++ C-simulation of
hls_src/ per image and compares every logit with fq_hls.reference.run_integer. Cycles are `csim` evidence;
the per-layer `estimate` column is the analytic model (fq_hls.hw.cycles, evidence `model`).
"""

from __future__ import annotations

import argparse
import json
import os
import time

from ..errors import InputError
from . import argtypes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..hw.config import board_names

    parser.add_argument("model", metavar="MODEL.fqz", help="compressed model (.fqz)")
    parser.add_argument(
        "--board", required=True, choices=board_names(), help="board whose engine to simulate"
    )
    from .hls import add_engine_options

    add_engine_options(parser)
    parser.add_argument("--images", type=argtypes.images, default=1, help="number of images (default 1)")
    parser.add_argument("--data", default=None, help="dataset (as `fq-hls run`); default: synthetic images")
    parser.add_argument("--seed", type=argtypes.seed, default=0, help="seed of the synthetic images")
    parser.add_argument("--json", action="store_true", help="print a JSON object")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..csim import load_kernel
    from ..fqz import read_fqz
    from ..hw.cycles import estimate_graph, schedule_graph
    from ..hw.program import build_program
    from ..lower import lower
    from ..reference import run_integer
    from .hls import engine_from_args

    cfg, origin = engine_from_args(args)  # the options first: they cost nothing to check
    if not os.path.isfile(args.model):
        raise InputError(f"{args.model}: no such model file")
    cm = read_fqz(args.model)
    graph = lower(cm)
    argtypes.check_image_budget(args.images, cm.input_shape, "--images")
    if args.data:
        from ..datasets import load_images

        images, _ = load_images(args.data, args.images)
        if tuple(images.shape[1:]) != (cm.input_shape[1], cm.input_shape[2], cm.input_shape[0]):
            raise InputError(
                f"{args.data}: images of shape {images.shape[1:]}, the model takes {cm.input_shape} (C, H, W)"
            )
    else:
        from ..synthetic import random_images

        images = random_images(tuple(cm.input_shape), args.images, seed=args.seed)
    x = graph.quantize_input(images)
    from ..hw.fit import fit_config, fit_note

    fitted = fit_config(cfg, graph)  # e.g. ResNet-50's 2048 channels on an engine sized for ResNet-18
    if fitted != cfg:
        cfg, origin = fitted, f"{origin}; {fit_note(cfg, fitted)}"
    prog = build_program(graph, cfg)
    t0 = time.time()
    kernel = load_kernel(cfg)
    build_s = time.time() - t0
    ref = run_integer(graph, x)
    cycles, secs, exact = [], [], []
    per_layer = None
    for i in range(x.shape[0]):
        t = time.time()
        logits, cyc = kernel.run_program(prog, x[i])
        secs.append(time.time() - t)
        cycles.append(int(sum(cyc)))
        exact.append(bool(np.array_equal(logits, ref[i])))
        per_layer = cyc
    # `estimate`: the model of the schedule the C-simulation counts; `with_ddr`: the modelled cycles, never
    # less than the layer's DDR bytes over the board's sustainable bandwidth (fq_hls.hw.ddr)
    est, with_ddr = schedule_graph(graph, cfg), estimate_graph(graph, cfg)
    rows = [
        {"name": n, "cycles": int(c), "estimate": int(e), "with_ddr": int(d)}
        for n, c, e, d in zip(prog.layer_names, per_layer, est, with_ddr, strict=True)
    ]
    out = {
        "model": args.model,
        "board": args.board,
        "engine": cfg.engine,
        "engine_origin": origin,
        "lanes": cfg.lanes,
        "pixels": cfg.pixels,
        "clock_mhz": cfg.clock_mhz,
        "bit_exact": all(exact),
        "images": int(x.shape[0]),
        "mismatched_images": [i for i, e in enumerate(exact) if not e],
        "cycles": cycles,
        "latency_ms": [c / (cfg.clock_mhz * 1e3) for c in cycles],
        "evidence": "csim",
        "seconds_per_image": float(np.mean(secs)),
        "library_seconds": build_s,
        "layers": rows,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"{args.model}: {cfg.engine} engine on {cfg.board} (P={cfg.lanes}, V={cfg.pixels}, {cfg.clock_mhz:g} MHz, "
            f"{origin})"
        )
        print(f"{'layer':32s} {'cycles':>10s} {'estimate':>10s}")
        for r in rows:
            print(f"{r['name']:32s} {r['cycles']:10d} {r['estimate']:10d}")
        print(f"total cycles {cycles[-1]} = {out['latency_ms'][-1]:.3f} ms at {cfg.clock_mhz:g} MHz (csim)")
        print(
            f"bit-exact: {'yes' if out['bit_exact'] else 'NO'} on {out['images']} image(s); "
            f"{out['seconds_per_image']:.3f} s of C-simulation per image"
        )
    return 0 if out["bit_exact"] else 1
