"""Fuzzing the .fqz reader: whatever the bytes, it returns a consistent model or raises ModelFileError.

`_strict=True` switches off the reader's last-resort handler, so any exception that is not an explicit
ModelFileError (numpy, struct, json, recursion, memory) fails these tests.
"""

import json
import os
import zlib

import pytest
from _fqz_models import small_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fq_hls.errors import ModelFileError
from fq_hls.fqz import decode_model, encode_model, model_differences
from fq_hls.fqz.container import FRAME_BYTES, HEADER_BYTES

N = int(os.environ.get("FQZ_FUZZ_EXAMPLES", "150"))  # raise for a long fuzzing run
MODEL = small_model(seed=3, c=2, hw=4, sparsity=0.6)
DATA = encode_model(MODEL).data


def _sections(data):
    out, pos = [], HEADER_BYTES
    while pos < len(data):
        n = int.from_bytes(data[pos + 4 : pos + 8], "little")
        out.append([data[pos : pos + 4], data[pos + FRAME_BYTES : pos + FRAME_BYTES + n]])
        pos += FRAME_BYTES + n
    return out


def _join(sections):
    return DATA[:HEADER_BYTES] + b"".join(
        t + len(p).to_bytes(4, "little") + zlib.crc32(p).to_bytes(4, "little") + p for t, p in sections
    )


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
    sections = _sections(DATA)
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


def _leaves(x, path=()):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _leaves(v, path + (i,))
    yield path


@settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_nonsense_graph_json(data):
    """Replace any value of the graph JSON (valid JSON, valid CRC): an error or a consistent model."""
    sections = _sections(DATA)
    graph = json.loads(sections[0][1])
    paths = list(_leaves(graph))
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
    sections[0][1] = json.dumps(graph).encode()
    model = _outcome(_join(sections))
    if model is not None:
        _consistent(model)


@pytest.mark.parametrize("depth", [10_000])
def test_deeply_nested_graph(depth):
    sections = _sections(DATA)
    sections[0][1] = b"[" * depth + b"]" * depth
    assert _outcome(_join(sections)) is None
