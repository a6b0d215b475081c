"""The byte layout of a `.fqz` file (docs/fqz_format.md): header, framed sections, their order and limits.

b"FQZ\\x00", u16 version, u16 flags, then sections `tag(4) | u32 length | u32 crc32(payload) | payload`: one
"GRPH" (zlib-compressed JSON graph), one "LAYR" per node that has a weight, bias or batch norm (node order),
and a closing "END\\x00". The writer (fq_hls.fqz.writer) and the reader (fq_hls.fqz.reader) share these.
"""

from __future__ import annotations

import zlib

MAGIC = b"FQZ\x00"
VERSION = 2  # 2: compressed graph, narrow float/int arrays, packed code-length tables (1: pre-release)
HEADER_BYTES = 8  # magic, u16 version, u16 flags
FRAME_BYTES = 12  # tag, u32 length, u32 crc32
TAG_GRAPH, TAG_LAYER, TAG_END = b"GRPH", b"LAYR", b"END\x00"
MAX_SYMBOLS = 1 << 16  # codes are uint16
MAX_MODEL_WEIGHTS = 1 << 30  # bounds what a reader allocates for a file that declares absurd shapes
MAX_GRAPH_BYTES = 1 << 26  # uncompressed JSON graph limit (a ResNet-18's is 16 kB): bounds zlib output
MAX_FILE_BYTES = 1 << 32  # 2^30 weights at most, each code below 24 bits: a larger file cannot be valid
LEVEL_WIDTHS = {1: "<i1", 2: "<i2", 4: "<i4", 8: "<i8"}  # bytes per stored codebook level -> dtype


def frame(tag: bytes, payload: bytes) -> bytes:
    """One section: tag, u32 length, u32 crc32 of the payload, the payload."""
    if len(payload) >= 1 << 32:
        raise ValueError(f"section {tag!r} exceeds 4 GiB")
    return tag + len(payload).to_bytes(4, "little") + (zlib.crc32(payload) & 0xFFFFFFFF).to_bytes(4, "little") + payload


def float_fields(weight: bool, bias: bool, bn: bool) -> list[str]:
    """Names of the per-channel float arrays of a layer section, in file order: scale, bias, BN statistics."""
    return (["scale"] if weight else []) + (["bias"] if bias else []) + (
        ["bn.gamma", "bn.beta", "bn.mean", "bn.var"] if bn else [])
