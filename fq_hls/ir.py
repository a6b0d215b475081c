"""Integer network IR: the exact arithmetic of the accelerator, consumed by the reference, codegen and runtime.

numpy only. Produced by `fq_hls.lower` from a `CompressedModel`. Every layer's semantics is defined here,
and `fq_hls.reference` executes it bit for bit:

Tensors are NCHW with N = 1 per image, 8-bit: `signed=True` -> int8 [-128, 127], else uint8 [0, 255];
the final fc writes int32 (`out_bits == 32`).

ConvLayer (fc is a 1x1 conv on a 1x1 map):
    acc[o, y, x] = sum_{i, ky, kx} w[o, i, ky, kx] * in[i, y*stride + ky - pad, x*stride + kx - pad]
                   (zero outside the map; int64 in the reference, ACC_BITS-bit in hardware)
    if out_bits == 32:  out = acc + bias[o]                                   (no requantization)
    else:               t   = (acc + bias[o]) * mult[o] + ((res[o, y, x] * res_mult[o]) << res_shift[o])
                              (res term only if residual; res_shift is 0 when None, see below)
                        out = clamp((t + (1 << (shift[o] - 1))) >> shift[o], lo, hi)   (>> is arithmetic/floor)
    lo, hi = (0, 255) if relu else (-128, 127); `out_signed == not relu`.
PoolLayer:
    max: max over the window of valid (inside the map) positions; dtype of the input is kept.
    avg (global): s = sum over H*W; out = clamp((s * mult + (1 << (shift - 1))) >> shift, 0, 255).

Ranges (checked by `validate`): mult, res_mult in int16; 1 <= shift <= 62; 0 <= res_shift <= 62; bias in
int32; sum_i |w| * 255 + |bias| < 2^(ACC_BITS-1) for every output channel; both terms of t below 2^62.

res_shift exists because one accumulator unit is far smaller than one residual unit: with a single shift
for both, mult (sized to the accumulator) would keep only a few bits; the residual product is instead
left-shifted so that mult and res_mult both use their 15 magnitude bits (docs/integer_inference.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .model import normalise

ACC_BITS = 32  # accumulator width of the PEs (checked per channel by validate())
INT16 = (-(1 << 15), (1 << 15) - 1)


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, int, int]  # C, H, W
    signed: bool  # int8 vs uint8 (ignored when bits == 32)
    scale: float  # real value = scale * integer
    bits: int = 8
    # per-channel real scale (float64, shape (C,)) of an int32 tensor whose channels differ in scale (final fc
    # with per-output-channel weight scales); when set, `scale` is its maximum. Use IntegerGraph.dequantize.
    channel_scale: np.ndarray | None = None


@dataclass
class WeightFormat:
    """How the hardware stores one non-zero weight (see fq_hls.model.SymbolFields).

    kind: "fq" (recentralized: comp, sign, exp), "shift" (sign, exp), "int8" (two's complement level).
    Integer level of a code = sign * 2^(exp + q_shift) [* has_q] + mu_sign[comp] * 2^mu_shift[comp].
    """

    kind: str
    exp_bits: int = 0
    q_shift: int = 0
    mu_shift: tuple[int, int] = (0, 0)
    mu_sign: tuple[int, int] = (0, 0)


@dataclass
class ConvLayer:
    name: str
    input: str
    output: str
    in_ch: int
    out_ch: int
    kernel: int
    stride: int
    pad: int
    weights: np.ndarray  # int32 (O, I, k, k) integer levels; zero = pruned
    bias: np.ndarray  # int32 (O,), in accumulator units
    mult: np.ndarray  # int16-valued int32 (O,)
    shift: np.ndarray  # int32 (O,)
    relu: bool
    residual: str | None = None  # tensor added before the clamp
    res_mult: np.ndarray | None = None  # int16-valued int32 (O,)
    res_shift: np.ndarray | None = None  # int32 (O,) >= 0, left shift of res * res_mult (None: all 0)
    out_bits: int = 8
    wformat: WeightFormat = field(default_factory=lambda: WeightFormat("int8"))
    # the hardware code of every weight, for stream packing (same shape as weights; meaningless where 0)
    wcomp: np.ndarray | None = None  # uint8
    wsign: np.ndarray | None = None  # int8
    wexp: np.ndarray | None = None  # uint8
    kind: str = "conv"  # "conv" or "fc"


@dataclass
class PoolLayer:
    name: str
    input: str
    output: str
    mode: str  # "max" or "avg"
    kernel: int  # avg: the whole map
    stride: int
    pad: int
    mult: int = 1
    shift: int = 1
    kind: str = "pool"


Layer = ConvLayer | PoolLayer


@dataclass
class IntegerGraph:
    arch: str
    method: str
    num_classes: int
    input: str  # tensor name of the int8 network input
    output: str  # tensor name of the int32 logits
    tensors: dict[str, TensorInfo]
    layers: list[Layer]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    meta: dict = field(default_factory=dict)

    def dequantize(self, name: str, values: np.ndarray) -> np.ndarray:
        """Real (float64) values of integer tensor `name` (N, C, ...) or (N, C); honours `channel_scale`."""
        info = self.tensors[name]
        v = np.asarray(values, dtype=np.float64)
        if info.channel_scale is None:
            return v * info.scale
        cs = np.asarray(info.channel_scale, np.float64)
        return v * cs.reshape((1, -1) + (1,) * (v.ndim - 2))

    def quantize_input(self, images_u8_nhwc: np.ndarray) -> np.ndarray:
        """uint8 NHWC images -> int8 NCHW network input (normalise, divide by the input scale, round)."""
        q = np.rint(normalise(images_u8_nhwc, self.mean, self.std) / np.float32(self.tensors[self.input].scale))
        return np.clip(q, -128, 127).astype(np.int8)
