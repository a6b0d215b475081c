"""Lossless coding of one layer's weight codes: dense Huffman, or sparse (relative index + Huffman).

* dense: every code (zeros included) Huffman-coded in C order; no index.
* sparse: the codes of the non-zeros (C order) Huffman-coded; their positions as gaps (zeros since the
  previous non-zero, the first gap counted from position 0). A gap g < E is the gap symbol g; a larger one
  is the escape symbol E plus (g - E) written in `esc_bits` raw bits in a separate stream. E is a power of
  two picked per layer to minimise the bytes, gap table included.

Whichever of the two is smaller (exact bytes, tables included) is written. Byte layout: docs/fqz_format.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import huffman
from .binary import Builder, Cursor, FormatError
from .packing import read_uints, uints_size, unpack_fixed, write_uints

__all__ = ["DENSE", "SPARSE", "CodedWeights", "decode_codes", "encode_codes", "unpack_fixed"]

DENSE, SPARSE = 0, 1
MAX_GAP_BOUND = 1 << 12  # largest escape bound E tried (the gap code table holds E + 1 packed lengths)
MAX_LAYER_WEIGHTS = 1 << 28  # format limit; bounds what a reader allocates
_LENGTH_BITS = huffman.MAX_LEN.bit_length()  # code lengths 0..24 are packed in at most 5 bits


@dataclass
class CodedWeights:
    coding: int  # DENSE or SPARSE
    value_lengths: np.ndarray  # uint8 per codebook symbol
    value_count: int  # dense: all weights; sparse: non-zeros
    value_stream: bytes
    gap_bound: int = 0  # E (sparse only)
    gap_lengths: np.ndarray | None = None  # uint8, E + 1 entries
    gap_stream: bytes = b""
    esc_bits: int = 0
    esc_stream: bytes = b""

    # byte accounting, itemised as in the size report (the layout is in write())
    @property
    def table_bytes(self) -> int:  # the value code-length table (packed) belongs to the codebook
        return uints_size(self.value_lengths)

    @property
    def code_bytes(self) -> int:  # coding flag, value count, stream length, stream
        return 1 + 4 + 4 + len(self.value_stream)

    @property
    def index_bytes(self) -> int:
        if self.coding == DENSE:
            return 0
        return 1 + uints_size(self.gap_lengths) + 4 + len(self.gap_stream) + 1 + 4 + len(self.esc_stream)

    @property
    def nbytes(self) -> int:
        return self.table_bytes + self.code_bytes + self.index_bytes

    def write(self, out: Builder) -> None:
        out.u8(self.coding)
        write_uints(out, self.value_lengths)
        out.u32(self.value_count)
        out.blob(self.value_stream)
        if self.coding == SPARSE:
            out.u8(self.gap_bound.bit_length() - 1)  # E is a power of two: its log2
            write_uints(out, self.gap_lengths)
            out.blob(self.gap_stream)
            out.u8(self.esc_bits)
            out.blob(self.esc_stream)

    @classmethod
    def read(cls, cur: Cursor, nsym: int) -> CodedWeights:
        coding = cur.u8("coding flag")
        if coding not in (DENSE, SPARSE):
            raise FormatError(f"unknown weight coding {coding}")
        lengths = read_uints(cur, nsym, "value code lengths", _LENGTH_BITS).astype(np.uint8)
        count = cur.u32("value count")
        stream = cur.blob("value stream")
        if coding == DENSE:
            return cls(DENSE, lengths, count, stream)
        log_bound = cur.u8("gap bound (log2)")
        if log_bound > MAX_GAP_BOUND.bit_length() - 1:
            raise FormatError(f"gap bound 2^{log_bound} outside 1..{MAX_GAP_BOUND}")
        bound = 1 << log_bound
        gap_lengths = read_uints(cur, bound + 1, "gap code lengths", _LENGTH_BITS).astype(np.uint8)
        gap_stream = cur.blob("gap stream")
        esc_bits = cur.u8("escape width")
        if esc_bits > 32:
            raise FormatError(f"escape width {esc_bits} > 32 bits")
        esc_stream = cur.blob("escape stream")
        return cls(SPARSE, lengths, count, stream, bound, gap_lengths, gap_stream, esc_bits, esc_stream)


def _dense(flat: np.ndarray, nsym: int) -> CodedWeights:
    freq = np.bincount(flat, minlength=nsym)
    lengths = huffman.code_lengths(freq)
    return CodedWeights(DENSE, lengths, int(flat.size), b"")


def _gap_plan(gaps: np.ndarray) -> tuple[int, np.ndarray, int]:
    """(E, gap code lengths, escape width) with the fewest bytes for these gaps."""
    max_gap = int(gaps.max()) if gaps.size else 0
    best = None
    bound = 1
    while True:
        direct = gaps < bound
        freq = np.bincount(np.where(direct, gaps, bound), minlength=bound + 1)
        lengths = huffman.code_lengths(freq)
        esc = gaps[~direct] - bound
        esc_bits = int(esc.max()).bit_length() if esc.size else 0
        cost = uints_size(lengths) + (huffman.encoded_bits(freq, lengths) + 7) // 8 + (esc.size * esc_bits + 7) // 8
        if best is None or cost < best[0]:
            best = (cost, bound, lengths, esc_bits)
        if bound > max_gap or bound >= MAX_GAP_BOUND:
            break
        bound *= 2
    return best[1], best[2], best[3]


def encode_codes(codes: np.ndarray, nsym: int) -> CodedWeights:
    """Code a layer's symbols (any shape, values in 0..nsym-1), choosing the smaller of dense and sparse."""
    flat = np.asarray(codes).ravel().astype(np.int64)
    if flat.size > MAX_LAYER_WEIGHTS:
        raise ValueError(f"{flat.size} weights exceed the per-layer limit {MAX_LAYER_WEIGHTS}")
    dense = _dense(flat, nsym)
    dense_bytes = dense.nbytes + (huffman.encoded_bits(np.bincount(flat, minlength=nsym), dense.value_lengths) + 7) // 8

    pos = np.flatnonzero(flat)
    vals = flat[pos]
    gaps = np.diff(pos, prepend=-1) - 1
    vfreq = np.bincount(vals, minlength=nsym)
    vlengths = huffman.code_lengths(vfreq)
    bound, glengths, esc_bits = _gap_plan(gaps)
    sparse = CodedWeights(SPARSE, vlengths, int(pos.size), b"", bound, glengths, b"", esc_bits, b"")
    gsym = np.minimum(gaps, bound)
    sparse_bytes = (
        sparse.nbytes
        + (huffman.encoded_bits(vfreq, vlengths) + 7) // 8
        + (huffman.encoded_bits(np.bincount(gsym, minlength=bound + 1), glengths) + 7) // 8
        + (int(np.count_nonzero(gaps >= bound)) * esc_bits + 7) // 8
    )
    if dense_bytes < sparse_bytes:
        dense.value_stream = huffman.encode(flat, dense.value_lengths)
        return dense
    sparse.value_stream = huffman.encode(vals, vlengths)
    sparse.gap_stream = huffman.encode(gsym, glengths)
    esc = gaps[gaps >= bound] - bound
    sparse.esc_stream = huffman.pack_bits(esc, np.full(esc.size, esc_bits))
    return sparse


def decode_codes(cw: CodedWeights, size: int) -> np.ndarray:
    """The flat uint16 symbol array of `size` weights; FormatError when inconsistent."""
    if cw.coding == DENSE:
        if cw.value_count != size:
            raise FormatError(f"dense stream declares {cw.value_count} codes for {size} weights")
        try:
            return huffman.decode(cw.value_stream, cw.value_lengths, size).astype(np.uint16)
        except huffman.HuffmanError as e:
            raise FormatError(f"value stream: {e}") from None
    nnz = cw.value_count
    if nnz > size:
        raise FormatError(f"{nnz} non-zeros declared for {size} weights")
    if cw.value_lengths.size and cw.value_lengths[0]:
        raise FormatError("the zero symbol has a code in a sparse stream")
    try:
        vals = huffman.decode(cw.value_stream, cw.value_lengths, nnz)
    except huffman.HuffmanError as e:
        raise FormatError(f"value stream: {e}") from None
    try:
        gsym = huffman.decode(cw.gap_stream, cw.gap_lengths, nnz)
    except huffman.HuffmanError as e:
        raise FormatError(f"gap stream: {e}") from None
    escaped = gsym == cw.gap_bound
    gaps = gsym.copy()
    gaps[escaped] = unpack_fixed(cw.esc_stream, int(escaped.sum()), cw.esc_bits) + cw.gap_bound
    pos = np.cumsum(gaps + 1) - 1
    if nnz and pos[-1] >= size:
        raise FormatError(f"sparse index points at weight {int(pos[-1])} of {size}")
    flat = np.zeros(size, dtype=np.uint16)
    flat[pos] = vals
    return flat
