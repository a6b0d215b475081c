"""Model builders for tests across the project (numpy only, no torch, no data files).

* `random_compressed(arch, method, sparsity, num_classes, seed)`: a realistic random CompressedModel
  (He-init weights magnitude-pruned to `sparsity`, quantized by small self-contained numpy quantizers,
  batch-norm statistics matched to the layer outputs, act_max calibrated on random images).
* `random_conv_graph(...)`: a single-conv IntegerGraph (optionally with a residual input) for odd cases.
* `random_images`, `normalise`: uint8 NHWC test images and their normalised NCHW float form.

The quantizers follow the paper's shapes (power-of-two levels, recentralized two-component levels, 8-bit
per-channel) but are deliberately simple (no EM, no posterior sampling): they exist to produce valid
`QuantWeight`s, not to compress well. Real models come from fq_hls.compress.
"""

from __future__ import annotations

import numpy as np

from .ir import IntegerGraph, TensorInfo
from .model import BatchNorm, CompressedModel, Node, QuantWeight, SymbolFields

ARCHS: dict[str, tuple[tuple[int, int, int], int]] = {
    "resnet18": ((3, 224, 224), 1000),
    "resnet18-cifar": ((3, 32, 32), 10),
    "smallcnn": ((1, 8, 8), 10),
}
# mean/std in 0..255 pixel units (CompressedModel.mean/std apply to raw uint8 pixels)
_NORM = {
    "resnet18": ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
    "resnet18-cifar": ((125.307, 122.961, 113.866), (62.993, 62.089, 66.705)),
    "smallcnn": ((127.5,), (63.75,)),
}
_CALIB_IMAGES = {"resnet18": 2, "resnet18-cifar": 8, "smallcnn": 32}


# ----------------------------------------------------------------------------------------- quantizers
def prune(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Zero the `sparsity` fraction of smallest-magnitude weights (exact count)."""
    flat = np.abs(w).ravel()
    k = int(round(sparsity * flat.size))
    if k <= 0:
        return w.copy()
    out = w.copy().ravel()
    out[np.argpartition(flat, k - 1)[:k]] = 0
    return out.reshape(w.shape)


def _pow2_round(a: np.ndarray) -> np.ndarray:
    """Exponent of the nearest power of two in the linear domain (a > 0)."""
    lo = np.floor(np.log2(a))
    return lo + (a > 1.5 * np.exp2(lo))


def _top_exponent(a: np.ndarray, bits: int) -> int:
    """Largest exponent such that at most a fraction 1/(2^bits + 1) of `a` overflows (clips)."""
    q = float(np.quantile(a, 1.0 - 1.0 / (2**bits + 1)))
    return int(np.ceil(np.log2(q / 1.5)))


def _inner_exponents(a: np.ndarray, top: int, emax: int) -> tuple[np.ndarray, np.ndarray]:
    """(exponent offset e in [0, emax] from 2^(top-emax), zero mask) of magnitudes a >= 0."""
    low = top - emax
    with np.errstate(divide="ignore"):
        e = np.clip(_pow2_round(np.maximum(a, 1e-300)), low, top) - low
    return e.astype(np.int64), a < np.exp2(low) / 2


def quantize_shift(w: np.ndarray, bits: int) -> QuantWeight:
    """Power-of-two weights sign * 2^e * 2^low, e in [0, 2^(bits-1) - 1] (bits = sign + exponent).

    The exponent range is capped at 2^24 (7 bits would span 2^0..2^63, beyond int64 levels); the top
    exponents are the ones a pruned layer uses.
    """
    emax = min(2 ** (bits - 1) - 1, 24)
    sign_tab = np.array([0] + [-1] * (emax + 1) + [1] * (emax + 1), np.int8)
    exp_tab = np.array([0] + list(range(emax + 1)) * 2, np.uint8)
    fields = SymbolFields(np.zeros(sign_tab.size, np.uint8), sign_tab, exp_tab, 0)
    a = np.abs(w)
    nz = a > 0
    top = _top_exponent(a[nz], bits) if nz.any() else 0
    e, zero = _inner_exponents(a, top, emax)
    codes = np.where(nz & ~zero, 1 + (w > 0) * (emax + 1) + e, 0).astype(np.uint16)
    scale = np.full(w.shape[0], 2.0 ** (top - emax), np.float32)
    return QuantWeight("shift", bits, codes, fields.levels(), scale, fields, {"b": top - emax})


def quantize_recentralized(w: np.ndarray, bits: int) -> QuantWeight:
    """Two components with power-of-two means mu_-, mu_+; (w - mu_c) on a (bits-1)-bit shift quantizer.

    Component by the weight's sign (the paper samples the mixture posterior; this is a test quantizer).
    """
    nzw = w[w != 0]
    neg, pos = nzw[nzw < 0], nzw[nzw > 0]
    if neg.size == 0 or pos.size == 0:
        return quantize_shift(w, bits)
    m = (int(np.rint(np.log2(-neg.mean()))), int(np.rint(np.log2(pos.mean()))))
    mu = np.array([-(2.0 ** m[0]), 2.0 ** m[1]])
    emax = 2 ** (bits - 2) - 1
    comp = (w > 0).astype(np.int64)
    r = w - mu[comp]
    nz = w != 0
    top = _top_exponent(np.abs(r[nz]), bits - 1)
    e, zero = _inner_exponents(np.abs(r), top, emax)
    unit = min(top - emax, m[0], m[1])
    per = 1 + 2 * (emax + 1)  # symbols per component: inner zero, then -, + times emax + 1 exponents
    comp_tab, sign_tab, exp_tab = [0], [0], [0]
    for c in range(2):
        comp_tab += [c] * per
        sign_tab += [0] + [-1] * (emax + 1) + [1] * (emax + 1)
        exp_tab += [0] + list(range(emax + 1)) * 2
    fields = SymbolFields(
        np.array(comp_tab, np.uint8),
        np.array(sign_tab, np.int8),
        np.array(exp_tab, np.uint8),
        q_shift=top - emax - unit,
        mu_shift=(m[0] - unit, m[1] - unit),
        mu_sign=(-1, 1),
    )
    codebook = fields.levels()
    sym = 1 + comp * per + np.where(zero, 0, 1 + (r > 0) * (emax + 1) + e)
    codes = np.where(nz, sym, 0)
    codes = np.where(codebook[codes] == 0, 0, codes).astype(np.uint16)  # a level that cancels is a zero
    sig = nzw.std()
    wmetric = ((pos.mean() - neg.mean()) ** 2 + (pos.std() - neg.std()) ** 2) / max(sig**2, 1e-30)
    scale = np.full(w.shape[0], 2.0**unit, np.float32)
    params = {"mu": (float(mu[0]), float(mu[1])), "sigma": float(sig), "W": float(wmetric), "b": top - emax}
    return QuantWeight("recentralized", bits, codes, codebook, scale, fields, params)


def quantize_int8(w: np.ndarray) -> QuantWeight:
    """Per-output-channel symmetric 8-bit levels -127..127; symbol 0 = 0, then -127..-1, then 1..127."""
    amax = np.abs(w).reshape(w.shape[0], -1).max(axis=1)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    lv = np.clip(np.rint(w / scale.reshape((-1,) + (1,) * (w.ndim - 1))), -127, 127).astype(np.int64)
    codes = np.where(lv < 0, lv + 128, np.where(lv > 0, lv + 127, 0)).astype(np.uint16)
    codebook = np.array([0] + list(range(-127, 0)) + list(range(1, 128)), np.int64)
    return QuantWeight("int8", 8, codes, codebook, scale, None, {})


def quantize(w: np.ndarray, method: str) -> QuantWeight:
    """`fqN`: recentralized where the paper's W >= 2, else N-bit shift; `shiftN`; `int8`."""
    if method == "int8":
        return quantize_int8(w)
    if method.startswith("shift"):
        return quantize_shift(w, int(method[5:]))
    if method.startswith("fq"):
        bits = int(method[2:])
        qw = quantize_recentralized(w, bits)
        if qw.mode == "recentralized" and qw.params["W"] < 2.0:
            return quantize_shift(w, bits)
        return qw
    raise ValueError(f"unknown method {method!r} (fq5, fq7, shift5, shift7, int8)")


# ------------------------------------------------------------------------------------------ images
def random_images(shape: tuple[int, int, int], n: int, seed: int = 0) -> np.ndarray:
    """uint8 NHWC images with some spatial structure: coarse blobs plus pixel noise."""
    rng = np.random.default_rng(seed)
    c, h, w = shape
    f = max(1, min(h, w) // 4)
    coarse = rng.uniform(0, 255, (n, -(-h // f), -(-w // f), c))
    img = np.repeat(np.repeat(coarse, f, axis=1), f, axis=2)[:, :h, :w] + rng.normal(0, 30, (n, h, w, c))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def normalise(images_u8_nhwc: np.ndarray, mean, std) -> np.ndarray:
    """uint8 NHWC -> float32 NCHW (x - mean) / std, as IntegerGraph.quantize_input before its rounding."""
    x = images_u8_nhwc.astype(np.float32)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


# ------------------------------------------------------------------------------------ architectures
def _resnet_nodes(stem: str, num_classes: int) -> list[tuple[Node, tuple | None]]:
    out: list[tuple[Node, tuple | None]] = []
    if stem == "imagenet":
        out.append(
            (
                Node("conv1", "conv", ["input"], {"kernel": 7, "stride": 2, "padding": 3}, relu=True),
                (64, 3, 7),
            )
        )
        out.append((Node("maxpool", "maxpool", ["conv1"], {"kernel": 3, "stride": 2, "padding": 1}), None))
        prev = "maxpool"
    else:
        out.append(
            (
                Node("conv1", "conv", ["input"], {"kernel": 3, "stride": 1, "padding": 1}, relu=True),
                (64, 3, 3),
            )
        )
        prev = "conv1"
    cin = 64
    for li, cout in enumerate((64, 128, 256, 512), start=1):
        for b in range(2):
            p = f"layer{li}.{b}"
            s = 2 if (b == 0 and li > 1) else 1
            out.append(
                (
                    Node(f"{p}.conv1", "conv", [prev], {"kernel": 3, "stride": s, "padding": 1}, relu=True),
                    (cout, cin, 3),
                )
            )
            out.append(
                (
                    Node(f"{p}.conv2", "conv", [f"{p}.conv1"], {"kernel": 3, "stride": 1, "padding": 1}),
                    (cout, cout, 3),
                )
            )
            idn = prev
            if s != 1 or cin != cout:
                idn = f"{p}.downsample"
                out.append(
                    (Node(idn, "conv", [prev], {"kernel": 1, "stride": s, "padding": 0}), (cout, cin, 1))
                )
            out.append((Node(p, "add", [f"{p}.conv2", idn], relu=True), None))
            prev, cin = p, cout
    out.append((Node("avgpool", "avgpool", [prev], {"global": True}), None))
    out.append((Node("fc", "fc", ["avgpool"]), (num_classes, 512, 0)))
    return out


def _smallcnn_nodes(num_classes: int) -> list[tuple[Node, tuple | None]]:
    return [
        (Node("conv1", "conv", ["input"], {"kernel": 3, "stride": 1, "padding": 1}, relu=True), (8, 1, 3)),
        (Node("conv2", "conv", ["conv1"], {"kernel": 3, "stride": 2, "padding": 1}, relu=True), (16, 8, 3)),
        (Node("avgpool", "avgpool", ["conv2"], {"global": True}), None),
        (Node("fc", "fc", ["avgpool"]), (num_classes, 16, 0)),
    ]


def _he(rng, shape: tuple) -> np.ndarray:
    o, i, k = shape
    if k == 0:  # fc
        return rng.normal(0, np.sqrt(1.0 / i), (o, i))
    return rng.normal(0, np.sqrt(2.0 / (i * k * k)), (o, i, k, k))


def random_compressed(
    arch: str = "resnet18-cifar",
    method: str = "fq5",
    sparsity: float = 0.9,
    num_classes: int | None = None,
    seed: int = 0,
) -> CompressedModel:
    """A calibrated random CompressedModel with torchvision node names (see module docstring)."""
    from .reference.float_model import calibrate_numpy, run_node

    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; known: {', '.join(ARCHS)}")
    in_shape, default_classes = ARCHS[arch]
    nc = num_classes or default_classes
    rng = np.random.default_rng(seed)
    spec = (
        _smallcnn_nodes(nc)
        if arch == "smallcnn"
        else _resnet_nodes("imagenet" if arch == "resnet18" else "cifar", nc)
    )
    mean, std = _NORM[arch]
    x = normalise(random_images(in_shape, _CALIB_IMAGES[arch], seed + 1), mean, std)
    tensors = {"input": x}
    nodes = []
    for node, shape in spec:
        if shape is not None:
            node.weight = quantize(prune(_he(rng, shape), sparsity), method)
            o = shape[0]
            if node.op == "fc":
                node.bias = rng.normal(0, 0.05, o).astype(np.float32)
            elif arch == "smallcnn" and node.name == "conv2":
                node.bias = rng.normal(0, 0.1, o).astype(np.float32)  # conv bias instead of BN
            else:
                # batch norm whose statistics match the (quantized) conv output on the calibration images
                relu, node.relu = node.relu, False
                y0 = run_node(node, [tensors[i] for i in node.inputs]).astype(np.float64)
                node.relu = relu
                mu, var = y0.mean(axis=(0, 2, 3)), y0.var(axis=(0, 2, 3))
                gamma = rng.uniform(0.5, 1.5, o) * np.where(rng.random(o) < 0.05, -1.0, 1.0)
                node.bn = BatchNorm(
                    gamma.astype(np.float32),
                    rng.normal(0, 0.2, o).astype(np.float32),
                    (mu + rng.normal(0, 0.1, o) * np.sqrt(var)).astype(np.float32),
                    (np.maximum(var, 1e-6) * rng.uniform(0.8, 1.25, o)).astype(np.float32),
                )
        tensors[node.name] = run_node(node, [tensors[i] for i in node.inputs])
        nodes.append(node)
    cm = CompressedModel(
        arch=arch, num_classes=nc, input_shape=in_shape, mean=mean, std=std, method=method, nodes=nodes,
        meta={"source": "fq_hls.testing.random_compressed", "seed": seed, "sparsity_target": sparsity},
    )  # fmt: skip
    calibrate_numpy(cm, x)
    return cm


def random_conv_graph(
    in_ch: int,
    out_ch: int,
    h: int,
    w: int,
    kernel: int = 3,
    stride: int = 1,
    pad: int = 1,
    sparsity: float = 0.5,
    method: str = "fq5",
    seed: int = 0,
    relu: bool = True,
    residual: bool = False,
    in_signed: bool = False,
    res_signed: bool = False,
) -> IntegerGraph:
    """One conv layer "conv" reading tensor "input" (and external tensor "residual"), writing "conv".

    Multipliers are set so the output spreads over the 8-bit range for uniformly random inputs; about
    10 % of channels get a negative multiplier. Run it with run_integer(g, x, inputs={"residual": r}).
    """
    from .ir import ConvLayer
    from .lower.requant import fixed_point
    from .lower.validate import validate
    from .lower.weights import lower_weights
    from .reference.patches import out_size

    rng = np.random.default_rng(seed)
    qw = quantize(prune(_he(rng, (out_ch, in_ch, kernel)), sparsity), method)
    lw = lower_weights("conv", qw)
    wi = lw.weights
    ex2 = (128.0**2 if in_signed else 255.0**2) / 3.0
    acc_std = np.sqrt((wi.astype(np.float64) ** 2).reshape(out_ch, -1).sum(axis=1) * ex2)
    acc_std = np.where(acc_std > 0, acc_std, 1.0)
    m = 40.0 / acc_std * rng.uniform(0.7, 1.3, out_ch) * np.where(rng.random(out_ch) < 0.1, -1.0, 1.0)
    bias = np.rint(rng.normal(0, 0.3, out_ch) * acc_std).astype(np.int64)
    r = rng.uniform(0.3, 1.2, out_ch) if residual else None
    fp = fixed_point(m, r)
    oshape = (out_ch, out_size(h, kernel, stride, pad), out_size(w, kernel, stride, pad))
    tensors = {
        "input": TensorInfo("input", (in_ch, h, w), in_signed, 1.0 / 64),
        "conv": TensorInfo("conv", oshape, not relu, 1.0 / 32),
    }
    if residual:
        tensors["residual"] = TensorInfo("residual", oshape, res_signed, 1.0 / 32)
    layer = ConvLayer(
        "conv", "input", "conv", in_ch, out_ch, kernel, stride, pad,
        weights=wi.astype(np.int32), bias=bias.astype(np.int32), mult=fp.mult.astype(np.int32),
        shift=fp.shift.astype(np.int32), relu=relu, residual="residual" if residual else None,
        res_mult=None if fp.res_mult is None else fp.res_mult.astype(np.int32),
        res_shift=None if fp.res_shift is None else fp.res_shift.astype(np.int32),
        wformat=lw.wformat, wcomp=lw.wcomp, wsign=lw.wsign, wexp=lw.wexp,
    )  # fmt: skip
    g = IntegerGraph(
        arch="conv", method=method, num_classes=out_ch, input="input", output="conv", tensors=tensors,
        layers=[layer], mean=(0.0,) * in_ch, std=(1.0,) * in_ch, meta={"source": "fq_hls.testing.random_conv_graph"},
    )  # fmt: skip
    validate(g)
    return g
