"""Fuzzing the .fqz reader: whatever the bytes, it returns a consistent model or raises ModelFileError.

`_strict=True` switches off the reader's last-resort handler, so any exception that is not an explicit
ModelFileError (numpy, struct, json, recursion, memory) fails these tests.
"""

import json
import os
import zlib

import numpy as np
import pytest
from _badinput import leaves
from _badinput import sections as sections_of
from _fqz_models import small_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fq_hls.errors import ModelFileError
from fq_hls.fqz import decode_model, encode_model, model_differences
from fq_hls.fqz.binary import Builder, Cursor, FormatError
from fq_hls.fqz.layout import HEADER_BYTES
from fq_hls.fqz.packing import FLOAT_FULL, FLOAT_HALF, FLOAT_SINGLE, read_float_group, write_float_group

N = int(os.environ.get("FQZ_FUZZ_EXAMPLES", "150"))  # raise for a long fuzzing run
MODEL = small_model(seed=3, c=2, hw=4, sparsity=0.6)
for _k in ("gamma", "beta", "mean", "var"):  # float16-exact BN: every float form occurs in the file
    setattr(MODEL.node("conv1").bn, _k, getattr(MODEL.node("conv1").bn, _k).astype(np.float16).astype(np.float32))
DATA = encode_model(MODEL).data
rng = np.random.default_rng(5)
GROUP_ARRAYS = [(rng.random(96) + 0.5).astype(np.float16).astype(np.float32) for _ in range(4)]
GROUP_ARRAYS.append(rng.standard_normal(96).astype(np.float32))
_out = Builder()
write_float_group(_out, GROUP_ARRAYS)
GROUP = _out.bytes()


def _join(sections):
    return DATA[:HEADER_BYTES] + b"".join(
        t + len(p).to_bytes(4, "little") + zlib.crc32(p).to_bytes(4, "little") + p for t, p in sections
    )


def _graph_payload(text: bytes) -> bytes:
    """A GRPH payload: u32 JSON size + zlib stream."""
    return len(text).to_bytes(4, "little") + zlib.compress(text, 9)


def _outcome(blob: bytes):
    """Decoded model, or None for a ModelFileError; anything else propagates and fails the test."""
    try:
        return decode_model(blob, "fuzz.fqz", _strict=True)
    except ModelFileError as e:
        assert "fuzz.fqz" in str(e)
        return None


def _consistent(model) -> None:
    """A model the reader accepted must be one the writer accepts and round-trips."""
    assert model_differences(decode_model(encode_model(model).data, _strict=True), model) == []


def test_every_truncation_is_an_error():
    assert len(DATA) < 4000
    for n in range(len(DATA)):
        assert _outcome(DATA[:n]) is None, n


@settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(DATA) - 1), st.integers(1, 255)), min_size=1, max_size=4))
def test_byte_flips_are_detected(flips):
    blob = bytearray(DATA)
    for pos, mask in flips:
        blob[pos] ^= mask
    model = _outcome(bytes(blob))
    if model is not None:  # the flips cancelled out
        assert bytes(blob) == DATA and model_differences(model, MODEL) == []


@settings(max_examples=N, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_garbage(blob, with_header):
    if with_header:
        blob = DATA[:HEADER_BYTES] + blob
    assert _outcome(blob) is None or blob == DATA


@settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_nonsense_payload_with_valid_crc(data):
    """Mutate a section payload and fix its CRC: an error, or a model that is internally consistent."""
    sections = sections_of(DATA)
    i = data.draw(st.integers(0, len(sections) - 1))
    payload = bytearray(sections[i][1])
    how = data.draw(st.sampled_from(["flip", "cut", "insert", "splice"]))
    if how == "flip" and payload:
        for _ in range(data.draw(st.integers(1, 3))):
            payload[data.draw(st.integers(0, len(payload) - 1))] ^= data.draw(st.integers(1, 255))
    elif how == "cut" and payload:
        a = data.draw(st.integers(0, len(payload) - 1))
        del payload[a : a + data.draw(st.integers(1, 16))]
    elif how == "insert":
        a = data.draw(st.integers(0, len(payload)))
        payload[a:a] = data.draw(st.binary(min_size=1, max_size=8))
    else:  # payload of another section under this tag
        payload = bytearray(sections[data.draw(st.integers(0, len(sections) - 1))][1])
    sections[i][1] = bytes(payload)
    model = _outcome(_join(sections))
    if model is not None:
        _consistent(model)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_nonsense_graph_json(data):
    """Replace any value of the graph JSON (valid JSON, valid CRC): an error or a consistent model."""
    sections = sections_of(DATA)
    graph = json.loads(zlib.decompress(sections[0][1][4:]))
    paths = list(leaves(graph))
    path = paths[data.draw(st.integers(0, len(paths) - 1))]
    value = data.draw(json_values)
    if not path:
        graph = value
    else:
        parent = graph
        for k in path[:-1]:
            parent = parent[k]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    sections[0][1] = _graph_payload(json.dumps(graph).encode())
    model = _outcome(_join(sections))
    if model is not None:
        _consistent(model)


@pytest.mark.parametrize("depth", [10_000])
def test_deeply_nested_graph(depth):
    sections = sections_of(DATA)
    sections[0][1] = _graph_payload(b"[" * depth + b"]" * depth)
    assert _outcome(_join(sections)) is None


@settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_graph_size_field_and_zlib_stream(data):
    """A wrong declared size, a cut or padded zlib stream, or a bomb: an error, never a big allocation."""
    sections = sections_of(DATA)
    text = zlib.decompress(sections[0][1][4:])
    how = data.draw(st.sampled_from(["size", "cut", "trailing", "bomb"]))
    if how == "size":
        size = data.draw(st.integers(0, 2**32 - 1).filter(lambda n: n != len(text)))
        payload = size.to_bytes(4, "little") + sections[0][1][4:]
    elif how == "cut":
        payload = sections[0][1][: data.draw(st.integers(0, len(sections[0][1]) - 1))]
    elif how == "trailing":
        payload = sections[0][1] + data.draw(st.binary(min_size=1, max_size=8))
    else:  # 64 MiB of spaces after the JSON, declared as the JSON's own size
        bomb = zlib.compress(text + b" " * (1 << 26), 9)
        payload = len(text).to_bytes(4, "little") + bomb
    sections[0][1] = payload
    assert _outcome(_join(sections)) is None


def test_fuzz_model_has_every_float_form():
    from fq_hls.fqz.packing import float_form
    from fq_hls.fqz.writer import _float_arrays

    forms = {float_form(a) for n in MODEL.nodes for a in _float_arrays(n)}
    assert forms == {FLOAT_FULL, FLOAT_HALF, FLOAT_SINGLE}
    assert GROUP[5 + 4 * 96] == 1  # after 5 tags and the float32 array: Huffman-coded float16 high bytes


@settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_float_group_mutations(data):
    """A mutated float group (scale/bias/BN) is a FormatError, or arrays that round-trip exactly."""
    blob = bytearray(GROUP)
    how = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    if how == "flip":
        for _ in range(data.draw(st.integers(1, 3))):
            blob[data.draw(st.integers(0, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
    elif how == "cut":
        a = data.draw(st.integers(0, len(blob) - 1))
        del blob[a : a + data.draw(st.integers(1, 16))]
    else:
        a = data.draw(st.integers(0, len(blob)))
        blob[a:a] = data.draw(st.binary(min_size=1, max_size=8))
    cur = Cursor(bytes(blob))
    try:
        arrays = read_float_group(cur, 96, [f"a{i}" for i in range(len(GROUP_ARRAYS))])
        cur.done("group")
    except FormatError:
        return
    assert all(a.shape == (96,) and a.dtype.kind == "f" for a in arrays)
    out = Builder()
    write_float_group(out, arrays)
    again = read_float_group(Cursor(out.bytes()), 96, [f"a{i}" for i in range(len(arrays))])
    assert all(a.dtype == b.dtype and a.tobytes() == b.tobytes() for a, b in zip(arrays, again, strict=True))
