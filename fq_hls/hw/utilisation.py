"""Per-layer non-zero utilisation of the engine (evidence label `model`) and where the other cycles go.

utilisation = non-zero MACs of the layer / (cycles x P x V): the fraction of the P x V PEs' cycles that do a
multiply-accumulate with a non-zero weight (docs/engine.md "Efficiency"). It factors exactly into

    entries   non-zero weights / weight-stream entries (escapes of long gaps, signed-digit terms; for a dense
              engine the zeros it streams)
    balance   entries / (P x sum over passes of the pass's longest lane)   (lane balance, pass remainders)
    pixels    output pixels / (rows x tiles x V)                           (tile shape: idle pixel slots)
    pipeline  entry cycles / entry cycles with the entry loop's depth per tile
    rows      that / the passes' dataflow cycles (line-buffer fill, store, weight loads of later passes)
    head      that / the schedule (descriptor, parameter table and pass 0's weights before any compute)
    ddr       the schedule / the modelled cycles (the DDR bound of fq_hls.hw.ddr)

whose product is the utilisation.
"""

from __future__ import annotations

import numpy as np

from ..ir import ConvLayer, IntegerGraph
from . import cycles as C
from .config import HardwareConfig
from .geometry import geometry

FACTORS = ("entries", "balance", "pixels", "pipeline", "rows", "head", "ddr")


def nonzero_macs(layer: ConvLayer, out_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates with a non-zero weight: non-zero weights x output pixels."""
    return int(np.count_nonzero(np.asarray(layer.weights))) * int(out_shape[1]) * int(out_shape[2])


def _factors(layer: ConvLayer, cfg: HardwareConfig, i, o, pool: bool, sched: int, total: int) -> dict:
    P, V = cfg.lanes, cfg.pixels
    _, Ho, Wo = o
    flat = C.conv_flat(layer, cfg, i, o)
    head, rows, loads, passes = C._planned(layer, cfg, i, o, flat, pool)
    lengths = C.lane_lengths(layer, cfg)
    Ls = [max(1, max(int(lengths[chs].sum()) if chs else 0 for chs in lane_ch)) for lane_ch in passes]
    g = geometry(i[2], Ho, Wo, layer.kernel, layer.stride, layer.pad, cfg, flat)
    steps = (1 if flat else Ho) * g.tiles  # tiles the entry loop runs per pass
    c0 = steps * sum(Ls)
    c1 = steps * sum(L + C.DEPTHS["compute"] for L in Ls)
    r = C._passes(rows, loads)
    nnz = int(np.count_nonzero(np.asarray(layer.weights)))
    return {
        "entries": nnz / max(1, int(lengths.sum())),
        "balance": int(lengths.sum()) / (P * sum(Ls)),
        "pixels": Ho * Wo / (steps * V),
        "pipeline": c0 / c1,
        "rows": c1 / r,
        "head": r / sched,
        "ddr": sched / total,
    }


def layer_utilisation(graph: IntegerGraph, cfg: HardwareConfig, cycles: list[int] | None = None) -> list[dict]:
    """One dict per conv/fc layer of `graph`: layer, cycles, nonzero_macs, utilisation (non-zero MACs per
    cycle / (P x V)) and the factors it is the product of (module docstring). `cycles`: estimate_graph's,
    when the caller has them."""
    cycles = C.estimate_graph(graph, cfg) if cycles is None else cycles
    sched = C.schedule_graph(graph, cfg)
    fused = C.fused_pools(graph, cfg)
    out = []
    for n, (lyr, c) in enumerate(zip(graph.layers, cycles, strict=True)):
        if not isinstance(lyr, ConvLayer):
            continue
        i, o = tuple(graph.tensors[lyr.input].shape), tuple(graph.tensors[lyr.output].shape)
        macs = nonzero_macs(lyr, o)
        out.append({
            "layer": lyr.name,
            "cycles": int(c),
            "nonzero_macs": macs,
            "utilisation": macs / (int(c) * cfg.lanes * cfg.pixels),
            "factors": _factors(lyr, cfg, i, o, n in fused, sched[n], int(c)),
        })
    return out
