"""Exact JSON for the free-form fields (meta, params, attrs, act_max).

Plain JSON would turn tuples into lists and numpy scalars/arrays into errors, so those travel as tagged
objects and come back with their types: {"__tuple__": [...]}, {"__scalar__": [dtype, value]},
{"__ndarray__": [dtype, shape, base64 little-endian bytes]}, and {"__dict__": [[key, value], ...]} for dicts
whose keys are not all plain strings. Floats are written with repr (exact); NaN/Infinity are allowed.
"""

from __future__ import annotations

import base64
import json

import numpy as np

from .binary import FormatError

_TAGS = ("__tuple__", "__scalar__", "__ndarray__", "__dict__")
_KINDS = "biuf"  # numpy dtype kinds that may be stored
MAX_DEPTH = 64


def _dtype(name: object) -> np.dtype:
    try:
        dt = np.dtype(name)  # type: ignore[arg-type]
    except Exception:
        raise FormatError(f"unknown dtype {name!r}") from None
    if dt.kind not in _KINDS or dt.itemsize > 16:
        raise FormatError(f"dtype {name!r} cannot be stored")
    return dt


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def encode(x: object, where: str, depth: int = 0) -> object:
    """A JSON-ready value; TypeError (naming `where`) for anything that cannot round-trip exactly."""
    if depth > MAX_DEPTH:
        raise TypeError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, np.generic):
        dt = np.dtype(x.dtype)
        if dt.kind not in _KINDS:
            raise TypeError(f"{where}: numpy {dt} scalars cannot be stored")
        return {"__scalar__": [dt.str, x.item()]}
    if isinstance(x, (int, float)):
        return x
    if isinstance(x, list):
        return [encode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(x)]
    if isinstance(x, tuple):
        return {"__tuple__": [encode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(x)]}
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in _KINDS:
            raise TypeError(f"{where}: numpy {x.dtype} arrays cannot be stored")
        le = np.ascontiguousarray(x).astype(x.dtype.newbyteorder("<") if x.dtype.kind != "b" else x.dtype)
        return {"__ndarray__": [x.dtype.str, list(x.shape), base64.b64encode(le.tobytes()).decode("ascii")]}
    if isinstance(x, dict):
        if all(isinstance(k, str) and k not in _TAGS for k in x):
            return {k: encode(v, f"{where}[{k!r}]", depth + 1) for k, v in x.items()}
        return {"__dict__": [[encode(k, f"{where} key", depth + 1), encode(v, f"{where}[{k!r}]", depth + 1)]
                             for k, v in x.items()]}
    raise TypeError(f"{where}: values of type {type(x).__name__} cannot be stored in a .fqz file")


def decode(x: object, depth: int = 0) -> object:
    """Inverse of encode(); FormatError for malformed tagged objects."""
    if depth > MAX_DEPTH:
        raise FormatError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(x, list):
        return [decode(v, depth + 1) for v in x]
    if not isinstance(x, dict):
        return x
    if len(x) == 1:
        (tag, body), = x.items()
        if tag == "__tuple__":
            if not isinstance(body, list):
                raise FormatError("malformed tuple")
            return tuple(decode(v, depth + 1) for v in body)
        if tag == "__scalar__":
            if not (isinstance(body, list) and len(body) == 2 and isinstance(body[1], (bool, int, float))):
                raise FormatError("malformed numpy scalar")
            dt = _dtype(body[0])
            if dt.kind in "iu" and not (
                _is_int(body[1]) and np.iinfo(dt).min <= body[1] <= np.iinfo(dt).max
            ) or dt.kind == "b" and not isinstance(body[1], bool):
                raise FormatError(f"numpy scalar {body[1]!r} does not fit {body[0]!r}")
            try:
                return dt.type(body[1])
            except (OverflowError, ValueError, TypeError):
                raise FormatError(f"numpy scalar {body[1]!r} does not fit {body[0]!r}") from None
        if tag == "__ndarray__":
            ok = isinstance(body, list) and len(body) == 3 and isinstance(body[1], list) and isinstance(body[2], str)
            if not ok or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in body[1]):
                raise FormatError("malformed numpy array")
            dt = _dtype(body[0])
            try:
                raw = base64.b64decode(body[2], validate=True)
            except ValueError:
                raise FormatError("numpy array data is not base64") from None
            count = int(np.prod(body[1], dtype=object)) if body[1] else 1
            if count * dt.itemsize != len(raw):
                raise FormatError(f"numpy array of shape {body[1]} has {len(raw)} data bytes")
            le = dt.newbyteorder("<") if dt.kind != "b" else dt
            try:
                return np.frombuffer(raw, dtype=le).astype(dt).reshape(body[1])
            except ValueError as e:  # e.g. more dimensions than numpy supports
                raise FormatError(f"numpy array of shape {body[1]}: {e}") from None
        if tag == "__dict__":
            if not (isinstance(body, list) and all(isinstance(p, list) and len(p) == 2 for p in body)):
                raise FormatError("malformed dict")
            out = {}
            for k, v in body:
                k = decode(k, depth + 1)
                try:
                    out[k] = decode(v, depth + 1)
                except TypeError:
                    raise FormatError(f"dict key {k!r} is not hashable") from None
            return out
    return {k: decode(v, depth + 1) for k, v in x.items()}


def dumps(x: object) -> str:
    """Canonical text of an encoded value (used for exact comparison)."""
    return json.dumps(x, sort_keys=True, separators=(",", ":"), allow_nan=True)
