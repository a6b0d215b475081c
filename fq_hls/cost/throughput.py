"""Frames per second of an engine configuration: clock / (sum of per-layer cycles).

The per-layer cycles come from the engine's cycle model `fq_hls.hw.cycles.estimate_graph(graph, cfg)` when it
is importable and an IntegerGraph is at hand (label "model (hw.cycles)"). Otherwise this module's own
fallback estimate is used (label "model (cost fallback)"); it is written down in docs/cost_model.md:

    conv/fc: tiles = out_h * ceil(out_w / V); groups = ceil(O / P) (channels sorted by non-zeros and cut into
             groups of P, which minimises the sum of the group maxima);
             compute = tiles * sum_groups (max non-zeros of a lane in the group + FILL)     [FQ, sparse]
             compute = tiles * groups * (I * k * k + FILL)                                  [int8, dense]
             memory  = bytes / (ddr_gbps / clock): weights once, input once per group, output (+ residual)
             layer   = max(compute, memory) + LAYER_OVERHEAD
    pool:    C * out_h * out_w * k * k / (P * V) (+ overhead); global avg pool C * H * W / V.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..hw.config import HardwareConfig
from ..hw.streams import entry_bytes

FILL = 8  # cycles: pipeline fill/drain of a lane group (decode -> read -> rotate -> PE -> recombine), model
LAYER_OVERHEAD = 600  # cycles: descriptor fetch, first DDR burst latency, drain to DDR per layer, model
FQ_ENTRY_BYTES, INT8_ENTRY_BYTES = entry_bytes("fq"), entry_bytes("int8")  # weight-stream entries
RESNET18_GOPS = 3.64  # 2 x 1.82 GMAC of ResNet-18 at 224x224 (conv + fc)


@dataclass
class LayerShape:
    name: str
    kind: str  # conv, fc, maxpool, avgpool
    in_ch: int
    out_ch: int
    k: int
    stride: int
    in_h: int
    in_w: int
    out_h: int
    out_w: int
    residual: bool = False
    nnz: np.ndarray | None = None  # per output channel non-zero weights (None: dense)

    @property
    def macs(self) -> int:
        if self.kind not in ("conv", "fc"):
            return 0
        return self.out_ch * self.in_ch * self.k * self.k * self.out_h * self.out_w


def resnet18_shapes(cifar: bool = False, num_classes: int | None = None) -> list[LayerShape]:
    """Dense layer shapes of ResNet-18 (224x224 ImageNet, or the CIFAR variant at 32x32, no max pool)."""
    L: list[LayerShape] = []
    if cifar:
        hw, nc = 32, num_classes or 10
        L.append(LayerShape("conv1", "conv", 3, 64, 3, 1, hw, hw, hw, hw))
    else:
        nc = num_classes or 1000
        L.append(LayerShape("conv1", "conv", 3, 64, 7, 2, 224, 224, 112, 112))
        L.append(LayerShape("maxpool", "maxpool", 64, 64, 3, 2, 112, 112, 56, 56))
        hw = 56
    ch = 64
    for stage, out in enumerate((64, 128, 256, 512)):
        for block in range(2):
            stride = 2 if (stage > 0 and block == 0) else 1
            o_hw = hw // stride
            p = f"layer{stage + 1}.{block}"
            L.append(LayerShape(f"{p}.conv1", "conv", ch, out, 3, stride, hw, hw, o_hw, o_hw))
            if stride != 1 or ch != out:
                L.append(LayerShape(f"{p}.downsample", "conv", ch, out, 1, stride, hw, hw, o_hw, o_hw))
            L.append(LayerShape(f"{p}.conv2", "conv", out, out, 3, 1, o_hw, o_hw, o_hw, o_hw, residual=True))
            ch, hw = out, o_hw
    L.append(LayerShape("avgpool", "avgpool", ch, ch, hw, 1, hw, hw, 1, 1))
    L.append(LayerShape("fc", "fc", ch, nc, 1, 1, 1, 1, 1, 1))
    return L


def with_random_sparsity(shapes: list[LayerShape], sparsity: float, seed: int = 0) -> list[LayerShape]:
    """Per-channel non-zero counts drawn as Binomial(I*k*k, 1 - sparsity) (a random sparse model)."""
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        if s.kind in ("conv", "fc"):
            n = rng.binomial(s.in_ch * s.k * s.k, 1.0 - sparsity, size=s.out_ch)
            s = LayerShape(**{**s.__dict__, "nnz": n})
        out.append(s)
    return out


def shapes_from_graph(graph) -> list[LayerShape]:
    """Layer shapes (with per-channel non-zeros) of an fq_hls.ir.IntegerGraph."""
    out = []
    for layer in graph.layers:
        cin, ih, iw = graph.tensors[layer.input].shape
        cout, oh, ow = graph.tensors[layer.output].shape
        if layer.kind in ("conv", "fc"):
            w = np.asarray(layer.weights)
            nnz = np.count_nonzero(w.reshape(w.shape[0], -1), axis=1)
            out.append(LayerShape(layer.name, layer.kind, layer.in_ch, layer.out_ch, layer.kernel, layer.stride,
                                  ih, iw, oh, ow, residual=layer.residual is not None, nnz=nnz))
        else:
            kind = "avgpool" if layer.mode == "avg" else "maxpool"
            out.append(LayerShape(layer.name, kind, cin, cout, layer.kernel, layer.stride, ih, iw, oh, ow))
    return out


def _group_max_sum(nnz: np.ndarray, lanes: int) -> int:
    s = np.sort(np.maximum(nnz, 1))[::-1]  # a channel with no weights still takes a cycle (bias only)
    return int(sum(int(s[g]) for g in range(0, len(s), lanes)))


def layer_cycles(s: LayerShape, cfg: HardwareConfig) -> int:
    """The fallback cycle estimate of one layer (see the module docstring)."""
    P, V = cfg.lanes, cfg.pixels
    if s.kind == "maxpool":
        return math.ceil(s.out_ch * s.out_h * s.out_w * s.k * s.k / (P * V)) + LAYER_OVERHEAD
    if s.kind == "avgpool":
        return math.ceil(s.in_ch * s.in_h * s.in_w / V) + LAYER_OVERHEAD
    tiles = s.out_h * math.ceil(s.out_w / V)
    groups = math.ceil(s.out_ch / P)
    kvol = s.in_ch * s.k * s.k
    if cfg.sparse:
        nnz = s.nnz if s.nnz is not None else np.full(s.out_ch, kvol)
        compute = tiles * (_group_max_sum(nnz, P) + groups * FILL)
        wbytes = int(np.sum(nnz)) * FQ_ENTRY_BYTES
    else:
        compute = tiles * groups * (kvol + FILL)
        wbytes = s.out_ch * kvol * INT8_ENTRY_BYTES
    in_bytes = s.in_ch * s.in_h * s.in_w
    out_bytes = s.out_ch * s.out_h * s.out_w * (2 if s.residual else 1)
    total = wbytes + in_bytes * groups + out_bytes
    bytes_per_cycle = cfg.info.ddr_gbps * 1e9 / (cfg.clock_mhz * 1e6)
    memory = math.ceil(total / bytes_per_cycle)
    return max(compute, memory) + LAYER_OVERHEAD


def layer_bytes(s: LayerShape, cfg: HardwareConfig) -> int:
    if s.kind not in ("conv", "fc"):
        return s.in_ch * s.in_h * s.in_w + s.out_ch * s.out_h * s.out_w
    kvol = s.in_ch * s.k * s.k
    groups = math.ceil(s.out_ch / cfg.lanes)
    if cfg.sparse:
        nnz = s.nnz if s.nnz is not None else np.full(s.out_ch, kvol)
        w = int(np.sum(nnz)) * FQ_ENTRY_BYTES
    else:
        w = s.out_ch * kvol
    return w + s.in_ch * s.in_h * s.in_w * groups + s.out_ch * s.out_h * s.out_w * (2 if s.residual else 1)


@dataclass
class Throughput:
    fps: float
    cycles: list[int]
    layer_names: list[str]
    clock_mhz: float
    evidence: str  # "model (hw.cycles)", "model (cost fallback)", "csim", ...
    ops_per_frame: float  # 2 x dense MACs

    @property
    def gops(self) -> float:
        return self.fps * self.ops_per_frame / 1e9


def network_throughput(cfg: HardwareConfig, shapes: list[LayerShape], graph=None) -> Throughput:
    """fps of `cfg` on a network: the hw.cycles model on `graph` when possible, else the fallback on `shapes`."""
    ops = 2.0 * sum(s.macs for s in shapes)
    if graph is not None:
        try:
            from ..hw.cycles import estimate_graph
        except ImportError:
            estimate_graph = None
        if estimate_graph is not None:
            cycles = [int(c) for c in estimate_graph(graph, cfg)]
            names = [layer.name for layer in graph.layers]
            if len(names) != len(cycles):
                names = [f"layer{i}" for i in range(len(cycles))]
            total = sum(cycles)
            return Throughput(cfg.clock_mhz * 1e6 / total, cycles, names, cfg.clock_mhz, "model (hw.cycles)", ops)
    cycles = [layer_cycles(s, cfg) for s in shapes]
    return Throughput(cfg.clock_mhz * 1e6 / sum(cycles), cycles, [s.name for s in shapes], cfg.clock_mhz,
                      "model (cost fallback)", ops)
