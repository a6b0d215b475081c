"""torch model <-> CompressedModel node graph.

`to_compressed` turns a float model of a known architecture plus one `QuantWeight` per conv/fc into the
`CompressedModel` DAG; `to_torch` turns any CompressedModel back into a torch module that runs the node
graph with the dequantized (fake-quantized) weights, for evaluation and calibration.

Node names are the torch module names:

    conv1                 conv + bn1 + relu (input "input")
    maxpool               ImageNet stem only
    layerL.B.conv1        conv + bn1 + relu
    layerL.B.conv2        conv + bn2 (no relu; relu in a bottleneck, whose 3x3 conv2 carries the stride)
    layerL.B.conv3        bottleneck only: 1x1 conv + bn3 (no relu)
    layerL.B.downsample   1x1 conv + bn (first block of a stage that changes shape)
    layerL.B              add [last conv, identity or downsample], relu
    avgpool               global average pool, output (N, C, 1, 1)
    fc                    fc on avgpool (flattened)

smallcnn: conv1 (bn1, relu), conv2 (bn2, relu), avgpool, fc.

`qweights` is keyed by module name (`prunable_layers`: "layer2.0.downsample.0" for the downsample conv;
its node name "layer2.0.downsample" is accepted too).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..archs import arch_info
from ..errors import InputError, ModelFileError
from ..model import OPS, BatchNorm, CompressedModel, Node, QuantWeight
from .models import prunable_layers


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy().copy()


def _bn(bn: nn.BatchNorm2d) -> BatchNorm:
    if bn.running_mean is None or bn.running_var is None:
        raise InputError("batch norm without running statistics cannot be exported")
    gamma = _np(bn.weight) if bn.weight is not None else np.ones(bn.num_features, np.float32)
    beta = _np(bn.bias) if bn.bias is not None else np.zeros(bn.num_features, np.float32)
    return BatchNorm(gamma, beta, _np(bn.running_mean), _np(bn.running_var), float(bn.eps))


class _Builder:
    def __init__(self, model: nn.Module, qweights: dict[str, QuantWeight]):
        self.layers = prunable_layers(model)
        self.qweights = qweights
        self.used: set[str] = set()
        self.nodes: list[Node] = []

    def qweight(self, module_name: str, node_name: str) -> QuantWeight:
        key = module_name if module_name in self.qweights else node_name
        if key not in self.qweights:
            raise InputError(
                f"no quantized weight for layer {module_name!r}: every conv/fc needs a QuantWeight"
            )
        qw = self.qweights[key]
        shape = tuple(self.layers[module_name].weight.shape)
        if tuple(qw.shape) != shape:
            raise InputError(
                f"quantized weight for layer {module_name!r} has shape {tuple(qw.shape)}, the layer has {shape}"
            )
        if qw.codebook[0] != 0:
            raise InputError(f"quantized weight for layer {module_name!r}: codebook[0] must be 0")
        self.used.add(key)
        return qw

    def conv(self, name: str, module_name: str, inp: str, bn: nn.BatchNorm2d | None, relu: bool) -> str:
        m = self.layers[module_name]
        assert isinstance(m, nn.Conv2d)
        if m.groups != 1 or m.dilation != (1, 1):
            raise InputError(f"layer {module_name!r}: grouped/dilated convolutions are not supported")
        if m.kernel_size[0] != m.kernel_size[1] or m.stride[0] != m.stride[1] or m.padding[0] != m.padding[1]:
            raise InputError(
                f"layer {module_name!r}: only square kernels, strides and paddings are supported"
            )
        attrs = {"kernel": int(m.kernel_size[0]), "stride": int(m.stride[0]), "padding": int(m.padding[0])}
        bias = _np(m.bias) if m.bias is not None else None
        self.nodes.append(
            Node(
                name,
                "conv",
                [inp],
                attrs,
                self.qweight(module_name, name),
                bias,
                _bn(bn) if bn is not None else None,
                relu,
            )
        )
        return name

    def fc(self, name: str, inp: str, module_name: str | None = None, bn: nn.BatchNorm1d | None = None,
           relu: bool = False) -> str:
        module_name = module_name or name
        m = self.layers[module_name]
        bias = _np(m.bias) if m.bias is not None else None
        self.nodes.append(Node(name, "fc", [inp], {}, self.qweight(module_name, name), bias,
                               _bn(bn) if bn is not None else None, relu))
        return name

    def add(self, node: Node) -> str:
        self.nodes.append(node)
        return node.name


def to_compressed(
    model: nn.Module,
    arch: str,
    qweights: dict[str, QuantWeight],
    method: str,
    act_max: dict[str, float] | None = None,
    meta: dict | None = None,
) -> CompressedModel:
    """The CompressedModel of `model` (built by `build_model`, or a user module carrying the `fx_plan` that
    fx_import traced; its nodes follow that plan) with `qweights`
    (module name -> QuantWeight, one per conv/fc; missing or extra entries raise InputError)."""
    info = arch_info(arch)
    b = _Builder(model, qweights)
    plan = getattr(model, "fx_plan", None)
    if plan is not None:  # a user module traced by fx_import
        _from_plan(b, model, plan)
    else:
        _from_family(b, model, info)
    extra = set(qweights) - b.used
    if extra:
        raise InputError(f"quantized weights for unknown layers: {', '.join(sorted(extra))}")
    return CompressedModel(
        arch=arch,
        num_classes=int(b.nodes[-1].weight.shape[0]),
        input_shape=tuple(info["input_shape"]),
        mean=tuple(float(v) for v in info["mean"]),
        std=tuple(float(v) for v in info["std"]),
        method=method,
        nodes=b.nodes,
        act_max=dict(act_max or {}),
        meta=dict(meta or {}),
    )


def _from_plan(b: _Builder, model: nn.Module, plan: list[dict]) -> None:
    modules = dict(model.named_modules())
    for e in plan:
        bn = modules[e["bn"]] if e["bn"] else None
        if e["op"] == "conv":
            b.conv(e["name"], e["module"], e["inputs"][0], bn, e["relu"])
        elif e["op"] == "fc":
            b.fc(e["name"], e["inputs"][0], module_name=e["module"], bn=bn, relu=e["relu"])
        else:
            b.add(Node(e["name"], e["op"], list(e["inputs"]), dict(e["attrs"]), relu=e["relu"]))


def _from_family(b: _Builder, model: nn.Module, info: dict) -> None:
    x = b.conv("conv1", "conv1", "input", model.bn1, True)
    if info["family"] == "resnet":
        mp = model.maxpool
        if isinstance(mp, nn.MaxPool2d):
            k, s, p = (v if isinstance(v, int) else v[0] for v in (mp.kernel_size, mp.stride, mp.padding))
            x = b.add(
                Node("maxpool", "maxpool", [x], {"kernel": int(k), "stride": int(s), "padding": int(p)})
            )
        for li in range(1, 5):
            for bi, block in enumerate(getattr(model, f"layer{li}")):
                pre = f"layer{li}.{bi}"
                bottleneck = hasattr(block, "conv3")
                h = b.conv(f"{pre}.conv1", f"{pre}.conv1", x, block.bn1, True)
                h = b.conv(f"{pre}.conv2", f"{pre}.conv2", h, block.bn2, bottleneck)
                if bottleneck:
                    h = b.conv(f"{pre}.conv3", f"{pre}.conv3", h, block.bn3, False)
                skip = x
                if block.downsample is not None:
                    skip = b.conv(f"{pre}.downsample", f"{pre}.downsample.0", x, block.downsample[1], False)
                x = b.add(Node(pre, "add", [h, skip], relu=True))
    else:
        x = b.conv("conv2", "conv2", x, model.bn2, True)
    x = b.add(Node("avgpool", "avgpool", [x], {"global": True}))
    b.fc("fc", x)


def _key(name: str) -> str:
    return name.replace(".", "__")  # ModuleDict keys cannot hold dots


class GraphModule(nn.Module):
    """Runs a CompressedModel's nodes in order with dequantized weights (eval-mode BN)."""

    def __init__(self, cm: CompressedModel):
        super().__init__()
        self.arch, self.num_classes = cm.arch, cm.num_classes
        self.mean, self.std, self.input_shape, self.method = (
            tuple(cm.mean),
            tuple(cm.std),
            tuple(cm.input_shape),
            cm.method,
        )
        self.order: list[tuple[str, str, list[str], dict, bool]] = []
        self.ops = nn.ModuleDict()
        seen = {"input"}
        for n in cm.nodes:
            if n.op not in OPS:
                raise ModelFileError(f"node {n.name!r}: unknown op {n.op!r}")
            for i in n.inputs:
                if i not in seen:
                    raise ModelFileError(f"node {n.name!r}: input {i!r} is not defined before it")
            if n.op in ("conv", "fc"):
                self.ops[_key(n.name)] = self._weighted(n)
            elif n.op == "add" and len(n.inputs) != 2:
                raise ModelFileError(f"node {n.name!r}: add needs 2 inputs, has {len(n.inputs)}")
            self.order.append((n.name, n.op, list(n.inputs), dict(n.attrs), bool(n.relu)))
            seen.add(n.name)
        if not self.order:
            raise ModelFileError("model has no nodes")
        # values whose last consumer is node i (freed after it when not returning everything)
        last_use = {i: k for k, (_, _, inputs, _, _) in enumerate(self.order) for i in inputs}
        self.dead_after: list[list[str]] = [[] for _ in self.order]
        for v, k in last_use.items():
            if v != self.order[-1][0]:
                self.dead_after[k].append(v)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    @staticmethod
    def _weighted(n: Node) -> nn.Module:
        if n.weight is None:
            raise ModelFileError(f"node {n.name!r}: {n.op} without a weight")
        w = torch.from_numpy(n.weight.dequantize())
        bias = torch.from_numpy(np.asarray(n.bias, dtype=np.float32)) if n.bias is not None else None
        if n.op == "conv":
            if w.ndim != 4:
                raise ModelFileError(f"node {n.name!r}: conv weight has shape {tuple(w.shape)}")
            o, i, kh, kw = w.shape
            layer: nn.Module = nn.Conv2d(
                i,
                o,
                (kh, kw),
                int(n.attrs.get("stride", 1)),
                int(n.attrs.get("padding", 0)),
                bias=bias is not None,
            )
        else:
            if w.ndim != 2:
                raise ModelFileError(f"node {n.name!r}: fc weight has shape {tuple(w.shape)}")
            layer = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
        with torch.no_grad():
            layer.weight.copy_(w)
            if bias is not None:
                layer.bias.copy_(bias)
        if n.bn is None:
            return layer
        bn = (
            nn.BatchNorm2d(w.shape[0], eps=float(n.bn.eps))
            if n.op == "conv"
            else nn.BatchNorm1d(w.shape[0], eps=float(n.bn.eps))
        )
        with torch.no_grad():
            bn.weight.copy_(torch.from_numpy(np.asarray(n.bn.gamma, np.float32)))
            bn.bias.copy_(torch.from_numpy(np.asarray(n.bn.beta, np.float32)))
            bn.running_mean.copy_(torch.from_numpy(np.asarray(n.bn.mean, np.float32)))
            bn.running_var.copy_(torch.from_numpy(np.asarray(n.bn.var, np.float32)))
        return nn.Sequential(layer, bn)

    def train(self, mode: bool = True) -> GraphModule:
        return super().train(False)  # always eval: BN statistics are part of the compressed model

    def forward(self, x: torch.Tensor, return_all: bool = False, observe=None):
        """The last node's output; with `return_all` a dict name -> output of every node and "input".
        `observe(name, tensor)` is called on every output (and "input") as it is produced; without
        `return_all` intermediate outputs are freed after their last use."""
        vals: dict[str, torch.Tensor] = {"input": x}
        if observe is not None:
            observe("input", x)
        for step, (name, op, inputs, attrs, relu) in enumerate(self.order):
            a = vals[inputs[0]]
            if op == "conv":
                y = self.ops[_key(name)](a)
            elif op == "fc":
                y = self.ops[_key(name)](torch.flatten(a, 1))
            elif op == "maxpool":
                y = F.max_pool2d(
                    a,
                    int(attrs["kernel"]),
                    int(attrs.get("stride", attrs["kernel"])),
                    int(attrs.get("padding", 0)),
                )
            elif op == "avgpool":
                y = F.adaptive_avg_pool2d(a, 1)
            elif op == "add":
                y = a + vals[inputs[1]]
            else:  # flatten
                y = torch.flatten(a, 1)
            if relu:
                y = F.relu(y)
            vals[name] = y
            if observe is not None:
                observe(name, y)
            if not return_all:
                for i in self.dead_after[step]:
                    del vals[i]
        return vals if return_all else vals[self.order[-1][0]]


def to_torch(cm: CompressedModel) -> GraphModule:
    """A torch module computing `cm` with weights = QuantWeight.dequantize(); `forward(x, return_all=True)`
    returns every node's output (and "input") by name."""
    return GraphModule(cm)
