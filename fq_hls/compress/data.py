"""Image datasets as uint8 NHWC pixels + integer labels, and torch loaders that normalise/augment them.

Formats `load_dataset` recognises (first match wins):

* ``"digits"``: scikit-learn's 8x8 digits (grey levels 0..16 scaled to 0..255); split train = first 1437
  images, test = the last 360.
* a ``cifar10-jpeg.npz`` file (or a folder holding one): ``header`` + ``{split}_scan`` + ``{split}_offsets``
  + ``y_{split}``, image i being the JPEG ``header + scan[off[i]:off[i+1]]``; decoded with Pillow on demand.
* the standard ``cifar-10-batches-py`` pickle folder (``data_batch_1..5``, ``test_batch``), or a folder
  holding it.
* an ImageNet-style folder: ``DIR/{train,val}/<class>/<image>`` (split "test" reads ``val``; a folder
  whose sub-folders are the classes is used as is). Images are resized (shorter side 256/224 of the
  input size) and center cropped to the architecture's input size.

Datasets decode lazily, so taking the first N images of a large split costs only N decodes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np

from ..datafiles import jpeg_index, read_batches
from ..errors import InputError
from ..safeio import load_npz, open_regular
from ..sampling import class_balanced_order
from .models import arch_info

SPLITS = ("train", "test")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")
DIGITS_TRAIN = 1437  # of 1797: an 80/20 split in scikit-learn's order
MAX_IMAGE_BYTES = 1 << 28
MAX_DECODED_BYTES = 1 << 34  # a JPEG-npz split decoded (CIFAR-10 train: 150 MB)


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


class JpegNpzDataset(Dataset):
    """The cifar10-jpeg.npz layout; images are decoded on first use and kept."""

    def __init__(self, path: str, split: str):
        self.name = f"{path}:{split}"
        header, scan, self._offs, self.labels = jpeg_index(load_npz(path, "dataset"), path, split)
        self._header, self._scan = header, scan.tobytes()
        first = self._decode(0) if len(self.labels) else np.zeros((0, 0, 3), np.uint8)
        self.image_shape = tuple(first.shape)
        if len(self.labels) * first.size > MAX_DECODED_BYTES:
            raise InputError(f"{path}: {len(self.labels)} images of {first.shape} would take more than "
                             f"{MAX_DECODED_BYTES >> 30} GiB decoded")
        self.num_classes = int(self.labels.max() + 1) if len(self.labels) else 0
        self._x = np.zeros((len(self.labels),) + self.image_shape, dtype=np.uint8)
        self._done = np.zeros(len(self.labels), dtype=bool)

    def decode_all(self) -> JpegNpzDataset:
        """Decode every image now (before handing the dataset to loader worker processes)."""
        self._get(np.arange(len(self)))
        return self

    def _decode(self, i: int) -> np.ndarray:
        from PIL import Image

        data = self._header + self._scan[self._offs[i] : self._offs[i + 1]]
        try:
            with Image.open(io.BytesIO(data)) as im:
                return np.asarray(im.convert("RGB"), dtype=np.uint8)
        except Exception as e:  # Pillow raises several types for corrupt data
            raise InputError(f"{self.name}: image {i} does not decode ({e})") from None

    def _get(self, indices):
        idx = np.asarray(indices, dtype=np.int64)
        for i in idx[~self._done[idx]]:
            img = self._decode(int(i))
            if img.shape != self.image_shape:
                raise InputError(f"{self.name}: image {i} is {img.shape}, expected {self.image_shape}")
            self._x[i] = img
            self._done[i] = True
        return self._x[idx]


def load_cifar_pickle(folder: str, split: str) -> ArrayDataset:
    x, y = read_batches(folder, split)  # the restricted unpickler: a crafted batch cannot run code
    return ArrayDataset(x, y, name=f"{folder}:{split}", num_classes=10)


def load_digits(split: str) -> ArrayDataset:
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = np.clip(np.round(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[..., None]
    y = d.target.astype(np.int64)
    sl = slice(0, DIGITS_TRAIN) if split == "train" else slice(DIGITS_TRAIN, None)
    return ArrayDataset(x[sl], y[sl], name=f"digits:{split}", num_classes=10)


class FolderDataset(Dataset):
    """`root/<class>/<image>`; classes sorted by name; resize shorter side + center crop to `size`."""

    def __init__(self, root: str, size: tuple[int, int], channels: int = 3):
        classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
        files, labels = [], []
        for c, cls in enumerate(classes):
            for dirpath, _, names in sorted(os.walk(os.path.join(root, cls))):
                for n in sorted(names):
                    if n.lower().endswith(IMAGE_EXTS):
                        files.append(os.path.join(dirpath, n))
                        labels.append(c)
        if not files:
            raise InputError(f"{root}: no images ({'/'.join(IMAGE_EXTS)}) in class sub-folders")
        self.name, self.classes, self.files = root, classes, files
        self.labels = np.asarray(labels, dtype=np.int64)
        self.size = size
        self.channels = channels
        self.image_shape = (size[0], size[1], channels)
        self.num_classes = len(classes)

    def _load(self, path: str) -> np.ndarray:
        from PIL import Image

        h, w = self.size
        short = round(min(h, w) * 256 / 224)  # the usual 256 -> 224 ratio
        try:
            with open_regular(path, MAX_IMAGE_BYTES, "image") as f, Image.open(f) as im:
                im = im.convert("RGB" if self.channels == 3 else "L")
                s = short / min(im.size)
                im = im.resize((max(w, round(im.size[0] * s)), max(h, round(im.size[1] * s))), Image.BILINEAR)
                left, top = (im.size[0] - w) // 2, (im.size[1] - h) // 2
                arr = np.asarray(im.crop((left, top, left + w, top + h)), dtype=np.uint8)
        except InputError:
            raise
        except Exception as e:
            raise InputError(f"{path}: cannot read image ({e})") from None
        return arr.reshape(h, w, self.channels)

    def _get(self, indices):
        idx = np.asarray(indices, dtype=np.int64)
        out = np.empty((len(idx),) + self.image_shape, dtype=np.uint8)
        for j, i in enumerate(idx):
            out[j] = self._load(self.files[int(i)])
        return out


def _npz_in(folder: str) -> str | None:
    p = os.path.join(folder, "cifar10-jpeg.npz")
    if os.path.isfile(p):
        return p
    npzs = sorted(f for f in os.listdir(folder) if f.endswith(".npz"))
    return os.path.join(folder, npzs[0]) if len(npzs) == 1 else None


def _has_class_dirs(folder: str) -> bool:
    return any(e.is_dir() for e in os.scandir(folder))


def load_dataset(path_or_name: str, split: str = "test", arch: str | None = None) -> Dataset:
    """Open a dataset in any of the formats in the module docstring; `arch` fixes the folder image size
    and is checked against the images' shape."""
    if split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS}, not {split!r}")
    path = os.fspath(path_or_name)
    ds = _open(path, split, arch)
    if arch is not None and len(ds):
        c, h, w = arch_info(arch)["input_shape"]
        if tuple(ds.image_shape) != (h, w, c):
            raise InputError(
                f"{path}: images are {ds.image_shape[0]}x{ds.image_shape[1]}x{ds.image_shape[2]} (HxWxC), "
                f"architecture {arch!r} expects {h}x{w}x{c}"
            )
    return ds


def _open(path: str, split: str, arch: str | None) -> Dataset:
    if path == "digits":
        return load_digits(split)
    if os.path.isfile(path):
        if path.endswith(".npz"):
            return JpegNpzDataset(path, split)
        raise InputError(
            f"{path}: not a dataset (expected a .npz file, a CIFAR-10 folder or an image folder)"
        )
    if not os.path.isdir(path):
        raise InputError(f"{path}: no such dataset file or folder (or use 'digits')")
    npz = _npz_in(path)
    if npz is not None:
        return JpegNpzDataset(npz, split)
    for folder in (path, os.path.join(path, "cifar-10-batches-py")):
        if os.path.isfile(os.path.join(folder, "test_batch")) or os.path.isfile(
            os.path.join(folder, "data_batch_1")
        ):
            return load_cifar_pickle(folder, split)
    c, h, w = arch_info(arch or "resnet18")["input_shape"]
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
        f"cifar-10-batches-py (data_batch_1..5, test_batch), or image folders {'/'.join(names)}/<class>/<image>"
    )


def limit_indices(labels: np.ndarray, limit: int | None) -> np.ndarray:
    """The first `limit` indices of class_balanced_order (all of it when limit is None)."""
    order = class_balanced_order(labels)
    if limit is not None:
        if limit < 1:
            raise InputError(f"--limit must be >= 1, got {limit}")
        order = order[:limit]
    return order


# ----------------------------------------------------------------------------------------- torch side


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
