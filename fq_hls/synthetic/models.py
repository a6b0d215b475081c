"""Synthetic (random) models and images, for where no trained model or data set is given.

* `random_compressed(arch, method, sparsity, num_classes, seed)`: a realistic random CompressedModel
  (He-init weights magnitude-pruned to `sparsity`, quantized by fq_hls.synthetic.quantizers, batch-norm
  statistics matched to the layer outputs, act_max calibrated on random images). Input shape and classes
  come from the architecture registry (fq_hls.archs); the pixel normalisation is that of the random images
  (SYNTHETIC_MEAN/STD), not the registry's data statistics.
* `random_conv_graph(...)`: a single-conv IntegerGraph (optionally with a residual input) for odd cases.
* `random_images`: uint8 NHWC images with some spatial structure.

Production code uses them only where it must: the report's rows for networks without a --model
(fq_hls.cost.report), the HLS testbench's small layer (fq_hls.build.testbench), the commands' synthetic
images when no --data is given, and the benchmarks. The tests use them throughout.
"""

from __future__ import annotations

import numpy as np

from ..archs import ARCHS
from ..ir import IntegerGraph, TensorInfo
from ..model import BatchNorm, CompressedModel, Node, normalise
from .quantizers import prune, quantize
from .resnets import resnet_nodes

_CALIB_IMAGES = {"resnet18": 2, "resnet18-cifar": 8, "smallcnn": 32}
# random_images spread over 0..255 around 127.5: normalised by these they span [-2, 2], as a real model's
# inputs do under its data set's mean/std (the registry's digits statistics would squeeze them to [-0.8, 1.8]
# and leave few-weight channels with requantization gains above 2, beyond the one-step bound the lowering
# tests check)
SYNTHETIC_MEAN, SYNTHETIC_STD = 127.5, 63.75


def random_images(shape: tuple[int, int, int], n: int, seed: int = 0) -> np.ndarray:
    """uint8 NHWC images with some spatial structure: coarse blobs plus pixel noise."""
    rng = np.random.default_rng(seed)
    c, h, w = shape
    f = max(1, min(h, w) // 4)
    coarse = rng.uniform(0, 255, (n, -(-h // f), -(-w // f), c))
    img = np.repeat(np.repeat(coarse, f, axis=1), f, axis=2)[:, :h, :w] + rng.normal(0, 30, (n, h, w, c))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


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
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; known: {', '.join(ARCHS)}")
    info = ARCHS[arch]
    in_shape, default_classes = tuple(info["input_shape"]), info["num_classes"]
    nc = num_classes or default_classes
    if arch == "smallcnn":
        spec = _smallcnn_nodes(nc)
    else:  # the registry's ResNet layout (older entries without it: ResNet-18)
        stem = info.get("stem", "cifar" if in_shape[1] <= 64 else "imagenet")
        spec = resnet_nodes(info.get("block", "basic"), tuple(info.get("blocks", (2, 2, 2, 2))), stem, nc)
    return random_model(arch, spec, in_shape, nc, method, sparsity, seed)


def random_resnet(block: str, blocks: tuple[int, ...], widths: tuple[int, ...], input_shape: tuple[int, int, int],
                  num_classes: int = 10, method: str = "fq5", sparsity: float = 0.8, seed: int = 0) -> CompressedModel:
    """A random ResNet of any depth and stage widths (e.g. a narrow ResNet-50 layout for fast tests); the stem
    follows the input size (7x7/2 + max pool above 64 pixels, else 3x3/1)."""
    stem = "imagenet" if input_shape[1] > 64 else "cifar"
    spec = resnet_nodes(block, blocks, stem, num_classes, widths)
    return random_model(f"{block}-resnet", spec, input_shape, num_classes, method, sparsity, seed)


def random_model(arch: str, spec: list[tuple[Node, tuple | None]], in_shape: tuple[int, int, int], nc: int,
                 method: str, sparsity: float, seed: int) -> CompressedModel:
    """The calibrated random CompressedModel of a node list (node, weight shape or None), see module docstring."""
    from ..reference.float_model import calibrate_numpy, run_node

    rng = np.random.default_rng(seed)
    mean, std = (SYNTHETIC_MEAN,) * in_shape[0], (SYNTHETIC_STD,) * in_shape[0]
    n_calib = _CALIB_IMAGES.get(arch, 2 if in_shape[1] > 64 else 8)  # 224x224: two images are 100k pixels
    x = normalise(random_images(in_shape, n_calib, seed + 1), mean, std)
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
        meta={"source": "fq_hls.synthetic.random_compressed", "seed": seed, "sparsity_target": sparsity},
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
    from ..ir import ConvLayer
    from ..lower.requant import fixed_point
    from ..lower.validate import validate
    from ..lower.weights import lower_weights
    from ..node_geometry import out_size

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
        layers=[layer], mean=(0.0,) * in_ch, std=(1.0,) * in_ch, meta={"source": "fq_hls.synthetic.random_conv_graph"},
    )  # fmt: skip
    validate(g)
    return g
