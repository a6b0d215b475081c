"""Fine-tuning with focused quantization in the loop: straight-through gradients, an INQ schedule of the
quantized fraction, growing-interval mixture refits, masks kept, per-epoch checkpoints, DDP under torchrun.

Repeatability: every epoch starts from RNG states that depend only on (seed, epoch): torch/numpy/random are
reseeded, and so is every torch.Generator found in the loader's samplers; a DistributedSampler gets
set_epoch(epoch). So a run resumed from a checkpoint continues exactly like an uninterrupted one (as long as
the loader's randomness comes from those sources).
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler

from ..errors import InputError, ModelFileError
from . import ddp
from .focused import LayerQuantizer, refit, set_quantized_fraction

REFIT_POLICIES = ("growing", "every", "never")
CHECKPOINT_VERSION = 2  # 2: plain schema, read with weights_only=True (1 held numpy objects)
CHECKPOINT_KIND = "fq-hls-finetune"


@dataclass
class FinetuneConfig:
    epochs: int
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128  # global batch (split over DDP ranks); used when a Dataset is given or under DDP
    device: str = "cpu"
    seed: int = 0
    inq_schedule: tuple[float, ...] = (0.25, 0.5, 0.75, 0.875, 1.0)
    refit: str = "growing"  # "growing": epochs k, 2k, 4k, ...; "every": every k epochs; "never"
    refit_every: int = 1  # k
    lr_schedule: str = "cosine"  # "cosine" (per epoch, to 0 at the end) or "constant"
    amp: bool = False  # bf16 autocast, CUDA only
    checkpoint: str | None = None
    resume: bool = False
    progress: bool = False
    max_batches: int | None = None  # cap per epoch (smoke runs)
    distill_weight: float = 0.5  # share of the distillation term in the loss when a teacher is given
    distill_temperature: float = 4.0

    def validate(self) -> None:
        if self.epochs < 0:
            raise InputError(f"epochs must be >= 0, got {self.epochs}")
        if self.refit not in REFIT_POLICIES:
            raise InputError(f"refit must be one of {REFIT_POLICIES}, got {self.refit!r}")
        if self.refit_every < 1:
            raise InputError(f"refit_every must be >= 1, got {self.refit_every}")
        if not 0.0 <= self.distill_weight <= 1.0 or not self.distill_temperature > 0:
            raise InputError(f"distillation weight must be in [0, 1] and temperature > 0, got "
                             f"{self.distill_weight}, {self.distill_temperature}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise InputError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        s = list(self.inq_schedule)
        if not s or any(not 0 < f <= 1 for f in s) or s != sorted(s) or s[-1] != 1.0:
            raise InputError(f"inq_schedule must increase within (0, 1] and end at 1.0, got {self.inq_schedule}")


def fraction_at(epoch: int, cfg: FinetuneConfig) -> float:
    """INQ fraction of epoch `epoch`: the schedule's stages share the epochs equally; the last epoch is
    always fully quantized (so a short run still ends with every weight quantized)."""
    s = list(cfg.inq_schedule)
    if epoch >= cfg.epochs - 1:
        return s[-1]
    return s[min(len(s) - 1, epoch * len(s) // cfg.epochs)]


def refit_epochs(cfg: FinetuneConfig) -> list[int]:
    """Epochs at whose start the mixtures are refitted (epoch 0 uses the fit made by attach_quantizers)."""
    k = cfg.refit_every
    if cfg.refit == "never":
        return []
    if cfg.refit == "every":
        return list(range(k, cfg.epochs, k))
    out, t = [], k
    while t < cfg.epochs:
        out.append(t)
        t *= 2
    return out


def lr_at(epoch: int, cfg: FinetuneConfig) -> float:
    if cfg.lr_schedule == "constant" or cfg.epochs <= 1:
        return cfg.lr
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / cfg.epochs))


# ---------------------------------------------------------------------- RNG / loaders
def _epoch_seed(seed: int, epoch: int, salt: int = 0) -> int:
    return (seed * 1_000_003 + epoch * 7919 + salt) % (1 << 63)


def _generators(obj, depth: int = 0):
    """torch.Generators reachable from a loader through sampler attributes (RandomSampler in BatchSampler)."""
    if obj is None or depth > 4:
        return
    g = getattr(obj, "generator", None)
    if isinstance(g, torch.Generator):
        yield g
    for attr in ("sampler", "batch_sampler"):
        child = getattr(obj, attr, None)
        if child is not None and child is not obj:
            yield from _generators(child, depth + 1)


def _seed_epoch(loader, seed: int, epoch: int, sampler: DistributedSampler | None) -> None:
    s = _epoch_seed(seed, epoch)
    torch.manual_seed(s)
    np.random.seed(s % (1 << 32))
    random.seed(s)
    seen = set()
    for g in _generators(loader):
        if id(g) not in seen:
            seen.add(id(g))
            g.manual_seed(_epoch_seed(seed, epoch, 1 + len(seen)))
    if sampler is not None:
        sampler.set_epoch(epoch)
    ds = getattr(loader, "dataset", None)
    if hasattr(ds, "set_epoch"):
        ds.set_epoch(epoch)


def _make_loader(data, cfg: FinetuneConfig, info: ddp.DistInfo) -> tuple[DataLoader, DistributedSampler | None]:
    """The loader to iterate: the given DataLoader (single process), or one rebuilt on the same dataset with a
    DistributedSampler (DDP; per-rank batch = global batch // world size), or one made from a Dataset."""
    world, rank = info.world_size, info.rank
    if isinstance(data, DataLoader):
        if not info.distributed:
            return data, None
        if data.batch_size is None and isinstance(data.sampler, BatchSampler):
            # a loader whose dataset takes whole index batches (fq_hls.compress.data.make_loader)
            inner = data.sampler
            n = len(inner.sampler)
            ds = DistributedSampler(range(n), world, rank, shuffle=True, seed=cfg.seed)
            bs = BatchSampler(ds, max(1, inner.batch_size // world), inner.drop_last)
            return DataLoader(data.dataset, sampler=bs, batch_size=None, num_workers=data.num_workers,
                              collate_fn=data.collate_fn), ds
        ds = DistributedSampler(data.dataset, world, rank, shuffle=True, seed=cfg.seed)
        return DataLoader(data.dataset, batch_size=max(1, (data.batch_size or cfg.batch_size) // world), sampler=ds,
                          num_workers=data.num_workers, collate_fn=data.collate_fn, drop_last=data.drop_last,
                          pin_memory=data.pin_memory), ds
    if info.distributed:
        ds = DistributedSampler(data, world, rank, shuffle=True, seed=cfg.seed)
        return DataLoader(data, batch_size=max(1, cfg.batch_size // world), sampler=ds), ds
    return DataLoader(data, batch_size=cfg.batch_size, shuffle=True, generator=torch.Generator()), None


# ---------------------------------------------------------------------- checkpoints
# A checkpoint is loaded with torch.load(weights_only=True): tensors and plain containers only, so a crafted
# file cannot run code. Everything in it is therefore a tensor, a number, a string, None or a list/tuple/dict of
# those (version 1 held numpy's RNG state as numpy objects and can no longer be read).
def _rng_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    st = {"torch": torch.get_rng_state(),
          "numpy": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, np.int64)), "pos": int(pos),
                    "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
          "python": random.getstate()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict) -> None:
    n = st["numpy"]
    keys = n["keys"]
    if not isinstance(keys, Tensor) or keys.dtype != torch.int64 or keys.dim() != 1:
        raise ValueError("numpy keys must be a 1-D int64 tensor")
    keys = keys.numpy()
    if keys.size and (keys.min() < 0 or keys.max() >= 1 << 32):
        raise ValueError("numpy keys outside uint32")
    np_state = (n["name"], keys.astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    torch.set_rng_state(st["torch"])
    np.random.set_state(np_state)
    random.setstate(st["python"])
    if "cuda" in st and torch.cuda.is_available() and len(st["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(st["cuda"])


def _plain(x):
    """History values as plain Python (an eval_fn may return numpy scalars, which weights_only refuses)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def save_checkpoint(path: str | Path, model: nn.Module, optimizer, epoch: int, history: list,
                    cfg: FinetuneConfig) -> None:
    """Atomic write (temporary file + rename) of everything needed to resume after `epoch` epochs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"version": CHECKPOINT_VERSION, "kind": CHECKPOINT_KIND, "epoch": epoch, "model": model.state_dict(),
             "optimizer": optimizer.state_dict(), "history": _plain(history), "rng": _rng_state(),
             "config": _plain(asdict(cfg))}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _check_schema(state: object, path: str | Path, epochs: int) -> dict:
    """The checkpoint dict once its fields have the types and ranges save_checkpoint writes."""
    def bad(field: str, want: str):
        raise ModelFileError(f"{path}: checkpoint field {field!r}: expected {want}")

    if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
        raise ModelFileError(f"{path}: not an fq-hls fine-tuning checkpoint")
    version = state.get("version")
    if version == 1:
        raise ModelFileError(f"{path}: checkpoint version 1 (written by an older fq-hls) can only be read by "
                             "running code from the file; start the fine-tuning again without --resume")
    if version != CHECKPOINT_VERSION:
        raise ModelFileError(f"{path}: checkpoint version {version!r}, expected {CHECKPOINT_VERSION}")
    epoch = state.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= epochs:
        bad("epoch", f"an integer in 0..{epochs} (--epochs), got {epoch!r}")
    model = state.get("model")
    if not isinstance(model, dict) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in model.items()):
        bad("model", "a state_dict (names -> tensors)")
    if not isinstance(state.get("optimizer"), dict):
        bad("optimizer", "an optimizer state_dict")
    history = state.get("history")
    if not isinstance(history, list) or len(history) != epoch or not all(isinstance(h, dict) for h in history):
        bad("history", f"a list of {epoch} per-epoch records")
    rng = state.get("rng")
    if not isinstance(rng, dict) or not isinstance(rng.get("torch"), Tensor) or not isinstance(rng.get("numpy"), dict):
        bad("rng", "the torch, numpy and python RNG states")
    return state


def load_checkpoint(path: str | Path, model: nn.Module, optimizer, epochs: int | None = None) -> tuple[int, list]:
    """Restore model (quantizer state included), optimizer and RNG; returns (epochs done, history)."""
    from ..safeio import MAX_NPZ_BYTES, open_regular

    with open_regular(path, MAX_NPZ_BYTES, "checkpoint", ModelFileError) as f:
        try:
            state = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch raises many types for a bad or unsafe pickle
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise ModelFileError(f"{path}: cannot read checkpoint safely ({type(e).__name__}: {first})") from None
    state = _check_schema(state, path, (1 << 31) if epochs is None else epochs)
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except Exception as e:  # noqa: BLE001 - torch raises several types for a mismatching state
        raise ModelFileError(f"{path}: checkpoint does not match this model/quantizers "
                             f"({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''})") from None
    try:
        _set_rng_state(state["rng"])
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError, OverflowError) as e:
        raise ModelFileError(f"{path}: checkpoint field 'rng': not a valid RNG state ({e})") from None
    return int(state["epoch"]), list(state["history"])


# ---------------------------------------------------------------------- the loop
def _apply_masks(pairs: list[tuple[Tensor, Tensor]]) -> None:
    with torch.no_grad():
        for p, m in pairs:
            p.mul_(m)


def finetune(model: nn.Module, qlayers: dict[str, LayerQuantizer], masks: dict[str, Tensor], train_loader,
             cfg: FinetuneConfig, eval_fn=None, teacher: nn.Module | None = None) -> dict:
    """Fine-tune `model` (quantizers attached by attach_quantizers) with cross-entropy and SGD.

    `train_loader`: a DataLoader of (input, label) batches or a Dataset. `masks`: name -> pruning mask of
    quantized layers (replaces their mask) and of other layers whose weights must stay pruned. `eval_fn(model)`
    (rank 0 only) returns a dict or a number, recorded per epoch. Returns {"history": [per-epoch dicts:
    epoch, loss, fraction, lr, refit, images, seconds, images_per_s, eval], "epochs": ..., "resumed_from":
    ..., "world_size": ...}. The model ends fully quantized (fraction 1.0), on cfg.device, in its original
    train/eval mode. With a `teacher` (the float model, eval mode, never updated) the loss mixes in knowledge
    distillation: (1 - a) CE + a T^2 KL(teacher || student) at temperature T (Hinton et al.), a =
    cfg.distill_weight."""
    cfg.validate()
    info = ddp.setup(cfg.device)
    try:
        return _finetune(model, qlayers, masks, train_loader, cfg, eval_fn, info, teacher)
    finally:
        ddp.cleanup(info)


def distill_loss(student: Tensor, teacher: Tensor, labels: Tensor, weight: float, temperature: float) -> Tensor:
    """(1 - weight) CE(student, labels) + weight T^2 KL(softmax(teacher/T) || softmax(student/T))."""
    ce = F.cross_entropy(student, labels)
    if weight == 0.0:
        return ce
    t = temperature
    kl = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1), reduction="batchmean",
                  log_target=True)
    return (1.0 - weight) * ce + weight * t * t * kl


def _finetune(model, qlayers, masks, train_loader, cfg, eval_fn, info: ddp.DistInfo, teacher=None) -> dict:
    device = info.device
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {cfg.device!r} requested but CUDA is not available")
    was_training = model.training
    torch.manual_seed(cfg.seed)
    model.to(device)
    for name, q in qlayers.items():
        if name in masks:
            q.set_mask(masks[name].to(device))
    modules = dict(model.named_modules())
    for name in masks:
        if name not in qlayers and not isinstance(getattr(modules.get(name), "weight", None), nn.Parameter):
            raise InputError(f"mask for {name!r}: no such layer with a weight in the model")

    alpha_ids = {id(q.alpha) for q in qlayers.values() if q.alpha is not None}
    alphas = [q.alpha for q in qlayers.values() if q.alpha is not None]
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in alpha_ids]
    groups = [{"params": rest, "weight_decay": cfg.weight_decay}]
    if alphas:
        groups.append({"params": alphas, "weight_decay": 0.0})  # decay would pull the scales toward 0
    opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)

    start, history, resumed_from = 0, [], None
    if cfg.checkpoint and cfg.resume and Path(cfg.checkpoint).is_file():
        start, history = load_checkpoint(cfg.checkpoint, model, opt, cfg.epochs)  # masks come back too
        resumed_from = start
    mask_pairs = [(q._param, q.mask.to(q._param.dtype)) for q in qlayers.values()]
    mask_pairs += [(modules[n].weight, (m != 0).to(device=device, dtype=modules[n].weight.dtype))
                   for n, m in masks.items() if n not in qlayers]
    _apply_masks(mask_pairs)

    if teacher is not None:
        teacher = teacher.to(device).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    net = ddp.wrap(model, info) if info.distributed else model
    loader, dsampler = _make_loader(train_loader, cfg, info)
    refits = set(refit_epochs(cfg))
    use_amp = cfg.amp and device.type == "cuda"
    show = cfg.progress and info.is_main
    from tqdm.auto import tqdm

    for epoch in range(start, cfg.epochs):
        _seed_epoch(loader, cfg.seed, epoch, dsampler)
        did_refit = epoch in refits
        if did_refit:
            refit(qlayers, torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch, 99)))
        frac = fraction_at(epoch, cfg)
        set_quantized_fraction(qlayers, frac)
        ddp.sync_quantizers(qlayers, info)
        lr = lr_at(epoch, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        net.train()
        it = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False) if show else loader
        loss_acc = torch.zeros((), dtype=torch.float64, device=device)  # on device: no sync per batch
        count, t0 = 0, time.perf_counter()
        for bi, (x, y) in enumerate(it):
            if cfg.max_batches is not None and bi >= cfg.max_batches:
                break
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
                out = net(x)
                if teacher is not None:
                    with torch.no_grad():
                        t_out = teacher(x)
            if teacher is not None:
                loss = distill_loss(out.float(), t_out.float(), y, cfg.distill_weight, cfg.distill_temperature)
            else:
                loss = F.cross_entropy(out.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for p, m in mask_pairs:  # pruned weights get no update (the quantized ones already have 0 grad)
                if p.grad is not None:
                    p.grad.mul_(m)
            opt.step()
            _apply_masks(mask_pairs)
            loss_acc += loss.detach().double() * x.shape[0]
            count += x.shape[0]
            if show and bi % 20 == 0:
                it.set_postfix(loss=f"{float(loss_acc) / max(count, 1):.4f}")
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        loss_sum, count = ddp.all_reduce_sum([float(loss_acc), float(count)], info)
        seconds = ddp.all_reduce_sum([seconds], info)[0] / info.world_size
        ddp.sync_buffers(model, info, skip={id(b) for q in qlayers.values() for b in q.buffers()})
        rec = {"epoch": epoch + 1, "loss": loss_sum / max(count, 1.0), "fraction": frac, "lr": lr,
               "refit": did_refit, "images": int(count), "seconds": seconds,
               "images_per_s": count / seconds if seconds > 0 else None, "eval": None}
        if eval_fn is not None and info.is_main:
            res = eval_fn(model)
            rec["eval"] = res if isinstance(res, dict) else float(res)
            model.train()
        history.append(rec)
        if info.is_main:
            if cfg.progress:
                print(f"epoch {epoch + 1}/{cfg.epochs}: loss {rec['loss']:.4f} fraction {frac:g} "
                      f"{rec['images_per_s'] or 0:.0f} img/s" + (f" eval {rec['eval']}" if rec["eval"] is not None else ""), file=sys.stderr, flush=True)
            if cfg.checkpoint:
                save_checkpoint(cfg.checkpoint, model, opt, epoch + 1, history, cfg)
        ddp.barrier(info)
    if cfg.epochs > 0:
        set_quantized_fraction(qlayers, 1.0)
    model.train(was_training)
    return {"history": history, "epochs": cfg.epochs, "resumed_from": resumed_from, "world_size": info.world_size,
            "distill": None if teacher is None else {"weight": cfg.distill_weight,
                                                     "temperature": cfg.distill_temperature}}
