"""size_report: exact, itemised byte accounting checked against hand-computed layouts."""

import numpy as np
import pytest
from _fqz_models import small_model

from fq_hls.fqz import encode_model, size_report, write_fqz
from fq_hls.model import CompressedModel, Node, QuantWeight, dense_fp32_bytes


def _hand_model() -> CompressedModel:
    book = np.array([0, 1], np.int64)
    w1 = QuantWeight("int8", 8, np.ones((4, 8), np.uint16), book, np.full(4, 0.5, np.float32))
    codes2 = np.zeros((1, 4096), np.uint16)
    codes2[0, 1000] = 1
    w2 = QuantWeight("int8", 8, codes2, book.copy(), np.full(1, 0.25, np.float32))
    nodes = [
        Node("flat", "flatten", ["input"], {}),
        Node("fc1", "fc", ["flat"], {}, w1),
        Node("fc2", "fc", ["fc1"], {}, w2, np.array([1.5], np.float32)),
    ]
    return CompressedModel("hand", 1, (1, 1, 8), (0.0,), (1.0,), "int8", nodes)


def test_hand_computed_bytes(tmp_path):
    m = _hand_model()
    r = size_report(m)
    fc1, fc2 = r["layers"]
    # fc1: 32 weights, all symbol 1 -> a one-symbol code of 1 bit each: 4 bytes of stream, dense coding
    assert fc1["coding"] == "dense"
    # dtypes, symbol count, level width, 2 one-byte levels, length table (1-bit width + 2 lengths in 1 byte)
    assert fc1["codebook_bytes"] == 2 + 4 + 1 + 2 + (1 + 1)
    assert fc1["code_bytes"] == 1 + 4 + 4 + 4  # coding flag, count, stream length, 32 bits
    assert fc1["index_bytes"] == 0
    assert fc1["param_bytes"] == 12 + 4 + (1 + 4) + 4  # framing, node index, single-value scale, weight count
    assert fc1["total_bytes"] == 49
    # fc2: one non-zero at 1000 of 4096: sparse; gap 1000 >= E=1 -> escape symbol + (1000-1) in 10 bits
    assert fc2["coding"] == "sparse"
    assert fc2["code_bytes"] == 1 + 4 + 4 + 1
    # log2 E, gap table (width + 2 one-bit lengths), gap stream, escape width, escapes
    assert fc2["index_bytes"] == 1 + (1 + 1) + (4 + 1) + 1 + (4 + 2)
    assert fc2["param_bytes"] == 12 + 4 + (1 + 4) + 4 + (1 + 4)  # ... + single-value float32 bias
    assert fc2["total_bytes"] == 66
    assert fc2["nnz"] == 1 and fc2["sparsity"] == pytest.approx(4095 / 4096)
    assert fc2["bits_per_nonzero"] == 8 * (10 + 15)
    assert fc2["dense_bytes"] == 4 * 4096 + 4 and fc2["cr"] == pytest.approx(16388 / 66)
    # the whole file: header + graph section + layers + END (12 + 4)
    data = encode_model(m, validate=False).data  # a byte-layout model, not a runnable network
    assert r["size_bytes"] == len(data) == write_fqz(m, tmp_path / "h.fqz", validate=False)
    assert r["size_bytes"] == 8 + r["graph_bytes"] + 49 + 66 + 16
    assert r["graph_bytes"] == 12 + int.from_bytes(data[12:16], "little")
    assert r["dense_bytes"] == dense_fp32_bytes(m) == 4 * 32 + 4 * 4096 + 4
    assert r["compression_ratio"] == pytest.approx(r["dense_bytes"] / len(data))


def test_report_adds_up_to_the_file():
    m = small_model()
    r = size_report(m)
    assert r["size_bytes"] == len(encode_model(m).data)
    assert r["size_bytes"] == r["header_bytes"] + r["graph_bytes"] + r["layers_bytes"] + r["end_bytes"]
    for row in r["layers"]:
        assert row["total_bytes"] == row["code_bytes"] + row["index_bytes"] + row["codebook_bytes"] + row["param_bytes"]
    assert r["nnz"] == sum(n.weight.nnz for n in m.weighted())
    assert r["sparsity"] == pytest.approx(m.sparsity())
    modes = {row["name"]: (row["mode"], row["coding"]) for row in r["layers"]}
    assert modes["conv3"] == ("int8", "dense")  # unpruned int8 layer


def test_sparse_model_compresses():
    m = small_model(c=32, hw=8, sparsity=0.9)
    r = size_report(m)
    assert r["compression_ratio"] > 4
    conv2 = next(row for row in r["layers"] if row["name"] == "conv2")
    assert conv2["coding"] == "sparse" and conv2["bits_per_nonzero"] < 12
