"""`fq-hls run`: ResNet-18 inference through the PYNQ driver, on the board or on the emulated board.

Imports only numpy + pynq (through fq_hls.runtime): this is the command that runs on the board.
"""

from __future__ import annotations

import argparse
import json

from . import argtypes


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="DIR_OR_MODEL",
                   help="build folder (bitstream + .hwh + model.fqz [+ hw_config.json]) or a .fqz (emulated only)")
    p.add_argument("--board", default=None, help="board name (default: the build's, or $BOARD on a PYNQ image)")
    p.add_argument("--engine", choices=("fq", "int8"), default="fq", help="engine flavour (default fq)")
    p.add_argument("--emulate", action="store_true",
                   help="run on the emulated board (C-simulated engine behind pynq's API); also FQ_HLS_EMULATE=1")
    p.add_argument("--images", type=argtypes.images, default=None, metavar="N",
                   help="number of images (default: 10 with --data, else 1 random image)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="test images: cifar10-jpeg.npz, cifar-10-batches-py, an .npz with x/y, or 'digits'")
    p.add_argument("--check", action="store_true", help="compare every image's logits bit for bit with the reference")
    p.add_argument("--timeout", type=argtypes.positive_float, default=None, metavar="S",
                   help="seconds to wait for ap_done per image (a finite number > 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _inputs(args, shape_chw, loaded):
    import numpy as np

    from ..errors import InputError

    if loaded is not None:
        x, y = loaded
        c, h, w = shape_chw
        if x.shape[1:] != (h, w, c):
            raise InputError(f"{args.data}: images are {x.shape[1:]} (HxWxC), the network takes {(h, w, c)}")
        return x, y
    n = args.images if args.images is not None else 1
    argtypes.check_image_budget(n, shape_chw, "--images")
    c, h, w = shape_chw
    return np.random.default_rng(0).integers(0, 256, size=(n, h, w, c), dtype=np.uint8), None


def run(args) -> int:
    import numpy as np

    from ..runtime.runner import Accelerator

    loaded = None
    if args.data is not None:  # read (and checked) before the overlay loads
        from ..runtime.datasets import load_images

        loaded = load_images(args.data, args.images if args.images is not None else 10)
    acc = Accelerator.open(args.path, board=args.board, emulate=args.emulate, engine=args.engine,
                           timeout_s=args.timeout)
    try:
        x, y = _inputs(args, tuple(acc.program.input_shape), loaded)
        if y is not None:  # an accuracy over labels the model does not have would mean nothing
            from ..datafiles import check_labels

            check_labels(y, acc.graph.num_classes, args.data)
        x_int8 = acc.prepare(x)
        logits = acc.run(x_int8)
        st = acc.stats()
        result: dict = {
            "board": acc.cfg.board,
            "engine": acc.cfg.engine,
            "device": "emulated" if acc.emulated else "board",
            "images": int(len(x)),
            "evidence": st.evidence,
            "latency_ms": st.latency_ms,
            "fps": st.fps,
            "clock_mhz": acc.clock_mhz,
        }
        if acc.emulated:
            result["cycles"] = st.cycles
            result["emulation_wall_ms"] = st.wall_ms
        else:
            result["wall_ms"] = st.wall_ms
        if y is not None:
            # per-channel weight scales (int8) give each logit its own scale: rank real values, not integers
            real = acc.graph.dequantize(acc.graph.output, logits)
            result["top1"] = float(np.mean(np.argmax(real, axis=1) == y))
        if args.check:
            from ..reference import run_integer

            ref = np.asarray(run_integer(acc.graph, x_int8))
            same = np.all(ref.astype(np.int64) == logits.astype(np.int64), axis=1)
            result["bit_exact"] = bool(same.all())
            result["mismatched_images"] = [int(i) for i in np.flatnonzero(~same)]
    finally:
        acc.close()

    if args.json:
        print(json.dumps(result))
    else:
        lat = result["latency_ms"]
        where = f"{result['board']} ({result['device']}, engine {result['engine']})"
        print(f"{where}: {result['images']} image(s)")
        print(f"  latency  p50 {lat['p50']:.3f} ms  p90 {lat['p90']:.3f} ms  p99 {lat['p99']:.3f} ms  "
              f"[evidence: {result['evidence']}]")
        print(f"  fps      {result['fps']:.1f} (one image at a time) [evidence: {result['evidence']}]")
        if acc.emulated:
            print(f"  cycles   {result['cycles']} at {result['clock_mhz']:g} MHz; emulation wall time "
                  f"{result['emulation_wall_ms']['mean']:.1f} ms/image (host, not the hardware)")
        if "top1" in result:
            print(f"  top-1    {100 * result['top1']:.2f} % on {result['images']} image(s)")
        if args.check:
            print("  check    bit-exact vs reference: " + ("yes" if result["bit_exact"] else
                                                            f"NO (images {result['mismatched_images']})"))
    return 0 if result.get("bit_exact", True) else 1
