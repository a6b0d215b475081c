"""Analytic cycle model of the engine (evidence label `model`); the C-simulation counts the same schedule
(evidence `csim`) from the real streams. docs/engine.md explains the terms.

Each pipelined loop costs trip count x II + depth; a loop that moves more bytes than one AXI beat per cycle
is charged its beats instead; the load/compute/store stages of a conv pass overlap per output row, so a row
costs its slowest stage. The estimate differs from the C-simulation only in the lane lengths: it balances
the lanes on non-zero counts, the C-simulation runs the packed stream (escapes, signed-digit terms).
"""

from __future__ import annotations

import numpy as np

from ..ir import ConvLayer, IntegerGraph, PoolLayer
from .config import HardwareConfig
from .streams import assign_lanes, max_channels_per_lane, naf_digits, shift_coding

# pipeline depths (cycles) shared with the C++ through fq_config.h
DEPTHS = {
    "layer": 40,  # descriptor fetch, control
    "load": 30,  # AXI read latency of a burst
    "decode": 6,
    "compute": 8,  # depth of the entry loop: buffer read, shift/multiply, adder tree
    "dataflow": 24,  # fill/drain of the load -> compute -> store region
}


def _beats(nbytes: int, A: int) -> int:
    return -(-nbytes // A)


def _align(n: int, A: int) -> int:
    return _beats(n, A) * A


def _row_schedule(out_h: int, in_h: int, k: int, s: int, p: int) -> list[tuple[int, int]]:
    """Per output row: (rows streamed into the line buffer, of which inside the map)."""
    out = []
    nxt = -p
    for y in range(out_h):
        last = y * s - p + k - 1
        rows = list(range(nxt, last + 1))
        out.append((len(rows), sum(1 for r in rows if 0 <= r < in_h)))
        nxt = max(nxt, last + 1)
    return out


def _geometry(in_w: int, out_w: int, k: int, s: int, p: int, cfg: HardwareConfig) -> tuple[int, int]:
    tiles = -(-out_w // cfg.pixels)
    pitch = max(in_w + 2 * p, (tiles * cfg.pixels - 1) * s + k)
    return tiles, pitch


def lane_lengths(layer: ConvLayer, cfg: HardwareConfig) -> np.ndarray:
    """Entries per output channel as the estimate sees them (non-zeros; signed-digit terms for int8 layers)."""
    w = np.asarray(layer.weights).reshape(layer.out_ch, -1)
    if cfg.engine == "int8":
        return np.full(layer.out_ch, w.shape[1], dtype=np.int64)
    if shift_coding(layer).from_fields:
        n = np.count_nonzero(w, axis=1)
    else:
        n = np.count_nonzero(naf_digits(w), axis=-1).sum(axis=1)
    return np.maximum(n, 1)


def _conv(layer: ConvLayer, cfg: HardwareConfig, in_shape, out_shape) -> int:
    A = cfg.axi_bits // 8
    P, V = cfg.lanes, cfg.pixels
    C, H, W = in_shape
    _, Ho, Wo = out_shape
    k, s, p = layer.kernel, layer.stride, layer.pad
    eb = 2 if cfg.engine == "fq" else 1
    tiles, pitch = _geometry(W, Wo, k, s, p, cfg)
    sched = _row_schedule(Ho, H, k, s, p)
    lengths = lane_lengths(layer, cfg)
    passes = assign_lanes(lengths, P, cfg.max_nnz_per_lane, max_channels_per_lane(cfg), layer.name)
    ob = 4 if layer.out_bits == 32 else 1
    res = layer.residual is not None and layer.out_bits != 32
    nvs = [min(V, Wo - t * V) for t in range(tiles)]
    cyc = DEPTHS["layer"] + _beats(layer.out_ch * 16, A) + DEPTHS["load"]
    bpr = _beats(pitch, A)  # stream beats per line-buffer row
    for lane_ch in passes:
        L = max(1, max(int(sum(lengths[c] for c in chs)) for chs in lane_ch))
        nj = max(1, max(len(chs) for chs in lane_ch))
        nch = sum(len(chs) for chs in lane_ch)
        tab = _align(P * nj * 2, A)
        ent = _align(L * P * eb, A)
        cyc += max(_beats(tab + ent, A) + 1, L) + DEPTHS["load"] + DEPTHS["decode"]
        store = nch * sum(max(1, _beats(nv * ob, A)) for nv in nvs)
        res_beats = nch * sum(_beats(nv, A) for nv in nvs) if res else 0
        c = DEPTHS["dataflow"]
        for n_rows, inside in sched:
            stream = C * n_rows * bpr
            load = max(_beats(C * inside * W, A), stream) + res_beats
            comp = stream + tiles * (L + DEPTHS["compute"])
            c += max(load, comp, store)
        cyc += c
    return int(cyc)


def _maxpool(layer: PoolLayer, cfg: HardwareConfig, in_shape, out_shape) -> int:
    A = cfg.axi_bits // 8
    V = cfg.pixels
    C, H, W = in_shape
    _, Ho, Wo = out_shape
    k, s, p = layer.kernel, layer.stride, layer.pad
    tiles, pitch = _geometry(W, Wo, k, s, p, cfg)
    bpr = _beats(pitch, A)
    out_beats = C * sum(_beats(min(V, Wo - t * V), A) for t in range(tiles))
    c = DEPTHS["layer"] + DEPTHS["dataflow"]
    for n_rows, inside in _row_schedule(Ho, H, k, s, p):
        stream = C * n_rows * bpr
        load = max(_beats(C * inside * W, A), stream)
        comp = stream + tiles * C * k * k + DEPTHS["compute"]
        c += max(load, comp, out_beats)
    return int(c)


def _avgpool(cfg: HardwareConfig, in_shape) -> int:
    A = cfg.axi_bits // 8
    C, H, W = in_shape
    hw = H * W
    comp = C * -(-hw // cfg.pixels)
    return int(
        DEPTHS["layer"] + max(comp, _beats(C * hw, A)) + _beats(C, A) + DEPTHS["compute"] + DEPTHS["dataflow"]
    )


def estimate_layer(
    layer,
    cfg: HardwareConfig,
    in_shape: tuple[int, int, int] | None = None,
    out_shape: tuple[int, int, int] | None = None,
) -> int:
    """Cycles of one layer. `in_shape` (C, H, W) is required for conv/pool layers on maps larger than 1x1."""
    if in_shape is None:
        if isinstance(layer, ConvLayer) and layer.kernel == 1:
            in_shape = (layer.in_ch, 1, 1)
        else:
            raise ValueError(f"layer {layer.name}: estimate_layer needs the input shape (C, H, W)")
    C, H, W = in_shape
    if isinstance(layer, ConvLayer):
        k, s, p = layer.kernel, layer.stride, layer.pad
        out_shape = out_shape or (layer.out_ch, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1)
        return _conv(layer, cfg, in_shape, out_shape)
    if isinstance(layer, PoolLayer):
        if layer.mode == "avg":
            return _avgpool(cfg, in_shape)
        k, s, p = layer.kernel, layer.stride, layer.pad
        out_shape = out_shape or (C, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1)
        return _maxpool(layer, cfg, in_shape, out_shape)
    raise ValueError(f"unknown layer type {type(layer).__name__}")


def estimate_graph(graph: IntegerGraph, cfg: HardwareConfig) -> list[int]:
    """Cycles of every layer of `graph`, in order."""
    return [
        estimate_layer(
            lyr, cfg, tuple(graph.tensors[lyr.input].shape), tuple(graph.tensors[lyr.output].shape)
        )
        for lyr in graph.layers
    ]


def seconds(cycles: int, cfg: HardwareConfig) -> float:
    return cycles / (cfg.clock_mhz * 1e6)
