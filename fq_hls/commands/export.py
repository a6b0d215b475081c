"""`fq-hls export MODEL.fqz --onnx OUT.onnx [--float] [--check]`: write the integer network (default) or the
fake-quantized float network as a standard ONNX model; `--check` runs it in onnxruntime against the numpy
reference (integer: identical logits; float: within fq_hls.export.FLOAT_RTOL of the largest logit)."""

from __future__ import annotations

import argparse

from . import argtypes

DEFAULT_CHECK_IMAGES = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a .fqz file")
    parser.add_argument("--onnx", required=True, metavar="OUT", help="the ONNX file to write")
    parser.add_argument("--float", action="store_true", dest="float_net",
                        help="export the fake-quantized float network instead of the integer one")
    parser.add_argument("--check", action="store_true",
                        help="run the ONNX model in onnxruntime against the numpy reference (exit 1 on a mismatch)")
    parser.add_argument("--images", type=argtypes.images, default=DEFAULT_CHECK_IMAGES, metavar="N",
                        help=f"synthetic random images for --check (default {DEFAULT_CHECK_IMAGES})")
    parser.add_argument("--seed", type=argtypes.seed, default=0, metavar="S", help="seed of the --check images (default 0)")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT file")


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..fqz import read_fqz
    from ..safeio import check_output_file, write_files

    try:
        from .. import export
    except ImportError as e:
        raise InputError(f"ONNX export needs the export extra ({e.name} is missing): pip install 'fq-hls[export]'"
                         ) from None
    out = check_output_file(args.onnx, force=args.force, inputs=[args.model], what="ONNX file")
    cm = read_fqz(args.model)
    if args.float_net:
        model, kind = export.float_onnx(cm), "fake-quantized float"
    else:
        from ..lower import lower

        graph = lower(cm)
        model, kind = export.integer_onnx(graph), "integer"
    data = model.SerializeToString()
    write_files([(out, data)])
    print(f"{out}: {kind} network of {args.model} ({cm.arch}, {cm.method}), {len(model.graph.node)} ONNX nodes, "
          f"opset {model.opset_import[0].version}, {len(data):,} bytes")
    if not args.check:
        return 0
    from ..synthetic import random_images

    argtypes.check_image_budget(args.images, cm.input_shape, "--images")
    images = random_images(tuple(cm.input_shape), args.images, seed=args.seed)
    if args.float_net:
        result = export.check_float(model, cm, images)
    else:
        result = export.check_integer(model, graph, images)
    print(result.line())
    return 0 if result.ok else 1
