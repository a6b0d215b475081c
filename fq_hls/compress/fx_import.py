"""A user's own torch module (`--arch path/to/file.py:builder`) traced with torch.fx into a layer plan.

Importing FILE.py runs its code: that is what the user asks for by naming it (checkpoints never run code).
The builder is called without arguments and must return an `nn.Module`; the module may carry
`input_shape` (C, H, W), `mean` and `std` (per channel, 0..255 pixel units).

The trace keeps to the graph vocabulary of fq_hls.model: conv (groups 1, dilation 1, square), batch norm and
ReLU fused into the conv/fc/add before them (a ReLU after a max pool moves before it), max pool, global
average pool (adaptive, a window covering the whole map, or a mean over H and W), residual add, flatten,
linear. Anything else stops with one line naming the fx node, its op and why. The plan (one dict per graph
node, in order) is turned into a CompressedModel by `graph.to_compressed` once the weights are quantized.
"""

from __future__ import annotations

import importlib.util
import operator
import os
import re
import sys
from pathlib import Path

import torch
from torch import fx, nn
from torch.nn import functional as F

from ..archs import IMAGENET_MEAN, IMAGENET_STD
from ..errors import InputError

SPEC = re.compile(r"(?P<file>.+\.py):(?P<builder>[A-Za-z_][A-Za-z0-9_]*)")
_ADD = {operator.add, operator.iadd, torch.add}
_RELU = {F.relu, torch.relu, torch.relu_}
_PASS_MODULES = (nn.Identity, nn.Dropout)


def is_module_spec(arch: str) -> bool:
    """True for `path/to/file.py:builder` (a user module), False for a registry name."""
    return bool(SPEC.fullmatch(arch))


def arch_name(spec: str) -> str:
    """The architecture tag recorded in the .fqz for a user module: `<file stem>.<builder>`."""
    m = SPEC.fullmatch(spec)
    if m is None:
        raise InputError(f"--arch {spec!r}: expected path/to/file.py:builder")
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", Path(m["file"]).stem)[:40] or "module"
    return f"{stem}.{m['builder']}"[:64]


def build_user_module(spec: str) -> nn.Module:
    """Import FILE.py (running its code) and call `builder()`; one-line InputError for every failure."""
    m = SPEC.fullmatch(spec)
    if m is None:
        raise InputError(f"--arch {spec!r}: expected path/to/file.py:builder")
    path, builder = m["file"], m["builder"]
    if not os.path.isfile(path):
        raise InputError(f"--arch {spec}: no such file {path}")
    name = f"fq_hls_user_arch_{abs(hash(os.path.abspath(path)))}"
    mod_spec = importlib.util.spec_from_file_location(name, path)
    if mod_spec is None or mod_spec.loader is None:
        raise InputError(f"--arch {spec}: {path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[name] = module  # dataclasses and pickling-free typing look modules up by name
    try:
        mod_spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - the user's code may raise anything
        sys.modules.pop(name, None)
        raise InputError(f"--arch {spec}: importing {path} failed ({type(e).__name__}: {_first_line(e)})") from None
    fn = getattr(module, builder, None)
    if not callable(fn):
        raise InputError(f"--arch {spec}: {path} defines no function {builder!r}")
    try:
        model = fn()
    except Exception as e:  # noqa: BLE001
        raise InputError(f"--arch {spec}: {builder}() failed ({type(e).__name__}: {_first_line(e)})") from None
    if not isinstance(model, nn.Module):
        raise InputError(f"--arch {spec}: {builder}() returned {type(model).__name__}, expected a torch nn.Module")
    return model


def arch_entry(model: nn.Module, spec: str, input_shape: tuple[int, int, int] | None) -> dict:
    """The registry entry (fq_hls.archs) of a user module: input shape from `input_shape` or the module's
    `input_shape` attribute; mean/std from the module, else ImageNet's for 3 channels and 0/255 (pixels
    scaled to 0..1) otherwise."""
    shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
    if shape is None:
        raise InputError(f"--arch {spec}: the module has no input_shape attribute: pass --input-shape C,H,W")
    if (not isinstance(shape, (tuple, list)) or len(shape) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in shape)):
        raise InputError(f"--arch {spec}: input_shape must be three integers (C, H, W) in 1..4096, got {shape!r}")
    c = int(shape[0])
    default_mean, default_std = ((IMAGENET_MEAN, IMAGENET_STD) if c == 3 else ((0.0,) * c, (255.0,) * c))
    stats = {}
    for key, default in (("mean", default_mean), ("std", default_std)):
        v = getattr(model, key, None)
        v = default if v is None else v
        try:
            v = tuple(float(x) for x in v)
        except (TypeError, ValueError):
            raise InputError(f"--arch {spec}: module.{key} must be {c} numbers, got {v!r}") from None
        if len(v) != c or not all(x == x and abs(x) < 1e6 for x in v) or (key == "std" and min(v) <= 0):
            raise InputError(f"--arch {spec}: module.{key} must be {c} finite numbers (std > 0), got {v!r}")
        stats[key] = v
    return {"input_shape": tuple(int(v) for v in shape), "mean": stats["mean"], "std": stats["std"],
            "num_classes": None, "family": "fx"}


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0][:200] if s else ""


class _Planner:
    """Walks the traced graph once, fusing BN/ReLU, and records one plan entry per graph node."""

    def __init__(self, gm: fx.GraphModule, where: str):
        self.gm = gm
        self.where = where
        self.modules = dict(gm.named_modules())
        self.plan: list[dict] = []
        self.value: dict[fx.Node, str] = {}  # fx node -> plan name of the tensor it holds ("input" too)
        self.entry: dict[str, dict] = {}
        self.tail: dict[str, fx.Node] = {}  # plan name -> last fx node that computes it (for fusion checks)
        self.names: set[str] = {"input"}

    def fail(self, n: fx.Node, why: str):
        target = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", str(n.target))
        raise InputError(f"{self.where}: node {n.name!r} ({n.op} {target}): {why}")

    def shape(self, n: fx.Node) -> tuple[int, ...]:
        meta = n.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape"):
            self.fail(n, "does not produce one tensor")
        return tuple(int(v) for v in meta.shape)

    def arg(self, n: fx.Node, a) -> str:
        if not isinstance(a, fx.Node) or a not in self.value:
            self.fail(n, "an input is not a tensor of the network (constants and parameters outside a layer "
                         "are not supported)")
        return self.value[a]

    def emit(self, n: fx.Node, name: str, op: str, inputs: list[str], attrs: dict | None = None,
             module: str | None = None) -> None:
        base = name or n.name
        name, k = base, 1
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        e = {"name": name, "op": op, "inputs": inputs, "attrs": dict(attrs or {}), "module": module,
             "bn": None, "relu": False}
        self.plan.append(e)
        self.entry[name] = e
        self.names.add(name)
        self.value[n] = name
        self.tail[name] = n

    def alias(self, n: fx.Node, src: fx.Node) -> None:
        name = self.arg(n, src)
        self.value[n] = name
        if name in self.tail and self.tail[name] is src and len(src.users) == 1:
            self.tail[name] = n  # a later BN/ReLU may still fuse: nothing else reads the value before it

    def fusable(self, n: fx.Node, src, what: str) -> dict:
        name = self.arg(n, src)
        e = self.entry.get(name)
        if e is None or self.tail.get(name) is not src or len(src.users) != 1:
            self.fail(n, f"{what} must directly follow a layer whose output nothing else uses "
                         "(it is fused into that layer)")
        return e

    # ---------------------------------------------------------------- ops
    def bn(self, n: fx.Node, m: nn.Module) -> None:
        if m.running_mean is None or m.running_var is None:
            self.fail(n, "batch norm without running statistics (track_running_stats=False)")
        e = self.fusable(n, n.args[0], "batch norm")
        if e["op"] not in ("conv", "fc") or e["bn"] is not None or e["relu"]:
            self.fail(n, "batch norm is only supported right after a conv or linear layer")
        e["bn"] = n.target
        self.tail[e["name"]] = n
        self.value[n] = e["name"]

    def relu(self, n: fx.Node, src) -> None:
        name = self.arg(n, src)
        e = self.entry.get(name)
        if e is not None and e["relu"]:  # relu(relu(x)) == relu(x)
            self.alias(n, src)
            return
        e = self.fusable(n, src, "ReLU")
        if e["op"] == "maxpool" and self._relu_before_pool(e):
            self.alias(n, src)  # relu(maxpool(x)) == maxpool(relu(x)): fused into the layer before the pool
            return
        if e["op"] not in ("conv", "fc", "add", "maxpool"):
            self.fail(n, f"ReLU is fused into conv, linear, add or max pool layers, not after a {e['op']}")
        e["relu"] = True
        self.tail[e["name"]] = n
        self.value[n] = e["name"]

    def _relu_before_pool(self, pool: dict) -> bool:
        """Move a ReLU after a max pool onto the conv/fc/add feeding that pool (max commutes with ReLU), so
        that the pool reads an unsigned tensor, when the pool is the producer's only reader."""
        prod = self.entry.get(pool["inputs"][0])
        pool_node = self.tail[pool["name"]]
        if prod is None or prod["op"] not in ("conv", "fc", "add") or prod["relu"]:
            return False
        if list(self.tail[prod["name"]].users) != [pool_node]:
            return False
        prod["relu"] = True
        return True

    def conv(self, n: fx.Node, m: nn.Conv2d) -> None:
        if m.groups != 1:
            self.fail(n, f"groups={m.groups}: grouped/depthwise convolutions are not supported by the engine")
        if tuple(m.dilation) != (1, 1):
            self.fail(n, f"dilation={tuple(m.dilation)}: dilated convolutions are not supported by the engine")
        if isinstance(m.padding, str) or m.padding_mode != "zeros":
            self.fail(n, f"padding {m.padding!r} ({m.padding_mode}): only explicit zero padding is supported")
        for key in ("kernel_size", "stride", "padding"):
            v = tuple(getattr(m, key))
            if v[0] != v[1]:
                self.fail(n, f"{key}={v}: only square kernels, strides and paddings are supported")
        attrs = {"kernel": int(m.kernel_size[0]), "stride": int(m.stride[0]), "padding": int(m.padding[0])}
        self.emit(n, n.target, "conv", [self.arg(n, n.args[0])], attrs, module=n.target)

    def linear(self, n: fx.Node) -> None:
        self.emit(n, n.target, "fc", [self.arg(n, n.args[0])], module=n.target)

    def maxpool(self, n: fx.Node, kernel, stride, padding, dilation=1, ceil_mode=False, name=None) -> None:
        vals = {}
        for key, v in (("kernel", kernel), ("stride", stride if stride else kernel), ("padding", padding),
                       ("dilation", dilation)):
            v = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
            if not all(isinstance(x, int) for x in v) or v[0] != v[1]:
                self.fail(n, f"max pool {key}={v}: only square integer windows are supported")
            vals[key] = int(v[0])
        if vals["dilation"] != 1 or ceil_mode:
            self.fail(n, "max pool with dilation or ceil_mode is not supported")
        self.emit(n, name, "maxpool", [self.arg(n, n.args[0])],
                  {k: vals[k] for k in ("kernel", "stride", "padding")})

    def global_avgpool(self, n: fx.Node, name=None, why: str = "") -> None:
        out = self.shape(n)
        if len(out) != 4 or out[2:] != (1, 1):
            self.fail(n, f"average pooling to {out[2:]}: only global average pooling (to 1x1) exists in the "
                         f"engine{why}")
        self.emit(n, name, "avgpool", [self.arg(n, n.args[0])], {"global": True})

    def spatial_mean(self, n: fx.Node, dim=None, keepdim: bool = False, dtype=None) -> None:
        dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        rank = len(self.shape(n.args[0]))
        if rank != 4 or dtype is not None or sorted(d % 4 for d in dims if isinstance(d, int)) != [2, 3]:
            self.fail(n, f"mean over dims {dim!r}: only the mean over H and W (global average pooling) is supported")
        self.emit(n, None, "avgpool", [self.arg(n, n.args[0])], {"global": True})

    def avgpool_window(self, n: fx.Node, kernel, stride, padding, name=None) -> None:
        ins = self.shape(n.args[0])
        k = kernel if isinstance(kernel, (tuple, list)) else (kernel, kernel)
        p = padding if isinstance(padding, (tuple, list)) else (padding, padding)
        if tuple(k) != ins[2:] or tuple(p) != (0, 0):
            self.fail(n, f"average pool window {tuple(k)} on a {ins[2]}x{ins[3]} map: only global average "
                         "pooling (a window covering the whole map) exists in the engine")
        self.global_avgpool(n, name)

    def flatten(self, n: fx.Node, start: int = 1, end: int = -1) -> None:
        if start != 1 or end != -1:
            self.fail(n, f"flatten(start_dim={start}, end_dim={end}): only flatten from dim 1 is supported")
        ins = self.shape(n.args[0])
        if len(ins) == 2 or ins[2:] == (1, 1):
            self.alias(n, n.args[0])  # a 1x1 map is already what the fc reads
        else:
            self.emit(n, None, "flatten", [self.arg(n, n.args[0])])

    def add(self, n: fx.Node, a, b, alpha=1) -> None:
        if alpha != 1 or not isinstance(a, fx.Node) or not isinstance(b, fx.Node):
            self.fail(n, "only the sum of two network tensors (a residual add) is supported")
        if self.shape(a) != self.shape(b):
            self.fail(n, f"add of shapes {self.shape(a)} and {self.shape(b)}: broadcasting is not supported")
        self.emit(n, None, "add", [self.arg(n, a), self.arg(n, b)])

    # ---------------------------------------------------------------- dispatch
    def visit(self, n: fx.Node) -> None:
        kw = dict(n.kwargs)
        if n.op == "placeholder":
            if "input" in self.value.values():
                self.fail(n, "the network must take exactly one input tensor")
            self.value[n] = "input"
        elif n.op == "call_module":
            m = self.modules[n.target]
            if isinstance(m, nn.Conv2d):
                self.conv(n, m)
            elif isinstance(m, nn.Linear):
                self.linear(n)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                self.bn(n, m)
            elif isinstance(m, nn.ReLU):
                self.relu(n, n.args[0])
            elif isinstance(m, nn.MaxPool2d):
                self.maxpool(n, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, n.target)
            elif isinstance(m, nn.AdaptiveAvgPool2d):
                self.global_avgpool(n, n.target)
            elif isinstance(m, nn.AvgPool2d):
                self.avgpool_window(n, m.kernel_size, m.stride, m.padding, n.target)
            elif isinstance(m, nn.Flatten):
                self.flatten(n, m.start_dim, m.end_dim)
            elif isinstance(m, _PASS_MODULES):
                self.alias(n, n.args[0])  # identity in eval mode
            else:
                self.fail(n, f"{type(m).__name__} is not supported (conv, batch norm, ReLU, max/avg pool, "
                             "adaptive avg pool, add, flatten, linear)")
        elif n.op == "call_function":
            f = n.target
            if f in _ADD:
                self.add(n, *n.args, **kw)
            elif f in _RELU:
                self.relu(n, n.args[0])
            elif f is torch.flatten:
                self.flatten(n, *n.args[1:], **{k.replace("_dim", ""): v for k, v in kw.items()})
            elif f is F.max_pool2d:
                a = list(n.args[1:]) + [None] * 5
                self.maxpool(n, kw.get("kernel_size", a[0]), kw.get("stride", a[1]), kw.get("padding", a[2] or 0),
                             kw.get("dilation", a[3] or 1), kw.get("ceil_mode", a[4] or False))
            elif f is F.adaptive_avg_pool2d:
                self.global_avgpool(n)
            elif f is F.avg_pool2d:
                a = list(n.args[1:]) + [None] * 3
                self.avgpool_window(n, kw.get("kernel_size", a[0]), kw.get("stride", a[1]), kw.get("padding", a[2] or 0))
            elif f is torch.mean:
                self.spatial_mean(n, *n.args[1:], **kw)
            elif f is operator.getitem or f is getattr:
                self.fail(n, "indexing or attribute access on tensors is not supported")
            else:
                self.fail(n, "this function is not in the supported set (conv, batch norm, ReLU, max/avg pool, "
                             "adaptive avg pool, add, flatten, linear)")
        elif n.op == "call_method":
            meth = n.target
            if meth in ("relu", "relu_"):
                self.relu(n, n.args[0])
            elif meth in ("add", "add_"):
                self.add(n, *n.args, **kw)
            elif meth == "flatten":
                self.flatten(n, *n.args[1:], **{k.replace("_dim", ""): v for k, v in kw.items()})
            elif meth in ("view", "reshape") and self._is_batch_flatten(n):
                self.flatten(n)
            elif meth == "size" and all(u.op == "call_method" and u.target in ("view", "reshape")
                                        for u in n.users):
                pass  # the batch size read for x.view(x.size(0), -1)
            elif meth == "mean":
                self.spatial_mean(n, *n.args[1:], **kw)
            elif meth in ("contiguous",):
                self.alias(n, n.args[0])
            else:
                self.fail(n, f"tensor method {meth!r} is not supported")
        elif n.op == "get_attr":
            self.fail(n, "parameters used outside a conv/linear/batch-norm module are not supported")
        elif n.op == "output":
            out = n.args[0]
            if not isinstance(out, fx.Node) or out not in self.value:
                self.fail(n, "the network must return one tensor")
            if not self.plan or self.value[out] != self.plan[-1]["name"]:
                self.fail(n, "the network must return its last layer's output")
            if self.plan[-1]["op"] != "fc":
                self.fail(n, "the network must end in a Linear layer (the engine returns int32 logits)")

    def _is_batch_flatten(self, n: fx.Node) -> bool:
        dims = list(n.args[1:])
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = list(dims[0])
        if len(dims) != 2 or dims[1] != -1:
            return False
        d0 = dims[0]
        return (isinstance(d0, int) and d0 in (1, -1)) or (
            isinstance(d0, fx.Node) and d0.op == "call_method" and d0.target == "size" and d0.args[1:] == (0,))


def trace_plan(model: nn.Module, input_shape: tuple[int, int, int], where: str = "model") -> list[dict]:
    """The layer plan of `model` for a 1xCxHxW input: one dict (name, op, inputs, attrs, module, bn, relu)
    per graph node. InputError (one line: `where`, the fx node, its op, why) on anything outside the
    graph vocabulary."""
    from torch.fx.passes.shape_prop import ShapeProp

    was_training = model.training
    model.eval()
    try:
        try:
            gm = fx.symbolic_trace(model)
        except Exception as e:  # noqa: BLE001 - tracing raises many types for dynamic code
            raise InputError(f"{where}: torch.fx cannot trace the module ({type(e).__name__}: {_first_line(e)})"
                             ) from None
        try:
            with torch.no_grad():
                ShapeProp(gm).propagate(torch.zeros(1, *input_shape))
        except Exception as e:  # noqa: BLE001
            raise InputError(f"{where}: running the module on a 1x{'x'.join(map(str, input_shape))} input "
                             f"failed ({type(e).__name__}: {_first_line(e)})") from None
        planner = _Planner(gm, where)
        for n in gm.graph.nodes:
            planner.visit(n)
    finally:
        model.train(was_training)
    used = {i for e in planner.plan for i in e["inputs"]}
    dead = [e["name"] for e in planner.plan[:-1] if e["name"] not in used]
    if dead:
        raise InputError(f"{where}: layer {dead[0]!r} computes a value the network never uses")
    return planner.plan


def load_user_model(spec: str, input_shape: tuple[int, int, int] | None = None) -> tuple[nn.Module, dict]:
    """(module with `.arch` and `.fx_plan`, its fq_hls.archs entry) of `--arch FILE.py:builder`."""
    model = build_user_module(spec)
    info = arch_entry(model, spec, input_shape)
    plan = trace_plan(model, info["input_shape"], f"--arch {spec}")
    fc = [e for e in plan if e["op"] == "fc"][-1]
    info["num_classes"] = int(dict(model.named_modules())[fc["module"]].out_features)
    model.arch = arch_name(spec)
    model.fx_plan = plan
    return model, info
