"""Tiny CompressedModels built with numpy for the runtime's csim tests (no torch, no training)."""

from __future__ import annotations

import numpy as np

from fq_hls.model import BatchNorm, CompressedModel, Node, QuantWeight, SymbolFields


def _shift_codebook(exps: int, q_shift: int = 0):
    """Plain shift symbols: 0, then sign in (+1, -1) x exp in [0, exps)."""
    sign = [0] + [s for s in (1, -1) for _ in range(exps)]
    exp = [0] + [e for _ in (1, -1) for e in range(exps)]
    f = SymbolFields(np.zeros(len(sign), np.uint8), np.array(sign, np.int8), np.array(exp, np.uint8), q_shift)
    return f.levels(), f


def _recentralized_codebook(exps: int, mu: int):
    """Recentralized symbols: component (-, +) x sign in (-1, 0, +1) x exp, around +-2^mu."""
    comp, sign, exp = [0], [0], [0]
    for c in (0, 1):
        for s in (-1, 0, 1):
            for e in range(exps if s else 1):
                comp.append(c)
                sign.append(s)
                exp.append(e)
    f = SymbolFields(np.array(comp, np.uint8), np.array(sign, np.int8), np.array(exp, np.uint8), 0, (mu, mu), (-1, 1))
    return f.levels(), f


def _weight(rng, shape, mode: str, sparsity: float = 0.6) -> QuantWeight:
    if mode == "int8":
        codebook = np.concatenate([[0], np.arange(-127, 0), np.arange(1, 128)]).astype(np.int64)
        fields, bits = None, 8
    elif mode == "shift":
        codebook, fields = _shift_codebook(4)
        bits = 5
    else:
        codebook, fields = _recentralized_codebook(3, 3)
        bits = 5
    codes = rng.integers(1, len(codebook), size=shape).astype(np.uint16)
    codes[rng.random(shape) < sparsity] = 0
    scale = (0.5 / max(1, np.abs(codebook).max()) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)
    return QuantWeight(mode, bits, codes, codebook.astype(np.int64), np.full(shape[0], scale, np.float32), fields)


def _bn(rng, n: int) -> BatchNorm:
    return BatchNorm(
        gamma=rng.uniform(0.8, 1.2, n).astype(np.float32),
        beta=rng.uniform(-0.1, 0.1, n).astype(np.float32),
        mean=rng.uniform(-0.05, 0.05, n).astype(np.float32),
        var=rng.uniform(0.5, 1.5, n).astype(np.float32),
    )


def tiny_model(engine: str = "fq", seed: int = 0, size: int = 8, classes: int = 10) -> CompressedModel:
    """conv-bn-relu, a residual conv pair, maxpool, global avgpool, fc: every layer kind of the engine."""
    rng = np.random.default_rng(seed)
    m1, m2, m3 = ("int8", "int8", "int8") if engine == "int8" else ("shift", "recentralized", "shift")
    c = 8
    nodes = [
        Node("conv1", "conv", ["input"], {"kernel": 3, "stride": 1, "padding": 1}, _weight(rng, (c, 3, 3, 3), m1),
             bn=_bn(rng, c), relu=True),
        Node("conv2", "conv", ["conv1"], {"kernel": 3, "stride": 1, "padding": 1}, _weight(rng, (c, c, 3, 3), m2),
             bn=_bn(rng, c), relu=True),
        Node("conv3", "conv", ["conv2"], {"kernel": 3, "stride": 1, "padding": 1}, _weight(rng, (c, c, 3, 3), m1),
             bn=_bn(rng, c), relu=False),
        Node("add1", "add", ["conv3", "conv1"], relu=True),
        Node("pool1", "maxpool", ["add1"], {"kernel": 2, "stride": 2, "padding": 0}),
        Node("gap", "avgpool", ["pool1"]),
        Node("flat", "flatten", ["gap"]),
        Node("fc", "fc", ["flat"], {}, _weight(rng, (classes, c), m3, sparsity=0.3),
             bias=rng.uniform(-0.1, 0.1, classes).astype(np.float32)),
    ]
    act_max = {"input": 2.5, "conv1": 2.0, "conv2": 2.0, "conv3": 2.0, "add1": 3.0, "pool1": 3.0, "gap": 1.5,
               "flat": 1.5, "fc": 4.0}
    return CompressedModel(f"tiny-{engine}", classes, (3, size, size), (125.0, 122.0, 114.0), (63.0, 62.0, 66.0),
                           "int8" if engine == "int8" else "fq5", nodes, act_max)
