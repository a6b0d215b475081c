"""End to end on scikit-learn's digits: train a small CNN with torch, compress it with the CLI (prune + FQ +
fine-tune + encode, and post-training with reconstruction), evaluate, lower to integers, and run it on the
emulated board (C-simulated kernel).

Bounds (stated here, checked below): the float CNN reaches >= 90 % top-1 on the 360 held-out digits; the
fq5-compressed model (50 % sparse, 10 fine-tuning epochs) stays within 5 points of it; the integer network
agrees with its fake-quantized float model on >= 95 % of the predictions; the C-simulation is bit-exact.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from _digits import train_smallcnn

    from fq_hls.compress.evaluate import evaluate_model
    from fq_hls.datasets import load_dataset

    model = train_smallcnn(epochs=40, lr=0.1)
    test = load_dataset("digits", "test", "smallcnn")
    acc = evaluate_model(model, test)
    path = tmp_path_factory.mktemp("digits") / "smallcnn.pt"
    torch.save(model.state_dict(), path)
    return path, acc


def test_float_cnn_learns_digits(trained):
    _, acc = trained
    assert acc["images"] == 360
    assert acc["top1"] >= 90.0


def test_compress_finetune_lower_and_emulate(trained, tmp_path, capsys):
    from fq_hls.cli import main
    from fq_hls.fqz import read_fqz

    weights, float_acc = trained
    out = tmp_path / "digits_fq5.fqz"
    rc = main(["compress", "--arch", "smallcnn", "--weights", str(weights), "--method", "fq5", "--sparsity", "0.5",
               "--epochs", "10", "--lr", "0.05", "--batch-size", "64", "--data", "digits", "--no-progress",
               "-o", str(out)])
    assert rc == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    assert rep["method"] == "fq5" and rep["epochs"] == 10
    assert 0.40 <= rep["sparsity"] <= 0.55  # conv1 stays dense
    assert rep["compression_ratio"] > 2.0  # 6 KB model: the graph header is a large share
    assert rep["top1"] >= float_acc["top1"] - 5.0, (rep["top1"], float_acc["top1"])

    cm = read_fqz(out)
    assert cm.method == "fq5" and set(cm.act_max) >= {"input", cm.output}
    modes = {n.weight.mode for n in cm.weighted()}
    assert modes <= {"shift", "recentralized"}

    # the integer network against the fake-quantized float model it came from
    from fq_hls.datasets import load_dataset
    from fq_hls.lower import lower
    from fq_hls.reference import run_float, run_integer

    test = load_dataset("digits", "test", "smallcnn")
    x, y = test.arrays()
    graph = lower(cm)
    xi = graph.quantize_input(x)
    logits_int = graph.dequantize(graph.output, run_integer(graph, xi))
    xf = (x.astype(np.float32) - np.asarray(cm.mean, np.float32)) / np.asarray(cm.std, np.float32)
    logits_f = run_float(cm, xf.transpose(0, 3, 1, 2))
    agree = float(np.mean(logits_int.argmax(1) == logits_f.argmax(1)))
    assert agree >= 0.95, agree
    top1_int = 100.0 * float(np.mean(logits_int.argmax(1) == y))
    assert top1_int >= rep["top1"] - 3.0

    # and on the emulated board through the PYNQ driver, bit-exact (needs g++ and hls4ml's ap_types)
    if shutil.which("g++") is None:
        pytest.skip("g++ not on PATH: C-simulation skipped")
    pytest.importorskip("hls4ml")
    capsys.readouterr()  # drop the compress command's output
    rc = main(["run", str(out), "--emulate", "--board", "pynq-z2", "--images", "8", "--data", "digits",
               "--check", "--json"])
    text = capsys.readouterr().out
    assert rc == 0, text
    res = json.loads(text[text.index("{"):])
    assert res["bit_exact"] is True and res["images"] == 8 and res["evidence"] == "csim"


def test_post_training_reconstruction_lowers_and_emulates(trained, tmp_path, capsys):
    """Post-training fq5 with reconstruction (the default with --data): the file holds FQ codes only, the
    integer network follows its fake-quantized model, and the C-simulation stays bit-exact."""
    from fq_hls.cli import main
    from fq_hls.datasets import load_dataset
    from fq_hls.fqz import read_fqz
    from fq_hls.lower import lower
    from fq_hls.reference import run_float, run_integer

    weights, float_acc = trained
    out = tmp_path / "digits_fq5_ptq.fqz"
    assert main(["compress", "--arch", "smallcnn", "--weights", str(weights), "--method", "fq5", "--data", "digits",
                 "--no-progress", "-o", str(out)]) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    assert rep["reconstruct"] == "layer" and rep["epochs"] == 0
    for name, r in rep["reconstruction"]["layers"].items():
        assert r["rel_error_after"] <= r["rel_error_before"], name
    assert rep["top1"] >= float_acc["top1"] - 5.0, (rep["top1"], float_acc["top1"])
    cm = read_fqz(out)
    assert {n.weight.mode for n in cm.weighted()} <= {"shift", "recentralized"}
    test = load_dataset("digits", "test", "smallcnn")
    x, _ = test.arrays()
    graph = lower(cm)
    logits_int = graph.dequantize(graph.output, run_integer(graph, graph.quantize_input(x)))
    xf = (x.astype(np.float32) - np.asarray(cm.mean, np.float32)) / np.asarray(cm.std, np.float32)
    agree = float(np.mean(logits_int.argmax(1) == run_float(cm, xf.transpose(0, 3, 1, 2)).argmax(1)))
    assert agree >= 0.95, agree
    if shutil.which("g++") is None:
        pytest.skip("g++ not on PATH: C-simulation skipped")
    pytest.importorskip("hls4ml")
    capsys.readouterr()
    rc = main(["run", str(out), "--emulate", "--board", "pynq-z2", "--images", "4", "--data", "digits",
               "--check", "--json"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert json.loads(text[text.index("{"):])["bit_exact"] is True
