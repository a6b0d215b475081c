"""DDR traffic of every layer as the engine moves it, and the time the board's DDR needs for it (evidence
label `model`). docs/engine.md "DDR bound" explains the terms.

The cycle schedule (fq_hls.hw.cycles, equal to the C-simulation's FQ_CYCLES) charges each m_axi port at most
one beat per cycle, but several ports run at once and they all share the PS DDR controller. So a layer can
never take less time than its bytes over the board's sustainable bandwidth: estimate_graph takes the larger
of the two.

Sustainable bandwidth = the board's peak DRAM bandwidth (BoardInfo.ddr_gbps: bus width x transfer rate) x
DDR_EFFICIENCY. Peaks: PYNQ-Z2 2.1 GB/s (512 MB DDR3 on a 16-bit bus at 1050 MT/s: Digilent's PYNQ-Z1
reference manual, "512 MB DDR3 with 16-bit bus @ 525 MHz (1050 MT/s)"; the PYNQ-Z2 carries the same
512 MB x16 DDR3, to be confirmed against TUL's manual); KV260 19.2 GB/s (K26 SOM data sheet DS987 v1.1:
"4 GB 64-bit wide, 2400 Mb/s memory"). ZCU104 19.2 GB/s (64-bit PS DDR4 at 2400 MT/s) and Ultra96-V2
8.5 GB/s (32-bit LPDDR4 at 2133 MT/s) are the figures this project carried before; not re-checked against
the boards' user guides in this change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..ir import ConvLayer, IntegerGraph, PoolLayer
from .config import HardwareConfig
from .geometry import geometry
from .streams import PARAM_BYTES, entry_bytes

# Xilinx UG585 (Zynq-7000 TRM, v1.15, "DDR Efficiency"): the PS DDR controller "was designed to have a maximum
# efficiency of approximately 75 %" (measured 79-97 % on single access kinds with 4 HP masters). The engine
# reads weights and activations and writes outputs at once, so the planning figure applies; the Zynq
# UltraScale+ boards are given the same fraction (no published figure for their controller here).
DDR_EFFICIENCY = 0.75


def sustainable_gbps(cfg: HardwareConfig) -> float:
    """GB/s (1e9 bytes per second) the PL can count on from the PS DDR of `cfg`'s board."""
    return cfg.info.ddr_gbps * DDR_EFFICIENCY


def bytes_per_cycle(cfg: HardwareConfig) -> float:
    return sustainable_gbps(cfg) * 1e9 / (cfg.clock_mhz * 1e6)


@dataclass(frozen=True)
class LayerBytes:
    """Bytes one layer moves between DDR and the engine."""

    weights: int  # parameter table + every pass's header, channel table and entries, as packed (AXI aligned)
    act_in: int  # input activations, once per pass that streams them (row mode: every pass; flat: pass 0)
    act_out: int  # output activations (the pooled map when a max pool is fused)
    residual: int  # the residual map, read beside the output

    @property
    def total(self) -> int:
        return self.weights + self.act_in + self.act_out + self.residual


def _align(n: int, a: int) -> int:
    return -(-n // a) * a


def _conv_bytes(layer: ConvLayer, cfg: HardwareConfig, in_shape, out_shape, pool: bool) -> LayerBytes:
    from .cycles import _row_schedule, conv_flat, conv_passes, lane_lengths

    A = cfg.axi_bits // 8
    C, H, W = in_shape
    n_out, Ho, Wo = out_shape
    k, s, p = layer.kernel, layer.stride, layer.pad
    flat = conv_flat(layer, cfg, in_shape, out_shape)
    passes = conv_passes(layer, cfg, in_shape, out_shape, pool)
    lengths = lane_lengths(layer, cfg)
    eb = entry_bytes(cfg.engine)
    wbytes = _align(n_out * PARAM_BYTES, A)
    for lane_ch in passes:
        L = max(1, max(int(sum(lengths[c] for c in chs)) for chs in lane_ch))
        nj = max(1, max(len(chs) for chs in lane_ch))
        wbytes += A + _align(cfg.lanes * nj * 2, A) + _align(L * cfg.lanes * eb, A)
    if flat:
        g = geometry(W, Ho, Wo, k, s, p, cfg, True)
        rows_in = sum(1 for r in range(-p, g.last_row(0, Ho, k, s, p) + 1) if 0 <= r < H)
        streams = 1
    else:
        rows_in = sum(inside for _, inside in _row_schedule(Ho, H, k, s, p))
        streams = len(passes)
    ob = 4 if layer.out_bits == 32 else 1
    out = n_out * (-(-Ho // 2)) * (-(-Wo // 2)) if pool else n_out * Ho * Wo * ob
    res = n_out * Ho * Wo if (layer.residual is not None and layer.out_bits != 32) else 0
    return LayerBytes(wbytes, streams * C * rows_in * W, out, res)


def layer_bytes(graph: IntegerGraph, cfg: HardwareConfig, fused: set[int] | None = None) -> list[LayerBytes]:
    """DDR bytes of every layer of `graph`, in order; a max pool fused into the conv before it moves none."""
    from .cycles import fused_pools

    fused = fused_pools(graph, cfg) if fused is None else fused
    out = []
    for n, lyr in enumerate(graph.layers):
        i, o = tuple(graph.tensors[lyr.input].shape), tuple(graph.tensors[lyr.output].shape)
        if n - 1 in fused:
            out.append(LayerBytes(0, 0, 0, 0))
        elif isinstance(lyr, ConvLayer):
            out.append(_conv_bytes(lyr, cfg, i, o, n in fused))
        elif isinstance(lyr, PoolLayer):
            out.append(LayerBytes(0, math.prod(i), math.prod(o), 0))  # 8-bit maps in and out
        else:
            raise ValueError(f"unknown layer type {type(lyr).__name__}")
    return out


def ddr_cycles(nbytes: int, cfg: HardwareConfig) -> int:
    """Cycles (at cfg.clock_mhz) the board's sustainable DDR bandwidth needs for `nbytes`."""
    return math.ceil(nbytes / bytes_per_cycle(cfg))
