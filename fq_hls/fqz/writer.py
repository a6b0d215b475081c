"""Writing a `.fqz` file: the JSON graph, one layer section per weighted node (Huffman-coded codes and sparse
indices, narrow float arrays), the byte accounting of every section, and the atomic write.
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from ..model import CompressedModel, Node
from ..model_validation import validate_model
from . import jsonvalue
from .binary import Builder, FormatError, dtype_code
from .layout import (
    FRAME_BYTES,
    HEADER_BYTES,
    LEVEL_WIDTHS,
    MAGIC,
    MAX_GRAPH_BYTES,
    TAG_END,
    TAG_GRAPH,
    TAG_LAYER,
    VERSION,
    float_fields,
    frame,
)
from .packing import write_float_group, write_ints
from .schema import check_graph, check_model
from .sparse_index import encode_codes


@dataclass
class LayerBytes:
    """Where one LAYR section's bytes go (sums to `total`, framing included)."""

    node: str
    codebook: int = 0  # level table, dtypes, symbol count, SymbolFields arrays, value code-length table
    code: int = 0  # the Huffman-coded weight symbols and their counts
    index: int = 0  # sparse positions: gap table, gap stream, escapes
    param: int = 0  # scale, weight count, bias, BN, node index, section framing
    coding: str = "none"

    @property
    def total(self) -> int:
        return self.codebook + self.code + self.index + self.param


@dataclass
class Encoded:
    data: bytes
    header_bytes: int
    graph_bytes: int  # GRPH section, framing included
    end_bytes: int
    layers: list[LayerBytes] = field(default_factory=list)


def _graph(model: CompressedModel) -> dict:
    nodes = []
    for n in model.nodes:
        where = f"node {n.name!r}"
        d = {
            "name": n.name,
            "op": n.op,
            "inputs": list(n.inputs),
            "attrs": jsonvalue.encode(n.attrs, f"{where} attrs"),
            "relu": bool(n.relu),
            "bias": n.bias is not None,
            "bn": n.bn is not None,
            "weight": None,
        }
        if not isinstance(n.relu, (bool, np.bool_)):
            raise TypeError(f"{where}: relu must be a bool")
        w = n.weight
        if w is not None:
            f = w.fields
            d["weight"] = {
                "mode": w.mode,
                "bits": _int(w.bits, f"{where} bits"),
                "shape": [int(s) for s in np.shape(w.codes)],
                "params": jsonvalue.encode(w.params, f"{where} params"),
                "fields": None
                if f is None
                else {
                    "q_shift": _int(f.q_shift, f"{where} q_shift"),
                    "mu_shift": [_int(v, f"{where} mu_shift") for v in f.mu_shift],
                    "mu_sign": [_int(v, f"{where} mu_sign") for v in f.mu_sign],
                },
            }
        nodes.append(d)
    return {
        "format": "fqz",
        "arch": model.arch,
        "num_classes": _int(model.num_classes, "num_classes"),
        "input_shape": [_int(v, "input_shape") for v in model.input_shape],
        "mean": [float(v) for v in model.mean],
        "std": [float(v) for v in model.std],
        "method": model.method,
        "act_max": jsonvalue.encode(model.act_max, "act_max"),
        "meta": jsonvalue.encode(model.meta, "meta"),
        "nodes": nodes,
    }


def _int(v: object, where: str) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{where} must be an integer, got {v!r}")
    return int(v)


def _narrow(levels: np.ndarray) -> int:
    """Fewest bytes per level (1, 2, 4, 8) that hold every codebook level."""
    lo, hi = (int(levels.min()), int(levels.max())) if levels.size else (0, 0)
    for width in (1, 2, 4, 8):
        if -(1 << (8 * width - 1)) <= lo and hi < (1 << (8 * width - 1)):
            return width
    raise ValueError("codebook level beyond int64")


def _layer_payload(index: int, node: Node) -> tuple[bytes, LayerBytes]:
    out = Builder()
    acct = LayerBytes(node.name)
    out.u32(index)
    w = node.weight
    if w is not None:
        start = out.size
        codes = np.asarray(w.codes)
        codebook = np.asarray(w.codebook)
        nsym = codebook.size
        out.u8(dtype_code(codes.dtype))
        out.u8(dtype_code(codebook.dtype))
        out.u32(nsym)
        if w.fields is None:
            width = _narrow(codebook)
            out.u8(width)
            out.raw(codebook.astype(LEVEL_WIDTHS[width]).tobytes())
        else:  # the fields reproduce the codebook (checked), so the levels are not stored
            for a in (w.fields.comp, w.fields.sign, w.fields.exp):
                write_ints(out, a)
        acct.codebook += out.size - start
        start = out.size
        out.u32(codes.size)  # cross-checks the graph's shape before anything is allocated
        acct.param += out.size - start
        cw = encode_codes(codes, nsym)
        cw.write(out)
        acct.codebook += cw.table_bytes
        acct.code += cw.code_bytes
        acct.index += cw.index_bytes
        acct.coding = "dense" if cw.gap_lengths is None else "sparse"
    start = out.size
    write_float_group(out, [np.asarray(a) for a in _float_arrays(node)])
    if node.bn is not None:
        out.f64(float(node.bn.eps))
    acct.param += out.size - start + 4 + FRAME_BYTES  # + node index + framing
    return out.bytes(), acct


def _float_arrays(node: Node) -> list:
    """The per-channel float arrays of a layer section, in file order (layout.float_fields)."""
    arrays = {"scale": node.weight.scale if node.weight is not None else None, "bias": node.bias}
    if node.bn is not None:
        arrays.update({f"bn.{k}": getattr(node.bn, k) for k in ("gamma", "beta", "mean", "var")})
    return [arrays[k] for k in float_fields(node.weight is not None, node.bias is not None, node.bn is not None)]


def encode_model(model: CompressedModel, name: str = "<model>", validate: bool = True) -> Encoded:
    """The bytes of the .fqz file for `model`, with the byte accounting of every section; the model is
    validated first (fq_hls.model_validation), so the writer never writes a file the reader refuses.
    `validate=False` checks only what the format itself needs (size accounting of any graph)."""
    if validate:
        validate_model(model, f"cannot write {name}")
    try:
        graph = _graph(model)
        check_model(model)
        text = json.dumps(graph, sort_keys=True, separators=(",", ":"), allow_nan=True).encode("utf-8")
        check_graph(json.loads(text))  # never write a file the reader would reject
        if len(text) > MAX_GRAPH_BYTES:
            raise ValueError(f"the JSON graph takes {len(text)} bytes (limit {MAX_GRAPH_BYTES})")
    except (TypeError, ValueError, FormatError) as e:
        raise ModelFileError(f"cannot write {name}: {e}") from None
    graph_payload = len(text).to_bytes(4, "little") + zlib.compress(text, 9)
    parts = [MAGIC + VERSION.to_bytes(2, "little") + (0).to_bytes(2, "little"), frame(TAG_GRAPH, graph_payload)]
    layers = []
    for i, n in enumerate(model.nodes):
        if n.weight is None and n.bias is None and n.bn is None:
            continue
        try:
            payload, acct = _layer_payload(i, n)
        except (TypeError, ValueError, FormatError) as e:
            raise ModelFileError(f"cannot write {name}: node {n.name!r}: {e}") from None
        parts.append(frame(TAG_LAYER, payload))
        layers.append(acct)
    end = frame(TAG_END, (len(parts) - 1).to_bytes(4, "little"))
    parts.append(end)
    return Encoded(b"".join(parts), HEADER_BYTES, len(parts[1]), len(end), layers)


def write_fqz(model: CompressedModel, path: str | os.PathLike, overwrite: bool = True, validate: bool = True) -> int:
    """Write `model` to `path` atomically (temp file in the same folder, then os.replace); returns bytes.

    An existing file at `path` is only replaced once the new one is complete, so writing over the file a
    model was read from is safe; `overwrite=False` refuses any existing file.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise ModelFileError(f"{path} exists; refusing to overwrite it")
    data = encode_model(model, str(path), validate).data
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise ModelFileError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ModelFileError(f"cannot write {path}: {e.strerror or e}") from None
    return len(data)
