"""Benchmark: images/s of FQ fine-tuning vs plain float training of the same ResNet-18 (CIFAR), same batch,
same device, same training step (fq_hls.compress.finetune.finetune, one epoch over a fixed number of batches).

Variants, each its own model built from the same initial weights:

    float   plain float training: no quantizers, no masks (finetune with empty qlayers and masks)
    masked  float training of the pruned model (masks re-applied every step, no quantizers)
    fq      FQ fine-tuning: attach_quantizers(method) on the pruned model, fully quantized (INQ fraction 1.0,
            the last and costliest stage), straight-through gradients, masks; no refit inside the timed epoch

Weights: `--weights` (a pruned checkpoint, its zeros are the masks) or a fresh initialisation pruned per layer
to `--sparsity` (conv1 kept dense, like the shared checkpoint). Data: synthetic normalised tensors held in
memory (a DataLoader over a TensorDataset), so the loader costs nothing. Every measurement is one warm-up call
(`--warmup` batches) then one timed call (`--batches` batches); the seconds are finetune's own per-epoch
timer (CUDA synchronised before it stops). Variants alternate order within each repeat; the ratio
fq / float is taken per repeat and the median reported. On CUDA, bf16 autocast as `fq-hls compress` uses.
Target: fq >= 75 % of float images/s on a GPU. Writes bench/results/finetune_throughput.{json,md}.

    python bench/finetune_throughput.py [--device cpu|cuda] [--batch 64] [--batches 5] [--warmup 1] \
        [--repeats 3] [--method fq5] [--weights FILE] [--variants float,masked,fq]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine_info, machine_line, markdown_table, median, publish, verdict  # noqa: E402

VARIANTS = ("float", "masked", "fq")
TARGET_RATIO = 0.75


def build_variant(variant: str, arch: str, method: str, weights: str | None, sparsity: float, seed: int):
    """(model, qlayers, masks) of a variant; every variant starts from the same weights."""
    import torch

    from fq_hls.compress.focused import attach_quantizers
    from fq_hls.compress.models import build_model, load_weights, prunable_layers
    from fq_hls.compress.pruning import apply_masks, magnitude_mask

    torch.manual_seed(seed)
    model = build_model(arch)
    if weights:
        load_weights(model, weights)
    if variant == "float":
        return model, {}, {}
    layers = prunable_layers(model)
    first = next(iter(layers))
    if weights:
        masks = {n: (m.weight.detach() != 0) for n, m in layers.items()}
    else:
        masks = {n: (torch.ones_like(m.weight, dtype=torch.bool) if n == first
                     else magnitude_mask(m.weight.detach(), sparsity)) for n, m in layers.items()}
        apply_masks(model, masks)
    if variant == "masked":
        return model, {}, masks
    qlayers = attach_quantizers(model, {n: method for n in layers}, masks, seed=seed)
    return model, qlayers, masks


def make_loader(arch: str, batch: int, batches: int, seed: int, num_classes: int):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from fq_hls.archs import arch_info

    c, h, w = arch_info(arch)["input_shape"]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch * batches, c, h, w, generator=g)
    y = torch.randint(0, num_classes, (batch * batches,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=False, drop_last=True)


def measure(model, qlayers, masks, loader, device: str, seed: int) -> dict:
    import time

    from fq_hls.compress.finetune import FinetuneConfig, finetune

    cfg = FinetuneConfig(epochs=1, lr=0.01, batch_size=loader.batch_size, device=device, seed=seed,
                         refit="never", lr_schedule="constant", amp=device.startswith("cuda"), progress=False)
    c0 = time.process_time()
    rec = finetune(model, qlayers, masks, loader, cfg)["history"][0]
    cpu = time.process_time() - c0  # whole call (set-up included): a cross-check less sensitive to other load
    return {"images": rec["images"], "seconds": rec["seconds"], "images_per_s": rec["images_per_s"],
            "cpu_seconds_call": cpu}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="resnet18-cifar")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batches", type=int, default=5, help="timed batches per measurement")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up batches before every measurement")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--method", default="fq5")
    ap.add_argument("--weights", default=None, help="pruned checkpoint (default: random init, pruned)")
    ap.add_argument("--sparsity", type=float, default=0.9, help="pruning of the random init (no --weights)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--name", default="finetune_throughput")
    args = ap.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    if not set(variants) <= set(VARIANTS) or "float" not in variants or "fq" not in variants:
        ap.error(f"--variants: a subset of {','.join(VARIANTS)} holding float and fq")
    if min(args.batch, args.batches, args.warmup, args.repeats) < 1:
        ap.error("--batch, --batches, --warmup and --repeats must be >= 1")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error(f"--device {args.device}: CUDA is not available")
    from fq_hls.archs import arch_info

    nc = arch_info(args.arch)["num_classes"]
    payload = {"command": command_line(), "machine": machine_info(device=args.device), "arch": args.arch,
               "device": args.device, "amp": "bf16 autocast" if args.device.startswith("cuda") else None,
               "batch": args.batch, "batches": args.batches, "warmup": args.warmup, "repeats": args.repeats,
               "method": args.method, "weights": args.weights or f"random init pruned to {args.sparsity}",
               "target_ratio": TARGET_RATIO, "runs": {v: [] for v in variants}, "ratios": {}}
    print(machine_line(payload["machine"]), flush=True)
    models = {v: build_variant(v, args.arch, args.method, args.weights, args.sparsity, args.seed) for v in variants}
    timed = make_loader(args.arch, args.batch, args.batches, args.seed, nc)
    warm = make_loader(args.arch, args.batch, args.warmup, args.seed + 1, nc)
    for r in range(args.repeats):
        for v in (variants if r % 2 == 0 else variants[::-1]):
            model, q, m = models[v]
            measure(model, q, m, warm, args.device, args.seed)
            res = measure(model, q, m, timed, args.device, args.seed)
            payload["runs"][v].append(res)
            print(f"repeat {r + 1} {v}: {res['images_per_s']:.1f} images/s ({res['seconds']:.2f} s)", flush=True)
    payload["cpu_ratios"] = {}
    for v in variants:
        pairs = list(zip(payload["runs"][v], payload["runs"]["float"], strict=True))
        payload["ratios"][v] = [a["images_per_s"] / b["images_per_s"] for a, b in pairs]
        payload["cpu_ratios"][v] = [b["cpu_seconds_call"] / a["cpu_seconds_call"] for a, b in pairs]

    rows = []
    for v in variants:
        ips = [x["images_per_s"] for x in payload["runs"][v]]
        ratio = median(payload["ratios"][v])
        target = verdict(ratio, TARGET_RATIO, le=False) if v == "fq" else ""
        if v == "fq" and not args.device.startswith("cuda"):
            target = f"{target} (target is for GPU; this is CPU)"
        rows.append([v, f"{median(ips):.1f}", f"{min(ips):.1f}-{max(ips):.1f}", f"{100 * ratio:.1f} %",
                     f"{100 * min(payload['ratios'][v]):.1f}-{100 * max(payload['ratios'][v]):.1f} %",
                     f"{100 * median(payload['cpu_ratios'][v]):.1f} %", target])
    dev = payload["machine"].get("gpu") or payload["machine"]["cpu"]
    md = (f"**Fine-tuning throughput, {args.arch}, {args.method}, batch {args.batch}, {args.device} ({dev})"
          f"{', bf16 autocast' if payload['amp'] else ''}** (images/s over {args.batches} batches after "
          f"{args.warmup} warm-up, median of {args.repeats} alternated repeats; ratio to float per repeat, "
          f"median; CPU ratio = float / variant process CPU seconds per call, median)\n\n"
          + markdown_table(["variant", "images/s", "range", "vs float", "ratio range", "CPU ratio",
                            f">= {100 * TARGET_RATIO:g} %"], rows))
    return publish(args.out, args.name, payload, md)


if __name__ == "__main__":
    sys.exit(main())
