"""Reference logits computed on the host at build time and shipped in the overlay folder, for `run --check`.

Recomputing the numpy reference on the board's ARM cores takes seconds to minutes per ResNet-18 image, so
`fq-hls build` runs it on the host for a check set (`CHECK_IMAGES` random images from the same seeded
generator that `fq-hls run` uses without --data) and writes `reference_logits.npz`: the pixels, a SHA-256
of each image's int8 network input, and the int32 logits. On the board an image is checked against the
shipped logits when its input digest is in the file, else (or when asked) against the reference recomputed
there. numpy only.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from ..errors import InputError

REFERENCE_NAME = "reference_logits.npz"
CHECK_IMAGES = 8
CHECK_SEED = 0


def default_images(n: int, shape_chw) -> np.ndarray:
    """The uint8 NHWC pixels `fq-hls run` uses without --data (image i does not depend on n)."""
    c, h, w = (int(v) for v in shape_chw)
    return np.random.default_rng(CHECK_SEED).integers(0, 256, size=(n, h, w, c), dtype=np.uint8)


def digest(x_chw: np.ndarray) -> np.ndarray:
    """SHA-256 (32 uint8) of one int8 network input, shape and bytes."""
    x = np.ascontiguousarray(x_chw, dtype=np.int8)
    h = hashlib.sha256(repr(tuple(x.shape)).encode() + x.tobytes())
    return np.frombuffer(h.digest(), np.uint8)


def reference_arrays(graph, images_u8: np.ndarray) -> dict[str, np.ndarray]:
    """What `reference_logits.npz` holds for `images_u8` (uint8 N,H,W,C) on `graph`."""
    from ..reference import run_integer

    x = graph.quantize_input(np.asarray(images_u8, np.uint8))
    logits = np.asarray(run_integer(graph, x), dtype=np.int32).reshape(len(x), -1)
    return {"x": np.asarray(images_u8, np.uint8), "digest": np.stack([digest(xi) for xi in x]), "logits": logits}


def write_reference(folder: str | os.PathLike, graph, images_u8: np.ndarray | None = None) -> str:
    """Write `folder/reference_logits.npz` for `images_u8` (default: the check set). Returns its path."""
    if images_u8 is None:
        images_u8 = default_images(CHECK_IMAGES, graph.tensors[graph.input].shape)
    path = os.path.join(os.fspath(folder), REFERENCE_NAME)
    np.savez(path, **reference_arrays(graph, images_u8))
    return path


class ShippedReference:
    """The shipped logits of a build folder, looked up by the digest of each int8 input."""

    def __init__(self, path: str, num_classes: int):
        from ..safeio import load_npz

        arrays = load_npz(path, "reference logits", keys=("x", "digest", "logits"))
        d, lg = arrays.get("digest"), arrays.get("logits")
        if d is None or lg is None or d.ndim != 2 or d.shape[1] != 32 or lg.shape != (len(d), num_classes):
            raise InputError(f"{path}: expected 'digest' (N, 32) and 'logits' (N, {num_classes}) arrays")
        self.path = path
        self.images = arrays.get("x")
        self._table = {bytes(row.tobytes()): lg[i].astype(np.int32) for i, row in enumerate(d.astype(np.uint8))}

    def __len__(self) -> int:
        return len(self._table)

    def lookup(self, x_chw: np.ndarray) -> np.ndarray | None:
        return self._table.get(digest(x_chw).tobytes())

    @classmethod
    def find(cls, path: str, num_classes: int) -> ShippedReference | None:
        """The shipped reference of build folder `path`, None if it has none (or `path` is a .fqz)."""
        f = os.path.join(path, REFERENCE_NAME)
        return cls(f, num_classes) if os.path.isdir(path) and os.path.isfile(f) else None


def check_logits(graph, x_int8: np.ndarray, logits: np.ndarray, shipped: ShippedReference | None,
                 on_board: bool = False) -> dict:
    """Compare `logits` with the shipped reference where it has the image, else the recomputed one."""
    want = np.zeros_like(np.asarray(logits, np.int64))
    missing = []
    for i, xi in enumerate(x_int8):
        ref = None if (on_board or shipped is None) else shipped.lookup(xi)
        if ref is None:
            missing.append(i)
        else:
            want[i] = ref
    if missing:
        from ..reference import run_integer

        want[missing] = np.asarray(run_integer(graph, x_int8[missing]), np.int64).reshape(len(missing), -1)
    same = np.all(want == np.asarray(logits, np.int64), axis=1)
    return {"bit_exact": bool(same.all()), "mismatched_images": [int(i) for i in np.flatnonzero(~same)],
            "reference": {"shipped": len(x_int8) - len(missing), "recomputed": len(missing)}}
