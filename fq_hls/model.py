"""The compressed model: what `compress` produces, what a `.fqz` file holds, what `lower` consumes.

numpy only (no torch): the board reads this through the runtime. Contract for every stage:

* A `CompressedModel` is a DAG of `Node`s in topological order; the graph input is the tensor named
  `"input"` (float NCHW, already normalised with `mean`/`std`), the output is the last node's.
* Weighted nodes (`conv`, `fc`) carry a `QuantWeight`. Its float ("fake-quantized") value is exactly

      w = scale[o] * codebook[codes]        (scale broadcast over output channel o)

  `codes` holds one symbol per weight, symbol 0 means "exactly zero" (pruned) and `codebook[0] == 0`.
  `codebook` holds *integer* levels, so lowering gets integer weights for free: w_int = codebook[codes].
  `fields` decomposes every symbol into what the shift datapath needs (component, sign, exponent), see
  `SymbolFields`. For `int8` the levels are -127..127 and `fields` is None.
* Conv/fc nodes may fuse a `BatchNorm` (eval-mode statistics) and a ReLU; `add` nodes may fuse a ReLU.
* `act_max[name]` is the calibrated magnitude of each node's float output (set by calibration on data,
  before the board); `act_max["input"]` that of the network input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OPS = ("conv", "fc", "maxpool", "avgpool", "add", "flatten")
MODES = ("shift", "recentralized", "int8", "float")


@dataclass
class SymbolFields:
    """Per-symbol decomposition used by shift processing elements.

    For symbol s >= 1: level = sign[s] * 2^(exp[s] + q_shift) * has_q[s]  +  mu term of component comp[s]
    where the mu term is `mu_sign[c] * 2^mu_shift[c]` (recentralized only; 0 for plain shift).
    All arrays are indexed by symbol (length == len(codebook)); entry 0 (the zero symbol) is unused.
    """

    comp: np.ndarray  # uint8: 0 = negative component (or plain shift), 1 = positive component
    sign: np.ndarray  # int8: -1, 0, +1 (0 = the inner quantizer's zero: level is the component mean)
    exp: np.ndarray  # uint8: exponent e in [0, 2^k - 1]
    q_shift: int  # common left shift of the inner power-of-two term
    mu_shift: tuple[int, int] = (0, 0)  # log2 |mu_-|, log2 |mu_+| in integer units
    mu_sign: tuple[int, int] = (0, 0)  # -1/+1 for recentralized components, 0 for plain shift

    def levels(self) -> np.ndarray:
        """Recompute the integer codebook from the fields (must equal QuantWeight.codebook)."""
        inner = self.sign.astype(np.int64) * (np.int64(1) << (self.exp.astype(np.int64) + self.q_shift))
        mu = np.array([self.mu_sign[c] * (1 << self.mu_shift[c]) for c in range(2)], dtype=np.int64)
        out = inner + mu[self.comp.astype(np.int64)]
        out[0] = 0
        return out


@dataclass
class QuantWeight:
    mode: str  # one of MODES
    bits: int  # nominal bits per weight before entropy coding (5, 7, 8; 32 for float)
    codes: np.ndarray  # uint16, weight shape (O, I, kh, kw) or (O, I)
    codebook: np.ndarray  # int64 integer level per symbol, codebook[0] == 0
    scale: np.ndarray  # float32, shape (O,) (per-layer methods repeat one value)
    fields: SymbolFields | None = None
    params: dict = field(default_factory=dict)  # method parameters for reports: b, mu, sigma, alpha, W, ...

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.codes.shape)

    def integer(self) -> np.ndarray:
        """Integer weight levels (int64), same shape as codes."""
        return self.codebook[self.codes.astype(np.int64)]

    def dequantize(self) -> np.ndarray:
        """The float (fake-quantized) weight, float32."""
        s = self.scale.astype(np.float64).reshape((-1,) + (1,) * (self.codes.ndim - 1))
        return (self.integer().astype(np.float64) * s).astype(np.float32)

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.codes))


@dataclass
class BatchNorm:
    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    eps: float = 1e-5

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        """(a, c) such that bn(x) = a * x + c, float64."""
        a = self.gamma.astype(np.float64) / np.sqrt(self.var.astype(np.float64) + self.eps)
        return a, self.beta.astype(np.float64) - a * self.mean.astype(np.float64)


@dataclass
class Node:
    name: str
    op: str  # one of OPS
    inputs: list[str]
    # conv: kernel, stride, padding (ints); maxpool: kernel, stride, padding; avgpool: global
    attrs: dict = field(default_factory=dict)
    weight: QuantWeight | None = None
    bias: np.ndarray | None = None  # float32 (O,), conv/fc only
    bn: BatchNorm | None = None
    relu: bool = False


@dataclass
class CompressedModel:
    arch: str  # "resnet18", "resnet18-cifar", "smallcnn", ...
    num_classes: int
    input_shape: tuple[int, int, int]  # C, H, W
    mean: tuple[float, ...]  # per-channel normalisation applied to 0..255 pixels
    std: tuple[float, ...]
    method: str  # fq5, fq7, int8, shift5, float
    nodes: list[Node]
    act_max: dict[str, float] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)  # provenance, accuracies, sparsity report, ...

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"model has no node named {name!r}")

    def weighted(self) -> list[Node]:
        return [n for n in self.nodes if n.weight is not None]

    @property
    def output(self) -> str:
        return self.nodes[-1].name

    def sparsity(self) -> float:
        """Fraction of exact zeros over all conv/fc weights."""
        total = sum(int(n.weight.codes.size) for n in self.weighted())
        nnz = sum(n.weight.nnz for n in self.weighted())
        return 1.0 - nnz / max(total, 1)


def dense_fp32_bytes(model: CompressedModel) -> int:
    """Bytes of the dense fp32 model: every weight, bias and BN parameter (4 statistics) at 4 bytes."""
    total = 0
    for n in model.nodes:
        if n.weight is not None:
            total += 4 * int(n.weight.codes.size)
        if n.bias is not None:
            total += 4 * int(n.bias.size)
        if n.bn is not None:
            total += 4 * 4 * int(n.bn.gamma.size)
    return total


def normalise(images_u8_nhwc: np.ndarray, mean, std) -> np.ndarray:
    """uint8 NHWC images -> float32 NCHW network input (x - mean) / std (mean/std in 0..255 pixel units):
    the `"input"` tensor of a CompressedModel, and IntegerGraph.quantize_input before its rounding."""
    x = images_u8_nhwc.astype(np.float32)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
