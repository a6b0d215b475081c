"""Per-layer compression settings (`fq-hls compress --layers FILE.json|.yaml`).

The file maps layer names or glob patterns to settings, in the way hls4ml sets precision per layer name:

    {"layers": {
        "conv1":      {"sparsity": 0.0},
        "layer4.*":   {"method": "fq7"},
        "fc":         {"method": "int8", "sparsity": 0.5}
    }}

Fields: `method` (one of the quantization methods), `bits` (with `method`, it must be the method's width;
alone, it picks the method of the same kind: fq 5 -> fq5, fq 7 -> fq7), `sparsity` in [0, 1) or null (keep
the checkpoint's zeros). A pattern matches conv/linear module names and graph node names (`fq-hls inspect`
shows them; `layer2.0.downsample` is the node of module `layer2.0.downsample.0`). Entries apply in file order,
so a later entry overrides an earlier one field by field. A pattern that matches no layer, an unknown field
or a bad value stops with one line naming the file, the pattern and the field.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import dataclass

from ..errors import InputError
from ..safeio import read_regular
from .methods import BITS, METHODS

MAX_SETTINGS_BYTES = 1 << 20
FIELDS = ("method", "bits", "sparsity")


@dataclass(frozen=True)
class LayerSetting:
    method: str
    sparsity: float | None  # None keeps the checkpoint's zeros


def read_layer_settings(path: str | os.PathLike) -> list[tuple[str, dict]]:
    """(pattern, fields) in file order from a JSON or YAML file (checked for shape, not yet for names)."""
    path = os.fspath(path)
    text = read_regular(path, MAX_SETTINGS_BYTES, "layer settings file").decode("utf-8", "replace")
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise InputError(f"{path}: reading YAML needs pyyaml (pip install pyyaml); or write the file as JSON"
                             ) from None
        try:
            doc = yaml.safe_load(text)  # plain data only: safe_load builds no Python objects
        except yaml.YAMLError as e:
            raise InputError(f"{path}: not valid YAML ({' '.join(str(e).split())[:200]})") from None
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if not isinstance(doc, dict) or set(doc) != {"layers"} or not isinstance(doc["layers"], dict):
        raise InputError(f'{path}: expected one top-level key "layers" mapping layer names/globs to settings')
    out = []
    for pattern, fields in doc["layers"].items():
        if not isinstance(pattern, str) or not pattern:
            raise InputError(f"{path}: layer pattern {pattern!r} is not a name")
        if not isinstance(fields, dict):
            raise InputError(f"{path}: layers.{pattern}: expected a mapping of {', '.join(FIELDS)}")
        unknown = [k for k in fields if k not in FIELDS]
        if unknown:
            raise InputError(f"{path}: layers.{pattern}: unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
        out.append((pattern, dict(fields)))
    return out


def _check_fields(where: str, fields: dict) -> None:
    if "method" in fields and fields["method"] not in METHODS:
        raise InputError(f"{where}.method: {fields['method']!r} is not one of {', '.join(METHODS)}")
    if "bits" in fields:
        b = fields["bits"]
        if isinstance(b, bool) or not isinstance(b, int):
            raise InputError(f"{where}.bits: expected an integer, got {b!r}")
    if "sparsity" in fields:
        s = fields["sparsity"]
        if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 <= s < 1.0):
            raise InputError(f"{where}.sparsity: expected a number in [0, 1) or null, got {s!r}")


def _kind(method: str) -> str:
    return re.sub(r"\d+$", "", method)  # fq5 -> fq


def _with_bits(where: str, method: str, bits: int, explicit: bool) -> str:
    if explicit:
        if BITS[method] != bits:
            raise InputError(f"{where}.bits: {bits} does not match method {method} ({BITS[method]} bits)")
        return method
    kind = _kind(method)
    chosen = f"{kind}{bits}"
    if chosen not in METHODS:
        widths = sorted(BITS[m] for m in METHODS if _kind(m) == kind)
        raise InputError(f"{where}.bits: {kind} quantization has {', '.join(map(str, widths))} bits, not {bits}")
    return chosen


def resolve_layer_settings(
    entries: list[tuple[str, dict]],
    layers: dict[str, tuple[str, ...]],
    method: str,
    sparsity: dict[str, float | None],
    source: str = "--layers",
) -> dict[str, LayerSetting]:
    """LayerSetting per layer: the run's `method` and per-layer default `sparsity`, overridden by `entries`
    in order. `layers` maps each module name to the names a pattern may match (module and node name)."""
    out = {name: {"method": method, "sparsity": sparsity.get(name)} for name in layers}
    for pattern, fields in entries:
        where = f"{source}: layers.{pattern}"
        _check_fields(where, fields)
        hits = [name for name, aliases in layers.items()
                if any(fnmatch.fnmatchcase(a, pattern) for a in aliases)]
        if not hits:
            shown = ", ".join(list(layers)[:6]) + (", ..." if len(layers) > 6 else "")
            raise InputError(f"{where}: matches no conv/linear layer of the model (layers: {shown})")
        for name in hits:
            s = out[name]
            if "method" in fields:
                s["method"] = fields["method"]
            if "bits" in fields:
                s["method"] = _with_bits(where, s["method"], fields["bits"], "method" in fields)
            if "sparsity" in fields:
                s["sparsity"] = None if fields["sparsity"] is None else float(fields["sparsity"])
    return {name: LayerSetting(s["method"], s["sparsity"]) for name, s in out.items()}


def layer_aliases(module_names: list[str]) -> dict[str, tuple[str, ...]]:
    """Module name -> (module name, graph node name): a torchvision downsample conv `X.downsample.0` is the
    node `X.downsample`."""
    return {n: (n, n[:-2]) if n.endswith(".downsample.0") else (n,) for n in module_names}
