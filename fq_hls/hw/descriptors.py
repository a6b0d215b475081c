"""Layer descriptors of the fq_accel program (docs/accel_abi.md): the word layout (codegen writes the same
indices into fq_config.h), op codes and flags, and the encoding of one layer with the checks that the engine's
limits need. numpy only.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..ir import ConvLayer, IntegerGraph, PoolLayer
from ..node_geometry import out_size
from .config import HardwareConfig
from .cycles import conv_flat
from .geometry import geometry, lb_depth, pool_channels
from .streams import PackedLayer

# Descriptor words (uint32), in this order.
DESC_FIELDS = (
    "OP", "FLAGS", "IN_CH", "IN_H", "IN_W", "OUT_CH", "OUT_H", "OUT_W", "KERNEL", "STRIDE", "PAD",
    "IN_OFF", "OUT_OFF", "RES_OFF", "W_OFF", "W_BYTES", "N_PASSES", "Q_SHIFT", "MU_SHIFT_NEG", "MU_SHIFT_POS",
    "MU_SIGN_NEG", "MU_SIGN_POS", "POOL_MULT", "POOL_SHIFT", "ENTRY_BYTES", "MAX_ENTRIES", "LAYER_INDEX",
)  # fmt: skip
DESC_WORDS = 32
D = {name: i for i, name in enumerate(DESC_FIELDS)}

OP_CONV, OP_MAXPOOL, OP_AVGPOOL = 1, 2, 3
OP_FUSED = 4  # a max pool that the conv layer before it runs in its store stage (FLAG_POOL): nothing to do
FLAG_RELU, FLAG_RESIDUAL, FLAG_IN_SIGNED, FLAG_RES_SIGNED, FLAG_OUT32 = 1, 2, 4, 8, 16
FLAG_FLAT = 32  # conv on a small map: the whole map as one virtual row (fq_hls.hw.geometry)
FLAG_POOL = 64  # conv whose store stage also runs the next layer, a 3x3 stride-2 max pool (cycles.fused_pools)

# status codes returned by the C-simulation (hls_src/fq_types.h ST_*)
STATUS = {
    1: "unknown layer op",
    2: "shape outside the engine's limits",
    3: "line buffer too small",
    4: "weight buffer too small",
    5: "malformed weight stream",
    6: "channel index out of range",
    7: "dataflow deadlock or stream left non-empty (bounded-stream check)",
}


def _check(cond: bool, layer: str, what: str) -> None:
    if not cond:
        raise InputError(f"layer {layer}: {what}")


def encode_layer(d: np.ndarray, i: int, graph: IntegerGraph, cfg: HardwareConfig, offsets: dict[str, int],
                 fused: set[int]) -> int:
    """Fill descriptor `d` of layer `i` (all but FLAGS and, for a conv, its weight fields); its flags.
    `offsets`: every tensor's place in the activation memory; `fused`: cycles.fused_pools."""
    lyr = graph.layers[i]
    if lyr.input not in offsets:
        raise InputError(f"layer {lyr.name}: input tensor {lyr.input} is not produced before it")
    tin = graph.tensors[lyr.input]
    C, H, W = tin.shape
    Co, Ho, Wo = graph.tensors[lyr.output].shape
    _check(tin.bits == 8, lyr.name, "input must be an 8-bit tensor")
    d[D["IN_CH"]], d[D["IN_H"]], d[D["IN_W"]] = C, H, W
    d[D["OUT_CH"]], d[D["OUT_H"]], d[D["OUT_W"]] = Co, Ho, Wo
    d[D["IN_OFF"]], d[D["OUT_OFF"]] = offsets[lyr.input], offsets[lyr.output]
    d[D["LAYER_INDEX"]] = i
    flags = FLAG_IN_SIGNED if tin.signed else 0
    if isinstance(lyr, ConvLayer):
        return flags | _conv(d, i, graph, cfg, offsets, fused)
    if isinstance(lyr, PoolLayer):
        _pool(d, i, graph, cfg, fused)
        return flags
    raise InputError(f"layer {getattr(lyr, 'name', i)}: unknown layer type {type(lyr).__name__}")


def _conv(d: np.ndarray, i: int, graph: IntegerGraph, cfg: HardwareConfig, offsets: dict[str, int],
          fused: set[int]) -> int:
    lyr = graph.layers[i]
    tout = graph.tensors[lyr.output]
    C, H, W = graph.tensors[lyr.input].shape
    Co, Ho, Wo = tout.shape
    k, s, p = lyr.kernel, lyr.stride, lyr.pad
    _check(C == lyr.in_ch and Co == lyr.out_ch, lyr.name, "tensor shapes disagree with in_ch/out_ch")
    _check(Ho == out_size(H, k, s, p) and Wo == out_size(W, k, s, p), lyr.name, "output shape")
    _check(1 <= k <= cfg.max_kernel, lyr.name, f"kernel {k} > max_kernel {cfg.max_kernel}")
    _check(s in (1, 2), lyr.name, f"stride {s} (the engine supports 1 and 2)")
    _check(C <= cfg.max_in_ch, lyr.name, f"{C} input channels > max_in_ch {cfg.max_in_ch}")
    _check(Co <= cfg.max_out_ch, lyr.name, f"{Co} output channels > max_out_ch {cfg.max_out_ch}")
    _check(Ho <= cfg.max_width, lyr.name, f"{Ho} output rows > {cfg.max_width}")
    flat = conv_flat(lyr, cfg, (C, H, W), (Co, Ho, Wo))
    need = geometry(W, Ho, Wo, k, s, p, cfg, flat).words(C)  # line-buffer entries (hls_src geometry())
    _check(need <= lb_depth(cfg), lyr.name, f"line buffer needs {need} entries > {lb_depth(cfg)}")
    flags = FLAG_FLAT if flat else 0
    if i in fused:  # the pool's output is what this layer stores
        flags |= FLAG_POOL
        d[D["OUT_OFF"]] = offsets[graph.layers[i + 1].output]
    if lyr.out_bits == 32:
        flags |= FLAG_OUT32
    else:
        _check(tout.bits == 8 and tout.signed == (not lyr.relu), lyr.name, "output signedness != not relu")
        if lyr.relu:
            flags |= FLAG_RELU
        sh = np.asarray(lyr.shift)
        _check(bool(np.all((sh >= 1) & (sh <= 62))), lyr.name, "shift outside [1, 62]")
    if lyr.residual is not None and lyr.out_bits != 32:
        _check(lyr.residual in offsets, lyr.name, f"residual {lyr.residual} not produced before")
        tr = graph.tensors[lyr.residual]
        _check(tuple(tr.shape) == (Co, Ho, Wo) and tr.bits == 8, lyr.name, "residual shape")
        flags |= FLAG_RESIDUAL | (FLAG_RES_SIGNED if tr.signed else 0)
        d[D["RES_OFF"]] = offsets[lyr.residual]
    d[D["OP"]] = OP_CONV
    d[D["KERNEL"]], d[D["STRIDE"]], d[D["PAD"]] = k, s, p
    return flags


def encode_weights(d: np.ndarray, pk: PackedLayer, w_off: int) -> None:
    """The weight fields of a conv descriptor: where its packed stream starts, its size and its coding."""
    d[D["W_OFF"]], d[D["W_BYTES"]] = w_off, pk.data.size
    d[D["N_PASSES"]] = len(pk.passes)
    d[D["ENTRY_BYTES"]] = pk.entry_bytes
    d[D["MAX_ENTRIES"]] = max(pk.pass_entries)
    if pk.coding is not None:
        d[D["Q_SHIFT"]] = pk.coding.q_shift
        d[D["MU_SHIFT_NEG"]], d[D["MU_SHIFT_POS"]] = pk.coding.mu_shift
        d[D["MU_SIGN_NEG"]] = np.int32(pk.coding.mu_sign[0]).view(np.uint32)
        d[D["MU_SIGN_POS"]] = np.int32(pk.coding.mu_sign[1]).view(np.uint32)


def _pool(d: np.ndarray, i: int, graph: IntegerGraph, cfg: HardwareConfig, fused: set[int]) -> None:
    lyr = graph.layers[i]
    tin, tout = graph.tensors[lyr.input], graph.tensors[lyr.output]
    C, H, W = tin.shape
    Co, Ho, Wo = tout.shape
    _check(C == Co, lyr.name, "pooling changes the channel count")
    if lyr.mode == "max":
        k, s, p = lyr.kernel, lyr.stride, lyr.pad
        _check(tout.signed == tin.signed, lyr.name, "max pool keeps the input's signedness")
        _check(Ho == out_size(H, k, s, p) and Wo == out_size(W, k, s, p), lyr.name, "output shape")
        _check(1 <= k <= cfg.max_kernel and s in (1, 2), lyr.name, "kernel/stride outside the engine")
        _check(Ho <= cfg.max_width and C <= cfg.max_in_ch, lyr.name, "map larger than the engine's buffers")
        # the max pool runs in channel groups that fit the line buffer: one channel must fit
        g = geometry(W, Ho, Wo, k, s, p, cfg)
        _check(pool_channels(C, g, cfg) >= 1, lyr.name,
               f"line buffer needs {g.words(1)} entries per channel > {lb_depth(cfg)}")
        d[D["OP"]] = OP_FUSED if i - 1 in fused else OP_MAXPOOL
        d[D["KERNEL"]], d[D["STRIDE"]], d[D["PAD"]] = k, s, p
    elif lyr.mode == "avg":
        _check((Ho, Wo) == (1, 1), lyr.name, "average pooling is global")
        _check(1 <= lyr.shift <= 62, lyr.name, "shift outside [1, 62]")
        d[D["OP"]] = OP_AVGPOOL
        d[D["KERNEL"]], d[D["STRIDE"]] = H, 1
        d[D["POOL_MULT"]] = np.int32(lyr.mult).view(np.uint32)
        d[D["POOL_SHIFT"]] = lyr.shift
    else:
        raise InputError(f"layer {lyr.name}: unknown pooling mode {lyr.mode!r}")
