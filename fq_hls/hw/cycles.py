"""Analytic cycle model of the engine (evidence label `model`); the C-simulation counts the same schedule
(evidence `csim`) from the real streams. docs/engine.md explains the terms.

Each pipelined loop costs trip count x II + depth; a loop that moves more bytes than one AXI beat per cycle
is charged its beats instead; the load/compute/store stages of a conv pass overlap per output row, so a row
costs its slowest stage. Lane lengths are counted analytically from the weights (non-zeros, escape entries
of long gaps, signed-digit terms), without packing the stream.
"""

from __future__ import annotations

import numpy as np

from ..ir import ConvLayer, IntegerGraph, PoolLayer
from .config import HardwareConfig
from .geometry import POOL_WORDS, fill_bytes, first_row, flat_possible, geometry, pool_channels
from .streams import (
    PARAM_BYTES,
    channel_steps,
    entry_bytes,
    max_channels_per_lane,
    naf_digits,
    plan_candidates,
    shift_coding,
    step_max,
)

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
        rows = list(range(max(nxt, first_row(y, s, p)), last + 1))
        out.append((len(rows), sum(1 for r in rows if 0 <= r < in_h)))
        nxt = max(nxt, last + 1)
    return out


def escapes(w2d: np.ndarray, k: int) -> np.ndarray:
    """Escape entries per output channel of a k x k layer: an input-channel step of s between non-zeros costs
    (s - 1) // step_max(k) extra entries, because the position field holds at most that step
    (docs/weight_stream.md)."""
    o_idx, p_idx = np.nonzero(w2d)
    step = channel_steps(o_idx, p_idx // (k * k))
    n_esc = np.maximum(0, (step - 1) // step_max(k))
    return np.bincount(o_idx, weights=n_esc, minlength=w2d.shape[0]).astype(np.int64)


_LENGTHS: dict[tuple, tuple] = {}  # (id(layer), coding fields) -> (layer, weights, lengths); a few layers' worth


def lane_lengths(layer: ConvLayer, cfg: HardwareConfig) -> np.ndarray:
    """Entries per output channel: non-zeros (signed-digit terms for layers streamed that way) plus the
    escape entries of long gaps; dense weights for the int8 engine. Cached per layer object (the plan,
    flat/row choice and DDR bytes each need them; the cache holds the layer so its id is not reused)."""
    key = (id(layer), cfg.engine, cfg.mu_delta_bits)
    hit = _LENGTHS.get(key)
    if hit is not None and hit[0] is layer and hit[1] is layer.weights:
        return hit[2]
    n = _lane_lengths(layer, cfg)
    n.setflags(write=False)
    if len(_LENGTHS) >= 256:
        _LENGTHS.pop(next(iter(_LENGTHS)))
    _LENGTHS[key] = (layer, layer.weights, n)
    return n


def _lane_lengths(layer: ConvLayer, cfg: HardwareConfig) -> np.ndarray:
    w = np.asarray(layer.weights).reshape(layer.out_ch, -1)
    if not cfg.sparse:
        return np.full(layer.out_ch, w.shape[1], dtype=np.int64)
    if not cfg.shift_pe or shift_coding(layer, cfg).from_fields:  # int8_sparse: one entry per non-zero
        n = np.count_nonzero(w, axis=1)
    else:
        n = np.count_nonzero(naf_digits(w), axis=-1).sum(axis=1)
    shape = np.shape(layer.weights)
    return np.maximum(n + escapes(w, int(shape[-1]) if len(shape) == 4 else 1), 1)


def conv_flat(layer: ConvLayer, cfg: HardwareConfig, in_shape, out_shape) -> bool:
    """Whether the engine runs this conv layer in flat mode (descriptor FLAG_FLAT, fq_hls.hw.geometry): where
    it is possible and its rows take fewer cycles than row mode's (the whole map's fill is exposed per pass)."""
    C, H, W = in_shape
    _, Ho, Wo = out_shape
    if not flat_possible(C, W, Ho, Wo, layer.kernel, layer.stride, layer.pad, cfg):
        return False
    return sum(_conv_parts(layer, cfg, in_shape, out_shape, True)[1]) < sum(
        _conv_parts(layer, cfg, in_shape, out_shape, False)[1])


def fused_pools(graph: IntegerGraph, cfg: HardwareConfig) -> set[int]:
    """Indices of the conv layers whose store stage also runs the max pool right after them (FLAG_POOL): a
    3x3 stride-2 pad-1 max pool that is the only reader of a row-mode conv's 8-bit output, without a
    residual, whose pooled rows fit the pool buffer (POOL_WORDS)."""
    if not cfg.fuse_pool:
        return set()
    readers: dict[str, int] = {}
    for lyr in graph.layers:
        for t in (lyr.input, getattr(lyr, "residual", None)):
            if t:
                readers[t] = readers.get(t, 0) + 1
    out = set()
    for i, (lyr, nxt) in enumerate(zip(graph.layers, graph.layers[1:], strict=False)):
        if not (isinstance(lyr, ConvLayer) and isinstance(nxt, PoolLayer) and nxt.mode == "max"):
            continue
        if (nxt.kernel, nxt.stride, nxt.pad) != (3, 2, 1) or nxt.input != lyr.output:
            continue
        if readers.get(lyr.output) != 1 or lyr.output == graph.output or lyr.out_bits == 32 or lyr.residual:
            continue
        i_shape = tuple(graph.tensors[lyr.input].shape)
        o_shape = tuple(graph.tensors[lyr.output].shape)
        if conv_flat(lyr, cfg, i_shape, o_shape) or lyr.out_ch * -(-o_shape[2] // 2) > POOL_WORDS:
            continue
        out.add(i)
    return out


def _conv_parts(
    layer: ConvLayer, cfg: HardwareConfig, in_shape, out_shape, flat: bool | None = None, pool: bool = False
) -> tuple[int, list[int], list[int]]:
    """(head, rows per pass, weight load per pass): head = parameter table + pass 0, loaded at the layer's
    start; pass p + 1 loads while the rows of pass p run. `flat` None: as the engine runs it.
    `pool`: the store stage also runs the following max pool (fused_pools)."""
    return _planned(layer, cfg, in_shape, out_shape, flat, pool)[:3]


def conv_passes(layer: ConvLayer, cfg: HardwareConfig, in_shape, out_shape, pool: bool = False
                ) -> list[list[list[int]]]:
    """The pass plan (pass -> lane -> output channels) the engine runs this layer with: the fastest of
    streams.plan_candidates under this cycle model; fq_hls.hw.program packs the weights in this plan."""
    return _planned(layer, cfg, in_shape, out_shape, None, pool)[3]


def _planned(layer: ConvLayer, cfg: HardwareConfig, in_shape, out_shape, flat: bool | None, pool: bool):
    """(head, rows, loads, passes) of the fastest candidate plan."""
    if flat is None:
        flat = conv_flat(layer, cfg, in_shape, out_shape)
    lengths = lane_lengths(layer, cfg)
    best = None
    for passes in plan_candidates(lengths, cfg.lanes, cfg.max_nnz_per_lane, max_channels_per_lane(cfg),
                                  layer.name):
        head, rows, loads = _plan_parts(layer, cfg, in_shape, out_shape, flat, pool, lengths, passes)
        cost = head + _passes(rows, loads)
        if best is None or cost < best[0]:
            best = (cost, head, rows, loads, passes)
    return best[1:]


def _plan_parts(layer: ConvLayer, cfg: HardwareConfig, in_shape, out_shape, flat: bool, pool: bool,
                lengths: np.ndarray, passes: list[list[list[int]]]) -> tuple[int, list[int], list[int]]:
    A = cfg.axi_bits // 8
    P, V = cfg.lanes, cfg.pixels
    C, H, W = in_shape
    _, Ho, Wo = out_shape
    k, s, p = layer.kernel, layer.stride, layer.pad
    eb = entry_bytes(cfg.engine)
    g = geometry(W, Ho, Wo, k, s, p, cfg, flat)
    tiles = g.tiles
    if flat:  # one virtual row reading every input row the map needs (URAM: each channel's map as one run)
        last = g.last_row(0, Ho, k, s, p)
        sched = [(1 if g.flen else last + p + 1, sum(1 for r in range(-p, last + 1) if 0 <= r < H))]
    else:
        sched = _row_schedule(Ho, H, k, s, p)
    ob = 4 if layer.out_bits == 32 else 1
    res = layer.residual is not None and layer.out_bits != 32
    nvs = [g.valid(t, V, Wo) for t in range(tiles)]
    F = fill_bytes(cfg)  # line-buffer fill per cycle: an AXI beat from each input port
    bpr = g.beats_per_row(F)  # stream beats per line-buffer row
    loads, rows = [], []
    for n_pass, lane_ch in enumerate(passes):
        if flat and n_pass == 1:  # the whole map stays in the line buffer: later passes stream nothing
            sched = [(0, 0)]
        L = max(1, max(int(sum(lengths[c] for c in chs)) for chs in lane_ch))
        nj = max(1, max(len(chs) for chs in lane_ch))
        nch = sum(len(chs) for chs in lane_ch)
        tab = _align(P * nj * 2, A)
        ent = _align(L * P * eb, A)
        loads.append(max(_beats(tab + ent, A) + 1, L) + DEPTHS["load"] + DEPTHS["decode"])
        if pool:  # a packet writes its pooled columns, on the rows that complete a pooled row
            pw, hv = -(-Wo // 2), V // 2
            wr = nch * sum(max(1, _beats(max(0, min(hv, pw - t * hv)), A)) for t in range(tiles))
            store = [wr if (y & 1) or y == Ho - 1 else nch * tiles for y in range(Ho)]
        else:
            store = [nch * sum(max(1, _beats(nv * ob, A)) for nv in nvs)] * len(sched)
        res_beats = nch * sum(_beats(nv, A) for nv in nvs) if res else 0
        rows.append(_rows(sched, C, W, F, bpr, tiles, L, store, res_beats, cfg.fill_overlap))
    head = _beats(layer.out_ch * PARAM_BYTES, A) + DEPTHS["load"] + loads[0]
    return head, rows, loads


def _rows(sched, C: int, W: int, F: int, bpr: int, tiles: int, L: int, store: list[int], res_beats: int,
          overlap: bool) -> int:
    """One pass over the output rows (the dataflow region): each step costs its slowest stage. Overlapped fill:
    row y computes while the load stage fetches, and the entry loops absorb, the input rows row y + 1 adds
    (one beat per entry cycle, the rest after the tiles); row 0's input rows are the prologue. Otherwise
    row y's input rows are absorbed before its tiles."""
    streams = [C * n_rows * bpr for n_rows, _ in sched]
    loads = [max(_beats(C * inside * W, F), st) for st, (_, inside) in zip(streams, sched, strict=True)]
    tile_cycles = tiles * (L + DEPTHS["compute"])
    n = len(sched)
    c = DEPTHS["dataflow"]
    if overlap:
        c += loads[0]
        for y in range(n):
            nxt_load = loads[y + 1] if y + 1 < n else 0
            fill = streams[y + 1] if y + 1 < n else 0
            comp = tile_cycles + max(0, fill - tiles * L)
            c += max(nxt_load + res_beats, comp, store[y])
    else:
        for y in range(n):
            c += max(loads[y] + res_beats, streams[y] + tile_cycles, store[y])
    return c


def _passes(rows: list[int], loads: list[int]) -> int:
    """The pass loop is a DATAFLOW region (hls_src conv_layer) whose PIPO buffers let pass p + 1's weights
    load while the rows of pass p run: each pass costs the slower of the two; pass 0's load is in the head."""
    return sum(max(r, nxt) for r, nxt in zip(rows, loads[1:] + [0], strict=True))


def _conv(layer: ConvLayer, cfg: HardwareConfig, in_shape, out_shape) -> int:
    head, rows, loads = _conv_parts(layer, cfg, in_shape, out_shape)
    return int(DEPTHS["layer"] + head + _passes(rows, loads))


def pool_lanes(cfg: HardwareConfig) -> int:
    """Channels a max pool handles at once (hls_src Pol::POOL_LANES): the FQ engine's P lanes each have their
    own line-buffer reader; the int8 engine's lanes share one."""
    return cfg.lanes if cfg.sparse else 1


def _maxpool(layer: PoolLayer, cfg: HardwareConfig, in_shape, out_shape) -> int:
    """Channel groups that fit the line buffer (geometry.pool_channels), one pass over the rows each: a row
    absorbs its new input rows, then pools its tiles."""
    A = cfg.axi_bits // 8
    V = cfg.pixels
    C, H, W = in_shape
    _, Ho, Wo = out_shape
    k, s, p = layer.kernel, layer.stride, layer.pad
    g = geometry(W, Ho, Wo, k, s, p, cfg)
    G = pool_channels(C, g, cfg)
    if G < 1:
        raise ValueError(f"layer {layer.name}: one channel of the max pool does not fit the line buffer")
    F = fill_bytes(cfg)
    bpr = g.beats_per_row(F)
    c = DEPTHS["layer"]
    for c0 in range(0, C, G):
        n = min(G, C - c0)
        out_beats = n * sum(_beats(min(V, Wo - t * V), A) for t in range(g.tiles))
        groups = -(-n // pool_lanes(cfg))
        c += DEPTHS["dataflow"]
        for n_rows, inside in _row_schedule(Ho, H, k, s, p):
            stream = n * n_rows * bpr
            load = max(_beats(n * inside * W, F), stream)
            comp = stream + g.tiles * groups * k * k + DEPTHS["compute"]
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


def schedule_graph(graph: IntegerGraph, cfg: HardwareConfig) -> list[int]:
    """Cycles of every layer of `graph` in the engine's own schedule, in order: what the C-simulation counts
    (FQ_CYCLES). Each layer runs on its own (a conv layer loads its parameter table and pass 0 at its start,
    head of _conv_parts); a max pool fused into the conv before it (fused_pools) costs 0 cycles of its own,
    and that conv's store stage runs it."""
    fused = fused_pools(graph, cfg)
    out = []
    for n, lyr in enumerate(graph.layers):
        if n - 1 in fused:  # the max pool ran in the conv layer's store stage
            out.append(0)
            continue
        i, o = tuple(graph.tensors[lyr.input].shape), tuple(graph.tensors[lyr.output].shape)
        if isinstance(lyr, ConvLayer):
            head, rows, loads = _conv_parts(lyr, cfg, i, o, pool=n in fused)
            out.append(int(DEPTHS["layer"] + head + _passes(rows, loads)))
        else:
            out.append(int(estimate_layer(lyr, cfg, i, o)))
    return out


def estimate_graph(graph: IntegerGraph, cfg: HardwareConfig) -> list[int]:
    """Modelled cycles of every layer of `graph`, in order: the schedule (schedule_graph, equal to the
    C-simulation), but never less than the layer's DDR bytes over the board's sustainable bandwidth
    (fq_hls.hw.ddr), which the schedule's per-port beat counts alone do not bound."""
    from .ddr import ddr_cycles, layer_bytes

    sched = schedule_graph(graph, cfg)
    return [max(c, ddr_cycles(b.total, cfg)) if c else 0
            for c, b in zip(sched, layer_bytes(graph, cfg, fused_pools(graph, cfg)), strict=True)]


def seconds(cycles: int, cfg: HardwareConfig) -> float:
    return cycles / (cfg.clock_mhz * 1e6)
