"""Build the report's headline workload: a ResNet-18 224x224 on trained weights at the paper's sparsity.

The shared CIFAR-10 ResNet-18 checkpoint's layer1..layer4 tensors (convs, downsamples, their batch norms) have
exactly the ImageNet ResNet-18's shapes; conv1 (7x7) and fc (1000 x 512) do not exist there and are the fresh
random initialisation of fq_hls.compress.models (seeded). One DNS-style threshold rule prunes every conv and fc
layer: |w| < t_l with t_l = mean|W_l| + a * std|W_l| (Dynamic Network Surgery's per-layer threshold, one-shot:
no hysteresis, no retraining), with one global `a` found by bisection so that the whole network is 74.86 %
sparse (the FQ paper's ResNet-18). The per-layer profile is what that rule gives. The pruned float weights are
then compressed post-training (no data: BN kept, activation ranges calibrated on synthetic noise images, which
do not change any cycle count) by the project's own pipeline into fq5 and into int8 of the same mask.

    .venv/bin/python bench/make_workload.py \
        --checkpoint /work/shared/models/resnet18_cifar10/resnet18_cifar10_fp16.pt -o fq_hls/data

writes resnet18_dns7486_fq5.fqz, resnet18_dns7486_int8.fqz (+ their compress reports) and
resnet18_dns7486_profile.json (the rule, `a`, per-layer sparsity, the checkpoint's SHA-256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PAPER_SPARSITY = 0.7486  # FQ paper, ResNet-18 (ImageNet) 5-bit
STEM = "resnet18_dns7486"
TRAINED_PREFIXES = ("layer1.", "layer2.", "layer3.", "layer4.")


def dns_thresholds(weights: dict[str, np.ndarray], a: float) -> dict[str, float]:
    """DNS's per-layer threshold t = mean|W| + a * std|W|."""
    return {n: float(np.abs(w).mean() + a * np.abs(w).std()) for n, w in weights.items()}


def solve_a(weights: dict[str, np.ndarray], target: float, tol: float = 1e-5) -> float:
    """The one global `a` whose thresholds prune the whole network to `target` (bisection; sparsity grows
    monotonically with a)."""
    total = sum(w.size for w in weights.values())

    def sparsity(a: float) -> float:
        t = dns_thresholds(weights, a)
        return sum(int((np.abs(w) < t[n]).sum()) for n, w in weights.items()) / total

    lo, hi = -3.0, 3.0
    if not sparsity(lo) < target < sparsity(hi):
        raise SystemExit(f"target sparsity {target} outside the rule's range [{sparsity(lo):.3f}, {sparsity(hi):.3f}]")
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if sparsity(mid) < target else (lo, mid)
    return 0.5 * (lo + hi)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="the shared CIFAR ResNet-18 state_dict (.pt)")
    ap.add_argument("--sparsity", type=float, default=PAPER_SPARSITY)
    ap.add_argument("--seed", type=int, default=0, help="seed of the random conv1/fc initialisation")
    ap.add_argument("--methods", default="fq5,int8")
    ap.add_argument("-o", "--output", required=True, help="output folder")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from fq_hls.compress.models import build_model, prunable_layers, read_state_dict
    from fq_hls.compress.pipeline import CompressConfig, compress

    t0 = time.time()
    ckpt = Path(args.checkpoint)
    sd_trained = read_state_dict(ckpt)  # torch.load(weights_only=True) inside
    torch.manual_seed(args.seed)
    model = build_model("resnet18")
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    taken = []
    for k, v in sd_trained.items():
        if k.startswith(TRAINED_PREFIXES) and k in sd:
            if tuple(v.shape) != tuple(sd[k].shape):
                raise SystemExit(f"{ckpt}: {k} has shape {tuple(v.shape)}, ResNet-18 224 needs {tuple(sd[k].shape)}")
            sd[k] = v.to(sd[k].dtype)
            taken.append(k)
    layers = list(prunable_layers(model))
    weights = {n: sd[n + ".weight"].float().numpy() for n in layers}
    a = solve_a(weights, args.sparsity)
    thr = dns_thresholds(weights, a)
    profile = []
    for n, w in weights.items():
        keep = np.abs(w) >= thr[n]
        sd[n + ".weight"] = torch.from_numpy(np.where(keep, w, 0.0).astype(np.float32))
        profile.append({"layer": n, "weights": int(w.size), "sparsity": round(1.0 - float(keep.mean()), 4),
                        "threshold": thr[n], "source": "trained" if n.startswith(TRAINED_PREFIXES) else
                        f"random (fq_hls.compress.models init, seed {args.seed})"})
    total = sum(p["weights"] for p in profile)
    zeros = sum(round(p["sparsity"] * p["weights"]) for p in profile)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "pruned.npz"
        np.savez(npz, **{k: v.numpy() for k, v in sd.items()})
        for method in args.methods.split(","):
            dest = out / f"{STEM}_{method}.fqz"
            cfg = CompressConfig(arch="resnet18", weights=str(npz), method=method, sparsity=None, data=None,
                                 bn_recalibration=0, progress=False, seed=args.seed)
            t = time.time()
            _, rep = compress(cfg, dest, force=args.force)
            files[method] = {"file": dest.name, "size_bytes": rep["size_bytes"], "sparsity": rep["sparsity"],
                             "compress_s": round(time.time() - t, 1)}
            print(f"{dest}: {rep['size_bytes']:,} bytes, sparsity {rep['sparsity']:.4f}", file=sys.stderr)
    prov = {
        "workload": "ResNet-18 224x224, trained layer1-layer4 (CIFAR-10 checkpoint), random conv1/fc, "
                    f"DNS-threshold pruned to {args.sparsity:.2%}",
        "checkpoint": ckpt.name, "checkpoint_sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(),
        "trained_tensors": len(taken),
        "rule": "prune |w| < mean|W_l| + a * std|W_l| per conv/fc layer, one global a (bisection)",
        "a": round(a, 5), "sparsity": round(zeros / total, 5), "seed": args.seed, "layers": profile,
        "files": files, "command": "python bench/make_workload.py " + " ".join(argv or sys.argv[1:]),
        "seconds": round(time.time() - t0, 1),
    }
    (out / f"{STEM}_profile.json").write_text(json.dumps(prov, indent=1) + "\n")
    print(json.dumps({k: prov[k] for k in ("a", "sparsity", "files")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
