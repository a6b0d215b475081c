"""Per-layer coding: dense vs relative-index sparse, escapes, exact byte counts."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fq_hls.fqz.binary import Builder, Cursor, FormatError
from fq_hls.fqz.sparse_index import DENSE, SPARSE, CodedWeights, decode_codes, encode_codes


def _round_trip(codes, nsym):
    cw = encode_codes(codes, nsym)
    out = Builder()
    cw.write(out)
    data = out.bytes()
    assert len(data) == cw.nbytes  # the accounting is the layout
    back = CodedWeights.read(Cursor(data), nsym)
    flat = decode_codes(back, codes.size)
    assert np.array_equal(flat, codes.ravel())
    return cw


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3000), st.integers(2, 300), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_round_trip_random_layers(size, nsym, sparsity, seed):
    rng = np.random.default_rng(seed)
    codes = rng.integers(1, nsym, size).astype(np.uint16)
    codes[rng.random(size) < sparsity] = 0
    _round_trip(codes, nsym)


def test_choice_dense_for_unpruned_sparse_for_pruned():
    rng = np.random.default_rng(0)
    dense = rng.integers(1, 255, (64, 64, 3, 3)).astype(np.uint16)
    assert _round_trip(dense, 255).coding == DENSE
    sparse = dense.copy()
    sparse[rng.random(sparse.shape) < 0.9] = 0
    cw = _round_trip(sparse, 255)
    assert cw.coding == SPARSE and cw.index_bytes > 0


def test_escapes_for_long_runs():
    codes = np.zeros(200_000, np.uint16)
    codes[[0, 1, 5, 70_000, 199_999]] = [3, 1, 2, 3, 1]
    cw = _round_trip(codes, 4)
    assert cw.coding == SPARSE and cw.esc_bits >= 16
    _round_trip(np.zeros(100_000, np.uint16), 4)  # fully pruned layer
    _round_trip(np.full(10, 1, np.uint16), 2)  # one symbol, no zeros


def test_inconsistent_streams_are_format_errors():
    codes = np.zeros(1000, np.uint16)
    codes[[3, 500, 900]] = 1
    cw = encode_codes(codes, 2)
    with pytest.raises(FormatError, match="non-zeros declared"):
        decode_codes(cw, 2)
    with pytest.raises(FormatError, match="points at weight"):
        decode_codes(cw, 800)
    cw.value_count = 20  # more symbols than the 1-byte value stream holds
    with pytest.raises(FormatError, match="stream"):
        decode_codes(cw, 1000)
