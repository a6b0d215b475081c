"""Hand-built CompressedModels for the .fqz tests (numpy only, no torch)."""

from __future__ import annotations

import numpy as np

from fq_hls.model import BatchNorm, CompressedModel, Node, QuantWeight, SymbolFields


def shift_fields(nexp: int, q_shift: int = 0) -> SymbolFields:
    """Plain shift quantizer: symbol 2e+1 = +2^(e+q), 2e+2 = -2^(e+q)."""
    n = 1 + 2 * nexp
    s = np.arange(n)
    sign = np.where(s % 2 == 1, 1, -1).astype(np.int8)
    sign[0] = 0
    exp = np.maximum((s - 1) // 2, 0).astype(np.uint8)
    return SymbolFields(np.zeros(n, np.uint8), sign, exp, q_shift)


def recentralized_fields(nexp: int, mu_shift: tuple[int, int] = (4, 3)) -> SymbolFields:
    """Two components, each with 0 (the mean itself) and +-2^e around it."""
    comp, sign, exp = [0], [0], [0]
    for c in (0, 1):
        comp.append(c)
        sign.append(0)
        exp.append(0)
        for e in range(nexp):
            for sg in (1, -1):
                comp.append(c)
                sign.append(sg)
                exp.append(e)
    return SymbolFields(
        np.array(comp, np.uint8), np.array(sign, np.int8), np.array(exp, np.uint8), 0, mu_shift, (-1, 1)
    )


def random_codes(rng: np.random.Generator, shape: tuple[int, ...], nsym: int, sparsity: float) -> np.ndarray:
    codes = rng.integers(1, nsym, size=shape).astype(np.uint16)
    codes[rng.random(shape) < sparsity] = 0
    return codes


def quant_weight(rng, mode: str, shape: tuple[int, ...], sparsity: float, per_channel: bool = False) -> QuantWeight:
    o = shape[0]
    scale = (rng.random(o).astype(np.float32) + 0.5) if per_channel else np.full(o, 0.0123, np.float32)
    if mode == "shift":
        f = shift_fields(15, q_shift=1)
        book = f.levels()
        return QuantWeight("shift", 5, random_codes(rng, shape, book.size, sparsity), book, scale, f,
                           {"b": -7, "n": 5})
    if mode == "recentralized":
        f = recentralized_fields(3)
        book = f.levels()
        return QuantWeight("recentralized", 5, random_codes(rng, shape, book.size, sparsity), book, scale, f,
                           {"mu": (-0.5, 0.25), "sigma": np.float32(0.125), "alpha": 1.0, "W": 3.5})
    if mode == "int8":
        book = np.concatenate([[0], np.arange(-127, 0), np.arange(1, 128)]).astype(np.int64)
        return QuantWeight("int8", 8, random_codes(rng, shape, book.size, sparsity), book, scale, None,
                           {"per_channel": per_channel})
    raise ValueError(mode)


def bn(rng, c: int) -> BatchNorm:
    return BatchNorm(
        rng.standard_normal(c).astype(np.float32),
        rng.standard_normal(c).astype(np.float32),
        rng.standard_normal(c).astype(np.float32),
        rng.random(c).astype(np.float32) + 0.1,
        1e-5,
    )


def small_model(seed: int = 0, c: int = 8, hw: int = 8, sparsity: float = 0.7) -> CompressedModel:
    """conv(shift)+bn+relu -> conv(recentralized)+bn -> add+relu -> conv(int8, dense) -> pool -> fc(int8)."""
    rng = np.random.default_rng(seed)
    nodes = [
        Node("conv1", "conv", ["input"], {"kernel": 3, "stride": 1, "padding": 1},
             quant_weight(rng, "shift", (c, 3, 3, 3), sparsity), None, bn(rng, c), True),
        Node("conv2", "conv", ["conv1"], {"kernel": 3, "stride": 1, "padding": 1},
             quant_weight(rng, "recentralized", (c, c, 3, 3), sparsity), None, bn(rng, c), False),
        Node("add1", "add", ["conv2", "conv1"], {}, relu=True),
        Node("conv3", "conv", ["add1"], {"kernel": 1, "stride": 2, "padding": 0},
             quant_weight(rng, "int8", (c, c, 1, 1), 0.0, per_channel=True), None, bn(rng, c), True),
        Node("pool", "avgpool", ["conv3"], {"global": True}),
        Node("flat", "flatten", ["pool"], {}),
        Node("fc", "fc", ["flat"], {}, quant_weight(rng, "int8", (10, c), 0.3),
             rng.standard_normal(10).astype(np.float32)),
    ]
    return CompressedModel(
        arch="smallcnn",
        num_classes=10,
        input_shape=(3, hw, hw),
        mean=(125.3, 123.0, 113.9),
        std=(63.0, 62.1, 66.7),
        method="fq5",
        nodes=nodes,
        act_max={"input": 2.5, "conv1": np.float32(3.25), "conv2": 1.0 / 3.0, "add1": 4.0, "conv3": 2.0,
                 "pool": 1.5, "flat": 1.5, "fc": 7.75},
        meta={"seed": seed, "sparsity_target": sparsity, "top1": float("nan"), "shape": (3, hw, hw),
              "hist": np.arange(4, dtype=np.int16), 3: "int key"},
    )
