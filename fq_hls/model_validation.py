"""Semantic validation of a CompressedModel: is this a network every stage can run, before any stage runs it.

The .fqz reader checks framing, CRCs and that every decoded array has its declared length; this checks
what the bytes mean (numpy only): the graph (names, ops, arity, inputs computed before use), the shapes
(weights against the tensors they read, every output map non-empty, tensor and patch sizes below limits,
so nothing is allocated for a 100000 x 100000 input), the attributes (kernel, stride, padding), the numbers
(normalisation, scales, biases, batch norm and act_max finite, std > 0, variances >= 0), the codes (inside
the codebook, codebook[0] = 0, symbol fields reproducing the codebook, int8 levels within 8 bits) and the
consistency of graph and payloads (the last tensor holds `num_classes` logits).

`validate_model` raises InvalidModelError with one line naming the model, the node and field, and what was
expected. The reader, the writer and `lower` call it, so every consumer of a model gets it. A model that an
edit turned into another valid model cannot be told from a real one (that needs a signature); everything
else is refused here.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .errors import InvalidModelError
from .model import MODES, OPS, BatchNorm, CompressedModel, Node, QuantWeight, SymbolFields

MAX_NODES = 4096
MAX_CHANNELS = 1 << 16
MAX_MAP = 1 << 14  # height or width of any map
MAX_TENSOR = 1 << 24  # elements of one image's tensor (ResNet-18 at 224x224: 0.8 M at most)
MAX_PATCHES = 1 << 26  # elements of one image's im2col matrix for a conv (ResNet-18 at 224x224: 1.8 M)
MAX_CLASSES = 1 << 16
MAX_SYMBOLS = 1 << 16
MAX_MODEL_WEIGHTS = 1 << 30
MAX_SHIFT = 62  # symbol levels are int64
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")  # names reach generated C++, TCL and file names
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+\-]{0,63}")  # arch and method
ATTRS = {
    "conv": {"kernel", "stride", "padding", "groups", "dilation"},
    "maxpool": {"kernel", "stride", "padding"},
    "avgpool": {"global"},
    "fc": set(),
    "add": set(),
    "flatten": set(),
}
ARITY = {"conv": 1, "fc": 1, "maxpool": 1, "avgpool": 1, "flatten": 1, "add": 2}


class _Checker:
    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, where: str, msg: str):
        raise InvalidModelError(f"{self.name}: {where}: {msg}")


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v: object) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _finite(v: object) -> bool:
    """A real number (not bool) whose float value is finite (a huge Python int overflows: not finite)."""
    if not _is_real(v):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _desc(v: object) -> str:
    if isinstance(v, np.ndarray):
        return f"an array {v.dtype} {v.shape}"
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _square(c: _Checker, where: str, attrs: dict, key: str, default: int | None, lo: int, hi: int) -> int:
    """An attribute that is one integer in lo..hi, or a list/tuple of equal ones (square)."""
    if key not in attrs:
        if default is None:
            c.fail(where, f"attrs {key!r} missing (an integer in {lo}..{hi} expected)")
        return default
    v = attrs[key]
    if isinstance(v, (list, tuple)) and v and all(_is_int(x) for x in v) and len(set(int(x) for x in v)) == 1:
        v = v[0]
    if not _is_int(v) or not lo <= int(v) <= hi:
        c.fail(where, f"attrs {key!r}: expected an integer in {lo}..{hi}, got {_desc(attrs[key])}")
    return int(v)


def _float_array(c: _Checker, where: str, field: str, a: object, n: int) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.dtype.kind != "f" or a.shape != (n,):
        c.fail(where, f"{field} must be float, {n} values of shape ({n},), got {_desc(a)}")
    if not np.isfinite(a).all():
        i = int(np.argmax(~np.isfinite(a)))
        c.fail(where, f"{field}[{i}] is {a[i]}, expected a finite number")
    return a


def _int_array(c: _Checker, where: str, field: str, a: object, n: int) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "iu" or a.shape != (n,):
        c.fail(where, f"{field}: expected {n} integers (one per symbol), got {_desc(a)}")
    return a.astype(np.int64)


def _field_levels(c: _Checker, where: str, f: SymbolFields, n: int) -> np.ndarray:
    """The int64 codebook the fields describe, every shift range-checked first (no silent overflow)."""
    comp, sign, exp = (_int_array(c, where, f"fields.{k}", getattr(f, k), n) for k in ("comp", "sign", "exp"))
    q = f.q_shift
    if not _is_int(q) or not 0 <= int(q) <= MAX_SHIFT:
        c.fail(where, f"fields.q_shift: expected an integer in 0..{MAX_SHIFT}, got {_desc(q)}")
    mus = []
    for field in ("mu_shift", "mu_sign"):
        v = getattr(f, field)
        if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(_is_int(x) for x in v):
            c.fail(where, f"fields.{field}: expected two integers, got {_desc(v)}")
        mus.append([int(x) for x in v])
    (mu_shift, mu_sign), live = mus, slice(1, None)
    if any(s not in (-1, 0, 1) for s in mu_sign) or any(s and not 0 <= m <= MAX_SHIFT
                                                        for s, m in zip(mu_sign, mu_shift, strict=True)):
        c.fail(where, f"fields: mu_sign {tuple(mu_sign)} / mu_shift {tuple(mu_shift)} outside -1..1 / 0..{MAX_SHIFT}")
    if ((comp[live] < 0) | (comp[live] > 1)).any() or ((sign[live] < -1) | (sign[live] > 1)).any():
        c.fail(where, "fields: comp must be 0 or 1 and sign -1, 0 or 1 for every symbol")
    shifts = exp[live] + int(q)
    if ((sign[live] != 0) & ((shifts < 0) | (shifts > MAX_SHIFT))).any():
        c.fail(where, f"fields: exp + q_shift outside 0..{MAX_SHIFT}")
    inner = sign[live] * np.left_shift(np.int64(1), np.clip(shifts, 0, MAX_SHIFT))
    mu = np.array([s * (1 << m) if s else 0 for s, m in zip(mu_sign, mu_shift, strict=True)], dtype=np.int64)
    levels = np.zeros(n, dtype=np.int64)
    levels[live] = inner + mu[comp[live]]
    return levels


def _weight(c: _Checker, where: str, op: str, w: object) -> tuple[int, ...]:
    """Checks a QuantWeight; returns its shape."""
    if not isinstance(w, QuantWeight):
        c.fail(where, f"weight: expected a QuantWeight, got {_desc(w)}")
    if w.mode not in MODES:
        c.fail(where, f"weight mode {_desc(w.mode)}: expected one of {', '.join(MODES)}")
    if not _is_int(w.bits) or not 1 <= int(w.bits) <= 32:
        c.fail(where, f"weight bits: expected an integer in 1..32, got {_desc(w.bits)}")
    codes, book = w.codes, w.codebook
    ndim = 4 if op == "conv" else 2
    if not isinstance(codes, np.ndarray) or codes.dtype.kind not in "iu" or codes.ndim != ndim or 0 in codes.shape:
        want = "(O, I, k, k)" if op == "conv" else "(O, I)"
        c.fail(where, f"weight shape must be {ndim}-D {want} integer codes, got {_desc(codes)}")
    if op == "conv" and codes.shape[2] != codes.shape[3]:
        c.fail(where, f"weight shape {codes.shape}: expected a square kernel (O, I, k, k)")
    if not isinstance(book, np.ndarray) or book.dtype.kind not in "iu" or book.ndim != 1 or not 1 <= book.size <= MAX_SYMBOLS:
        c.fail(where, f"weight codebook: expected 1..{MAX_SYMBOLS} integer levels, got {_desc(book)}")
    if int(book[0]) != 0:
        c.fail(where, f"weight codebook[0] must be 0 (the pruned-weight symbol), got {int(book[0])}")
    lo, hi = int(codes.min()), int(codes.max())
    if lo < 0 or hi >= book.size:
        c.fail(where, f"weight code {lo if lo < 0 else hi} beyond the {book.size}-entry codebook")
    if w.mode == "int8":
        if book.size and (int(book.min()) < -128 or int(book.max()) > 127):
            c.fail(where, "int8 weight: codebook levels outside -128..127")
    elif w.mode in ("shift", "recentralized"):
        if not isinstance(w.fields, SymbolFields):
            c.fail(where, f"fields: {w.mode} weights need symbol fields")
        levels = _field_levels(c, where, w.fields, book.size)
        if not np.array_equal(levels[1:], book[1:].astype(np.int64)):
            c.fail(where, "fields do not reproduce the codebook")
        if w.mode == "shift" and tuple(int(s) for s in w.fields.mu_sign) != (0, 0):
            c.fail(where, "fields: plain shift weights must have mu_sign (0, 0)")
    if w.mode in ("int8", "float") and w.fields is not None and not isinstance(w.fields, SymbolFields):
        c.fail(where, f"weight fields: expected SymbolFields or None, got {_desc(w.fields)}")
    _float_array(c, where, "weight scale", w.scale, codes.shape[0])
    if not isinstance(w.params, dict):
        c.fail(where, f"weight params: expected a dict, got {_desc(w.params)}")
    return tuple(int(s) for s in codes.shape)


def _channel_params(c: _Checker, where: str, node: Node, out: int) -> None:
    if node.bias is not None:
        _float_array(c, where, "bias", node.bias, out)
    bn = node.bn
    if bn is None:
        return
    if not isinstance(bn, BatchNorm):
        c.fail(where, f"bn: expected a BatchNorm, got {_desc(bn)}")
    for k in ("gamma", "beta", "mean", "var"):
        _float_array(c, where, f"bn.{k}", getattr(bn, k), out)
    if not _finite(bn.eps) or float(bn.eps) < 0:
        c.fail(where, f"bn.eps: expected a finite number >= 0, got {_desc(bn.eps)}")
    var = bn.var.astype(np.float64)
    if (var < 0).any() or (var + float(bn.eps) <= 0).any():
        i = int(np.argmax((var < 0) | (var + float(bn.eps) <= 0)))
        c.fail(where, f"bn.var[{i}] = {bn.var[i]} with eps {bn.eps}: expected var >= 0 and var + eps > 0")


def _out_shape(c: _Checker, where: str, node: Node, ins: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    attrs = node.attrs
    (ch, h, w) = ins[0]
    if node.op == "conv":
        o, i, k, _ = _weight(c, where, "conv", node.weight)
        if i != ch:
            c.fail(where, f"weight has {i} input channels, input {node.inputs[0]!r} has {ch}")
        kern = _square(c, where, attrs, "kernel", k, 1, MAX_MAP)
        if kern != k:
            c.fail(where, f"attrs 'kernel' is {kern}, the weight's kernel is {k}")
        s = _square(c, where, attrs, "stride", 1, 1, MAX_MAP)
        p = _square(c, where, attrs, "padding", 0, 0, k - 1)
        _square(c, where, attrs, "groups", 1, 1, 1)
        _square(c, where, attrs, "dilation", 1, 1, 1)
        if h + 2 * p < k or w + 2 * p < k:
            c.fail(where, f"kernel {k} with padding {p} does not fit the {h}x{w} input map")
        out = (o, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        if out[1] * out[2] * i * k * k > MAX_PATCHES:
            c.fail(where, f"{out[1]}x{out[2]} outputs of {i}x{k}x{k} weights exceed the patch limit {MAX_PATCHES}")
        _channel_params(c, where, node, o)
        return out
    if node.op == "fc":
        o, i = _weight(c, where, "fc", node.weight)
        if i != ch * h * w:
            c.fail(where, f"weight has {i} inputs, input {node.inputs[0]!r} holds {ch * h * w} values {ins[0]}")
        _channel_params(c, where, node, o)
        return (o, 1, 1)
    if node.op == "maxpool":
        k = _square(c, where, attrs, "kernel", None, 1, MAX_MAP)
        s = _square(c, where, attrs, "stride", k, 1, MAX_MAP)
        p = _square(c, where, attrs, "padding", 0, 0, k // 2)
        if h + 2 * p < k or w + 2 * p < k:
            c.fail(where, f"pool window {k} with padding {p} does not fit the {h}x{w} input map")
        return (ch, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
    if node.op == "avgpool":
        if attrs.get("global", True) is not True:
            c.fail(where, f"attrs 'global': only global average pooling exists, got {_desc(attrs['global'])}")
        return (ch, 1, 1)
    if node.op == "add":
        if ins[0] != ins[1]:
            c.fail(where, f"inputs {node.inputs[0]!r} {ins[0]} and {node.inputs[1]!r} {ins[1]} differ in shape")
        return ins[0]
    return (ch * h * w, 1, 1)  # flatten


def validate_model(cm: CompressedModel, name: str = "model") -> None:
    """InvalidModelError (one line: `name`, the node and field, what was expected) unless every stage can
    run `cm` as the contract in fq_hls/model.py describes it."""
    c = _Checker(name)
    if not isinstance(cm, CompressedModel):
        c.fail("model", f"expected a CompressedModel, got {_desc(cm)}")
    for field in ("arch", "method"):
        v = getattr(cm, field)
        if not isinstance(v, str) or not TAG.fullmatch(v):
            c.fail(field, f"expected a short name of letters, digits and _.+-, got {_desc(v)}")
    shape = cm.input_shape
    if not isinstance(shape, (tuple, list)) or len(shape) != 3 or not all(_is_int(v) and v >= 1 for v in shape):
        c.fail("input_shape", f"expected three positive integers (C, H, W), got {_desc(shape)}")
    ch, h, w = (int(v) for v in shape)
    if ch > MAX_CHANNELS or h > MAX_MAP or w > MAX_MAP or ch * h * w > MAX_TENSOR:
        c.fail("input_shape", f"{ch}x{h}x{w} exceeds the limits (C <= {MAX_CHANNELS}, H, W <= {MAX_MAP}, "
                              f"C*H*W <= {MAX_TENSOR})")
    for field in ("mean", "std"):
        v = getattr(cm, field)
        if not isinstance(v, (tuple, list)) or len(v) != ch or not all(_is_real(x) for x in v):
            c.fail(field, f"expected {ch} numbers (one per input channel), got {_desc(v)}")
        if not all(_finite(x) for x in v):
            c.fail(field, f"expected finite numbers, got {_desc(v)}")
        with np.errstate(over="ignore"):
            a = np.asarray([float(x) for x in v], np.float64).astype(np.float32)  # as the pixels are normalised
        if not np.isfinite(a).all():
            c.fail(field, f"expected finite float32 numbers, got {list(v)}")
        if field == "std" and (a <= 0).any():
            c.fail(field, f"expected numbers > 0 (the pixels are divided by them), got {list(v)}")
    nc = cm.num_classes
    if not _is_int(nc) or not 1 <= int(nc) <= MAX_CLASSES:
        c.fail("num_classes", f"expected an integer in 1..{MAX_CLASSES}, got {_desc(nc)}")
    if not isinstance(cm.meta, dict):
        c.fail("meta", f"expected a dict, got {_desc(cm.meta)}")
    nodes = cm.nodes
    if not isinstance(nodes, list) or not 1 <= len(nodes) <= MAX_NODES:
        c.fail("nodes", f"expected a list of 1..{MAX_NODES} nodes, got {_desc(nodes)}")

    shapes: dict[str, tuple[int, int, int]] = {"input": (ch, h, w)}
    total = 0
    for i, node in enumerate(nodes):
        if not isinstance(node, Node):
            c.fail(f"node #{i}", f"expected a Node, got {_desc(node)}")
        if not isinstance(node.name, str) or not NAME.fullmatch(node.name):
            c.fail(f"node #{i}", f"name {_desc(node.name)}: expected 1..128 letters, digits, '_', '.' or '-'")
        where = f"node {node.name!r}"
        if node.name in shapes:
            c.fail(where, "duplicate name" if node.name != "input" else "'input' names the graph input")
        if node.op not in OPS:
            c.fail(where, f"op {_desc(node.op)}: expected one of {', '.join(OPS)}")
        ins = node.inputs
        if not isinstance(ins, (list, tuple)) or len(ins) != ARITY[node.op]:
            c.fail(where, f"inputs: a {node.op} takes {ARITY[node.op]} input(s), got {_desc(ins)}")
        for s in ins:
            if not isinstance(s, str) or s not in shapes:
                c.fail(where, f"input {_desc(s)} is not an earlier node (nor 'input', the graph input)")
        if not isinstance(node.attrs, dict) or not all(isinstance(k, str) for k in node.attrs):
            c.fail(where, f"attrs: expected a dict, got {_desc(node.attrs)}")
        unknown = sorted(set(node.attrs) - ATTRS[node.op])
        if unknown:
            c.fail(where, f"attrs {unknown[0]!r} means nothing for a {node.op} (known: {sorted(ATTRS[node.op])})")
        if not isinstance(node.relu, (bool, np.bool_)):
            c.fail(where, f"relu: expected true/false, got {_desc(node.relu)}")
        if node.op in ("conv", "fc"):
            if node.weight is None:
                c.fail(where, f"a {node.op} needs a weight")
        elif node.weight is not None or node.bias is not None or node.bn is not None:
            c.fail(where, f"a {node.op} carries no weight, bias or batch norm")
        out = _out_shape(c, where, node, [shapes[s] for s in ins])
        if node.weight is not None:
            total += int(node.weight.codes.size)
            if total > MAX_MODEL_WEIGHTS:
                c.fail(where, f"the model exceeds {MAX_MODEL_WEIGHTS} weights")
        if out[0] > MAX_CHANNELS or out[0] * out[1] * out[2] > MAX_TENSOR:
            c.fail(where, f"output {out} exceeds the limits ({MAX_CHANNELS} channels, {MAX_TENSOR} values)")
        shapes[node.name] = out
    last = nodes[-1]
    logits = int(np.prod(shapes[last.name]))
    if logits != int(nc):
        c.fail("num_classes", f"is {int(nc)} but the output node {last.name!r} gives {logits} values")
    act = cm.act_max
    if not isinstance(act, dict):
        c.fail("act_max", f"expected a dict of tensor name -> number, got {_desc(act)}")
    for k, v in act.items():
        if not isinstance(k, str) or k not in shapes:
            c.fail("act_max", f"names {_desc(k)}, which is not a tensor of the graph")
        if not _finite(v) or float(v) < 0:
            c.fail(f"act_max[{k!r}]", f"expected a finite number >= 0, got {_desc(v)}")
