"""The versioned `.fqz` file: header, CRC-checked sections, exact round trip of a CompressedModel.

Layout (docs/fqz_format.md): b"FQZ\\x00", u16 version, u16 flags, then sections
`tag(4) | u32 length | u32 crc32(payload) | payload`: one "GRPH" (zlib-compressed JSON graph), one "LAYR"
per node that has a weight, bias or batch norm (node order), and a closing "END\\x00". Every reader error is
a ModelFileError naming the file, the section/layer and what is wrong.
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
from ..model import MODES, OPS, BatchNorm, CompressedModel, Node, QuantWeight, SymbolFields
from ..model_validation import validate_model
from ..safeio import read_regular
from . import huffman, jsonvalue
from .binary import Builder, Cursor, FormatError, dtype_code, dtype_of
from .packing import read_float_group, read_ints, write_float_group, write_ints
from .sparse_index import MAX_LAYER_WEIGHTS, CodedWeights, decode_codes, encode_codes

MAGIC = b"FQZ\x00"
VERSION = 2  # 2: compressed graph, narrow float/int arrays, packed code-length tables (1: pre-release)
HEADER_BYTES = 8  # magic, u16 version, u16 flags
FRAME_BYTES = 12  # tag, u32 length, u32 crc32
TAG_GRAPH, TAG_LAYER, TAG_END = b"GRPH", b"LAYR", b"END\x00"
MAX_SYMBOLS = 1 << 16  # codes are uint16
MAX_MODEL_WEIGHTS = 1 << 30  # bounds what a reader allocates for a file that declares absurd shapes
MAX_GRAPH_BYTES = 1 << 26  # uncompressed JSON graph limit (a ResNet-18's is 16 kB): bounds zlib output
MAX_FILE_BYTES = 1 << 32  # 2^30 weights at most, each code below 24 bits: a larger file cannot be valid
_WIDTHS = {1: "<i1", 2: "<i2", 4: "<i4", 8: "<i8"}


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


class _Err(Exception):
    """FormatError with the section/layer it happened in."""

    def __init__(self, where: str, msg: str) -> None:
        super().__init__(f"{where}: {msg}")


# ----------------------------------------------------------------------------------------------- writing


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
            out.raw(codebook.astype(_WIDTHS[width]).tobytes())
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
    """The per-channel float arrays of a layer section, in file order: scale, bias, BN statistics."""
    return (
        ([node.weight.scale] if node.weight is not None else [])
        + ([node.bias] if node.bias is not None else [])
        + ([node.bn.gamma, node.bn.beta, node.bn.mean, node.bn.var] if node.bn is not None else [])
    )


def _section(tag: bytes, payload: bytes) -> bytes:
    if len(payload) >= 1 << 32:
        raise ValueError(f"section {tag!r} exceeds 4 GiB")
    return tag + len(payload).to_bytes(4, "little") + (zlib.crc32(payload) & 0xFFFFFFFF).to_bytes(4, "little") + payload


def encode_model(model: CompressedModel, name: str = "<model>", validate: bool = True) -> Encoded:
    """The bytes of the .fqz file for `model`, with the byte accounting of every section; the model is
    validated first (fq_hls.model_validation), so the writer never writes a file the reader refuses.
    `validate=False` checks only what the format itself needs (size accounting of any graph)."""
    if validate:
        validate_model(model, f"cannot write {name}")
    try:
        graph = _graph(model)
        _check_model(model)
        text = json.dumps(graph, sort_keys=True, separators=(",", ":"), allow_nan=True).encode("utf-8")
        _check_graph(json.loads(text))  # never write a file the reader would reject
        if len(text) > MAX_GRAPH_BYTES:
            raise ValueError(f"the JSON graph takes {len(text)} bytes (limit {MAX_GRAPH_BYTES})")
    except (TypeError, ValueError, FormatError) as e:
        raise ModelFileError(f"cannot write {name}: {e}") from None
    graph_payload = len(text).to_bytes(4, "little") + zlib.compress(text, 9)
    parts = [MAGIC + VERSION.to_bytes(2, "little") + (0).to_bytes(2, "little"), _section(TAG_GRAPH, graph_payload)]
    layers = []
    for i, n in enumerate(model.nodes):
        if n.weight is None and n.bias is None and n.bn is None:
            continue
        try:
            payload, acct = _layer_payload(i, n)
        except (TypeError, ValueError, FormatError) as e:
            raise ModelFileError(f"cannot write {name}: node {n.name!r}: {e}") from None
        parts.append(_section(TAG_LAYER, payload))
        layers.append(acct)
    end = _section(TAG_END, (len(parts) - 1).to_bytes(4, "little"))
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


# ------------------------------------------------------------------------------------------- validation


def _field_levels(f: SymbolFields, n: int, where: str) -> np.ndarray:
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


def _check_fields(f: SymbolFields, codebook: np.ndarray, where: str) -> None:
    levels = _field_levels(f, codebook.size, where)
    if not np.array_equal(levels[1:], codebook[1:].astype(np.int64)):
        raise FormatError(f"{where}: symbol fields do not reproduce the codebook")


def _check_weight(w: QuantWeight, where: str) -> None:
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
        _check_fields(w.fields, codebook, where)


def _check_model(model: CompressedModel) -> None:
    for n in model.nodes:
        where = f"node {n.name!r}"
        out = None
        if n.weight is not None:
            _check_weight(n.weight, where)
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


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_graph(g: object) -> None:
    """Schema of the GRPH JSON; raises FormatError naming the field."""
    if not isinstance(g, dict):
        raise FormatError("graph is not a JSON object")
    want = {"format": str, "arch": str, "method": str, "num_classes": int, "input_shape": list, "mean": list,
            "std": list, "nodes": list}
    for k, t in want.items():
        if k not in g or not isinstance(g[k], t) or (t is int and not _is_int(g[k])):
            raise FormatError(f"graph field {k!r} missing or not a {t.__name__}")
    for k in ("act_max", "meta"):
        if k not in g:
            raise FormatError(f"graph field {k!r} missing")
    if g["format"] != "fqz":
        raise FormatError(f"graph format is {g['format']!r}, not 'fqz'")
    if len(g["input_shape"]) != 3 or not all(_is_int(v) and v > 0 for v in g["input_shape"]):
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
        if not isinstance(w, dict) or w.get("mode") not in MODES or not _is_int(w.get("bits")):
            raise FormatError(f"{where}: weight mode/bits malformed")
        shape = w.get("shape")
        ndim = 4 if d["op"] == "conv" else 2
        if not isinstance(shape, list) or len(shape) != ndim or not all(_is_int(s) and s > 0 for s in shape):
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
                and _is_int(f.get("q_shift"))
                and all(isinstance(f.get(k), list) and len(f[k]) == 2 and all(map(_is_int, f[k]))
                        for k in ("mu_shift", "mu_sign"))
            )
            if not ok:
                raise FormatError(f"{where}: weight fields malformed")


# ----------------------------------------------------------------------------------------------- reading


def _read_layer(payload: bytes, index: int, d: dict) -> Node:
    cur = Cursor(payload)
    got = cur.u32("node index")
    if got != index:
        raise FormatError(f"section is for node #{got}, expected #{index}")
    weight = bias = bn = None
    w = d["weight"]
    if w is not None:
        shape = tuple(w["shape"])
        codes_dt = dtype_of(cur.u8("codes dtype"))
        book_dt = dtype_of(cur.u8("codebook dtype"))
        if codes_dt.kind not in "iu" or book_dt.kind not in "iu":
            raise FormatError("codes and codebook must have integer dtypes")
        nsym = cur.u32("symbol count")
        if not 1 <= nsym <= MAX_SYMBOLS:
            raise FormatError(f"{nsym} codebook symbols (1..{MAX_SYMBOLS} allowed)")
        fields = None
        if w["fields"] is None:
            width = cur.u8("codebook width")
            if width not in _WIDTHS:
                raise FormatError(f"codebook width {width} not in 1, 2, 4, 8")
            raw = np.frombuffer(cur.take(nsym * width, "codebook"), dtype=_WIDTHS[width]).astype(np.int64)
        else:
            comp, sign, exp = (read_ints(cur, nsym, f"fields.{k}") for k in ("comp", "sign", "exp"))
            f = w["fields"]
            fields = SymbolFields(comp, sign, exp, f["q_shift"], tuple(f["mu_shift"]), tuple(f["mu_sign"]))
            try:
                raw = _field_levels(fields, nsym, "weight")
            except FormatError as e:
                raise FormatError(str(e).removeprefix("weight: ")) from None
        if (raw.astype(book_dt).astype(np.int64) != raw).any():
            raise FormatError(f"codebook levels do not fit {book_dt}")
        codebook = raw.astype(book_dt)
        size = int(np.prod(shape))
        declared = cur.u32("weight count")
        if declared != size:
            raise FormatError(f"section holds {declared} weights but the graph's shape {list(shape)} has {size}")
        cw = CodedWeights.read(cur, nsym)
        flat = decode_codes(cw, size)
        if int(flat.max(initial=0)) > np.iinfo(codes_dt).max:
            raise FormatError(f"codes do not fit {codes_dt}")
        codes = flat.astype(codes_dt).reshape(shape)
    names = (["scale"] if w is not None else []) + (["bias"] if d["bias"] else []) + (
        ["bn.gamma", "bn.beta", "bn.mean", "bn.var"] if d["bn"] else [])
    floats = read_float_group(cur, shape[0], names) if names else []
    if w is not None:
        weight = QuantWeight(w["mode"], w["bits"], codes, codebook, floats.pop(0), fields,
                             jsonvalue.decode(w["params"]))
        try:
            _check_weight(weight, "weight")
        except FormatError as e:
            raise FormatError(str(e).removeprefix("weight: ")) from None
    if d["bias"]:
        bias = floats.pop(0)
    if d["bn"]:
        bn = BatchNorm(*floats, cur.f64("bn.eps"))
    cur.done("the section")
    return Node(d["name"], d["op"], list(d["inputs"]), jsonvalue.decode(d["attrs"]), weight, bias, bn, d["relu"])


def decode_model(data: bytes, name: str = "<bytes>", _strict: bool = False, validate: bool = True) -> CompressedModel:
    """Parse .fqz bytes; ModelFileError (naming `name`, the section and the problem) on any defect.

    Every defect the format can have is detected explicitly, and the decoded model is then validated
    semantically (fq_hls.model_validation: graph, shapes, attributes, numbers; InvalidModelError) unless
    `validate=False`. The last-resort handler only guarantees that a reader bug still surfaces as
    ModelFileError (tests pass `_strict=True` to see such bugs instead).
    """
    try:
        model = _decode(memoryview(data))
        if validate:
            validate_model(model, name)
        return model
    except ModelFileError:
        raise
    except (_Err, FormatError, huffman.HuffmanError) as e:
        raise ModelFileError(f"{name}: {e}") from None
    except Exception as e:
        if _strict:
            raise
        raise ModelFileError(f"{name}: unreadable ({type(e).__name__}: {e})") from None


def _inflate_graph(payload: bytes) -> bytes:
    """The JSON text of a GRPH payload (u32 size + zlib stream), never inflating past the declared size."""
    if len(payload) < 4:
        raise FormatError(f"graph payload of {len(payload)} bytes has no size field")
    size = int.from_bytes(payload[:4], "little")
    if not 0 < size <= MAX_GRAPH_BYTES:  # (0 would mean "no limit" to zlib's max_length)
        raise FormatError(f"graph declares {size} bytes of JSON (limit {MAX_GRAPH_BYTES})")
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(payload[4:], size)  # max_length: a zip bomb stops at `size` bytes
        if not inflater.eof:  # room left in the output but the stream did not end: more data than declared
            text += inflater.decompress(inflater.unconsumed_tail, 1)
    except zlib.error as e:
        raise FormatError(f"graph is not a valid zlib stream ({e})") from None
    if not inflater.eof:
        raise FormatError(f"graph zlib stream is truncated or longer than the declared {size} bytes")
    if len(text) != size:
        raise FormatError(f"graph inflates to {len(text)} bytes, {size} declared")
    if inflater.unused_data:
        raise FormatError(f"{len(inflater.unused_data)} bytes after the graph's zlib stream")
    return text


def _sections(data: memoryview):
    """Yield (tag, payload, offset) for every framed section after the header, verifying CRCs."""
    pos = HEADER_BYTES
    while True:
        where = f"section at byte {pos}"
        if len(data) - pos < FRAME_BYTES:
            raise _Err(where, "file is truncated (no closing END section)")
        tag = bytes(data[pos : pos + 4])
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        crc = int.from_bytes(data[pos + 8 : pos + 12], "little")
        label = f"{where} ({tag!r})"
        if length > len(data) - pos - FRAME_BYTES:
            raise _Err(label, f"declares {length} bytes but only {len(data) - pos - FRAME_BYTES} remain (truncated)")
        payload = data[pos + FRAME_BYTES : pos + FRAME_BYTES + length]
        if zlib.crc32(payload) & 0xFFFFFFFF != crc:
            raise _Err(label, "CRC32 mismatch (corrupt)")
        nxt = pos + FRAME_BYTES + length
        if tag == TAG_END and nxt != len(data):
            raise _Err(label, f"{len(data) - nxt} bytes after the END section")
        yield tag, bytes(payload), pos
        if tag == TAG_END:
            return
        pos = nxt


def _decode(data: memoryview) -> CompressedModel:
    if len(data) < HEADER_BYTES:
        raise _Err("header", f"file is {len(data)} bytes, too short for a .fqz header")
    if bytes(data[:4]) != MAGIC:
        raise _Err("header", f"bad magic {bytes(data[:4])!r}: not a .fqz file")
    version = int.from_bytes(data[4:6], "little")
    if version == 1:
        raise _Err("header", f"format version 1 (pre-release layout, no longer read); this reader supports "
                             f"version {VERSION}: write the model again with this fq-hls")
    if version != VERSION:
        raise _Err("header", f"format version {version}; this reader supports version {VERSION}")
    flags = int.from_bytes(data[6:8], "little")
    if flags:
        raise _Err("header", f"unknown flags {flags:#06x}")
    graph = None
    pending: list[int] = []  # node indices still expecting a LAYR section
    nodes: list[Node | None] = []
    count = 0
    for tag, payload, pos in _sections(data):
        where = f"section {tag.decode('latin-1')!r} at byte {pos}"
        if tag == TAG_END:
            if graph is None:
                raise _Err(where, "END before the graph section")
            if pending:
                raise _Err(where, f"missing LAYR section for node {graph['nodes'][pending[0]]['name']!r}")
            if len(payload) != 4 or int.from_bytes(payload, "little") != count:
                raise _Err(where, f"section count does not match the {count} sections read")
            break
        count += 1
        if tag == TAG_GRAPH:
            if graph is not None:
                raise _Err(where, "second graph section")
            try:
                graph = json.loads(_inflate_graph(payload).decode("utf-8"))
                _check_graph(graph)
                nodes = [
                    None if (d["weight"] is not None or d["bias"] or d["bn"]) else
                    Node(d["name"], d["op"], list(d["inputs"]), jsonvalue.decode(d["attrs"]), relu=d["relu"])
                    for d in graph["nodes"]
                ]
            except (UnicodeDecodeError, ValueError, RecursionError) as e:
                raise _Err(where, f"graph is invalid: {e}") from None
            pending = [i for i, n in enumerate(nodes) if n is None]
        elif tag == TAG_LAYER:
            if graph is None:
                raise _Err(where, "layer section before the graph section")
            if not pending:
                raise _Err(where, "more layer sections than the graph declares")
            i = pending.pop(0)
            d = graph["nodes"][i]
            try:
                nodes[i] = _read_layer(payload, i, d)
            except (FormatError, huffman.HuffmanError) as e:
                raise _Err(f"layer {d['name']!r} ({where})", str(e)) from None
        elif tag[:1].islower():
            continue  # ancillary section from a newer writer: safe to skip
        else:
            raise _Err(where, "unknown critical section (written by a newer fq-hls?)")
    g = graph
    try:
        return CompressedModel(
            arch=g["arch"],
            num_classes=g["num_classes"],
            input_shape=tuple(g["input_shape"]),
            mean=tuple(float(v) for v in g["mean"]),
            std=tuple(float(v) for v in g["std"]),
            method=g["method"],
            nodes=nodes,
            act_max=jsonvalue.decode(g["act_max"]),
            meta=jsonvalue.decode(g["meta"]),
        )
    except (FormatError, ValueError, TypeError) as e:
        raise _Err("graph", str(e)) from None


def read_fqz(path: str | os.PathLike, validate: bool = True) -> CompressedModel:
    """Read a .fqz file; ModelFileError for a missing, foreign, corrupt, truncated or inconsistent file, and
    (InvalidModelError) for a model that is not one every stage can run (`validate=False` skips that)."""
    path = Path(path)
    # a regular file no larger than the format allows: a FIFO or /dev/zero is refused, never read
    data = read_regular(path, MAX_FILE_BYTES, "model file", ModelFileError)
    return decode_model(data, str(path), validate=validate)
