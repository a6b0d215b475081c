"""The float pruning stage (`fq-hls prune`): DNS and the gradual schedule reach their sparsity on digits,
keep the first conv dense, and `compress` then keeps exactly those zeros."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def dense_ckpt(tmp_path_factory):
    from _digits import train_smallcnn

    model = train_smallcnn(epochs=5, lr=0.05)
    path = tmp_path_factory.mktemp("prune") / "dense.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.parametrize("method", ["dns", "gradual"])
def test_prune_then_compress_keeps_zeros(dense_ckpt, tmp_path, method, capsys):
    from fq_hls.cli import main
    from fq_hls.compress.models import build_model, load_weights
    from fq_hls.fqz import read_fqz

    out = tmp_path / f"pruned_{method}.pt"
    assert main(["prune", "--arch", "smallcnn", "--weights", str(dense_ckpt), "--method", method,
                 "--sparsity", "0.6", "--epochs", "3", "--lr", "0.02", "--batch-size", "64", "--data", "digits",
                 "-o", str(out)]) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    rows = {r["name"]: r for r in rep["layers"]}
    assert rows["conv1"]["sparsity"] == 0.0  # first conv stays dense
    for name in ("conv2", "fc"):
        lo, hi = (0.55, 0.65) if method == "gradual" else (0.3, 0.9)  # DNS moves around its start point
        assert lo <= rows[name]["sparsity"] <= hi, (name, rows[name])
    m = build_model("smallcnn", 10)
    load_weights(m, str(out))
    zeros = {n: (p == 0) for n, p in m.state_dict().items() if n.endswith("weight") and p.dim() > 1}

    fqz = tmp_path / f"{method}.fqz"
    assert main(["compress", "--arch", "smallcnn", "--weights", str(out), "--method", "fq5", "--no-progress",
                 "-o", str(fqz)]) == 0
    cm = read_fqz(fqz)
    for node in cm.weighted():
        key = [k for k in zeros if k.startswith(node.name + ".")][0]
        assert torch.equal(torch.from_numpy(node.weight.codes == 0), zeros[key]), node.name


def test_prune_refuses_to_overwrite_input(dense_ckpt):
    from fq_hls.cli import main

    assert main(["prune", "--arch", "smallcnn", "--weights", str(dense_ckpt), "--sparsity", "0.5",
                 "--epochs", "1", "--data", "digits", "-o", str(dense_ckpt)]) == 2
