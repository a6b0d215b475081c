"""The CIFAR-10 ResNet-18 shipped in the package (compressed from the shared checkpoint by fq-hls itself):
its file, its integer network on the C-simulated engine (64 images, bit-exact, cycles == estimate), and the
demo that runs it on the emulated board."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _csim_helpers import need_csim

from fq_hls.commands.demo import FQ_MODEL, INT8_MODEL


def test_embedded_files_and_ratios():
    from fq_hls.fqz import read_fqz, size_report

    for path, method, min_cr in ((FQ_MODEL, "fq5", 40.0), (INT8_MODEL, "int8", 25.0)):
        cm = read_fqz(path)
        rep = size_report(cm)
        assert cm.method == method and cm.arch == "resnet18-cifar" and cm.num_classes == 10
        assert rep["size_bytes"] == path.stat().st_size  # the ratio counts the whole file
        assert rep["compression_ratio"] >= min_cr
        assert 0.89 < rep["sparsity"] < 0.91
        assert cm.meta["accuracy"]["images"] == 10000


@pytest.mark.csim
@pytest.mark.parametrize("model,engine,n", [(FQ_MODEL, "fq", 64), (INT8_MODEL, "int8", 8)])
def test_embedded_model_bit_exact_in_csim(model, engine, n):
    need_csim()
    from fq_hls.csim import run_csim
    from fq_hls.fqz import read_fqz
    from fq_hls.hw.config import hardware_config
    from fq_hls.hw.cycles import estimate_graph
    from fq_hls.lower import lower
    from fq_hls.reference import run_integer

    graph = lower(read_fqz(model))
    cfg = hardware_config("pynq-z2", engine)
    x = graph.quantize_input(np.random.default_rng(3).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8))
    logits, cycles = run_csim(graph, cfg, x)
    np.testing.assert_array_equal(logits.astype(np.int64), run_integer(graph, x).astype(np.int64))
    assert cycles[0] == estimate_graph(graph, cfg)  # the analytic model reproduces the C-simulation


@pytest.mark.csim
def test_demo_runs_both_engines(capsys):
    need_csim()
    from fq_hls.cli import main

    rc = main(["demo", "--board", "pynq-z2", "--images", "1", "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    res = json.loads(out[out.index("{"):])
    for engine in ("fq", "int8"):
        e = res["engines"][engine]
        assert e["bit_exact"] is True and e["evidence"] == "csim" and e["cycles"] > 0
    assert res["models"]["fq"]["compression_ratio"] > res["models"]["int8"]["compression_ratio"]
