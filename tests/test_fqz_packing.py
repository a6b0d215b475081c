"""Narrow encodings of format version 2: float groups, packed integers and tables, exact bit for bit."""

import numpy as np
import pytest
from _fqz_models import small_model
from hypothesis import given, settings
from hypothesis import strategies as st

from fq_hls.errors import ModelFileError
from fq_hls.fqz import decode_model, encode_model, model_differences, size_report
from fq_hls.fqz.binary import Builder, Cursor, FormatError
from fq_hls.fqz.packing import (
    FLOAT_FULL,
    FLOAT_HALF,
    FLOAT_SINGLE,
    float_form,
    read_float_group,
    read_ints,
    read_uints,
    write_float_group,
    write_ints,
    write_uints,
)


def _group(arrays):
    out = Builder()
    write_float_group(out, arrays)
    data = out.bytes()
    cur = Cursor(data)
    back = read_float_group(cur, arrays[0].size, [f"a{i}" for i in range(len(arrays))])
    cur.done("group")
    for a, b in zip(arrays, back, strict=True):
        assert b.dtype == a.dtype and a.tobytes() == b.tobytes()
    return data


def test_float_forms_are_exact_and_narrowest():
    rng = np.random.default_rng(0)
    half = rng.standard_normal(64).astype(np.float16).astype(np.float32)
    full = rng.standard_normal(64).astype(np.float32)
    assert float_form(np.full(64, 0.1, np.float32)) == FLOAT_SINGLE
    assert float_form(half) == FLOAT_HALF
    assert float_form(full) == FLOAT_FULL
    assert float_form(half.astype(np.float64)) == FLOAT_HALF
    assert float_form(half.astype(np.float16)) == FLOAT_FULL  # already float16: stored as is
    # -0.0 vs 0.0, NaN payloads, infinities, values beyond float16's range are all kept bit for bit
    odd = np.array([0.0, -0.0, np.inf, -np.inf, 1e30, 6e-8, 1.0], np.float32)
    assert float_form(odd) == FLOAT_FULL
    nan = np.array([1.0, 2.0], np.float32)
    nan.view(np.uint32)[0] = 0x7FC00001  # a NaN payload float16 cannot carry
    assert float_form(nan) == FLOAT_FULL
    signed_zero = np.array([0.0, -0.0, 0.5], np.float32)
    assert float_form(signed_zero) == FLOAT_HALF
    for arrays in ([half], [full], [half, full, np.full(64, 3.0, np.float32)], [odd], [nan], [signed_zero],
                   [half.astype(np.float64), half.astype(np.float16)]):
        _group(arrays)
    assert len(_group([np.full(64, 0.1, np.float32)])) == 1 + 4
    assert len(_group([full])) == 1 + 4 * 64


def test_float16_high_bytes_are_huffman_coded_when_smaller():
    rng = np.random.default_rng(1)
    # BN-like: variances near 1, means near 0: few distinct high bytes
    arrays = [(rng.random(512) * 0.5 + 0.75).astype(np.float16).astype(np.float32) for _ in range(4)]
    data = _group(arrays)
    assert data[4] == 1  # Huffman-coded high bytes
    assert len(data) < 4 + 1 + 4 * 512 * 2 - 512  # at least a quarter of the high bytes saved
    small = [np.array([1.5, -2.0], np.float32)]  # a table would cost more than 2 raw bytes
    assert _group(small)[1] == 0


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2**32 - 1), st.sampled_from(["f2", "f4", "f8"]), st.integers(1, 5))
def test_float_group_round_trip(n, seed, dtype, k):
    rng = np.random.default_rng(seed)
    arrays = []
    for _ in range(k):
        kind = rng.integers(4)
        with np.errstate(over="ignore"):  # float16 overflows to inf: one more value to keep exactly
            a = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 6)).astype(dtype)
            if kind == 0:
                a = a.astype(np.float16).astype(dtype)
        if kind == 1:
            a[:] = a[0]
        elif kind == 2:
            a = rng.integers(0, 1 << 8 * a.itemsize, n, dtype=np.uint64).astype(f"u{a.itemsize}").view(dtype)
        arrays.append(a)
    _group(arrays)


def test_float_group_reader_rejects_bad_tags_and_lengths():
    def read(data, n=3, names=("x",)):
        cur = Cursor(data)
        out = read_float_group(cur, n, list(names))
        cur.done("group")
        return out

    ok = Builder()
    write_float_group(ok, [np.array([1.0, 2.0, 3.0], np.float32)])  # float16-exact
    data = ok.bytes()
    assert data[0] == FLOAT_HALF << 4 | 10 and data[1] == 0
    read(data)
    for tag, msg in [(0x3A, "unknown float form"), (0x07, "no float dtype"), (0x0F, "no float dtype"),
                     (FLOAT_HALF << 4 | 9, "float16 form of a float16")]:
        with pytest.raises(FormatError, match=msg):
            read(bytes([tag]) + data[1:])
    with pytest.raises(FormatError, match="high-byte coding"):
        read(data[:1] + b"\x07" + data[2:])
    with pytest.raises(FormatError, match="low bytes"):
        read(data[:-1])
    with pytest.raises(FormatError, match="unexpected bytes"):
        read(data + b"\x00")
    with pytest.raises(FormatError, match="needs"):
        read(data, n=4)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8"]), st.integers(0, 40), st.data())
def test_packed_integers_round_trip(dtype, n, data):
    info = np.iinfo(dtype)
    lo = data.draw(st.integers(int(info.min), int(info.max)))
    hi = data.draw(st.integers(lo, min(int(info.max), lo + data.draw(st.sampled_from([0, 1, 7, 300, 2**40])))))
    a = np.array([data.draw(st.integers(lo, hi)) for _ in range(n)], dtype=np.uint64 if dtype == "u8" else np.int64)
    a = a.astype(dtype)
    out = Builder()
    write_ints(out, a)
    cur = Cursor(out.bytes())
    b = read_ints(cur, n, "x")
    cur.done("x")
    assert b.dtype == a.dtype and b.tobytes() == a.tobytes()


def test_packed_integer_and_table_sizes_and_errors():
    out = Builder()
    write_ints(out, np.array([0, -1, 1, 1, -1], np.int8))  # offsets 0..2: 2 bits
    assert out.bytes() == bytes([2, 2, 0xFF, 0b01_00_10_10, 0b00_000000])  # i1, 2 bits, min -1, 1 0 2 2 0
    with pytest.raises(FormatError, match="overflow"):
        read_ints(Cursor(bytes([1, 8, 0xFF, 0x01])), 1, "x")  # 255 + 1 does not fit u1
    with pytest.raises(FormatError, match="width 40"):
        read_ints(Cursor(bytes([1, 40, 0])), 1, "x")
    with pytest.raises(FormatError, match="not an integer"):
        read_ints(Cursor(bytes([10, 0])), 1, "x")
    out = Builder()
    write_uints(out, np.array([0, 3, 12, 1]))
    assert out.bytes() == bytes([4, 0x03, 0xC1])
    with pytest.raises(FormatError, match="width 9"):
        read_uints(Cursor(bytes([9, 0])), 1, "lengths", 5)
    with pytest.raises(FormatError, match="padding"):
        read_uints(Cursor(bytes([4, 0x03, 0xC1, 0x01])), 5, "lengths")


def test_fields_replace_the_stored_levels():
    m = small_model()
    data = encode_model(m).data
    back = decode_model(data, _strict=True)
    assert model_differences(m, back) == []
    assert back.node("conv2").weight.codebook.dtype == m.node("conv2").weight.codebook.dtype
    rows = {r["name"]: r for r in size_report(m)["layers"]}
    nsym = m.node("conv2").weight.codebook.size  # 15 symbols: comp 1 bit, sign 2 bits, exp 2 bits
    assert rows["conv2"]["codebook_bytes"] < 2 + 4 + 3 * 3 + (nsym * 5 + 7) // 8 + 1 + (nsym * 5 + 7) // 8
    # a codebook dtype too narrow for the levels the fields give is an error, not a silent wrap
    m.node("conv1").weight.codebook = m.node("conv1").weight.codebook.astype(np.int8)
    with pytest.raises(ModelFileError):
        encode_model(m)
