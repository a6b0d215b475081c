"""Reading a `.fqz` file: the header, every framed section with its CRC, the graph and the layer sections,
into a CompressedModel. Every defect is a ModelFileError naming the file, the section/layer and what is wrong.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from ..model import BatchNorm, CompressedModel, Node, QuantWeight, SymbolFields
from ..model_validation import validate_model
from ..safeio import read_regular
from . import huffman, jsonvalue
from .binary import Cursor, FormatError, dtype_of
from .layout import (
    FRAME_BYTES,
    HEADER_BYTES,
    LEVEL_WIDTHS,
    MAGIC,
    MAX_FILE_BYTES,
    MAX_GRAPH_BYTES,
    MAX_SYMBOLS,
    TAG_END,
    TAG_GRAPH,
    TAG_LAYER,
    VERSION,
    float_fields,
)
from .packing import read_float_group, read_ints
from .schema import check_graph, check_weight, field_levels
from .sparse_index import CodedWeights, decode_codes


class _Err(Exception):
    """FormatError with the section/layer it happened in."""

    def __init__(self, where: str, msg: str) -> None:
        super().__init__(f"{where}: {msg}")


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
            if width not in LEVEL_WIDTHS:
                raise FormatError(f"codebook width {width} not in 1, 2, 4, 8")
            raw = np.frombuffer(cur.take(nsym * width, "codebook"), dtype=LEVEL_WIDTHS[width]).astype(np.int64)
        else:
            comp, sign, exp = (read_ints(cur, nsym, f"fields.{k}") for k in ("comp", "sign", "exp"))
            f = w["fields"]
            fields = SymbolFields(comp, sign, exp, f["q_shift"], tuple(f["mu_shift"]), tuple(f["mu_sign"]))
            try:
                raw = field_levels(fields, nsym, "weight")
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
    names = float_fields(w is not None, d["bias"], d["bn"])
    floats = read_float_group(cur, shape[0], names) if names else []
    if w is not None:
        weight = QuantWeight(w["mode"], w["bits"], codes, codebook, floats.pop(0), fields,
                             jsonvalue.decode(w["params"]))
        try:
            check_weight(weight, "weight")
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
                check_graph(graph)
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
