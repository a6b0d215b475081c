"""Program image of the fq_accel IP: weight streams, layer descriptors, activation memory map.

`build_program(graph, cfg)` packs an IntegerGraph for one HardwareConfig (docs/accel_abi.md, docs/engine.md).
numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..ir import ConvLayer, IntegerGraph, PoolLayer
from .config import HardwareConfig
from .cycles import conv_flat, fused_pools
from .geometry import geometry, lb_depth, pool_channels
from .streams import PackedLayer, align, pack_layer

# Descriptor words (uint32), in this order; codegen writes the same indices into fq_config.h.
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
ACT_ALIGN = 64

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


@dataclass
class Program:
    weights: np.ndarray  # uint8
    descriptors: np.ndarray  # uint32 (n_layers, DESC_WORDS)
    act_bytes: int
    input_offset: int
    input_shape: tuple[int, int, int]
    output_offset: int
    num_classes: int
    layer_names: list[str] = field(default_factory=list)
    tensor_offsets: dict[str, int] = field(default_factory=dict)
    packed: dict[str, PackedLayer] = field(default_factory=dict)  # conv/fc layers, by name
    tensors: dict = field(default_factory=dict)  # TensorInfo by name
    output_name: str = ""
    unwritten: set[str] = field(default_factory=set)  # tensors the engine never stores (fused into a pool)

    @property
    def n_layers(self) -> int:
        return int(self.descriptors.shape[0])

    def new_act(self) -> np.ndarray:
        return np.zeros(self.act_bytes, dtype=np.uint8)

    def write_input(self, act: np.ndarray, x_int8_chw: np.ndarray) -> None:
        x = np.asarray(x_int8_chw)
        if tuple(x.shape) != tuple(self.input_shape):
            raise InputError(
                f"input of shape {tuple(x.shape)}, the program expects {tuple(self.input_shape)} (C, H, W)"
            )
        if x.dtype not in (np.int8, np.uint8):
            raise InputError(f"input must be int8 (or uint8 for an unsigned input tensor), got {x.dtype}")
        b = np.ascontiguousarray(x).reshape(-1).view(np.uint8)
        act[self.input_offset : self.input_offset + b.size] = b

    def write_tensor(self, act: np.ndarray, name: str, values: np.ndarray) -> None:
        """Store an 8-bit tensor (C, H, W) at its place in the activation memory (external inputs, tests)."""
        info = self.tensors[name]
        v = np.asarray(values)
        if tuple(v.shape) != tuple(info.shape) or v.dtype not in (np.int8, np.uint8):
            raise InputError(
                f"tensor {name}: want an 8-bit array of shape {tuple(info.shape)}, got {v.dtype} {v.shape}"
            )
        b = np.ascontiguousarray(v).reshape(-1).view(np.uint8)
        o = self.tensor_offsets[name]
        act[o : o + b.size] = b

    def read_tensor(self, act: np.ndarray, name: str) -> np.ndarray:
        """A tensor (C, H, W) from the activation memory: int8/uint8 as its TensorInfo says, int32 if 32-bit."""
        if name in self.unwritten:
            raise InputError(f"tensor {name} is never stored: its conv layer runs the max pool after it "
                             "(HardwareConfig.fuse_pool)")
        info = self.tensors[name]
        n = int(np.prod(info.shape))
        o = self.tensor_offsets[name]
        if info.bits == 32:
            return act[o : o + 4 * n].copy().view("<i4").astype(np.int32).reshape(info.shape)
        return act[o : o + n].copy().view(np.int8 if info.signed else np.uint8).reshape(info.shape)

    def read_output(self, act: np.ndarray) -> np.ndarray:
        """The graph output as int32 (C*H*W,): the logits."""
        return self.read_tensor(act, self.output_name).reshape(-1).astype(np.int32)


def _tensor_bytes(graph: IntegerGraph, name: str) -> int:
    t = graph.tensors[name]
    c, h, w = t.shape
    return c * h * w * (4 if t.bits == 32 else 1)


def _check(cond: bool, layer: str, what: str) -> None:
    if not cond:
        raise InputError(f"layer {layer}: {what}")


def line_buffer_words(
    in_ch: int, in_w: int, out_w: int, kernel: int, stride: int, pad: int, cfg: HardwareConfig,
    out_h: int = 1, flat: bool = False,
) -> int:
    """Line-buffer entries a conv/maxpool layer needs (hls_src/fq_engine.h geometry())."""
    return geometry(in_w, out_h, out_w, kernel, stride, pad, cfg, flat).words(in_ch)


def build_program(graph: IntegerGraph, cfg: HardwareConfig) -> Program:
    """Pack `graph` for the engine described by `cfg`."""
    A = cfg.axi_bits // 8
    # activation memory: every tensor its own 64-byte aligned region (no reuse: a layer may read any
    # earlier tensor as its residual)
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
        top = align(top + _tensor_bytes(graph, name), ACT_ALIGN)
    if top >= 1 << 32:
        raise InputError("activations exceed the 32-bit offsets of the descriptors")

    descs = np.zeros((len(graph.layers), DESC_WORDS), dtype=np.uint32)
    fused = fused_pools(graph, cfg)
    blobs: list[np.ndarray] = []
    wtop = 0
    packed: dict[str, PackedLayer] = {}
    for i, lyr in enumerate(graph.layers):
        d = descs[i]
        if lyr.input not in offsets:
            raise InputError(f"layer {lyr.name}: input tensor {lyr.input} is not produced before it")
        tin = graph.tensors[lyr.input]
        tout = graph.tensors[lyr.output]
        C, H, W = tin.shape
        Co, Ho, Wo = tout.shape
        _check(tin.bits == 8, lyr.name, "input must be an 8-bit tensor")
        d[D["IN_CH"]], d[D["IN_H"]], d[D["IN_W"]] = C, H, W
        d[D["OUT_CH"]], d[D["OUT_H"]], d[D["OUT_W"]] = Co, Ho, Wo
        d[D["IN_OFF"]], d[D["OUT_OFF"]] = offsets[lyr.input], offsets[lyr.output]
        d[D["LAYER_INDEX"]] = i
        flags = FLAG_IN_SIGNED if tin.signed else 0
        if isinstance(lyr, ConvLayer):
            k, s, p = lyr.kernel, lyr.stride, lyr.pad
            _check(C == lyr.in_ch and Co == lyr.out_ch, lyr.name, "tensor shapes disagree with in_ch/out_ch")
            _check(
                Ho == (H + 2 * p - k) // s + 1 and Wo == (W + 2 * p - k) // s + 1, lyr.name, "output shape"
            )
            _check(1 <= k <= cfg.max_kernel, lyr.name, f"kernel {k} > max_kernel {cfg.max_kernel}")
            _check(s in (1, 2), lyr.name, f"stride {s} (the engine supports 1 and 2)")
            _check(C <= cfg.max_in_ch, lyr.name, f"{C} input channels > max_in_ch {cfg.max_in_ch}")
            _check(Co <= cfg.max_out_ch, lyr.name, f"{Co} output channels > max_out_ch {cfg.max_out_ch}")
            _check(Ho <= cfg.max_width, lyr.name, f"{Ho} output rows > {cfg.max_width}")
            flat = conv_flat(lyr, cfg, (C, H, W), (Co, Ho, Wo))
            need = line_buffer_words(C, W, Wo, k, s, p, cfg, Ho, flat)
            _check(need <= lb_depth(cfg), lyr.name, f"line buffer needs {need} entries > {lb_depth(cfg)}")
            if flat:
                flags |= FLAG_FLAT
            if i in fused:  # the pool's output is what this layer stores
                flags |= FLAG_POOL
                d[D["OUT_OFF"]] = offsets[graph.layers[i + 1].output]
            if lyr.out_bits == 32:
                flags |= FLAG_OUT32
            else:
                _check(
                    tout.bits == 8 and tout.signed == (not lyr.relu),
                    lyr.name,
                    "output signedness != not relu",
                )
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
            pk = pack_layer(lyr, cfg)
            packed[lyr.name] = pk
            d[D["OP"]] = OP_CONV
            d[D["KERNEL"]], d[D["STRIDE"]], d[D["PAD"]] = k, s, p
            d[D["W_OFF"]], d[D["W_BYTES"]] = wtop, pk.data.size
            d[D["N_PASSES"]] = len(pk.passes)
            d[D["ENTRY_BYTES"]] = pk.entry_bytes
            d[D["MAX_ENTRIES"]] = max(pk.pass_entries)
            if pk.coding is not None:
                d[D["Q_SHIFT"]] = pk.coding.q_shift
                d[D["MU_SHIFT_NEG"]], d[D["MU_SHIFT_POS"]] = pk.coding.mu_shift
                d[D["MU_SIGN_NEG"]] = np.int32(pk.coding.mu_sign[0]).view(np.uint32)
                d[D["MU_SIGN_POS"]] = np.int32(pk.coding.mu_sign[1]).view(np.uint32)
            blobs.append(pk.data)
            wtop += pk.data.size
            assert wtop % A == 0
        elif isinstance(lyr, PoolLayer):
            _check(C == Co, lyr.name, "pooling changes the channel count")
            if lyr.mode == "max":
                k, s, p = lyr.kernel, lyr.stride, lyr.pad
                _check(tout.signed == tin.signed, lyr.name, "max pool keeps the input's signedness")
                _check(
                    Ho == (H + 2 * p - k) // s + 1 and Wo == (W + 2 * p - k) // s + 1,
                    lyr.name,
                    "output shape",
                )
                _check(1 <= k <= cfg.max_kernel and s in (1, 2), lyr.name, "kernel/stride outside the engine")
                _check(
                    Ho <= cfg.max_width and C <= cfg.max_in_ch,
                    lyr.name,
                    "map larger than the engine's buffers",
                )
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
        else:
            raise InputError(f"layer {getattr(lyr, 'name', i)}: unknown layer type {type(lyr).__name__}")
        d[D["FLAGS"]] = flags

    weights = np.concatenate(blobs) if blobs else np.zeros(A, np.uint8)
    tin = graph.tensors[graph.input]
    tout = graph.tensors[graph.output]
    return Program(
        weights=weights.astype(np.uint8),
        descriptors=descs,
        act_bytes=int(top),
        input_offset=offsets[graph.input],
        input_shape=tuple(int(v) for v in tin.shape),
        output_offset=offsets[graph.output],
        num_classes=int(np.prod(tout.shape)),
        tensors=dict(graph.tensors),
        layer_names=[lyr.name for lyr in graph.layers],
        tensor_offsets=offsets,
        output_name=graph.output,
        packed=packed,
        unwritten={graph.layers[i].output for i in fused},
    )
