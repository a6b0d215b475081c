"""The one dataset reader of fq-hls, on the host and on the board (numpy + Pillow; no torch).

Formats (first match wins):

* ``"digits"``: scikit-learn's 8x8 digits (grey levels 0..16 scaled to 0..255); split train = first 1437
  images, test = the last 360 (host only).
* a ``cifar10-jpeg.npz`` file (or a folder holding one): ``header`` + ``{split}_scan`` + ``{split}_offsets``
  + ``y_{split}``, image i being the JPEG ``header + scan[off[i]:off[i+1]]``; decoded with Pillow on demand.
* the standard ``cifar-10-batches-py`` pickle folder (``data_batch_1..5``, ``test_batch``), or a folder
  holding it; read without running code (fq_hls.datafiles).
* an ``.npz`` with ``x`` (uint8 N,H,W,C) and ``y`` (integer labels), or a folder holding exactly one
  ``.npz``: for tests and custom sets.
* an ImageNet-style folder: ``DIR/{train,val}/<class>/<image>`` (split "test" reads ``val``; a folder
  whose sub-folders are the classes is used as is). Images are resized (shorter side 256/224 of the
  input size) and center cropped to the architecture's input size (224x224 RGB without one).

`load_dataset` opens one as a lazy Dataset (compression, evaluation, `fq-hls lower`); `load_images` takes
the first n images of the class-balanced order as arrays (`fq-hls run`, `csim`, `demo`), the order
`fq-hls evaluate --limit n` uses too. The torch loaders live in fq_hls.compress.data.
"""

from __future__ import annotations

import os

import numpy as np

from ..archs import arch_info
from ..errors import InputError
from ..sampling import class_balanced_order
from .base import ArrayDataset, Dataset, Images, Subset
from .formats import FolderDataset, JpegNpzDataset, load_cifar_pickle, load_digits, load_npz_dataset

SPLITS = ("train", "test")

__all__ = [
    "ArrayDataset", "Dataset", "FolderDataset", "Images", "JpegNpzDataset", "SPLITS", "Subset",
    "limit_indices", "load_dataset", "load_images",
]  # fmt: skip


def load_dataset(path_or_name: str, split: str = "test", arch: str | None = None,
                 input_shape: tuple[int, int, int] | None = None) -> Dataset:
    """Open a dataset in any of the formats in the module docstring. The network's input shape (C, H, W), a
    model's `input_shape` or else that of the registered `arch`, fixes the folder image size and is checked
    against the images' shape."""
    if split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS}, not {split!r}")
    path = os.fspath(path_or_name)
    if input_shape is None and arch is not None:
        input_shape = arch_info(arch)["input_shape"]
    ds = _open(path, split, input_shape)
    if input_shape is not None and len(ds):
        c, h, w = input_shape
        if tuple(ds.image_shape) != (h, w, c):
            takes = f"architecture {arch!r} expects" if arch is not None else "the model takes"
            raise InputError(
                f"{path}: images are {ds.image_shape[0]}x{ds.image_shape[1]}x{ds.image_shape[2]} (HxWxC), "
                f"{takes} {h}x{w}x{c}"
            )
    return ds


def load_images(path: str, n: int | None = None, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(uint8 N,H,W,C images, int64 labels): the first `n` of the class-balanced order of `split`."""
    if n is not None and n < 1:
        raise InputError(f"--images must be >= 1, got {n}")
    ds = load_dataset(path, split)
    return ds.arrays(class_balanced_order(ds.labels)[:n])


def limit_indices(labels: np.ndarray, limit: int | None) -> np.ndarray:
    """The first `limit` indices of class_balanced_order (all of it when limit is None)."""
    order = class_balanced_order(labels)
    if limit is not None:
        if limit < 1:
            raise InputError(f"--limit must be >= 1, got {limit}")
        order = order[:limit]
    return order


def _cifar_folder(path: str) -> str | None:
    for folder in (path, os.path.join(path, "cifar-10-batches-py")):
        if os.path.isfile(os.path.join(folder, "test_batch")) or os.path.isfile(
            os.path.join(folder, "data_batch_1")
        ):
            return folder
    return None


def _single_npz(folder: str) -> str | None:
    npzs = sorted(f for f in os.listdir(folder) if f.endswith(".npz"))
    return os.path.join(folder, npzs[0]) if len(npzs) == 1 else None


def _has_class_dirs(folder: str) -> bool:
    return any(e.is_dir() for e in os.scandir(folder))


def _open(path: str, split: str, input_shape: tuple[int, int, int] | None) -> Dataset:
    if path == "digits":
        return load_digits(split)
    if os.path.isfile(path):
        if path.endswith(".npz"):
            return load_npz_dataset(path, split)
        raise InputError(
            f"{path}: not a dataset (expected a .npz file, a CIFAR-10 folder or an image folder)"
        )
    if not os.path.isdir(path):
        raise InputError(f"{path}: no such dataset file or folder (or use 'digits')")
    if os.path.isfile(os.path.join(path, "cifar10-jpeg.npz")):
        return JpegNpzDataset(os.path.join(path, "cifar10-jpeg.npz"), split)
    cifar = _cifar_folder(path)
    if cifar is not None:
        return load_cifar_pickle(cifar, split)
    npz = _single_npz(path)
    if npz is not None:
        return load_npz_dataset(npz, split)
    c, h, w = input_shape or arch_info("resnet18")["input_shape"]
    names = ("train",) if split == "train" else ("val", "test")
    for sub in names:
        d = os.path.join(path, sub)
        if os.path.isdir(d) and _has_class_dirs(d):
            return FolderDataset(d, (h, w), c)
    why = f"no sub-folder {' or '.join(names)}/<class>/"
    if _has_class_dirs(path) and not any(
        os.path.isdir(os.path.join(path, s)) for s in ("train", "val", "test")
    ):
        try:
            return FolderDataset(path, (h, w), c)
        except InputError:
            why = "its sub-folders hold no images"
    raise InputError(
        f"{path}: dataset not recognised for split {split!r} ({why}): expected a cifar10-jpeg.npz, "
        f"cifar-10-batches-py (data_batch_1..5, test_batch), .npz, or image folders "
        f"{'/'.join(names)}/<class>/<image>"
    )
