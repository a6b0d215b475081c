"""The engine a network needs: raise a HardwareConfig's buffer limits to what an IntegerGraph's layers use.

The board defaults (fq_hls.hw.config) are sized for ResNet-18 (512 input channels, 1024 output channels, the
line buffer of its 224x224 and 32x32 layers). ResNet-50's bottlenecks read 1024 and 2048 channels in their 1x1
convs and write 2048, and at a small V its stride-2 1x1 shortcuts need twice ResNet-18's line buffer
(1024 channels x 3 phase-split rows of 14 at 14x14 -> 7x7: 43,008 entries). `fit_config` returns the config
with max_in_ch / max_out_ch / max_width / lb_words raised where the graph needs more (never lowered), so that
the C-simulation, the emulated board and the report describe an engine that runs the network; the resource
model then counts those larger memories. Limits the engine cannot raise (kernel, stride) stay errors of
fq_hls.hw.descriptors.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..ir import ConvLayer, IntegerGraph, PoolLayer
from .config import HardwareConfig
from .geometry import geometry, lb_depth, lb_round


@dataclass(frozen=True)
class Needs:
    in_ch: int  # most input channels of a conv / max pool
    out_ch: int  # most output channels of a conv
    rows: int  # most output rows of a conv / max pool
    lb_entries: int  # line-buffer entries of the largest conv in row mode (flat mode runs only where it fits)


def network_needs(graph: IntegerGraph, cfg: HardwareConfig) -> Needs:
    in_ch = out_ch = rows = lb = 0
    for layer in graph.layers:
        c, _, w = graph.tensors[layer.input].shape
        co, ho, wo = graph.tensors[layer.output].shape
        if isinstance(layer, ConvLayer):
            in_ch, out_ch, rows = max(in_ch, c), max(out_ch, co), max(rows, ho)
            g = geometry(w, ho, wo, layer.kernel, layer.stride, layer.pad, cfg)
            lb = max(lb, g.words(c))
        elif isinstance(layer, PoolLayer) and layer.mode == "max":
            in_ch, rows = max(in_ch, c), max(rows, ho)
    return Needs(in_ch, out_ch, rows, lb)


def fit_overrides(cfg: HardwareConfig, graph: IntegerGraph) -> dict:
    """The HardwareConfig fields (max_in_ch, max_out_ch, max_width, lb_words) that `graph` needs raised."""
    n = network_needs(graph, cfg)
    changes: dict = {}
    if n.in_ch > cfg.max_in_ch:
        changes["max_in_ch"] = n.in_ch
    if n.out_ch > cfg.max_out_ch:
        changes["max_out_ch"] = n.out_ch
    if n.rows > cfg.max_width:
        changes["max_width"] = n.rows
    if n.lb_entries > lb_depth(cfg):
        changes["lb_words"] = lb_round(cfg, n.lb_entries)
    return changes


def fit_config(cfg: HardwareConfig, graph: IntegerGraph) -> HardwareConfig:
    """`cfg` with its channel, row and line-buffer limits raised to what `graph` needs (itself if it fits)."""
    changes = fit_overrides(cfg, graph)
    return replace(cfg, **changes) if changes else cfg


def fit_note(cfg: HardwareConfig, fitted: HardwareConfig) -> str:
    """What fit_config raised, for the commands' output ("" when nothing)."""
    old = cfg.to_dict()
    changed = [f"{k} {old[k]} -> {v}" for k, v in fitted.to_dict().items() if old[k] != v]
    return f"buffers raised for this model: {', '.join(changed)}" if changed else ""
