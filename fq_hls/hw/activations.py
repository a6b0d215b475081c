"""The activation memory of a program: one buffer, every tensor at its own 64-byte aligned offset (no reuse:
a layer may read any earlier tensor as its residual). numpy only."""

from __future__ import annotations

from ..errors import InputError
from ..ir import IntegerGraph
from .streams import align

ACT_ALIGN = 64


def tensor_bytes(graph: IntegerGraph, name: str) -> int:
    """Bytes of tensor `name` in the activation memory: 8-bit values, or int32 for a 32-bit tensor."""
    t = graph.tensors[name]
    c, h, w = t.shape
    return c * h * w * (4 if t.bits == 32 else 1)


def activation_offsets(graph: IntegerGraph) -> tuple[dict[str, int], int]:
    """({tensor: byte offset}, total bytes): the graph input, every layer output in order, then the external
    residual inputs (tensors a layer adds that no layer produces) by name."""
    offsets: dict[str, int] = {}
    top = 0
    produced = [graph.input] + [lyr.output for lyr in graph.layers]
    external = [
        lyr.residual
        for lyr in graph.layers
        if getattr(lyr, "residual", None) and lyr.residual not in produced
    ]
    for name in produced + sorted(set(external)):
        if name in offsets:
            raise InputError(f"tensor {name} is written twice")
        if name not in graph.tensors:
            raise InputError(f"tensor {name} has no TensorInfo in the graph")
        offsets[name] = top
        top = align(top + tensor_bytes(graph, name), ACT_ALIGN)
    if top >= 1 << 32:
        raise InputError("activations exceed the 32-bit offsets of the descriptors")
    return offsets, top
