"""What the `.fqz` format needs of a model and of its JSON graph: codes inside their codebooks, symbol fields
that reproduce the codebook, per-channel float arrays, the graph's schema and size limits. The writer checks a
model before it writes it and the reader checks what it reads (FormatError naming the field); the semantic
checks every stage needs are fq_hls.model_validation's.
"""

from __future__ import annotations

import numpy as np

from ..model import MODES, OPS, CompressedModel, QuantWeight, SymbolFields
from .binary import FormatError
from .layout import MAX_MODEL_WEIGHTS, MAX_SYMBOLS
from .sparse_index import MAX_LAYER_WEIGHTS


def field_levels(f: SymbolFields, n: int, where: str) -> np.ndarray:
    """The int64 codebook (n levels, level 0 = 0) the fields describe; FormatError when out of range."""
    for name in ("comp", "sign", "exp"):
        a = np.asarray(getattr(f, name))
        if a.shape != (n,) or a.dtype.kind not in "iu":
            raise FormatError(f"{where}: fields.{name} must be {n} integers, got shape {a.shape} {a.dtype}")
    comp, sign, exp = (np.asarray(a).astype(np.int64) for a in (f.comp, f.sign, f.exp))
    mu_shift, mu_sign = list(f.mu_shift), list(f.mu_sign)
    if len(mu_shift) != 2 or len(mu_sign) != 2:
        raise FormatError(f"{where}: mu_shift and mu_sign need two entries")
    live = slice(1, None)  # symbol 0 is unused
    bad = (
        ((comp[live] < 0) | (comp[live] > 1)).any()
        or ((sign[live] < -1) | (sign[live] > 1)).any()
        or any(s not in (-1, 0, 1) for s in mu_sign)
        or any(s != 0 and not 0 <= m <= 62 for s, m in zip(mu_sign, mu_shift, strict=True))
    )
    shifts = exp[live] + int(f.q_shift)
    if bad or ((sign[live] != 0) & ((shifts < 0) | (shifts > 62))).any():
        raise FormatError(f"{where}: symbol fields out of range")
    inner = sign[live] * np.left_shift(np.int64(1), np.clip(shifts, 0, 62))
    mu = np.array([s * (1 << m) if s else 0 for s, m in zip(mu_sign, mu_shift, strict=True)], dtype=np.int64)
    levels = np.zeros(n, dtype=np.int64)
    levels[live] = inner + mu[comp[live]]
    return levels


def check_fields(f: SymbolFields, codebook: np.ndarray, where: str) -> None:
    levels = field_levels(f, codebook.size, where)
    if not np.array_equal(levels[1:], codebook[1:].astype(np.int64)):
        raise FormatError(f"{where}: symbol fields do not reproduce the codebook")


def check_weight(w: QuantWeight, where: str) -> None:
    codes, codebook, scale = np.asarray(w.codes), np.asarray(w.codebook), np.asarray(w.scale)
    if codes.dtype.kind not in "iu":
        raise FormatError(f"{where}: codes must be integers, got {codes.dtype}")
    if codebook.dtype.kind not in "iu" or codebook.ndim != 1 or not 1 <= codebook.size <= MAX_SYMBOLS:
        raise FormatError(f"{where}: codebook must be 1..{MAX_SYMBOLS} integer levels")
    if int(codebook[0]) != 0:
        raise FormatError(f"{where}: codebook[0] must be 0 (the pruned-weight symbol)")
    if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= codebook.size):
        raise FormatError(f"{where}: codes beyond the {codebook.size}-entry codebook")
    if codes.size > MAX_LAYER_WEIGHTS:
        raise FormatError(f"{where}: {codes.size} weights exceed the per-layer limit {MAX_LAYER_WEIGHTS}")
    if scale.dtype.kind != "f" or scale.shape != (codes.shape[0],):
        raise FormatError(f"{where}: scale must be float of shape ({codes.shape[0]},), got {scale.shape}")
    if w.fields is not None:
        check_fields(w.fields, codebook, where)


def check_model(model: CompressedModel) -> None:
    for n in model.nodes:
        where = f"node {n.name!r}"
        out = None
        if n.weight is not None:
            check_weight(n.weight, where)
            out = int(np.shape(n.weight.codes)[0])
        for name, a in [("bias", n.bias)] + (
            [(k, getattr(n.bn, k)) for k in ("gamma", "beta", "mean", "var")] if n.bn is not None else []
        ):
            if a is None:
                continue
            a = np.asarray(a)
            if a.ndim != 1 or a.dtype.kind != "f" or (out is not None and a.size != out):
                raise FormatError(f"{where}: {name} must be a 1-D float array of {out} channels, got {a.shape}")
        if n.bn is not None and not isinstance(n.bn.eps, (float, int, np.floating, np.integer)):
            raise FormatError(f"{where}: bn.eps must be a number")


def is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_graph(g: object) -> None:
    """Schema of the GRPH JSON; raises FormatError naming the field."""
    if not isinstance(g, dict):
        raise FormatError("graph is not a JSON object")
    want = {"format": str, "arch": str, "method": str, "num_classes": int, "input_shape": list, "mean": list,
            "std": list, "nodes": list}
    for k, t in want.items():
        if k not in g or not isinstance(g[k], t) or (t is int and not is_int(g[k])):
            raise FormatError(f"graph field {k!r} missing or not a {t.__name__}")
    for k in ("act_max", "meta"):
        if k not in g:
            raise FormatError(f"graph field {k!r} missing")
    if g["format"] != "fqz":
        raise FormatError(f"graph format is {g['format']!r}, not 'fqz'")
    if len(g["input_shape"]) != 3 or not all(is_int(v) and v > 0 for v in g["input_shape"]):
        raise FormatError("input_shape must be three positive integers")
    for k in ("mean", "std"):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in g[k]):
            raise FormatError(f"{k} must be numbers")
        if any(isinstance(v, int) and abs(v) > 1 << 1000 for v in g[k]):
            raise FormatError(f"{k} holds an integer too large for a float")
    seen = {"input"}
    total = 0
    for i, d in enumerate(g["nodes"]):
        if not isinstance(d, dict) or not isinstance(d.get("name"), str):
            raise FormatError(f"node {i} is malformed")
        where = f"node {d['name']!r}"
        if d["name"] in seen:
            raise FormatError(f"{where}: duplicate name")
        if d.get("op") not in OPS:
            raise FormatError(f"{where}: unknown op {d.get('op')!r}")
        ins = d.get("inputs")
        if not isinstance(ins, list) or not all(isinstance(s, str) for s in ins):
            raise FormatError(f"{where}: inputs must be a list of names")
        for s in ins:
            if s not in seen:
                raise FormatError(f"{where}: input {s!r} is not an earlier node")
        seen.add(d["name"])
        for k in ("relu", "bias", "bn"):
            if not isinstance(d.get(k), bool):
                raise FormatError(f"{where}: {k} must be true/false")
        for k in ("attrs", "weight"):
            if k not in d:
                raise FormatError(f"{where}: {k} missing")
        w = d["weight"]
        if d["op"] not in ("conv", "fc") and (w is not None or d["bias"] or d["bn"]):
            raise FormatError(f"{where}: a {d['op']} node cannot carry weights, bias or batch norm")
        if w is None:
            if d["bias"] or d["bn"]:
                raise FormatError(f"{where}: bias/batch norm without a weight")
            continue
        if not isinstance(w, dict) or w.get("mode") not in MODES or not is_int(w.get("bits")):
            raise FormatError(f"{where}: weight mode/bits malformed")
        shape = w.get("shape")
        ndim = 4 if d["op"] == "conv" else 2
        if not isinstance(shape, list) or len(shape) != ndim or not all(is_int(s) and s > 0 for s in shape):
            raise FormatError(f"{where}: weight shape must be {ndim} positive integers, got {shape!r}")
        size = int(np.prod(shape, dtype=object))
        if size > MAX_LAYER_WEIGHTS:
            raise FormatError(f"{where}: {size} weights exceed the per-layer limit {MAX_LAYER_WEIGHTS}")
        total += size
        if total > MAX_MODEL_WEIGHTS:
            raise FormatError(f"model exceeds {MAX_MODEL_WEIGHTS} weights")
        for k in ("params", "fields"):
            if k not in w:
                raise FormatError(f"{where}: weight {k} missing")
        f = w.get("fields")
        if f is not None:
            ok = (
                isinstance(f, dict)
                and is_int(f.get("q_shift"))
                and all(isinstance(f.get(k), list) and len(f[k]) == 2 and all(map(is_int, f[k]))
                        for k in ("mu_shift", "mu_sign"))
            )
            if not ok:
                raise FormatError(f"{where}: weight fields malformed")
