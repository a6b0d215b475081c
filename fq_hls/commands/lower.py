"""`fq-hls lower MODEL.fqz [--data DIR] [--limit N] [--json] [-o OUT.json]`: lower a .fqz to the integer IR,
validate it, print per-layer requantisation ranges, and compare the bit-exact integer reference with the
model's float (fake-quantized) numpy executor: top-1 agreement, and top-1 accuracy of both on --data."""

from __future__ import annotations

import argparse
import json
import os
import time

from ..errors import InputError
from . import argtypes

DEFAULT_DATA_LIMIT = 1000
DEFAULT_SYNTHETIC = 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a .fqz file")
    parser.add_argument(
        "--data", default=None, help="dataset (as for `evaluate`); without it: synthetic random images"
    )
    parser.add_argument(
        "--split", default="test", choices=("train", "test"), help="dataset split (default test)"
    )
    parser.add_argument(
        "--limit",
        type=argtypes.int_range(1, argtypes.MAX_IMAGES),
        default=None,
        help=f"images to compare (default {DEFAULT_DATA_LIMIT} of --data, class-balanced; "
        f"{DEFAULT_SYNTHETIC} synthetic)",
    )
    parser.add_argument("--batch-size", type=argtypes.int_range(1, 4096), default=16)
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    parser.add_argument("-o", "--output", default=None, help="also write the JSON report to this file")
    parser.add_argument("--force", action="store_true", help="replace an existing -o file")


def layer_rows(graph) -> list[dict]:
    """One dict per IR layer: type, shapes, weight format, non-zeros and requantisation ranges."""
    import numpy as np

    from ..ir import ConvLayer

    rows = []
    for layer in graph.layers:
        out = graph.tensors[layer.output]
        row = {
            "name": layer.name,
            "kind": layer.kind if isinstance(layer, ConvLayer) else f"{layer.mode}pool",
            "input": layer.input,
            "output": layer.output,
            "out_shape": list(out.shape),
            "out_type": "int32" if out.bits == 32 else ("int8" if out.signed else "uint8"),
            "out_scale": out.scale,
        }
        if isinstance(layer, ConvLayer):
            w = np.asarray(layer.weights)
            row.update(
                wformat=layer.wformat.kind,
                exp_bits=layer.wformat.exp_bits,
                nnz=int(np.count_nonzero(w)),
                weights=int(w.size),
                max_abs_w=int(np.abs(w).max(initial=0)),
                relu=layer.relu,
                residual=layer.residual,
            )
            if layer.out_bits == 8:
                m = np.abs(np.asarray(layer.mult))
                row.update(
                    shift=[int(np.min(layer.shift)), int(np.max(layer.shift))],
                    mult=[int(m.min()), int(m.max())],
                    negative_mult=int((np.asarray(layer.mult) < 0).sum()),
                )
                if layer.residual is not None:
                    rs = layer.res_shift if layer.res_shift is not None else np.zeros(1, int)
                    row.update(
                        res_mult=[int(np.abs(layer.res_mult).min()), int(np.abs(layer.res_mult).max())],
                        res_shift=[int(np.min(rs)), int(np.max(rs))],
                    )
        else:
            row.update(kernel=layer.kernel, stride=layer.stride, pad=layer.pad)
            if layer.mode == "avg":
                row.update(mult=[layer.mult, layer.mult], shift=[layer.shift, layer.shift])
        rows.append(row)
    return rows


def compare(cm, graph, images, labels=None, batch_size: int = 16) -> dict:
    """Integer reference vs float model on uint8 NHWC images: agreement (and accuracies with labels)."""
    import numpy as np

    from ..model import normalise
    from ..reference import run_float, run_integer

    n = len(images)
    agree = int_ok = flt_ok = 0
    err2 = ref2 = 0.0
    t_int = t_flt = 0.0
    for s in range(0, n, batch_size):
        imgs = np.asarray(images[s : s + batch_size])
        t0 = time.perf_counter()
        li = graph.dequantize(graph.output, run_integer(graph, graph.quantize_input(imgs)))
        t1 = time.perf_counter()
        lf = run_float(cm, normalise(imgs, cm.mean, cm.std)).astype(np.float64)
        t_int, t_flt = t_int + t1 - t0, t_flt + time.perf_counter() - t1
        pi, pf = li.argmax(1), lf.argmax(1)
        agree += int((pi == pf).sum())
        err2 += float(((li - lf) ** 2).sum())
        ref2 += float((lf**2).sum())
        if labels is not None:
            lab = np.asarray(labels[s : s + batch_size])
            int_ok += int((pi == lab).sum())
            flt_ok += int((pf == lab).sum())
    res = {
        "images": n,
        "top1_agreement": agree / max(n, 1),
        "logit_rel_rms_error": (err2 / ref2) ** 0.5 if ref2 > 0 else 0.0,
        "integer_s_per_image": t_int / max(n, 1),
        "float_s_per_image": t_flt / max(n, 1),
    }
    if labels is not None:
        res["top1_integer"] = int_ok / max(n, 1)
        res["top1_float"] = flt_ok / max(n, 1)
    return res


def _print_text(report: dict) -> None:
    print(f"{report['model']}: {report['arch']} {report['method']}, {len(report['layers'])} integer layers")
    head = f"{'layer':22s} {'kind':8s} {'wfmt':5s} {'out':14s} {'nnz':>9s} {'shift':>7s} {'|mult|':>13s} residual"
    print(head)
    for r in report["layers"]:
        shp = "x".join(map(str, r["out_shape"])) + " " + r["out_type"]
        nnz = f"{r['nnz']}" if "nnz" in r else ""
        sh = "{}-{}".format(*r["shift"]) if "shift" in r else ""
        mu = "{}-{}".format(*r["mult"]) if "mult" in r else ""
        res = ""
        if r.get("residual"):
            res = "{} x{}-{} <<{}-{}".format(r["residual"], *r["res_mult"], *r["res_shift"])
        print(
            f"{r['name']:22s} {r['kind']:8s} {r.get('wformat', ''):5s} {shp:14s} {nnz:>9s} {sh:>7s} {mu:>13s} {res}"
        )
    for note in report["notes"]:
        print(f"note: {note}")
    c = report["comparison"]
    src = report["data"] or "synthetic random images"
    line = (
        f"integer vs float on {c['images']} images ({src}): top-1 agreement {100 * c['top1_agreement']:.2f} %, "
        f"logit rel. RMS error {c['logit_rel_rms_error']:.4f}"
    )
    print(line)
    if "top1_integer" in c:
        print(f"top-1: integer {100 * c['top1_integer']:.2f} %, float {100 * c['top1_float']:.2f} %")
    print(
        f"time per image: integer reference {c['integer_s_per_image']:.3f} s, float {c['float_s_per_image']:.3f} s"
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..datafiles import check_labels
    from ..fqz import read_fqz
    from ..lower import lower
    from ..safeio import check_output_file, write_files

    if not os.path.isfile(args.model):
        raise InputError(f"{args.model}: no such model file")
    if args.output:  # before the work: a report that cannot be written is known now, not after it
        check_output_file(args.output, force=args.force, inputs=[args.model, args.data], what="report file")
    cm = read_fqz(args.model)
    graph = lower(cm)
    if args.data:
        from ..datasets import limit_indices, load_dataset

        ds = load_dataset(args.data, args.split, cm.arch, tuple(cm.input_shape))
        idx = limit_indices(ds.labels, args.limit or DEFAULT_DATA_LIMIT)
        check_labels(ds.labels[idx], cm.num_classes, args.data)
        images, labels = ds.arrays(idx)
    else:
        from ..synthetic import random_images

        n = args.limit or DEFAULT_SYNTHETIC
        argtypes.check_image_budget(n, cm.input_shape, "--limit")
        images, labels = random_images(cm.input_shape, n, seed=0), None
    report = {
        "model": args.model,
        "arch": cm.arch,
        "method": cm.method,
        "data": args.data,
        "layers": layer_rows(graph),
        "notes": list(graph.meta.get("notes", [])),
        "comparison": compare(cm, graph, images, labels, args.batch_size),
        "output_scale": graph.tensors[graph.output].scale,
        "per_channel_logit_scale": graph.tensors[graph.output].channel_scale is not None,
        "sparsity": float(cm.sparsity()),
    }
    text = json.dumps(report, indent=2, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o))
    if args.output:
        write_files([(args.output, text + "\n")])
    if args.json:
        print(text)
    else:
        _print_text(report)
    return 0
