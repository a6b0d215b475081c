"""im2col and window helpers shared by the float and the integer executors (numpy only)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def windows(x: np.ndarray, kernel: int, stride: int, pad: int, pad_value=0) -> np.ndarray:
    """(N, C, H, W) -> read-only view (N, C, OH, OW, k, k) of the padded input's windows."""
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=pad_value)
    v = sliding_window_view(x, (kernel, kernel), axis=(2, 3))
    return v[:, :, ::stride, ::stride]


def im2col(x: np.ndarray, kernel: int, stride: int, pad: int) -> tuple[np.ndarray, int, int]:
    """(N, C, H, W) -> (N*OH*OW, C*k*k) patch matrix (column order c, ky, kx as in OIHW weights), OH, OW."""
    n, c = x.shape[:2]
    if kernel == 1 and pad == 0:
        xs = x[:, :, ::stride, ::stride]
        oh, ow = xs.shape[2:]
        return np.ascontiguousarray(xs.transpose(0, 2, 3, 1)).reshape(n * oh * ow, c), oh, ow
    v = windows(x, kernel, stride, pad)
    oh, ow = v.shape[2:4]
    cols = np.ascontiguousarray(v.transpose(0, 2, 3, 1, 4, 5)).reshape(n * oh * ow, c * kernel * kernel)
    return cols, oh, ow


def cols_to_nchw(y: np.ndarray, n: int, oh: int, ow: int) -> np.ndarray:
    """(N*OH*OW, O) matmul result -> contiguous (N, O, OH, OW)."""
    return np.ascontiguousarray(y.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2))
