"""The dataset layouts fq-hls reads, each as a Dataset (numpy + Pillow; the file layouts themselves are
checked field by field in fq_hls.datafiles)."""

from __future__ import annotations

import io
import os

import numpy as np

from ..datafiles import jpeg_index, label_array, read_batches
from ..errors import InputError
from ..safeio import load_npz, open_regular
from .base import ArrayDataset, Dataset

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")
DIGITS_TRAIN = 1437  # of 1797: an 80/20 split in scikit-learn's order
MAX_IMAGE_BYTES = 1 << 28
MAX_DECODED_BYTES = 1 << 34  # a JPEG-npz split decoded (CIFAR-10 train: 150 MB)


class JpegNpzDataset(Dataset):
    """The cifar10-jpeg.npz layout; images are decoded on first use and kept."""

    def __init__(self, path: str, split: str, arrays: dict | None = None):
        self.name = f"{path}:{split}"
        z = load_npz(path, "dataset") if arrays is None else arrays
        header, scan, self._offs, self.labels = jpeg_index(z, path, split)
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


def load_npz_dataset(path: str, split: str) -> Dataset:
    """A cifar10-jpeg.npz (arrays `header`, `{split}_scan`, ...) or a plain .npz with `x` (uint8 N,H,W,C)
    and `y` (integer labels), the layout for tests and custom sets (it has no splits)."""
    z = load_npz(path, "dataset")
    if "header" in z or not ("x" in z or "y" in z):
        return JpegNpzDataset(path, split, z)
    if "x" not in z or "y" not in z:
        raise InputError(f"{path}: expected arrays 'x' (uint8 N,H,W,C) and 'y' (labels)")
    x, y = z["x"], label_array(z["y"], path, "y")
    if x.dtype != np.uint8 or x.ndim != 4 or len(x) != len(y) or min(x.shape[1:]) < 1:
        raise InputError(f"{path}: 'x' must be uint8 (N,H,W,C) with one label per image, got {x.dtype} {x.shape}")
    return ArrayDataset(x, y, name=f"{path}:{split}")


def load_cifar_pickle(folder: str, split: str) -> ArrayDataset:
    x, y = read_batches(folder, split)  # the restricted unpickler: a crafted batch cannot run code
    return ArrayDataset(x, y, name=f"{folder}:{split}", num_classes=10)


def load_digits(split: str) -> ArrayDataset:
    """scikit-learn's 8x8 digits, grey levels 0..16 scaled to 0..255 (host only)."""
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError:
        raise InputError("dataset 'digits' needs scikit-learn (host only)") from None
    d = sk_digits()
    x = np.clip(np.rint(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[..., None]
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
