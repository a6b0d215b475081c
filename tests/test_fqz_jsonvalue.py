"""Exact JSON for free-form model fields: types survive, malformed tags are format errors."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fq_hls.fqz import jsonvalue
from fq_hls.fqz.binary import FormatError

scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=4)
    | st.integers(-(2**63), 2**63 - 1).map(np.int64) | st.floats(width=32).map(np.float32)
    | st.integers(0, 255).map(np.uint8) | st.booleans().map(np.bool_)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=6) | st.integers(0, 9), inner, max_size=3)
    | st.lists(st.floats(width=32), max_size=4).map(lambda v: np.array(v, np.float32)),
    max_leaves=10,
)


def _canon(x):
    return jsonvalue.dumps(jsonvalue.encode(x, "x"))


@settings(max_examples=80, deadline=None)
@given(values)
def test_round_trip_keeps_types(x):
    text = json.dumps(jsonvalue.encode(x, "x"), allow_nan=True)
    back = jsonvalue.decode(json.loads(text))
    assert _canon(back) == _canon(x)
    assert type(back) is type(x)


def test_tag_lookalike_keys_and_refusals():
    x = {"__tuple__": [1, 2]}  # a plain dict that looks like a tag stays a dict
    assert jsonvalue.decode(json.loads(json.dumps(jsonvalue.encode(x, "x")))) == x
    with pytest.raises(TypeError, match="meta\\['f'\\]"):
        jsonvalue.encode({"f": 1j}, "meta")
    with pytest.raises(TypeError):
        jsonvalue.encode(np.array(["a"]), "meta")
    for bad in (
        {"__scalar__": ["<u1", 300]},
        {"__scalar__": ["O", 1]},
        {"__ndarray__": ["<f4", [3], "AAAA"]},
        {"__ndarray__": ["<f4", [1] * 70, "AAAAAA=="]},
        {"__dict__": [[[1], 2]]},
        {"__tuple__": 5},
    ):
        with pytest.raises(FormatError):
            jsonvalue.decode(bad)
