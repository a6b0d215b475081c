"""Exact comparison of two CompressedModels: every array bit for bit (dtype and shape included), every field."""

from __future__ import annotations

import numpy as np

from ..model import CompressedModel, QuantWeight
from . import jsonvalue


def _same_array(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    # bitwise, so that NaN == NaN and 0.0 != -0.0
    return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def _same_value(a: object, b: object) -> bool:
    """Free-form values (meta, params, attrs): same types and values, compared through the exact JSON."""
    try:
        return jsonvalue.dumps(jsonvalue.encode(a, "a")) == jsonvalue.dumps(jsonvalue.encode(b, "b"))
    except TypeError:
        return a == b


def _weight_differences(a: QuantWeight, b: QuantWeight, where: str) -> list[str]:
    out = []
    for k in ("mode", "bits"):
        if getattr(a, k) != getattr(b, k):
            out.append(f"{where}.{k}: {getattr(a, k)!r} != {getattr(b, k)!r}")
    for k in ("codes", "codebook", "scale"):
        if not _same_array(getattr(a, k), getattr(b, k)):
            out.append(f"{where}.{k} differs")
    if not _same_value(a.params, b.params):
        out.append(f"{where}.params differ")
    fa, fb = a.fields, b.fields
    if (fa is None) != (fb is None):
        out.append(f"{where}.fields: one is None")
    elif fa is not None:
        for k in ("comp", "sign", "exp"):
            if not _same_array(getattr(fa, k), getattr(fb, k)):
                out.append(f"{where}.fields.{k} differs")
        for k in ("q_shift", "mu_shift", "mu_sign"):
            va, vb = getattr(fa, k), getattr(fb, k)
            if (tuple(va) if k != "q_shift" else va) != (tuple(vb) if k != "q_shift" else vb):
                out.append(f"{where}.fields.{k}: {va!r} != {vb!r}")
    return out


def model_differences(a: CompressedModel, b: CompressedModel) -> list[str]:
    """Human-readable list of every difference (empty when the models are equal)."""
    out = []
    for k in ("arch", "num_classes", "method"):
        if getattr(a, k) != getattr(b, k):
            out.append(f"{k}: {getattr(a, k)!r} != {getattr(b, k)!r}")
    for k in ("input_shape", "mean", "std"):
        if tuple(getattr(a, k)) != tuple(getattr(b, k)):
            out.append(f"{k}: {getattr(a, k)!r} != {getattr(b, k)!r}")
    for k in ("act_max", "meta"):
        if not _same_value(getattr(a, k), getattr(b, k)):
            out.append(f"{k} differs")
    if len(a.nodes) != len(b.nodes):
        return out + [f"{len(a.nodes)} nodes != {len(b.nodes)} nodes"]
    for na, nb in zip(a.nodes, b.nodes, strict=True):
        where = f"node {na.name!r}"
        for k in ("name", "op", "relu"):
            if getattr(na, k) != getattr(nb, k):
                out.append(f"{where}.{k}: {getattr(na, k)!r} != {getattr(nb, k)!r}")
        if list(na.inputs) != list(nb.inputs):
            out.append(f"{where}.inputs: {na.inputs!r} != {nb.inputs!r}")
        if not _same_value(na.attrs, nb.attrs):
            out.append(f"{where}.attrs: {na.attrs!r} != {nb.attrs!r}")
        if (na.weight is None) != (nb.weight is None):
            out.append(f"{where}.weight: one is None")
        elif na.weight is not None:
            out += _weight_differences(na.weight, nb.weight, f"{where}.weight")
        if not _same_array(na.bias, nb.bias):
            out.append(f"{where}.bias differs")
        if (na.bn is None) != (nb.bn is None):
            out.append(f"{where}.bn: one is None")
        elif na.bn is not None:
            for k in ("gamma", "beta", "mean", "var"):
                if not _same_array(getattr(na.bn, k), getattr(nb.bn, k)):
                    out.append(f"{where}.bn.{k} differs")
            if np.float64(na.bn.eps).tobytes() != np.float64(nb.bn.eps).tobytes():
                out.append(f"{where}.bn.eps: {na.bn.eps!r} != {nb.bn.eps!r}")
    return out


def models_equal(a: CompressedModel, b: CompressedModel) -> bool:
    """True when every field and every array (bit for bit, dtype and shape) of the two models agree."""
    return not model_differences(a, b)
