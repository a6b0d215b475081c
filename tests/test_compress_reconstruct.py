"""Post-training reconstruction (fq_hls/compress/reconstruct.py): it never leaves a layer's level set, pruned
weights stay exactly zero, the layer output error goes down, the result is deterministic and exports to the
same kind of QuantWeight; plus the CLI around it (no-data warning, file size, progress flag, distillation)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def _setup(method: str, seed: int = 0):
    from fq_hls.compress.focused import attach_quantizers
    from fq_hls.compress.models import build_model, prunable_layers
    from fq_hls.compress.pruning import magnitude_mask

    torch.manual_seed(seed)
    model = build_model("smallcnn", 10).eval()
    with torch.no_grad():  # BN statistics that are not the identity, so that the layers interact
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    masks = {}
    for name, m in prunable_layers(model).items():
        masks[name] = magnitude_mask(m.weight.detach(), 0.0 if name == "conv1" else 0.5)
        with torch.no_grad():
            m.weight.mul_(masks[name])
    teacher = copy.deepcopy(model)
    q = attach_quantizers(model, {n: method for n in masks}, masks, seed=seed)
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randn(32, 1, 8, 8, generator=gen) for _ in range(3)]
    return model, teacher, q, masks, batches


def _run(method: str, seed: int = 0, sweeps: int = 2, free: bool = True):
    from fq_hls.compress.reconstruct import ReconstructConfig, reconstruct

    model, teacher, q, masks, batches = _setup(method)
    rep = reconstruct(model, teacher, q, batches, ReconstructConfig(seed=seed, sweeps=sweeps, max_positions=2048,
                                                                    free_components=free))
    return model, q, masks, rep


def _values(model, q, name):
    mod = dict(model.named_modules())[name]
    w = mod.parametrizations.weight.original.detach()
    return q[name].quantized_value(w, q[name].mask), w


@pytest.mark.parametrize("method,free", [("fq5", True), ("fq7", True), ("shift5", True), ("fq5", False)])
def test_reconstruction_stays_in_the_level_set(method, free):
    from fq_hls.compress.focused import export_quantized

    if not free:  # the components as the fit sampled them
        _, _, q0, _, _ = _setup(method)
        comps = {n: quant.comp.clone() for n, quant in q0.items()}
    model, q, masks, rep = _run(method, free=free)
    if not free:
        for name, quant in q.items():
            assert torch.equal(quant.comp, comps[name]), name
    moved = 0
    for name, quant in q.items():
        v, w = _values(model, q, name)
        levels = quant.level_set().to(torch.float32)
        m = masks[name]
        assert torch.all(v[~m] == 0), name  # pruned stay exactly zero
        assert torch.all(torch.isin(v[m], levels)), name  # every survivor an allowed value
        assert torch.all(w[~m] == 0)
        moved += rep["layers"][name]["rel_error_after"] < rep["layers"][name]["rel_error_before"]
    assert moved >= 1
    # the export reproduces the fake-quantized weight exactly (alpha included)
    qw = export_quantized(model, q)
    for name, quant in q.items():
        v, _ = _values(model, q, name)
        alpha = float(quant.alpha.detach())
        np.testing.assert_array_equal(qw[name].dequantize(), (v * alpha).numpy().astype(np.float32))


def test_int8_reconstruction_keeps_the_grid_and_scale():
    from fq_hls.compress.focused import export_quantized
    from fq_hls.compress.quantizers import int8_per_channel

    model, teacher, q, masks, batches = _setup("int8")
    before = {n: int8_per_channel(dict(teacher.named_modules())[n].weight.detach(), masks[n])[1] for n in q}
    from fq_hls.compress.reconstruct import ReconstructConfig, reconstruct

    reconstruct(model, teacher, q, batches, ReconstructConfig(max_positions=2048))
    qw = export_quantized(model, q)
    for name in q:
        np.testing.assert_allclose(qw[name].scale, before[name].numpy(), rtol=1e-6)
        assert np.all(qw[name].codes[~masks[name].numpy()] == 0)


@pytest.mark.parametrize("method", ["fq5", "shift5", "int8"])
def test_reconstruction_lowers_the_layer_error(method):
    _, _, _, rep = _run(method)
    for name, r in rep["layers"].items():
        assert r["rel_error_after"] <= r["rel_error_before"] + 1e-12, (name, r)
    total_before = sum(r["rel_error_before"] for r in rep["layers"].values())
    total_after = sum(r["rel_error_after"] for r in rep["layers"].values())
    assert total_after < 0.9 * total_before, (total_before, total_after)


def test_coordinate_descent_reaches_a_better_objective_than_nearest():
    """The descent on a known quadratic: the objective it reports is the one recomputed from its result."""
    from fq_hls.compress.focused import LayerQuantizer
    from fq_hls.compress.reconstruct import _LayerProblem, coordinate_descent

    gen = torch.Generator().manual_seed(3)
    w = torch.randn(6, 20, generator=gen, dtype=torch.float64).float()
    mask = torch.rand(6, 20, generator=gen) > 0.3
    w = w * mask
    qz = LayerQuantizer("shift5")
    qz.set_mask(mask)
    qz.fit(w, mask)
    x = torch.randn(400, 20, generator=gen, dtype=torch.float64)
    h = x.T @ x / 400
    mt = (w.double() @ x.T) @ x / 400
    p = _LayerProblem(qz, w, mask)
    res = coordinate_descent(p, h, mt, sweeps=3)
    qv = p.values()
    recomputed = float((qv @ h * qv).sum() - 2 * (qv * mt).sum())
    assert res["objective_after"] == pytest.approx(recomputed, rel=1e-9, abs=1e-12)
    assert res["objective_after"] < res["objective_before"]


def test_reconstruction_is_deterministic():
    m1, q1, _, r1 = _run("fq5", seed=5)
    m2, q2, _, r2 = _run("fq5", seed=5)
    for name in q1:
        v1, _ = _values(m1, q1, name)
        v2, _ = _values(m2, q2, name)
        assert torch.equal(v1, v2)
        assert torch.equal(q1[name].comp, q2[name].comp)
        assert float(q1[name].alpha.detach()) == float(q2[name].alpha.detach())
    assert r1["layers"].keys() == r2["layers"].keys()


def _save_smallcnn(tmp_path):
    from fq_hls.compress.models import build_model

    torch.manual_seed(0)
    model = build_model("smallcnn", 10)
    path = tmp_path / "sc.pt"
    torch.save(model.state_dict(), path)
    return path


def test_compress_without_data_warns_once_and_records_it(tmp_path, capsys):
    from fq_hls.cli import main

    w = _save_smallcnn(tmp_path)
    out = tmp_path / "m.fqz"
    assert main(["compress", "--arch", "smallcnn", "--weights", str(w), "--method", "fq5", "--no-progress",
                 "-o", str(out)]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(lines) == 1 and "BN re-estimation" in lines[0] and "reconstruction" in lines[0]
    rep = json.loads(out.with_suffix(".json").read_text())
    assert rep["skipped"] == ["bn_recalibration", "reconstruction", "evaluation"]
    assert rep["warnings"] and rep["reconstruct"] == "none"
    # the reported size is the written file's
    assert rep["size_bytes"] == out.stat().st_size
    assert rep["compression_ratio"] == pytest.approx(rep["dense_bytes"] / out.stat().st_size)


def test_compress_with_data_reconstructs_by_default(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from fq_hls.cli import main
    from fq_hls.fqz import read_fqz

    w = _save_smallcnn(tmp_path)
    outs = {}
    for rec in ("layer", "none"):
        out = tmp_path / f"m_{rec}.fqz"
        args = ["compress", "--arch", "smallcnn", "--weights", str(w), "--method", "fq5", "--data", "digits",
                "--limit", "50", "--reconstruct-images", "128", "--progress",
                "-o", str(out)]
        if rec == "none":
            args[-2:-2] = ["--reconstruct", "none"]
        assert main(args) == 0
        outs[rec] = json.loads(out.with_suffix(".json").read_text())
        assert outs[rec]["size_bytes"] == out.stat().st_size
    err = capsys.readouterr().err
    assert "warning:" not in err
    assert "reconstruct the quantized weights on 128 training images:" in err  # the step and its time
    assert outs["layer"]["reconstruct"] == "layer" and "reconstruction" in outs["layer"]
    assert outs["none"]["reconstruct"] == "none" and "reconstruction" not in outs["none"]
    # BN statistics: re-estimated on nearest levels; kept from the float model after the reconstruction
    assert outs["layer"]["bn_recalibration_images"] == 0 and outs["none"]["bn_recalibration_images"] > 0
    assert read_fqz(tmp_path / "m_layer.fqz").meta["reconstruct"] == "layer"


def test_progress_flag_convention():
    import argparse

    from fq_hls.commands.progress import add_progress_argument, progress_enabled

    p = argparse.ArgumentParser()
    add_progress_argument(p)
    assert progress_enabled(p.parse_args(["--progress"])) is True
    assert progress_enabled(p.parse_args(["--no-progress"])) is False
    # default: a terminal on stderr (pytest captures stderr: not a terminal)
    assert progress_enabled(p.parse_args([])) is False


def test_distill_loss():
    from fq_hls.compress.finetune import distill_loss

    gen = torch.Generator().manual_seed(0)
    s = torch.randn(8, 10, generator=gen)
    y = torch.randint(0, 10, (8,), generator=gen)
    ce = torch.nn.functional.cross_entropy(s, y)
    assert torch.allclose(distill_loss(s, s.clone(), y, 0.5, 4.0), 0.5 * ce)  # KL of equal logits is 0
    assert torch.allclose(distill_loss(s, torch.randn(8, 10, generator=gen), y, 0.0, 4.0), ce)
    assert float(distill_loss(s, torch.randn(8, 10, generator=gen), y, 0.5, 4.0)) > float(0.5 * ce)


def test_distill_needs_fine_tuning(tmp_path, capsys):
    from fq_hls.cli import main

    w = _save_smallcnn(tmp_path)
    rc = main(["compress", "--arch", "smallcnn", "--weights", str(w), "--method", "fq5", "--distill",
               "-o", str(tmp_path / "m.fqz")])
    assert rc != 0
    assert "--distill" in capsys.readouterr().err


def test_compress_finetunes_with_distillation(tmp_path):
    pytest.importorskip("sklearn")
    from fq_hls.cli import main

    w = _save_smallcnn(tmp_path)
    out = tmp_path / "d.fqz"
    assert main(["compress", "--arch", "smallcnn", "--weights", str(w), "--method", "fq5", "--data", "digits",
                 "--epochs", "1", "--max-batches", "2", "--batch-size", "32", "--distill", "--limit", "20",
                 "--no-progress", "-o", str(out)]) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    assert rep["finetune"]["distill"] == {"weight": 0.5, "temperature": 4.0}
    assert np.isfinite(rep["finetune"]["history"][0]["loss"])
    assert rep["reconstruct"] == "none"  # reconstruction is the post-training path
