"""Canonical Huffman coding: round trips, optimality bound, canonical form, edge cases, stream defects."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fq_hls.fqz import huffman
from fq_hls.fqz.sparse_index import unpack_fixed

freqs = st.lists(st.integers(0, 10_000), min_size=1, max_size=80).filter(lambda f: sum(f) > 0)


def _stream(freq, seed=0):
    rng = np.random.default_rng(seed)
    sym = np.repeat(np.arange(len(freq)), freq)
    rng.shuffle(sym)
    return sym


@settings(max_examples=60, deadline=None)
@given(freqs, st.integers(0, 2**32 - 1))
def test_round_trip(freq, seed):
    lengths = huffman.code_lengths(freq)
    sym = _stream(freq, seed)
    data = huffman.encode(sym, lengths)
    assert len(data) == (huffman.encoded_bits(freq, lengths) + 7) // 8
    assert np.array_equal(huffman.decode(data, lengths, sym.size), sym)


@settings(max_examples=60, deadline=None)
@given(freqs)
def test_average_length_within_one_bit_of_entropy(freq):
    f = np.asarray(freq, dtype=np.float64)
    lengths = huffman.code_lengths(freq)
    p = f[f > 0] / f.sum()
    entropy = float(-(p * np.log2(p)).sum())
    avg = float((f * lengths).sum() / f.sum())
    assert (lengths[f == 0] == 0).all() and (lengths[f > 0] > 0).all()
    if (f > 0).sum() > 1:
        assert entropy - 1e-9 <= avg < entropy + 1
        assert sum(2.0 ** -int(n) for n in lengths[lengths > 0]) == pytest.approx(1.0)  # complete code


@settings(max_examples=40, deadline=None)
@given(freqs)
def test_canonical_and_prefix_free(freq):
    lengths = huffman.code_lengths(freq)
    codes = huffman.canonical_codes(lengths)
    used = [s for s in range(len(freq)) if lengths[s]]
    order = sorted(used, key=lambda s: (lengths[s], s))
    words = [format(int(codes[s]), f"0{lengths[s]}b") for s in order]
    # canonical: ordered by (length, symbol), each code is the previous + 1, shifted to the new length
    assert words[0] == "0" * len(words[0])
    for a, b, sa, sb in zip(words, words[1:], order, order[1:], strict=False):
        assert int(b, 2) == (int(a, 2) + 1) << (lengths[sb] - lengths[sa])
    for i, a in enumerate(words):  # prefix-free
        assert not any(b.startswith(a) for j, b in enumerate(words) if j != i)


def test_single_symbol_and_empty_alphabets():
    assert huffman.code_lengths([0, 7, 0]).tolist() == [0, 1, 0]
    assert huffman.code_lengths([0, 0]).tolist() == [0, 0]
    assert huffman.code_lengths([]).tolist() == []
    lengths = huffman.code_lengths([0, 7, 0])
    data = huffman.encode(np.ones(7, np.int64), lengths)
    assert data == b"\x00"
    assert huffman.decode(data, lengths, 7).tolist() == [1] * 7
    assert huffman.encode(np.zeros(0, np.int64), lengths) == b""
    assert huffman.decode(b"", lengths, 0).size == 0


def test_length_limit():
    fib = [1, 1]
    while len(fib) < 40:
        fib.append(fib[-1] + fib[-2])
    # unlimited Huffman on 40 Fibonacci weights is a chain 39 deep: every limit below is active
    for limit in (6, 12, 24):
        lengths = huffman.code_lengths(fib, max_len=limit)
        assert lengths.max() == limit
        assert sum(2.0 ** -int(n) for n in lengths) <= 1.0
        sym = np.repeat(np.arange(40), np.minimum(fib, 50))
        assert np.array_equal(huffman.decode(huffman.encode(sym, lengths), lengths, sym.size), sym)
    with pytest.raises(ValueError):
        huffman.code_lengths(np.ones(5), max_len=2)


def test_decode_rejects_defective_streams():
    lengths = huffman.code_lengths([5, 3, 1, 1])
    sym = np.array([0, 1, 2, 3, 0, 0, 1])
    data = huffman.encode(sym, lengths)
    with pytest.raises(huffman.HuffmanError, match="ends after"):
        huffman.decode(data[:-1], lengths, sym.size)
    with pytest.raises(huffman.HuffmanError, match="stray bytes"):
        huffman.decode(data + b"\x00", lengths, sym.size)
    with pytest.raises(huffman.HuffmanError, match="cannot fit"):
        huffman.decode(data, lengths, 8 * len(data) + 1)
    with pytest.raises(huffman.HuffmanError, match="padding"):
        huffman.decode(data[:-1] + bytes([data[-1] | 1]), lengths, sym.size)
    with pytest.raises(huffman.HuffmanError, match="over-subscribed"):
        huffman.decode(data, np.array([1, 1, 1]), 3)
    with pytest.raises(huffman.HuffmanError, match="exceeds"):
        huffman.decode(data, np.array([25, 1]), 3)
    # incomplete table (one symbol, code "0"): a 1 bit is an unassigned pattern
    with pytest.raises(huffman.HuffmanError, match="invalid code"):
        huffman.decode(b"\x40", np.array([0, 1]), 3)
    with pytest.raises(huffman.HuffmanError, match="empty"):
        huffman.decode(b"\x00", np.array([0, 0]), 1)


def test_long_stream_crosses_decoder_segments(monkeypatch):
    monkeypatch.setattr(huffman, "_SEGMENT_BITS", 64)
    monkeypatch.setattr(huffman, "_ENCODE_CHUNK", 50)
    rng = np.random.default_rng(1)
    freq = np.bincount(rng.geometric(0.3, 5000) - 1)
    lengths = huffman.code_lengths(freq)
    sym = _stream(freq.tolist(), 2)
    assert np.array_equal(huffman.decode(huffman.encode(sym, lengths), lengths, sym.size), sym)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 32), st.lists(st.integers(0, 2**32 - 1), max_size=50))
def test_fixed_width_fields(width, values):
    v = np.array(values, dtype=np.int64) & ((1 << width) - 1)
    data = huffman.pack_bits(v, np.full(v.size, width))
    assert len(data) == math.ceil(v.size * width / 8)
    assert np.array_equal(unpack_fixed(data, v.size, width), v)


def test_invalid_code_deep_in_a_long_stream(monkeypatch):
    monkeypatch.setattr(huffman, "_SEGMENT_BITS", 256)
    lengths = np.array([1, 2, 0])  # codes 0 and 10; the pattern 11 is unassigned
    rng = np.random.default_rng(3)
    sym = rng.integers(0, 2, 3000)
    bits = "".join("0" if s == 0 else "10" for s in sym)
    for cut in (0, 1000, 2999):
        k = len("".join("0" if s == 0 else "10" for s in sym[:cut]))
        bad = bits[:k] + "11" + bits[k:]
        bad += "0" * (-len(bad) % 8)
        data = int(bad, 2).to_bytes(len(bad) // 8, "big")
        with pytest.raises(huffman.HuffmanError, match=f"invalid code at bit {k} "):
            huffman.decode(data, lengths, sym.size + 1)
    good = bits + "0" * (-len(bits) % 8)
    assert np.array_equal(huffman.decode(int(good, 2).to_bytes(len(good) // 8, "big"), lengths, sym.size), sym)
