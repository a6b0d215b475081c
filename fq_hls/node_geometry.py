"""Window geometry of a model node: (kernel, stride, padding) of conv and max-pool nodes from their
attributes, and the output length of a window along one axis (numpy-free).

One definition for the float executor (fq_hls.reference), lowering (fq_hls.lower) and the engine's program
checks (fq_hls.hw), so that every stage reads a node's window the same way.
"""

from __future__ import annotations

from .errors import InputError
from .model import Node


def out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output length of a convolution/pool window along one axis (floor mode, like torch)."""
    return (size + 2 * pad - kernel) // stride + 1


def _square(node: Node, key: str, default: int) -> int:
    v = node.attrs.get(key, default)
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise InputError(f"node {node.name!r}: non-square {key} {tuple(v)} is not supported")
        v = v[0]
    return int(v)


def conv_geometry(node: Node) -> tuple[int, int, int]:
    """(kernel, stride, padding) of a conv node; the kernel must match the weight shape."""
    shape = node.weight.shape if node.weight is not None else None
    if shape is None or len(shape) != 4 or shape[2] != shape[3]:
        raise InputError(f"node {node.name!r}: conv weight must be (O, I, k, k), got {shape}")
    k = _square(node, "kernel", shape[2])
    if k != shape[2]:
        raise InputError(f"node {node.name!r}: attrs kernel {k} != weight kernel {shape[2]}")
    if node.attrs.get("groups", 1) != 1 or _square(node, "dilation", 1) != 1:
        raise InputError(f"node {node.name!r}: grouped/dilated convolution is not supported")
    return k, _square(node, "stride", 1), _square(node, "padding", 0)


def pool_geometry(node: Node) -> tuple[int, int, int]:
    """(kernel, stride, padding) of a maxpool node (stride defaults to the kernel, like torch)."""
    if "kernel" not in node.attrs:
        raise InputError(f"node {node.name!r}: maxpool needs attrs['kernel']")
    k = _square(node, "kernel", 0)
    return k, _square(node, "stride", k), _square(node, "padding", 0)
