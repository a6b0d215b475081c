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
    from ..hw.config import board_names

    p.add_argument("--board", default=None, choices=board_names(),
                   help="board name (default: the build's, or $BOARD on a PYNQ image)")
    from .hls import add_engine_options

    # a build folder fixes the engine (its hw_config.json); for a .fqz on the emulated board these pick it
    add_engine_options(p, clock=False)
    p.add_argument("--emulate", action="store_true",
                   help="run on the emulated board (C-simulated engine behind pynq's API); also FQ_HLS_EMULATE=1")
    p.add_argument("--images", type=argtypes.images, default=None, metavar="N",
                   help="number of images (default: 10 with --data, else 1 random image)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="test images: cifar10-jpeg.npz, cifar-10-batches-py, an .npz with x/y, or 'digits'")
    p.add_argument("--check", action="store_true",
                   help="compare every image's logits bit for bit with the reference: the logits shipped in the "
                        "build folder (reference_logits.npz, computed at build time) where it has the image, "
                        "else recomputed here")
    p.add_argument("--check-on-board", action="store_true",
                   help="with --check: recompute every reference here, ignoring the shipped logits (slow on a board)")
    p.add_argument("--batch-size", type=argtypes.positive_int, default=None, metavar="N",
                   help="images prepared per batch; transfers overlap the accelerator's runs (default: all)")
    p.add_argument("--no-overlap", action="store_true", help="one image at a time, no overlap of transfers and runs")
    p.add_argument("--throughput", type=argtypes.images, default=None, metavar="N",
                   help="also run the throughput test on N random inputs (images/s, DDR bytes/s, host time per step)")
    p.add_argument("--fclk-mhz", type=argtypes.float_range(10.0, 800.0), default=None, metavar="MHZ",
                   help="set PL clock 0 to this rate instead of the .hwh's")
    p.add_argument("--timeout", type=argtypes.positive_float, default=None, metavar="S",
                   help="seconds to wait for ap_done per image (a finite number > 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _inputs(args, shape_chw, loaded):

    from ..errors import InputError

    if loaded is not None:
        x, y = loaded
        c, h, w = shape_chw
        if x.shape[1:] != (h, w, c):
            raise InputError(f"{args.data}: images are {x.shape[1:]} (HxWxC), the network takes {(h, w, c)}")
        return x, y
    from ..runtime.refcheck import default_images

    n = args.images if args.images is not None else 1
    argtypes.check_image_budget(n, shape_chw, "--images")
    return default_images(n, shape_chw), None


def _open(args, Accelerator):
    """The accelerator: a build folder's own engine, or for a .fqz on the emulated board the engine the options
    pick (the board's sized engine by default, the one `fq-hls report` models)."""
    import os

    from ..errors import InputError

    picked = args.config != "sized" or args.lanes is not None or args.pixels is not None or args.variant
    emulate = args.emulate or os.environ.get("FQ_HLS_EMULATE", "") not in ("", "0")
    if os.path.isfile(args.path) and args.path.endswith(".fqz") and emulate:
        from ..hw.fit import fit_config
        from ..runtime.runner import _board_from_env, load_graph
        from .hls import engine_from_args

        cfg, _ = engine_from_args(args, board=args.board or _board_from_env() or "pynq-z2")
        graph = load_graph(args.path)  # the emulated engine gets the buffers this model needs (ResNet-50)
        return Accelerator(graph, fit_config(cfg, graph), emulate=True, timeout_s=args.timeout,
                           fclk_mhz=args.fclk_mhz)
    if picked:
        raise InputError(f"{args.path}: --config/--lanes/--pixels/--variant pick the engine of a .fqz run with "
                         "--emulate; a build folder's engine is the one it was built with (hw_config.json)")
    return Accelerator.open(args.path, board=args.board, emulate=args.emulate, engine=args.engine,
                            timeout_s=args.timeout, fclk_mhz=args.fclk_mhz)


def run(args) -> int:
    import numpy as np

    from ..runtime.runner import Accelerator

    loaded = None
    if args.data is not None:  # read (and checked) before the overlay loads
        from ..datasets import load_images

        loaded = load_images(args.data, args.images if args.images is not None else 10)
    acc = _open(args, Accelerator)
    try:
        x, y = _inputs(args, tuple(acc.program.input_shape), loaded)
        if y is not None:  # an accuracy over labels the model does not have would mean nothing
            from ..datafiles import check_labels

            check_labels(y, acc.graph.num_classes, args.data)
        x_int8 = acc.prepare(x)
        logits = acc.predict(x_int8, batch_size=args.batch_size, overlap=not args.no_overlap)
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
            from ..runtime.refcheck import ShippedReference, check_logits

            shipped = ShippedReference.find(args.path, acc.graph.num_classes)
            result.update(check_logits(acc.graph, x_int8, logits, shipped, on_board=args.check_on_board))
        if args.throughput is not None:
            result["throughput"] = acc.throughput_test(args.throughput, batch_size=args.batch_size,
                                                       overlap=not args.no_overlap)
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
        print(f"  fps      {result['fps']:.1f} (1000 / mean latency) [evidence: {result['evidence']}]")
        if acc.emulated:
            print(f"  cycles   {result['cycles']} at {result['clock_mhz']:g} MHz; emulation wall time "
                  f"{result['emulation_wall_ms']['mean']:.1f} ms/image (host, not the hardware)")
        if "top1" in result:
            print(f"  top-1    {100 * result['top1']:.2f} % on {result['images']} image(s)")
        if args.check:
            src = result["reference"]
            print("  check    bit-exact vs reference: " + ("yes" if result["bit_exact"] else
                                                            f"NO (images {result['mismatched_images']})")
                  + f" ({src['shipped']} shipped, {src['recomputed']} recomputed)")
        if "throughput" in result:
            t = result["throughput"]
            print(f"  throughput {t['images_per_s']:.1f} images/s, {t['ddr_in_bytes_per_s'] / 1e6:.1f} MB/s DDR in, "
                  f"fclk {t['fclk_mhz']:g} MHz [evidence: {t['evidence']}]")
    return 0 if result.get("bit_exact", True) else 1
