"""Benchmark: every architecture of the registry through .fqz -> ONNX -> onnxruntime (issue 17, item 5).

Per architecture: a random model (fq_hls.synthetic.random_compressed, fq5, 80 % sparsity, seed 0) is written to
and read back from a .fqz, lowered, exported (integer network and fake-quantized float network) and run in
onnxruntime on synthetic images against the numpy reference: identical int32 logits (integer) and
|diff| <= FLOAT_RTOL x max|logit| (float). Times are wall seconds on this machine (export: building the ONNX
model; check: the integer check per image, i.e. the onnxruntime session's creation, its run and the reference's
run, over the images; reference: run_integer alone, per image).
Writes bench/results/onnx_roundtrip.{json,md}.

    python bench/onnx_roundtrip.py [--archs resnet18,...] [--images 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, fmt, machine_info, markdown_table, publish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    from fq_hls.archs import ARCHS
    from fq_hls.export import FLOAT_RTOL, check_float, check_integer, float_onnx, integer_onnx
    from fq_hls.fqz import read_fqz, write_fqz
    from fq_hls.lower import lower
    from fq_hls.reference import run_integer
    from fq_hls.synthetic import random_compressed, random_images

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="fq17_onnx_"))
    for arch in args.archs.split(","):
        write_fqz(random_compressed(arch, "fq5", 0.8, seed=0), tmp / f"{arch}.fqz")
        cm = read_fqz(tmp / f"{arch}.fqz")
        g = lower(cm)
        images = random_images(tuple(cm.input_shape), args.images, seed=1)
        t = time.perf_counter()
        m = integer_onnx(g)
        export_s = time.perf_counter() - t
        t = time.perf_counter()
        ri = check_integer(m, g, images)
        ort_and_ref = time.perf_counter() - t
        x = g.quantize_input(images)
        t = time.perf_counter()
        run_integer(g, x)
        ref_s = (time.perf_counter() - t) / args.images
        rf = check_float(float_onnx(cm), cm, images)
        rows.append({"arch": arch, "input": "x".join(map(str, cm.input_shape[1:])), "layers": len(g.layers),
                     "onnx_nodes": len(m.graph.node), "onnx_mb": m.ByteSize() / 1e6, "export_s": export_s,
                     "integer_identical": ri.ok, "integer_max_abs_diff": ri.max_abs_diff,
                     "check_s_per_image": ort_and_ref / args.images, "reference_s_per_image": ref_s,
                     "float_ok": rf.ok, "float_rel_diff": rf.rel_diff, "images": args.images})
        print(arch, rows[-1], flush=True)
    md = ["# .fqz -> ONNX -> onnxruntime, every architecture (random fq5, 80 % sparse)", "",
          markdown_table(["arch", "input", "IR layers", "ONNX nodes", "ONNX MB", "export s", "integer logits",
                          "check s/image (session + ORT + reference)", "reference s/image", f"float (<= {FLOAT_RTOL:g} x max)"],
                         [[r["arch"], r["input"], r["layers"], r["onnx_nodes"], fmt(r["onnx_mb"], 1),
                           fmt(r["export_s"], 2), "identical" if r["integer_identical"] else "**differ**",
                           fmt(r["check_s_per_image"], 2), fmt(r["reference_s_per_image"], 2),
                           f"{'ok' if r['float_ok'] else '**no**'} ({r['float_rel_diff']:.1e})"] for r in rows])]
    payload = {"command": command_line(), "machine": machine_info(torch_too=False), "rows": rows}
    return publish(args.out, "onnx_roundtrip", payload, "\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
