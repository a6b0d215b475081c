"""torch loaders over fq_hls.datasets: normalisation, augmentation and batched DataLoaders (host only).

The datasets themselves (formats, lazy decoding, class-balanced limits) are read by fq_hls.datasets, the one
reader that the board's runtime uses as well.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..archs import arch_info
from ..datasets import Dataset, JpegNpzDataset, Subset


def normalize(x_u8, mean: Sequence[float], std: Sequence[float]):
    """uint8 NHWC (numpy or tensor) -> float32 NCHW tensor (x - mean) / std (mean/std in pixel units)."""
    import torch

    t = torch.as_tensor(x_u8)
    t = t.permute(0, 3, 1, 2).float()
    m = torch.tensor(mean, dtype=torch.float32, device=t.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=t.device).view(1, -1, 1, 1)
    return (t - m) / s


def augment_batch(x: np.ndarray, rng: np.random.Generator, pad: int = 4, flip: bool = True) -> np.ndarray:
    """Random crop with `pad`-pixel reflect padding and random horizontal flip, per image (uint8 NHWC)."""
    n, h, w, _ = x.shape
    if pad > 0:
        xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
        dy = rng.integers(0, 2 * pad + 1, n)
        dx = rng.integers(0, 2 * pad + 1, n)
        rows = dy[:, None] + np.arange(h)[None, :]  # (n, h)
        cols = dx[:, None] + np.arange(w)[None, :]  # (n, w)
        x = xp[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    if flip:
        f = rng.random(n) < 0.5
        x = x.copy() if pad == 0 else x
        x[f] = x[f, :, ::-1]
    return x


def default_augment(arch: str) -> dict:
    """Training augmentation per architecture: CIFAR-style pad-crop + flip; digits a 1-pixel shift (no
    flip, digits are not mirror symmetric); ImageNet size a flip only (the folder reader center-crops)."""
    if arch == "smallcnn":
        return {"pad": 1, "flip": False}
    if arch_info(arch)["input_shape"][1] <= 64:
        return {"pad": 4, "flip": True}
    return {"pad": 0, "flip": True}


class _BatchView:
    """Map-style dataset whose items are whole batches (a list of indices -> one tensor pair).

    The augmentation RNG of a batch is seeded from (seed, epoch, the batch's indices), so it is the same
    in worker processes and after a resume; the training loop calls `set_epoch` each epoch."""

    def __init__(self, ds: Dataset, mean, std, augment: dict | None, seed: int):
        self.ds, self.mean, self.std, self.augment, self.seed = ds, mean, std, augment, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, indices):
        import torch

        idx = np.asarray(indices, dtype=np.int64)
        x, y = self.ds.arrays(idx)
        if self.augment:
            key = [self.seed, self.epoch, len(idx), int(idx[0]), int(idx.sum() % (1 << 62))]
            x = augment_batch(x, np.random.default_rng(key), **self.augment)
        return normalize(np.ascontiguousarray(x), self.mean, self.std), torch.from_numpy(y)


def make_loader(
    dataset: Dataset,
    arch: str,
    batch_size: int = 128,
    train: bool = False,
    shuffle: bool | None = None,
    augment: dict | None | bool = None,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
):
    """torch DataLoader of (float32 NCHW normalised, int64 labels) batches.

    `train=True` shuffles and applies `default_augment(arch)` unless `shuffle`/`augment` say otherwise
    (`augment=False` disables it, a dict like {"pad": 4, "flip": True} overrides it)."""
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    info = arch_info(arch)
    shuffle = train if shuffle is None else shuffle
    if augment is None or augment is True:
        aug = default_augment(arch) if (train or augment is True) else None
    else:
        aug = augment or None
    gen = torch.Generator().manual_seed(seed)
    base = (
        RandomSampler(range(len(dataset)), generator=gen)
        if shuffle
        else SequentialSampler(range(len(dataset)))
    )
    sampler = BatchSampler(base, batch_size, drop_last)
    if num_workers > 0:  # workers get copies: fill the decode cache once here, not per worker and epoch
        base_ds = dataset.parent if isinstance(dataset, Subset) else dataset
        if isinstance(base_ds, JpegNpzDataset):
            base_ds.decode_all()
    view = _BatchView(dataset, info["mean"], info["std"], aug, seed)
    return DataLoader(view, sampler=sampler, batch_size=None, num_workers=num_workers)
