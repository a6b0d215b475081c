"""Benchmark: speed of the C-simulation, of its library build, and of the integer reference vs PyTorch.

(a) C-simulation seconds per image of ResNet-18 (CIFAR 32x32 and ImageNet 224x224) on the fq engine (fq5
    weights) and the int8 engine (int8 weights) for each board config; models from
    `fq_hls.synthetic.random_compressed(arch, method, sparsity, seed)` and, with `--model FILE.fqz` (repeatable),
    real compressed models (engine chosen by the model's method: int8 -> int8 engine, else fq engine).
    Driven like `fq-hls csim`: lower -> build_program -> load_kernel -> Kernel.run_program, one image per call,
    every logit compared with the reference. Cycles are `csim` evidence.
(b) Library build (g++) time from a cold cache: FQ_HLS_CACHE points at a fresh temporary folder for every
    build repeat (the user's cache is never touched); "cached" is the second load_kernel on a warm cache.
(c) Reference executor (`fq_hls.reference.run_integer`) vs the PyTorch float model
    (`fq_hls.compress.models.build_model`, eval, inference mode) on the same input shape and batch, timed
    alternately in the same run; the ratio is the median of the per-repeat ratios.

Targets: csim <= 5 s/image at 224x224 and <= 0.2 s/image on CIFAR, build <= 60 s, reference <= 5x torch.
Writes bench/results/speed_engine.{json,md}.

    python bench/speed_engine.py [--archs resnet18-cifar,resnet18] [--boards zcu104,pynq-z2] \
        [--engines fq,int8] [--images 3] [--repeats 3] [--build-repeats 2] [--ref-batch 1] [--ref-repeats 9] \
        [--threads N] [--model FILE.fqz ...] [--skip build,csim,ref]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    command_line,
    fmt,
    machine_info,
    machine_line,
    markdown_table,
    median,
    publish,
    verdict,
)

ENGINE_METHOD = {"fq": "fq5", "int8": "int8"}  # synthetic model per engine
CSIM_TARGET_S = {"resnet18-cifar": 0.2, "resnet18": 5.0}
BUILD_TARGET_S = 60.0
REF_TARGET_RATIO = 5.0


def _engine_for(method: str) -> str:
    return "int8" if method == "int8" else "fq"


def bench_build(boards, engines, repeats: int, root: Path) -> list[dict]:
    """Cold g++ builds (fresh cache folder each) and a cached reload, per (board, engine)."""
    from fq_hls.csim import build_library, load_kernel
    from fq_hls.hw.config import hardware_config

    rows = []
    for board in boards:
        for engine in engines:
            cfg = hardware_config(board, engine)
            cold, cached, err = [], None, None
            try:
                for r in range(repeats):
                    os.environ["FQ_HLS_CACHE"] = str(root / f"build-{board}-{engine}-{r}")
                    t0 = time.perf_counter()
                    build_library(cfg)
                    cold.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                load_kernel(cfg)  # cache hit: hash of sources + header, then dlopen
                cached = time.perf_counter() - t0
            except Exception as e:  # noqa: BLE001 - record and go on with the other configs
                err = f"{type(e).__name__}: {e}"
            rows.append({"board": board, "engine": engine, "lanes": cfg.lanes, "pixels": cfg.pixels,
                         "cold_build_s": cold, "cold_build_median_s": median(cold) if cold else None,
                         "cached_load_s": cached, "error": err})
            print(f"build {board}/{engine}: cold {[round(c, 2) for c in cold]} s, cached {fmt(cached)} s"
                  + (f" ERROR {err}" if err else ""), flush=True)
    return rows


def bench_csim(label: str, cm, boards, engines, images: int, repeats: int, seed: int, root: Path) -> list[dict]:
    """Seconds per image of the C-simulation (median over repeats x images), bit-exactness, csim cycles."""
    import numpy as np

    from fq_hls.csim import load_kernel
    from fq_hls.hw.config import hardware_config
    from fq_hls.hw.program import build_program
    from fq_hls.lower import lower
    from fq_hls.reference import run_integer
    from fq_hls.synthetic import random_images

    os.environ["FQ_HLS_CACHE"] = str(root / "csim-cache")
    t0 = time.perf_counter()
    graph = lower(cm)
    lower_s = time.perf_counter() - t0
    x = graph.quantize_input(random_images(tuple(cm.input_shape), images, seed=seed))
    ref = run_integer(graph, x)
    rows = []
    for board in boards:
        for engine in engines:
            cfg = hardware_config(board, engine)
            row = {"model": label, "arch": cm.arch, "method": cm.method, "input": list(cm.input_shape),
                   "board": board, "engine": engine, "lanes": cfg.lanes, "pixels": cfg.pixels,
                   "clock_mhz": cfg.clock_mhz, "lower_s": lower_s, "images": images, "repeats": repeats,
                   "evidence": "csim"}
            try:
                t0 = time.perf_counter()
                prog = build_program(graph, cfg)
                row["program_s"] = time.perf_counter() - t0
                kernel = load_kernel(cfg)
                kernel.run_program(prog, x[0])  # warm-up: page in the library and the buffers
                secs, cpus, exact, cycles = [], [], [], None
                for _ in range(repeats):
                    for i in range(images):
                        t0, c0 = time.perf_counter(), time.process_time()
                        logits, cyc = kernel.run_program(prog, x[i])
                        secs.append(time.perf_counter() - t0)
                        cpus.append(time.process_time() - c0)
                        exact.append(bool(np.array_equal(logits, ref[i])))
                        cycles = int(sum(cyc)) if i == 0 else cycles
                row.update({"seconds": secs, "seconds_per_image": median(secs), "min_s": min(secs),
                            "cpu_seconds": cpus, "cpu_seconds_per_image": median(cpus),
                            "bit_exact": all(exact), "cycles_image0": cycles,
                            "latency_ms_image0": cycles / (cfg.clock_mhz * 1e3), "error": None})
            except Exception as e:  # noqa: BLE001 - e.g. a model the int8 engine cannot hold
                row.update({"seconds_per_image": None, "error": f"{type(e).__name__}: {e}"})
            rows.append(row)
            print(f"csim {label} {board}/{engine}: {fmt(row['seconds_per_image'])} s/image"
                  + (f" ERROR {row['error']}" if row["error"] else f", bit-exact {row['bit_exact']}"), flush=True)
    return rows


def bench_reference(label: str, cm, batch: int, repeats: int, seed: int) -> dict:
    """run_integer vs the torch float model of the same arch, same input shape and batch, alternated."""
    import torch

    from fq_hls.compress.models import build_model
    from fq_hls.lower import lower
    from fq_hls.model import normalise
    from fq_hls.reference import run_integer
    from fq_hls.synthetic import random_images

    graph = lower(cm)
    imgs = random_images(tuple(cm.input_shape), batch, seed=seed)
    x = graph.quantize_input(imgs)
    model = build_model(cm.arch, cm.num_classes).eval()
    xf = torch.from_numpy(normalise(imgs, cm.mean, cm.std))

    def run_ref():
        run_integer(graph, x)

    def run_torch():
        with torch.inference_mode():
            model(xf)

    run_ref(), run_torch()  # warm-up both
    t_ref, t_torch, ratios, cpu_ratios = [], [], [], []
    c_ref, c_torch = [], []
    for r in range(repeats):
        pair, cpu = {}, {}
        for name, fn in ((("ref", run_ref), ("torch", run_torch)) if r % 2 == 0
                         else (("torch", run_torch), ("ref", run_ref))):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            pair[name] = (time.perf_counter() - t0) / batch
            cpu[name] = (time.process_time() - c0) / batch
        t_ref.append(pair["ref"])
        t_torch.append(pair["torch"])
        c_ref.append(cpu["ref"])
        c_torch.append(cpu["torch"])
        ratios.append(pair["ref"] / pair["torch"])
        cpu_ratios.append(cpu["ref"] / cpu["torch"])
    row = {"model": label, "arch": cm.arch, "method": cm.method, "input": list(cm.input_shape), "batch": batch,
           "repeats": repeats, "reference_s_per_image": t_ref, "torch_s_per_image": t_torch, "ratios": ratios,
           "reference_median_s": median(t_ref), "torch_median_s": median(t_torch), "ratio_median": median(ratios),
           "reference_min_s": min(t_ref), "torch_min_s": min(t_torch), "ratio_of_min": min(t_ref) / min(t_torch),
           "reference_cpu_s_per_image": c_ref, "torch_cpu_s_per_image": c_torch, "cpu_ratios": cpu_ratios,
           "cpu_ratio_median": median(cpu_ratios)}
    print(f"reference {label}: {row['reference_median_s']:.4f} s/image vs torch float "
          f"{row['torch_median_s']:.4f} s/image = {row['ratio_median']:.2f}x", flush=True)
    return row


def _shape(s) -> str:
    return "x".join(str(v) for v in s[1:])


def render(payload: dict) -> str:
    out = []
    if payload["build"]:
        rows = []
        for r in payload["build"]:
            rows.append([r["board"], r["engine"], f"{r['lanes']}x{r['pixels']}",
                         fmt(r["cold_build_median_s"], 2) if not r["error"] else f"error: {r['error'][:80]}",
                         len(r["cold_build_s"]), fmt(r["cached_load_s"], 4),
                         verdict(r["cold_build_median_s"], BUILD_TARGET_S)])
        out.append("**C-simulation library build (g++, cold cache)**\n\n" + markdown_table(
            ["board", "engine", "P x V", "cold build (s, median)", "repeats", "cached load (s)",
             f"<= {BUILD_TARGET_S:g} s"], rows))
    if payload["csim"]:
        rows = []
        for r in payload["csim"]:
            tgt = CSIM_TARGET_S.get(r["arch"])
            if r["error"]:
                rows.append([r["model"], _shape(r["input"]), r["board"], r["engine"],
                             f"{r['lanes']}x{r['pixels']}", f"error: {r['error'][:80]}", "", "", "", "", "", ""])
                continue
            rows.append([r["model"], _shape(r["input"]), r["board"], r["engine"], f"{r['lanes']}x{r['pixels']}",
                         fmt(r["seconds_per_image"]), fmt(r["min_s"]), fmt(r["cpu_seconds_per_image"]),
                         f"{r['cycles_image0']:,}",
                         f"{r['latency_ms_image0']:.2f} @ {r['clock_mhz']:g} MHz",
                         "yes" if r["bit_exact"] else "**NO**",
                         "" if tgt is None else f"<= {tgt:g}: {verdict(r['seconds_per_image'], tgt)}"])
        n = payload["csim"][0]
        out.append(f"**C-simulation seconds per image** (median of {n['repeats']} x {n['images']} images, "
                   "one image per call, wall clock; CPU = process CPU time; cycles and latency are `csim` evidence)\n\n" + markdown_table(
                       ["model", "input", "board", "engine", "P x V", "s/image", "min s", "CPU s/image", "cycles (csim)",
                        "latency ms (csim)", "bit-exact", "target"], rows))
    if payload["reference"]:
        rows = []
        for r in payload["reference"]:
            rows.append([r["model"], _shape(r["input"]), r["batch"], fmt(r["reference_median_s"], 4),
                         fmt(r["torch_median_s"], 4), f"**{r['ratio_median']:.2f}x**",
                         f"{min(r['ratios']):.2f}-{max(r['ratios']):.2f}", f"{r['ratio_of_min']:.2f}x",
                         f"{r['cpu_ratio_median']:.2f}x",
                         verdict(r["ratio_median"], REF_TARGET_RATIO)])
        n = payload["reference"][0]
        out.append(f"**Integer reference (numpy) vs PyTorch float model** (seconds per image, median of "
                   f"{n['repeats']} alternated repeats; ratio = median of per-repeat ratios; best-of = fastest reference / "
                   f"fastest torch; CPU ratio = median per-repeat ratio of process CPU times; "
                   f"{payload['threads_note']})\n\n" + markdown_table(
                       ["model", "input", "batch", "reference s/image", "torch float s/image", "ratio",
                        "ratio range", "best-of ratio", "CPU ratio", f"<= {REF_TARGET_RATIO:g}x"], rows))
    return "\n\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", default="resnet18-cifar,resnet18")
    ap.add_argument("--boards", default="zcu104,pynq-z2")
    ap.add_argument("--engines", default="fq,int8")
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images", type=int, default=3, help="images per csim repeat")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of csim and of reference-vs-torch")
    ap.add_argument("--build-repeats", type=int, default=2, help="cold builds per (board, engine)")
    ap.add_argument("--ref-batch", type=int, default=1, help="batch of the reference-vs-torch comparison")
    ap.add_argument("--ref-repeats", type=int, default=9, help="alternated repeats of reference vs torch")
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS/OpenMP/torch threads (set before numpy and torch load; default: theirs)")
    ap.add_argument("--model", action="append", default=[], metavar="FILE.fqz", help="real model (repeatable)")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: build, csim, ref")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--name", default="speed_engine", help="result file stem")
    args = ap.parse_args()
    skip = {s for s in args.skip.split(",") if s}
    archs = [a for a in args.archs.split(",") if a]
    boards = [b for b in args.boards.split(",") if b]
    engines = [e for e in args.engines.split(",") if e]
    if min(args.images, args.repeats, args.build_repeats, args.ref_batch, args.ref_repeats) < 1:
        ap.error("--images, --repeats, --build-repeats, --ref-batch and --ref-repeats must be >= 1")
    if args.threads:
        if "numpy" in sys.modules or "torch" in sys.modules:
            ap.error("--threads must take effect before numpy/torch load")
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    for f in args.model:
        if not Path(f).is_file():
            ap.error(f"--model {f}: no such file")

    from fq_hls.fqz import read_fqz
    from fq_hls.synthetic import random_compressed

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    payload = {"command": command_line(), "machine": machine_info(), "build": [], "csim": [], "reference": [],
               "threads_note": (f"--threads {args.threads}: BLAS, OpenMP and torch limited to {args.threads}"
                                if args.threads else "BLAS/OpenMP/torch default threads"),
               "models": [], "targets": {"csim_s_per_image": CSIM_TARGET_S, "build_s": BUILD_TARGET_S,
                                         "reference_vs_torch": REF_TARGET_RATIO}}
    print(machine_line(payload["machine"]), flush=True)
    saved_cache = os.environ.get("FQ_HLS_CACHE")
    root = Path(tempfile.mkdtemp(prefix="fq_bench_"))
    try:
        if "build" not in skip:
            payload["build"] = bench_build(boards, engines, args.build_repeats, root)

        models = []  # (label, model, engines to run it on)
        for arch in archs:
            for engine in engines:
                method = ENGINE_METHOD[engine]
                t0 = time.perf_counter()
                cm = random_compressed(arch, method, sparsity=args.sparsity, seed=args.seed)
                gen = time.perf_counter() - t0
                label = f"random {arch} {method}"
                models.append((label, cm, [engine]))
                payload["models"].append({"model": label, "arch": arch, "method": method,
                                          "sparsity": args.sparsity, "seed": args.seed, "generate_s": gen})
        for f in args.model:
            cm = read_fqz(f)
            label = Path(f).name
            models.append((label, cm, [_engine_for(cm.method)]))
            payload["models"].append({"model": label, "file": str(f), "arch": cm.arch, "method": cm.method})

        for label, cm, engs in models:
            if "csim" not in skip:
                try:
                    payload["csim"] += bench_csim(label, cm, boards, engs, args.images, args.repeats, args.seed,
                                                  root)
                except Exception:  # noqa: BLE001 - e.g. lowering failed: report, keep the other models
                    traceback.print_exc()
            if "ref" not in skip:
                payload["reference"].append(bench_reference(label, cm, args.ref_batch, args.ref_repeats, args.seed))
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if saved_cache is None:
            os.environ.pop("FQ_HLS_CACHE", None)
        else:
            os.environ["FQ_HLS_CACHE"] = saved_cache

    md = render(payload)
    return publish(args.out, args.name, payload, md)


if __name__ == "__main__":
    sys.exit(main())
