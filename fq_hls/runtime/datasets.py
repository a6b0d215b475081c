"""Test images for `fq-hls run` on the board: numpy + Pillow only (fq_hls.compress.data needs torch).

Formats (the same files `fq_hls.compress.data` reads, so host and board see the same images):

* ``cifar10-jpeg.npz`` (a file, or a folder holding it): ``header`` + ``{split}_scan`` + ``{split}_offsets`` +
  ``y_{split}``; image i is the JPEG ``header + scan[off[i]:off[i+1]]``.
* ``cifar-10-batches-py`` (a folder, or a folder holding it): pickled ``test_batch`` / ``data_batch_1..5``.
* an ``.npz`` with ``x`` (uint8 N,H,W,C) and ``y`` (integer labels): for tests and custom sets.
* ``digits``: scikit-learn's 8x8 digits (host only; the last 360 images are the test split).

`load_images(path, n)` picks the first n images of a class-balanced round-robin order (first image of
every class, then the second, ...), the order `fq-hls evaluate --limit n` uses.
"""

from __future__ import annotations

import io
import os

import numpy as np

from ..datafiles import jpeg_index, label_array, read_batches
from ..errors import InputError
from ..safeio import load_npz
from ..sampling import class_balanced_order as balanced_order

DIGITS_TRAIN = 1437


def _jpeg_npz(path: str, split: str, n: int | None, z: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    z = load_npz(path, "dataset") if z is None else z
    header, scan, offs, y = jpeg_index(z, path, split)
    idx = balanced_order(y)[:n]
    images = []
    for i in idx:
        data = header + scan[offs[i] : offs[i + 1]].tobytes()
        try:
            with Image.open(io.BytesIO(data)) as im:
                images.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
        except Exception as e:  # Pillow raises several types for corrupt data
            raise InputError(f"{path}: {split} image {i} does not decode ({e})") from None
    if len({im.shape for im in images}) > 1:
        raise InputError(f"{path}: {split} images differ in size")
    return np.stack(images) if images else np.zeros((0, 0, 0, 3), np.uint8), y[idx]


def _cifar_pickle(folder: str, split: str, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_batches(folder, split)
    idx = balanced_order(y)[:n]
    return np.ascontiguousarray(x[idx]), y[idx]


def _plain_npz(path: str, n: int | None, z: dict) -> tuple[np.ndarray, np.ndarray]:
    if "x" not in z or "y" not in z:
        raise InputError(f"{path}: expected arrays 'x' (uint8 N,H,W,C) and 'y' (labels)")
    x, y = z["x"], label_array(z["y"], path, "y")
    if x.dtype != np.uint8 or x.ndim != 4 or len(x) != len(y) or min(x.shape[1:]) < 1:
        raise InputError(f"{path}: 'x' must be uint8 (N,H,W,C) with one label per image, got {x.dtype} {x.shape}")
    idx = balanced_order(y)[:n]
    return x[idx], y[idx]


def _digits(split: str, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise InputError("dataset 'digits' needs scikit-learn (host only)") from None
    d = load_digits()
    x = np.clip(np.rint(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[..., None]
    y = d.target.astype(np.int64)
    x, y = (x[:DIGITS_TRAIN], y[:DIGITS_TRAIN]) if split == "train" else (x[DIGITS_TRAIN:], y[DIGITS_TRAIN:])
    idx = balanced_order(y)[:n]
    return x[idx], y[idx]


def load_images(path: str, n: int | None = None, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(uint8 N,H,W,C images, int64 labels): the first `n` of the balanced order of `split`."""
    if n is not None and n < 1:
        raise InputError(f"--images must be >= 1, got {n}")
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', not {split!r}")
    if path == "digits":
        return _digits(split, n)
    if os.path.isfile(path):
        if not path.endswith(".npz"):
            raise InputError(f"{path}: not a dataset (expected .npz, a CIFAR-10 folder or 'digits')")
        z = load_npz(path, "dataset")
        return _jpeg_npz(path, split, n, z) if "header" in z else _plain_npz(path, n, z)
    if not os.path.isdir(path):
        raise InputError(f"{path}: no such dataset file or folder")
    npz = os.path.join(path, "cifar10-jpeg.npz")
    if os.path.isfile(npz):
        return _jpeg_npz(npz, split, n)
    for folder in (path, os.path.join(path, "cifar-10-batches-py")):
        if os.path.isfile(os.path.join(folder, "test_batch")) or os.path.isfile(os.path.join(folder, "data_batch_1")):
            return _cifar_pickle(folder, split, n)
    npzs = sorted(f for f in os.listdir(path) if f.endswith(".npz"))
    if len(npzs) == 1:
        return load_images(os.path.join(path, npzs[0]), n, split)
    raise InputError(f"{path}: no dataset found (expected cifar10-jpeg.npz, cifar-10-batches-py or one .npz)")
