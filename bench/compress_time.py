"""Benchmark: time to quantize + encode the pruned ResNet-18 (CIFAR-10) checkpoint, no fine-tuning, no data.

The steps of fq_hls.compress.pipeline.compress, called directly and timed one by one:

    load    build_model + load_weights (+ eval)
    fit     pruning masks from the checkpoint's zeros + attach_quantizers (EM fit, sampled assignment, bias)
    export  export_quantized + to_compressed + round_bn_16bit
    (calibrate: activation ranges on 64 synthetic images, or --calib-data images; needed for a usable
     .fqz but NOT part of the timed total, like the pipeline's quantize_encode_s)
    encode  write_fqz (Huffman + sparse index coding, container, atomic write + fsync)

total = load + fit + export + encode. Methods are interleaved within each repeat (so machine load hits them
alike); the table gives medians over the repeats. Target: total <= 10 s per method.
Writes bench/results/compress_time.{json,md}; with --fqz-dir the .fqz files are kept there (for example to
feed bench/speed_engine.py --model).

    python bench/compress_time.py --weights ../shared/models/resnet18_cifar10/resnet18_cifar10_pruned90_fp16.npz \
        [--methods fq5,fq7,int8,shift5] [--repeats 3] [--fqz-dir DIR] [--calib-data DIR] [--threads N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine_info, machine_line, markdown_table, median, publish, verdict  # noqa: E402

METHODS = ("fq5", "fq7", "int8", "shift5")
STEPS = ("load", "fit", "export", "encode")
TARGET_S = 10.0


class _Clock:
    """Wall and process-CPU time since the previous lap (CPU time is far less sensitive to other processes
    on a shared machine; with 2 torch threads it can exceed the wall time)."""

    def __init__(self) -> None:
        self.w, self.c = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        w, c = time.perf_counter(), time.process_time()
        out = (w - self.w, c - self.c)
        self.w, self.c = w, c
        return out


def run_once(weights: str, arch: str, method: str, seed: int, calib: np.ndarray, out: Path) -> dict:
    import torch

    from fq_hls.compress.calibrate import calibrate
    from fq_hls.compress.focused import attach_quantizers, export_quantized
    from fq_hls.compress.graph import to_compressed
    from fq_hls.compress.models import build_model, load_weights, prunable_layers
    from fq_hls.compress.pipeline import round_bn_16bit
    from fq_hls.fqz import size_report, write_fqz

    t, cpu = {}, {}
    clock = _Clock()
    torch.manual_seed(seed)
    model = build_model(arch)
    load_weights(model, weights)
    model.eval()
    t["load"], cpu["load"] = clock.lap()
    layers = prunable_layers(model)
    masks = {name: (m.weight.detach() != 0) for name, m in layers.items()}  # keep the checkpoint's zeros
    qlayers = attach_quantizers(model, {name: method for name in layers}, masks, seed=seed)
    t["fit"], cpu["fit"] = clock.lap()
    qweights = export_quantized(model, qlayers)
    cm = to_compressed(model, arch, qweights, method, meta={"source": str(weights), "epochs": 0, "seed": seed})
    round_bn_16bit(cm)
    t["export"], cpu["export"] = clock.lap()
    calibrate(cm, calib)
    t["calibrate_untimed"], cpu["calibrate_untimed"] = clock.lap()
    path = out / f"{Path(weights).stem}_{method}.fqz"
    nbytes = write_fqz(cm, path)
    t["encode"], cpu["encode"] = clock.lap()
    t["total"] = sum(t[s] for s in STEPS)
    cpu["total"] = sum(cpu[s] for s in STEPS)
    rep = size_report(cm)  # untimed: the size check of what was written
    return {"times": t, "cpu_times": cpu, "file_bytes": int(nbytes), "size_bytes": int(rep["size_bytes"]),
            "compression_ratio": float(rep["compression_ratio"]), "sparsity": float(rep["sparsity"]),
            "file": str(path)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="pruned float checkpoint (.npz or .pt state_dict)")
    ap.add_argument("--arch", default="resnet18-cifar")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fqz-dir", default=None, help="keep the .fqz files here (default: a removed temp folder)")
    ap.add_argument("--calib-data", default=None,
                    help="dataset for the (untimed) calibration; default 64 synthetic images as the pipeline")
    ap.add_argument("--calib-images", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads (torch.set_num_threads; default: torch's)")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--name", default="compress_time")
    args = ap.parse_args()
    if not Path(args.weights).is_file():
        ap.error(f"--weights {args.weights}: no such file")
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    methods = [m for m in args.methods.split(",") if m]

    t0 = time.perf_counter()
    import torch  # import cost reported apart, not in the per-method times

    from fq_hls.archs import arch_info
    from fq_hls.compress import focused  # noqa: F401

    import_s = time.perf_counter() - t0
    if args.threads:
        torch.set_num_threads(args.threads)
    info = arch_info(args.arch)
    c, h, w = info["input_shape"]
    if args.calib_data:
        from fq_hls.datasets import load_dataset
        from fq_hls.sampling import class_balanced_order

        train = load_dataset(args.calib_data, "train", args.arch)
        idx = class_balanced_order(train.labels)[: args.calib_images]
        calib = np.asarray(train.images[idx])
        calib_src = f"{len(idx)} class-balanced training images of {args.calib_data}"
    else:
        calib = np.random.default_rng(args.seed).integers(0, 256, size=(args.calib_images, h, w, c), dtype=np.uint8)
        calib_src = f"{args.calib_images} synthetic uniform-noise images"

    payload = {"command": command_line(), "machine": machine_info(), "weights": args.weights, "arch": args.arch,
               "repeats": args.repeats, "import_s": import_s, "calibration": calib_src, "target_s": TARGET_S,
               "runs": {m: [] for m in methods}}
    print(machine_line(payload["machine"]), flush=True)
    keep = args.fqz_dir is not None
    out = Path(args.fqz_dir) if keep else Path(tempfile.mkdtemp(prefix="fq_compress_time_"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        for r in range(args.repeats):
            order = methods if r % 2 == 0 else methods[::-1]
            for m in order:
                res = run_once(args.weights, args.arch, m, args.seed, calib, out)
                payload["runs"][m].append(res)
                tt = res["times"]
                print(f"repeat {r + 1} {m}: " + " ".join(f"{k} {v:.2f}" for k, v in tt.items())
                      + f" (CPU {res['cpu_times']['total']:.2f})", flush=True)
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)

    rows, summary = [], {}
    for m in methods:
        runs = payload["runs"][m]
        totals = [x["times"]["total"] for x in runs]
        mid = runs[sorted(range(len(runs)), key=totals.__getitem__)[(len(runs) - 1) // 2]]  # the median run
        cpu_total = median([x["cpu_times"]["total"] for x in runs])
        summary[m] = {"median_run_s": mid["times"], "median_total_s": median(totals), "min_total_s": min(totals),
                      "max_total_s": max(totals), "cpu_total_median_s": cpu_total,
                      "step_medians_s": {k: median([x["times"][k] for x in runs]) for k in (*STEPS, "calibrate_untimed")},
                      "size_bytes": runs[-1]["size_bytes"], "compression_ratio": runs[-1]["compression_ratio"],
                      "file": runs[-1]["file"] if keep else None}
        tt = mid["times"]
        rows.append([m, *(f"{tt[k]:.2f}" for k in STEPS), f"**{tt['total']:.2f}**", f"{min(totals):.2f}",
                     f"{max(totals):.2f}", f"{cpu_total:.2f}", f"{tt['calibrate_untimed']:.2f}",
                     f"{summary[m]['size_bytes']:,}", f"{summary[m]['compression_ratio']:.2f}x",
                     verdict(tt["total"], TARGET_S)])
    payload["summary"] = summary
    md = (f"**Quantize + encode time, {Path(args.weights).name}, no fine-tuning** (wall seconds of the median "
          f"of {args.repeats} interleaved repeats, by step; total = load + fit + export + encode; min/max = "
          f"fastest/slowest total; CPU-s = median process CPU time of the timed steps, all threads; "
          f"calibration untimed, {calib_src}; imports {import_s:.1f} s not counted; torch threads "
          f"{torch.get_num_threads()})\n\n" + markdown_table(
              ["method", "load", "fit", "export", "encode+write", "total", "min", "max", "CPU-s",
               "calibrate (untimed)", "size (bytes)", "CR", f"<= {TARGET_S:g} s"], rows))
    return publish(args.out, args.name, payload, md)


if __name__ == "__main__":
    sys.exit(main())
