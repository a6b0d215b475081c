"""Datasets as uint8 NHWC pixels + int64 labels, decoded lazily (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError


class Images:
    """Lazy array-like view of a dataset's pixels: `ds.images[idx]` -> uint8 NHWC (idx: int, slice, list
    or index array); only the requested images are decoded."""

    def __init__(self, ds: Dataset):
        self._ds = ds

    def __len__(self) -> int:
        return len(self._ds)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self._ds),) + tuple(self._ds.image_shape)

    dtype = np.dtype(np.uint8)

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self._ds._get(np.array([int(key)], dtype=np.int64))[0]
        if isinstance(key, slice):
            return self._ds._get(np.arange(len(self._ds))[key])
        idx = np.asarray(key)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return self._ds._get(idx.astype(np.int64))

    def __array__(self, dtype=None, copy=None):
        x = self._ds._get(np.arange(len(self._ds)))
        return x if dtype is None else x.astype(dtype)


class Dataset:
    """Images + labels: `images[idx]` -> uint8 (N, H, W, C) (lazy), `labels` int64 (N,)."""

    name: str
    labels: np.ndarray
    image_shape: tuple[int, int, int]  # H, W, C
    num_classes: int

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def images(self) -> Images:
        return Images(self)

    def _get(self, indices: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def arrays(self, indices: Sequence[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 NHWC images, int64 labels) of `indices` (all when None)."""
        idx = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        return self._get(idx), self.labels[idx]

    def subset(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        return Subset(self, np.asarray(indices, dtype=np.int64))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: {len(self)} images {self.image_shape}>"


class ArrayDataset(Dataset):
    def __init__(
        self, images: np.ndarray, labels: np.ndarray, name: str = "arrays", num_classes: int | None = None
    ):
        if images.ndim != 4 or images.dtype != np.uint8:
            raise InputError(f"{name}: images must be uint8 NHWC, got {images.dtype} {images.shape}")
        if len(images) != len(labels):
            raise InputError(f"{name}: {len(images)} images but {len(labels)} labels")
        self.name = name
        self._x = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.image_shape = tuple(images.shape[1:])
        self.num_classes = int(num_classes or (self.labels.max() + 1 if len(self.labels) else 0))

    def _get(self, indices):
        return self._x[np.asarray(indices, dtype=np.int64)]


class Subset(Dataset):
    def __init__(self, parent: Dataset, indices: np.ndarray):
        self.parent, self.indices = parent, indices
        self.name = f"{parent.name}[{len(indices)}]"
        self.labels = parent.labels[indices]
        self.image_shape = parent.image_shape
        self.num_classes = parent.num_classes

    def _get(self, indices):
        return self.parent._get(self.indices[np.asarray(indices, dtype=np.int64)])
