"""The compression pipeline: float checkpoint -> pruned -> focused-quantized -> (fine-tuned) -> calibrated -> .fqz.

Used by `fq-hls compress`, the demo and the benchmark. Knows torch; writes no C++.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..model import CompressedModel

CALIBRATION_IMAGES = 512
RECONSTRUCT_IMAGES = 1024
# what a post-training run without --data gives up, measured (docs/focused_quantization.md, BENCHMARKS.md)
NO_DATA_WARNING = ("no --data: skipping BN re-estimation and weight reconstruction, activation ranges from noise "
                   "images, no evaluation; this costs accuracy (fq5 on the 90 %-pruned CIFAR ResNet-18: about "
                   "4 points top-1; a dense checkpoint pruned with --sparsity: far more)")


@dataclass
class CompressConfig:
    arch: str
    weights: str
    method: str  # fq5, fq7, int8, shift5
    sparsity: float | None = None  # target sparsity; None keeps the checkpoint's zeros
    epochs: int = 0
    data: str | None = None
    device: str = "cpu"
    lr: float = 0.01
    batch_size: int = 128
    seed: int = 0
    checkpoint: str | None = None
    resume: bool = False
    eval_limit: int | None = None
    calibration_images: int = CALIBRATION_IMAGES
    progress: bool = True
    num_classes: int | None = None
    skip_first: bool = True  # keep conv1 dense, like the shared pruned checkpoint
    max_batches: int | None = None  # cap on fine-tuning batches per epoch (short runs on a CPU)
    # post-training only: training images used to re-estimate BN statistics; None = 2048 without
    # reconstruction, off after it (the reconstruction fits the float pre-BN outputs, so the float statistics
    # already fit: re-estimating them cost 0.24 pt top-1 on the 90 %-pruned CIFAR ResNet-18, BENCHMARKS.md)
    bn_recalibration: int | None = None
    reconstruct: str = "layer"  # post-training with data: "layer" (reconstruct.py) or "none"
    reconstruct_images: int = RECONSTRUCT_IMAGES
    distill: bool = False  # fine-tuning: distil from the float model given (teacher)
    layers: str | None = None  # per-layer settings file (fq_hls.compress.layer_settings)
    input_shape: tuple[int, int, int] | None = None  # user modules (arch FILE.py:builder) only
    timings: dict = field(default_factory=dict)


@contextlib.contextmanager
def _single_thread(enabled: bool):
    """One torch thread for the quantizer fits: thousands of small EM/rounding ops are dominated by per-op
    overhead, and on a shared CPU a second thread only adds contention (bench/compress_time.py measured
    2.8 s with one thread against 30 s with two on a loaded 2-core machine)."""
    n = torch.get_num_threads()
    if enabled:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _layer_settings(model: torch.nn.Module, cfg: CompressConfig) -> dict:
    """LayerSetting (method, sparsity) per conv/fc: --method and --sparsity (the first layer kept dense with
    skip_first), overridden by the --layers file."""
    from .layer_settings import layer_aliases, read_layer_settings, resolve_layer_settings
    from .models import prunable_layers

    names = list(prunable_layers(model))
    sparsity = {name: (None if cfg.skip_first and i == 0 else cfg.sparsity) for i, name in enumerate(names)}
    entries = read_layer_settings(cfg.layers) if cfg.layers else []
    return resolve_layer_settings(entries, layer_aliases(names), cfg.method, sparsity,
                                  source=str(cfg.layers or "--layers"))


def _open_data(data: str | None, arch: str):
    """(train, test) datasets of `data` at the input shape of `arch`; (None, None) without data."""
    from ..datasets import load_dataset

    if not data:
        return None, None
    return load_dataset(data, "train", arch), load_dataset(data, "test", arch)


def _initial_masks(model: torch.nn.Module, settings: dict) -> dict[str, torch.Tensor]:
    from . import pruning
    from .models import prunable_layers

    layers = prunable_layers(model)
    masks = {name: (m.weight.detach() != 0) for name, m in layers.items()}
    # one-shot magnitude pruning to each layer's target; an already sparser layer keeps its zeros
    for name, m in layers.items():
        target = settings[name].sparsity
        if target is not None:
            masks[name] = pruning.magnitude_mask(m.weight.detach(), target) & masks[name]
    pruning.apply_masks(model, masks)
    return masks


def recalibrate_bn(model: torch.nn.Module, images_u8: np.ndarray, mean, std, batch_size: int = 128,
                   device: str = "cpu", progress: bool = False) -> None:
    """Re-estimate BN running statistics under the quantized weights (cumulative average, no gradients).

    Post-training quantization shifts every layer's output distribution; the BN statistics measured on the
    float model then normalise with the wrong mean/variance. A forward pass over a few thousand training
    images recovers most of that loss at no training cost. Only BN layers switch to training mode."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns or len(images_u8) == 0:
        return
    was_training = model.training
    model.eval().to(device)
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over all batches
        m.train()
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    from tqdm.auto import tqdm

    starts = tqdm(range(0, len(images_u8), batch_size), desc="BN re-estimation", unit="batch", leave=False,
                  disable=not progress)
    with torch.no_grad(), torch.nn.utils.parametrize.cached():  # quantized weights computed once, not per batch
        for s in starts:
            x = torch.from_numpy(np.ascontiguousarray(images_u8[s:s + batch_size])).to(device)
            x = (x.permute(0, 3, 1, 2).float() - mean_t) / std_t
            model(x)
    for m, mom in zip(bns, saved, strict=True):
        m.momentum = mom
    model.train(was_training)
    if not was_training:
        model.eval()


def round_bn_16bit(cm: CompressedModel) -> None:
    """Round BN parameters and biases to float16 values (the paper's Table 3 keeps 16-bit BN parameters);
    the fake-quantized model, the .fqz and lowering all use the rounded values."""
    for n in cm.nodes:
        if n.bn is not None:
            for f in ("gamma", "beta", "mean", "var"):
                setattr(n.bn, f, getattr(n.bn, f).astype(np.float16).astype(np.float32))
        if n.bias is not None:
            n.bias = n.bias.astype(np.float16).astype(np.float32)


def check_config(cfg: CompressConfig) -> None:
    """InputError naming the field of the first value outside its range (the CLI checks them at parse time;
    this covers library callers)."""
    def bad(name: str, want: str, got) -> None:
        raise InputError(f"{name} must be {want}, got {got!r}")

    def is_int(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

    if cfg.sparsity is not None and not (isinstance(cfg.sparsity, (int, float)) and 0.0 <= cfg.sparsity < 1.0):
        bad("--sparsity", "in [0, 1)", cfg.sparsity)
    for name, v, lo in (("--epochs", cfg.epochs, 0), ("--batch-size", cfg.batch_size, 1),
                         ("--bn-recalibration", 0 if cfg.bn_recalibration is None else cfg.bn_recalibration, 0),
                         ("--seed", cfg.seed, 0),
                         ("calibration_images", cfg.calibration_images, 1),
                         ("--reconstruct-images", cfg.reconstruct_images, 1)):
        if not is_int(v) or v < lo:
            bad(name, f"an integer >= {lo}", v)
    for name, v in (("--limit", cfg.eval_limit), ("--max-batches", cfg.max_batches), ("--num-classes", cfg.num_classes)):
        if v is not None and (not is_int(v) or v < 1):
            bad(name, "an integer >= 1", v)
    if not (isinstance(cfg.lr, (int, float)) and np.isfinite(cfg.lr) and cfg.lr > 0):
        bad("--lr", "a positive finite number", cfg.lr)
    from .reconstruct import RECONSTRUCT_MODES

    if cfg.reconstruct not in RECONSTRUCT_MODES:
        bad("--reconstruct", f"one of {', '.join(RECONSTRUCT_MODES)}", cfg.reconstruct)


def compress(cfg: CompressConfig, out_path: str | Path, force: bool = False) -> tuple[CompressedModel | None, dict]:
    """Run the whole pipeline; writes OUT.fqz and OUT.json and returns (model, report). Under torchrun the
    fine-tuning is distributed and only rank 0 goes on to export (other ranks return (None, {...})).

    Every input and both outputs are checked before the work starts; existing outputs are only replaced with
    `force`. The two files are written at the end, each to a temporary file first, then renamed into place
    together: a failed or interrupted run leaves neither (nor a .fqz without its .json)."""
    from ..archs import ARCHS, arch_info
    from ..fqz import encode_model, size_report
    from ..safeio import check_output_file, write_files
    from ..sampling import class_balanced_order
    from .calibrate import calibrate
    from .data import make_loader
    from .focused import METHODS, attach_quantizers, export_quantized
    from .fx_import import is_module_spec
    from .graph import to_compressed, to_torch
    from .models import load_any_model, num_outputs

    if cfg.method not in METHODS:
        raise InputError(f"unknown method {cfg.method!r}; choose one of {', '.join(METHODS)}")
    if cfg.arch not in ARCHS and not is_module_spec(cfg.arch):
        raise InputError(f"unknown arch {cfg.arch!r}; choose one of {', '.join(ARCHS)} or FILE.py:builder")
    check_config(cfg)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: CUDA is not available on this machine")
    if not Path(cfg.weights).is_file():
        raise InputError(f"weights file not found: {cfg.weights}")
    out_path = Path(out_path)
    if out_path.suffix != ".fqz":
        raise InputError(f"output must end in .fqz, got {out_path}")
    json_path = out_path.with_suffix(".json")
    inputs = [cfg.weights, cfg.checkpoint]
    rank = int(os.environ.get("RANK", "0"))
    if rank == 0:
        check_output_file(out_path, force=force, inputs=inputs, what="model file")
        check_output_file(json_path, force=force, inputs=inputs, what="report file")
    if cfg.epochs > 0 and not cfg.data:
        raise InputError("fine-tuning (--epochs > 0) needs training data: pass --data DIR")
    import sys

    from .progress import Steps

    timings: dict = {}
    steps = Steps(timings, cfg.progress and rank == 0)
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    with steps.step("load_prune_fit", "load, prune and fit the quantizers"):
        # data opened first (a bad folder fails before the work); a user module's input shape is known only
        # once it is built, so its data opens right after
        builtin = not is_module_spec(cfg.arch)
        train, test = _open_data(cfg.data, cfg.arch) if builtin else (None, None)
        model = load_any_model(cfg.arch, cfg.weights, cfg.num_classes, cfg.input_shape)
        arch = model.arch  # a user module FILE.py:builder is registered under its own name
        info = arch_info(arch)
        if not builtin:
            train, test = _open_data(cfg.data, arch)
        if cfg.data:
            n_out = num_outputs(model)
            for split, ds in (("train", train), ("test", test)):
                if len(ds) and int(ds.labels.max()) >= n_out:
                    raise InputError(f"{cfg.data}: {split} label {int(ds.labels.max())} is outside the model's "
                                     f"{n_out} classes 0..{n_out - 1}")
        settings = _layer_settings(model, cfg)
        masks = _initial_masks(model, settings)
        # the float (pruned) model: the target of reconstruction and the teacher of distillation
        teacher = copy.deepcopy(model) if (cfg.data and (cfg.epochs == 0 and cfg.reconstruct != "none"
                                                          or cfg.epochs > 0 and cfg.distill)) else None
        layers = {name: s.method for name, s in settings.items()}
        # attach_quantizers zeroes pruned weights and fits every quantizer (EM, sampled assignment, bias)
        with _single_thread(cfg.device == "cpu"):
            qlayers = attach_quantizers(model, layers, masks, seed=cfg.seed)

    warnings: list[str] = []
    if not cfg.data and rank == 0:  # after the inputs were read: a bad input stops with its error alone
        warnings.append(NO_DATA_WARNING)
        print(f"warning: {NO_DATA_WARNING}", file=sys.stderr, flush=True)
    history = None
    if cfg.epochs > 0:
        from .finetune import FinetuneConfig, finetune

        loader = make_loader(train, arch, batch_size=cfg.batch_size, train=True, seed=cfg.seed)
        ft = FinetuneConfig(epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, device=cfg.device,
                            seed=cfg.seed, checkpoint=cfg.checkpoint, resume=cfg.resume, progress=cfg.progress,
                            amp=cfg.device == "cuda", max_batches=cfg.max_batches)
        with steps.step("finetune", f"fine-tune {cfg.epochs} epochs"):
            history = finetune(model, qlayers, masks, loader, ft, teacher=teacher)
        model.to("cpu")
        if rank != 0:  # under torchrun every rank holds the same weights: rank 0 alone exports and writes
            return None, {"rank": rank, "note": "export, calibration and evaluation run on rank 0"}

    rec_report = None
    if teacher is not None and cfg.epochs == 0:
        from .data import normalize
        from .reconstruct import ReconstructConfig, reconstruct

        idx = class_balanced_order(train.labels)[: cfg.reconstruct_images]
        x, _ = train.arrays(idx)
        bs = cfg.batch_size
        batches = [normalize(np.ascontiguousarray(x[i:i + bs]), info["mean"], info["std"]).to(cfg.device)
                   for i in range(0, len(x), bs)]
        rcfg = ReconstructConfig(seed=cfg.seed, progress=steps.show)
        with steps.step("reconstruct", f"reconstruct the quantized weights on {len(idx)} training images"):
            rec_report = reconstruct(model.to(cfg.device), teacher.to(cfg.device), qlayers, batches, rcfg)
        model.to("cpu")
        del batches, teacher

    n_bn = cfg.bn_recalibration if cfg.bn_recalibration is not None else (0 if rec_report is not None else 2048)
    if cfg.epochs == 0 and cfg.data and n_bn > 0:
        rng = np.random.default_rng(cfg.seed)
        idx = np.sort(rng.choice(len(train), size=min(n_bn, len(train)), replace=False))
        with steps.step("bn_recalibration", f"re-estimate BN statistics on {len(idx)} training images"):
            recalibrate_bn(model, train.images[idx], info["mean"], info["std"], device=cfg.device,
                           progress=steps.show)

    with steps.step("export"):
        with _single_thread(cfg.device == "cpu"):
            qweights = export_quantized(model, qlayers)
        cm = to_compressed(model, arch, qweights, cfg.method,
                           meta={"source": str(cfg.weights), "epochs": cfg.epochs, "seed": cfg.seed,
                                 "reconstruct": cfg.reconstruct if rec_report is not None else "none"})
        round_bn_16bit(cm)

    # activation ranges travel in the model file so that lowering on the board needs no torch or data
    if cfg.data:
        idx = class_balanced_order(train.labels)[: cfg.calibration_images]
        calib = train.images[idx]
        cm.meta["calibration"] = f"{len(idx)} class-balanced training images of {cfg.data}"
    else:
        rng = np.random.default_rng(cfg.seed)
        c, h, w = info["input_shape"]
        calib = rng.integers(0, 256, size=(64, h, w, c), dtype=np.uint8)
        cm.meta["calibration"] = "64 synthetic uniform-noise images (no --data given)"
    with steps.step("calibrate", f"calibrate activation ranges on {len(calib)} images"):
        calibrate(cm, calib, progress=steps.show)

    if cfg.data:
        from .evaluate import evaluate_model

        n_eval = len(test) if cfg.eval_limit is None else min(cfg.eval_limit, len(test))
        with steps.step("evaluate", f"evaluate on {n_eval} test images"):
            acc = evaluate_model(to_torch(cm), test, limit=cfg.eval_limit, device=cfg.device, progress=steps.show)
        cm.meta["accuracy"] = {k: acc[k] for k in ("top1", "top5", "images")}

    with steps.step("encode_write"):
        data = encode_model(cm, str(out_path)).data  # validates the model: never a file the reader refuses
    timings["quantize_encode_s"] = timings["load_prune_fit_s"] + timings["export_s"] + timings["encode_write_s"]
    timings["total_s"] = time.perf_counter() - t0

    report = size_report(cm)
    # the size is the written file's, byte for byte (inspect reads the same number)
    report["size_bytes"] = len(data)
    report["compression_ratio"] = report["dense_bytes"] / len(data)
    report.update({"arch": arch, "method": cfg.method, "epochs": cfg.epochs, "file": str(out_path),
                   "timings": timings, "warnings": warnings,
                   "skipped": [] if cfg.data else ["bn_recalibration", "reconstruction", "evaluation"],
                   "reconstruct": cfg.reconstruct if rec_report is not None else "none",
                   "bn_recalibration_images": n_bn if cfg.epochs == 0 and cfg.data else 0})
    if rec_report is not None:
        report["reconstruction"] = rec_report
    if history is not None:
        report["finetune"] = history
    if cfg.data:
        report.update({"top1": acc["top1"], "top5": acc["top5"], "eval_images": acc["images"]})
    write_files([(out_path, data), (json_path, json.dumps(report, indent=1, default=_jsonable))])
    return cm, report


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)
