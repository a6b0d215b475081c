"""Narrow encodings of the small per-layer tables and arrays (format version 2, docs/fqz_format.md).

* unsigned fields: `u8 width w` then the values in w bits each, MSB first (code-length tables);
* integer arrays: `u8 dtype, u8 width` then either the raw elements (width 255) or the minimum as one
  element and every `value - minimum` in `width` bits (SymbolFields: 1-4 bits instead of 8);
* float arrays (a layer's scale, bias, BN statistics, as one group): one tag byte per array,
  `form << 4 | dtype code`: the whole array, one value repeated, or float16 values that widen exactly to
  the stored dtype; the float16 high bytes of the group optionally Huffman-coded (write_float_group).

Every count is implied by the caller (nsym, E + 1, output channels), so a reader checks lengths exactly.
"""

from __future__ import annotations

import numpy as np

from . import huffman
from .binary import DTYPES, Builder, Cursor, FormatError, dtype_code, dtype_of
from .huffman import pack_bits

RAW_WIDTH = 255  # integer array stored element by element
FLOAT_FULL, FLOAT_SINGLE, FLOAT_HALF = 0, 1, 2
_F16 = np.dtype("<f2")


def unpack_fixed(data: bytes, count: int, width: int) -> np.ndarray:
    """Inverse of pack_bits for `count` fields of `width` (0..32) bits; checks the exact length."""
    if len(data) != (count * width + 7) // 8:
        raise FormatError(f"packed field stream has {len(data)} bytes, expected {(count * width + 7) // 8}")
    if width == 0 or count == 0:
        return np.zeros(count, dtype=np.int64)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    if bits[count * width :].any():
        raise FormatError("non-zero padding bits in a packed field stream")
    fields = bits[: count * width].reshape(count, width).astype(np.int64)
    return fields @ (np.int64(1) << np.arange(width - 1, -1, -1, dtype=np.int64))


# ------------------------------------------------------------------------------------ unsigned tables


def uints_size(values: np.ndarray) -> int:
    """Bytes `write_uints` takes for these values."""
    values = np.asarray(values)
    width = int(values.max()).bit_length() if values.size else 0
    return 1 + (values.size * width + 7) // 8


def write_uints(out: Builder, values: np.ndarray) -> None:
    values = np.asarray(values, dtype=np.int64).ravel()
    width = int(values.max()).bit_length() if values.size else 0
    if (values < 0).any() or width > 32:
        raise ValueError("packed table values must be in 0..2^32-1")
    out.u8(width)
    out.raw(pack_bits(values, np.full(values.size, width)))


def read_uints(cur: Cursor, count: int, what: str, max_width: int = 32) -> np.ndarray:
    width = cur.u8(f"{what} width")
    if width > max_width:
        raise FormatError(f"{what} width {width} > {max_width} bits")
    return unpack_fixed(cur.take((count * width + 7) // 8, what), count, width)


# ------------------------------------------------------------------------------------- integer arrays


def write_ints(out: Builder, a: np.ndarray) -> None:
    """A 1-D integer array of the caller's length: dtype, then min + offsets in the fewest bits (or raw)."""
    a = np.asarray(a).ravel()
    if a.dtype.kind not in "iu":
        raise FormatError(f"integer array expected, got {a.dtype}")
    code = dtype_code(a.dtype)
    dt = DTYPES[code]
    out.u8(code)
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    width = (hi - lo).bit_length()
    if width > 32 or a.size == 0:
        out.u8(RAW_WIDTH)
        out.raw(a.astype(dt).tobytes())
        return
    out.u8(width)
    out.raw(np.array([lo], dtype=dt).tobytes())
    # offsets modulo 2^64: exact for any dtype, since the true offsets are below 2^32
    off = a.astype(dt).astype(np.uint64) - np.uint64(lo % (1 << 64))
    out.raw(pack_bits(off, np.full(a.size, width)))


def read_ints(cur: Cursor, count: int, what: str) -> np.ndarray:
    dt = dtype_of(cur.u8(f"{what} dtype"))
    if dt.kind not in "iu":
        raise FormatError(f"{what} has dtype {dt}, not an integer")
    width = cur.u8(f"{what} width")
    if width == RAW_WIDTH:
        return np.frombuffer(cur.take(count * dt.itemsize, what), dtype=dt).copy()
    if width > 32:
        raise FormatError(f"{what} width {width} (0..32 or {RAW_WIDTH} allowed)")
    lo = int(np.frombuffer(cur.take(dt.itemsize, f"{what} minimum"), dtype=dt)[0])
    off = unpack_fixed(cur.take((count * width + 7) // 8, what), count, width)
    if count and lo + int(off.max()) > int(np.iinfo(dt).max):
        raise FormatError(f"{what} values overflow {dt}")
    return (off.astype(np.uint64) + np.uint64(lo % (1 << 64))).astype(dt)


# --------------------------------------------------------------------------------------- float arrays


def float_form(a: np.ndarray) -> int:
    """The narrowest exact form of a float array: one repeated value, float16, or the full dtype."""
    a = np.ascontiguousarray(a)
    bits = a.view(f"u{a.dtype.itemsize}")
    if a.size and (bits == bits[0]).all():
        return FLOAT_SINGLE
    with np.errstate(all="ignore"):  # overflow to inf in the float16 probe just means "not float16"
        if a.dtype != _F16 and np.array_equal(a.astype(_F16).astype(a.dtype).view(bits.dtype), bits):
            return FLOAT_HALF
    return FLOAT_FULL


def _tag(a: np.ndarray) -> tuple[int, int, np.ndarray]:
    a = np.asarray(a).ravel()
    if a.dtype.kind != "f":
        raise FormatError(f"float array expected, got {a.dtype}")
    code = dtype_code(a.dtype)
    a = a.astype(DTYPES[code])
    return float_form(a), code, a


def _high_byte_plan(high: np.ndarray) -> tuple[np.ndarray | None, int]:
    """(code lengths, bytes) of Huffman-coding the float16 high bytes, or (None, bytes) when raw is smaller."""
    freq = np.bincount(high, minlength=256)
    lengths = huffman.code_lengths(freq)
    coded = uints_size(lengths) + 4 + (huffman.encoded_bits(freq, lengths) + 7) // 8
    return (lengths, coded) if coded < high.size else (None, high.size)


def write_float_group(out: Builder, arrays: list[np.ndarray]) -> None:
    """A layer's per-channel float arrays (same length), each in its narrowest exact form, bit for bit.

    One tag byte per array (`form << 4 | dtype code`); then the single values and full arrays in order;
    then, if any array is float16-exact, their float16 values: one byte for how the high bytes (sign,
    exponent, 2 mantissa bits) are stored, 0 raw or 1 Huffman-coded with one table for the whole layer
    (they cluster: BN variances share a few exponents), then the low bytes raw.
    """
    tagged = [_tag(a) for a in arrays]
    for form, code, _ in tagged:
        out.u8(form << 4 | code)
    for form, _, a in tagged:
        if form == FLOAT_SINGLE:
            out.raw(a[:1].tobytes())
        elif form == FLOAT_FULL:
            out.raw(a.tobytes())
    half = [a.astype(_F16).view("<u2") for form, _, a in tagged if form == FLOAT_HALF]
    if not half:
        return
    bits = np.concatenate(half)
    high = (bits >> 8).astype(np.int64)
    lengths, _ = _high_byte_plan(high)
    if lengths is None:
        out.u8(0)
        out.raw(high.astype(np.uint8).tobytes())
    else:
        out.u8(1)
        write_uints(out, lengths)
        out.blob(huffman.encode(high, lengths))
    out.raw((bits & 0xFF).astype(np.uint8).tobytes())


def read_float_group(cur: Cursor, count: int, names: list[str]) -> list[np.ndarray]:
    """Inverse of write_float_group for arrays of `count` values named `names` (for messages)."""
    tags = []
    for what in names:
        tag = cur.u8(f"{what} tag")
        form, code = tag >> 4, tag & 15
        dt = DTYPES.get(code)
        if dt is None or dt.kind != "f":
            raise FormatError(f"{what}: tag {tag:#04x} has no float dtype")
        if form not in (FLOAT_FULL, FLOAT_SINGLE, FLOAT_HALF):
            raise FormatError(f"{what}: unknown float form {form} (tag {tag:#04x})")
        if form == FLOAT_HALF and dt == _F16:
            raise FormatError(f"{what}: float16 form of a float16 array")
        tags.append((form, dt))
    out: list[np.ndarray | None] = []
    for what, (form, dt) in zip(names, tags, strict=True):
        if form == FLOAT_SINGLE:
            out.append(np.repeat(np.frombuffer(cur.take(dt.itemsize, what), dtype=dt), count))
        elif form == FLOAT_FULL:
            out.append(np.frombuffer(cur.take(count * dt.itemsize, what), dtype=dt).copy())
        else:
            out.append(None)
    nhalf = sum(form == FLOAT_HALF for form, _ in tags)
    if nhalf:
        total = nhalf * count
        how = cur.u8("float16 high-byte coding")
        if how == 0:
            high = np.frombuffer(cur.take(total, "float16 high bytes"), dtype=np.uint8).astype(np.uint16)
        elif how == 1:
            lengths = read_uints(cur, 256, "float16 high-byte code lengths", huffman.MAX_LEN.bit_length())
            try:
                high = huffman.decode(cur.blob("float16 high-byte stream"), lengths, total).astype(np.uint16)
            except huffman.HuffmanError as e:
                raise FormatError(f"float16 high-byte stream: {e}") from None
        else:
            raise FormatError(f"unknown float16 high-byte coding {how}")
        low = np.frombuffer(cur.take(total, "float16 low bytes"), dtype=np.uint8).astype(np.uint16)
        values = (high << 8 | low).astype("<u2").view(_F16).reshape(nhalf, count)
        k = 0
        for i, (form, dt) in enumerate(tags):
            if form == FLOAT_HALF:
                out[i] = values[k].astype(dt)
                k += 1
    return out
