"""Dataset file layouts of the dataset reader (fq_hls.datasets, on the host and on the board), checked
field by field (numpy only).

* `read_batch` / `read_batches`: the `cifar-10-batches-py` pickle batches, read without running code.
* `jpeg_index`: the arrays of a `cifar10-jpeg.npz` split (header, scan, offsets, labels).
* `label_array`, `check_labels`: labels are non-negative integers inside the model's classes.

CIFAR-10 batches:

A batch is a pickle, and `pickle.load` calls whatever functions a file names: a crafted `test_batch` runs
arbitrary code. Here the unpickler resolves only the names a real batch needs (numpy's array and dtype
reconstruction, and `_codecs.encode` that Python 3 uses for bytes in protocol 2), each behind a wrapper
that checks its arguments (numeric dtypes only, sizes that match the bytes given); any other name refuses
the file. The result is then checked against the batch layout: a dict with `data`, uint8 (N, 3072) in
R, G, B planes of 32x32, and `labels`, N integers in 0..9.
"""

from __future__ import annotations

import io
import os
import pickle

import numpy as np

from .errors import InputError
from .safeio import read_regular

MAX_BATCH_BYTES = 1 << 28  # a real batch is 31 MB
CLASSES = 10
IMAGE = (3, 32, 32)
PIXELS = 3 * 32 * 32
_KINDS = "biu"  # dtypes a batch may hold (its pixels and labels are integers)


class _Refused(pickle.UnpicklingError):
    pass


def _check_dtype(dt: object) -> np.dtype:
    if not isinstance(dt, np.dtype) or dt.hasobject or dt.kind not in _KINDS:
        raise _Refused(f"array dtype {dt!r} (integers expected)")
    return dt


def _count(shape: object) -> int:
    if not isinstance(shape, tuple) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                               for s in shape):
        raise _Refused(f"array shape {shape!r}")
    return int(np.prod(shape, dtype=object))


class _ArrayClass:
    """Stands for numpy.ndarray in the pickle: only _reconstruct may use it (calling it would allocate)."""


def _dtype(obj: object, align: object = False, copy: object = False) -> np.dtype:
    if isinstance(obj, bytes):  # Python 2 pickles read with encoding="bytes"
        obj = obj.decode("latin-1")
    if not isinstance(obj, str) or len(obj) > 4:
        raise _Refused(f"dtype {obj!r}")
    try:
        dt = np.dtype(obj)
    except TypeError:
        raise _Refused(f"dtype {obj!r}") from None
    return _check_dtype(dt)


_REAL_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_REAL_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_REAL_SCALAR = np.int64(0).__reduce__()[0]


def _reconstruct(cls: object, shape: object, dtype: object) -> np.ndarray:
    # numpy pickles an array as _reconstruct(ndarray, (0,), b"b") followed by __setstate__ with the data
    if cls is not _ArrayClass or _count(shape) > 0:
        raise _Refused("array reconstruction with unexpected arguments")
    return _REAL_RECONSTRUCT(np.ndarray, shape, dtype)


def _frombuffer(buf: object, dtype: object, shape: object, order: object) -> np.ndarray:
    # protocol 5: the raw bytes, dtype, shape and order
    if isinstance(buf, pickle.PickleBuffer):
        buf = bytes(buf.raw())
    if not isinstance(buf, (bytes, bytearray)) or order not in ("C", "F"):
        raise _Refused("array buffer with unexpected arguments")
    dt = _check_dtype(dtype)
    if _count(shape) * dt.itemsize != len(buf):
        raise _Refused(f"array of shape {shape} {dt} with {len(buf)} data bytes")
    return np.frombuffer(bytes(buf), dtype=dt).reshape(shape, order=order)


def _scalar(dtype: object, data: object = b"") -> np.generic:
    dt = _check_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dt.itemsize:
        raise _Refused(f"numpy scalar of {dt} with {len(data) if isinstance(data, bytes) else '?'} bytes")
    return _REAL_SCALAR(dt, data)


def _codecs_encode(text: object, encoding: object = "utf-8", errors: object = "strict") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused("_codecs.encode with unexpected arguments")
    return text.encode("latin-1")


_GLOBALS = {
    ("numpy", "ndarray"): _ArrayClass,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _codecs_encode,
}
for _core in ("numpy.core", "numpy._core"):  # numpy 1.x and 2.x write different module names
    _GLOBALS[(f"{_core}.multiarray", "_reconstruct")] = _reconstruct
    _GLOBALS[(f"{_core}.multiarray", "scalar")] = _scalar
    _GLOBALS[(f"{_core}.numeric", "_frombuffer")] = _frombuffer


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _GLOBALS[(module, name)]
        except KeyError:
            raise _Refused(f"it names {module}.{name}, which a CIFAR-10 batch never does") from None

    def persistent_load(self, pid):
        raise _Refused("it uses persistent ids")


def _unpickle(data: bytes, path: str) -> object:
    bio = io.BytesIO(data)
    try:
        obj = _Unpickler(bio, encoding="bytes").load()
    except _Refused as e:
        raise InputError(f"{path}: refusing to load this pickle: {e} (a crafted pickle can run code)") from None
    except Exception as e:  # noqa: BLE001 - the unpickler raises many types for a damaged file
        raise InputError(f"{path}: not a CIFAR-10 pickle batch ({type(e).__name__}: {e})") from None
    if bio.tell() != len(data):
        raise InputError(f"{path}: {len(data) - bio.tell()} bytes after the end of the pickle")
    return obj


def read_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 NHWC images (N, 32, 32, 3), int64 labels (N,)) of one CIFAR-10 batch file; InputError
    naming the file and the field when it is anything else."""
    path = os.fspath(path)
    d = _unpickle(read_regular(path, MAX_BATCH_BYTES, "CIFAR-10 batch"), path)
    if not isinstance(d, dict):
        raise InputError(f"{path}: a CIFAR-10 batch is a dict, this pickle holds a {type(d).__name__}")
    d = {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise InputError(f"{path}: CIFAR-10 batch without 'data'/'labels'")
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "iu" or data.ndim != 2 or data.shape[1] != PIXELS:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise InputError(f"{path}: field 'data' must be a uint8 array (N, {PIXELS}), got {desc}")
    if data.size and (int(data.min()) < 0 or int(data.max()) > 255):
        raise InputError(f"{path}: field 'data' holds values outside 0..255")
    labels = d["labels"]
    if isinstance(labels, np.ndarray):
        ok = labels.ndim == 1 and labels.dtype.kind in "iu"
    else:
        ok = isinstance(labels, list) and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in labels)
    if not ok:
        raise InputError(f"{path}: field 'labels' must be a list of integers")
    y = np.asarray(labels, dtype=np.int64) if len(labels) else np.zeros(0, np.int64)
    if len(y) != len(data):
        raise InputError(f"{path}: {len(data)} images but {len(y)} labels")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= CLASSES):
        raise InputError(f"{path}: field 'labels' holds {int(y.min() if y.min() < 0 else y.max())}, "
                         f"outside the {CLASSES} classes 0..{CLASSES - 1}")
    x = data.astype(np.uint8).reshape((-1,) + IMAGE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), y


def batch_files(split: str) -> list[str]:
    return ["test_batch"] if split == "test" else [f"data_batch_{i}" for i in range(1, 6)]


def read_batches(folder: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """All batches of `split` ("train": data_batch_1..5, "test": test_batch) in `folder`, concatenated."""
    folder = os.fspath(folder)
    xs, ys = [], []
    for name in batch_files(split):
        p = os.path.join(folder, name)
        if not os.path.lexists(p):
            raise InputError(f"{folder}: CIFAR-10 batch folder lacks {name}")
        x, y = read_batch(p)
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


# ------------------------------------------------------------------------------------- other layouts


def label_array(y: object, path: str, field: str) -> np.ndarray:
    """int64 labels from an array that must hold non-negative integers, one per image."""
    if not isinstance(y, np.ndarray) or y.ndim != 1 or y.dtype.kind not in "iu":
        desc = f"{y.dtype} {y.shape}" if isinstance(y, np.ndarray) else type(y).__name__
        raise InputError(f"{path}: '{field}' must be a 1-D array of integer labels, got {desc}")
    y = y.astype(np.int64)
    if y.size and int(y.min()) < 0:
        raise InputError(f"{path}: '{field}' holds the negative label {int(y.min())}")
    return y


def jpeg_index(z: dict, path: str, split: str) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    """(header, scan, offsets, labels) of a cifar10-jpeg.npz split, each checked: uint8 byte arrays, one
    more offset than labels, offsets non-decreasing from 0 to at most the scan's length."""
    need = ("header", f"{split}_scan", f"{split}_offsets", f"y_{split}")
    missing = [k for k in need if k not in z]
    if missing:
        raise InputError(f"{path}: not a JPEG-npz dataset for split {split!r} (missing {missing})")
    for k in need[:2]:
        if z[k].dtype != np.uint8 or z[k].ndim != 1:
            raise InputError(f"{path}: '{k}' must be a 1-D uint8 byte array, got {z[k].dtype} {z[k].shape}")
    offs = z[f"{split}_offsets"]
    if offs.ndim != 1 or offs.dtype.kind not in "iu":
        raise InputError(f"{path}: '{split}_offsets' must be a 1-D integer array, got {offs.dtype} {offs.shape}")
    y = label_array(z[f"y_{split}"], path, f"y_{split}")
    scan = z[f"{split}_scan"]
    offs = offs.astype(np.int64)
    if len(offs) != len(y) + 1:
        raise InputError(f"{path}: {split}_offsets has {len(offs)} entries for {len(y)} labels")
    if offs[0] != 0 or (np.diff(offs) < 0).any() or offs[-1] > scan.size:
        raise InputError(f"{path}: '{split}_offsets' must rise from 0 to at most the scan's {scan.size} bytes")
    return z["header"].tobytes(), scan, offs, y


def check_labels(labels: np.ndarray | None, num_classes: int, source: str) -> None:
    """InputError when a label lies outside the model's classes (an accuracy over them means nothing)."""
    if labels is None or not len(labels):
        return
    lo, hi = int(np.min(labels)), int(np.max(labels))
    if lo < 0 or hi >= num_classes:
        raise InputError(f"{source}: label {lo if lo < 0 else hi} is outside the model's {num_classes} classes "
                         f"0..{num_classes - 1}")
