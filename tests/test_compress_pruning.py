"""Dynamic Network Surgery, gradual magnitude pruning, masks and the sparsity report."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fq_hls.compress.models import build_model
from fq_hls.compress.pruning import (
    DNSPruner,
    GradualPruner,
    apply_masks,
    cubic_sparsity,
    dns_alpha_for_sparsity,
    dns_threshold,
    dns_update,
    initial_masks,
    magnitude_mask,
    magnitude_masks,
    sparsity_report,
    weight_param,
)
from fq_hls.errors import InputError


def _model(seed=0):
    torch.manual_seed(seed)
    return build_model("smallcnn")


def _train_step(model, pruner, opt, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 1, 8, 8, generator=g)
    y = torch.randint(0, 10, (8,), generator=g)
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    pruner.step(opt)


def test_dns_threshold_and_rule():
    w = torch.tensor([0.0, 1.0, -2.0, 3.0])
    # non-zero |w| = 1, 2, 3: mean 2, population std sqrt(2/3)
    assert dns_threshold(w, 0.0) == pytest.approx(2.0)
    assert dns_threshold(w, 1.5) == pytest.approx(2.0 + 1.5 * (2 / 3) ** 0.5)
    t = 1.0
    w = torch.tensor([0.5, 0.95, 1.05, 1.5, 0.5, 0.95, 1.05, 1.5])
    prev = torch.tensor([True] * 4 + [False] * 4)
    new = dns_update(w, prev, t)
    # below 0.9t pruned, above 1.1t revived, in between keep the previous state
    assert new.tolist() == [False, True, True, True, False, False, False, True]


def test_dns_prunes_revives_and_keeps_input_zeros():
    model = _model()
    fc = model.fc
    with torch.no_grad():
        fc.weight.copy_(torch.linspace(-1, 1, fc.weight.numel()).view_as(fc.weight))
        fc.weight[0, 0] = 0.0  # pruned in the input: stays pruned
    p = DNSPruner(model, alpha=0.0, interval=2, layers=["fc"])
    t = p.thresholds["fc"]
    w = model.fc.weight.detach()
    small = p.dense["fc"].abs() < 0.9 * t
    assert torch.all(w[small] == 0) and torch.all(~p.masks["fc"][small])
    assert torch.all(p.masks["fc"][p.dense["fc"].abs() > 1.1 * t])
    # the dense copy keeps the pruned values
    assert torch.count_nonzero(p.dense["fc"][small]) == small.sum() - 1

    # push a pruned weight and the input zero far above the threshold with a hand-made gradient
    i = int(torch.nonzero(small.flatten())[5])
    opt = torch.optim.SGD([model.fc.weight], lr=1.0)
    for step in range(2):
        model.fc.weight.grad = torch.zeros_like(model.fc.weight)
        model.fc.weight.grad.view(-1)[i] = -2.0 * t
        model.fc.weight.grad[0, 0] = -2.0 * t
        p.step(opt)
        if step == 0:  # not at the interval yet: still masked, dense moved
            assert model.fc.weight.view(-1)[i] == 0 and p.dense["fc"].view(-1)[i] > 1.1 * t
    assert p.masks["fc"].view(-1)[i] and model.fc.weight.view(-1)[i] > 1.1 * t  # revived
    assert not p.masks["fc"][0, 0] and model.fc.weight[0, 0] == 0  # the input's zero stays


def test_dns_training_keeps_masked_weights_zero():
    model = _model(1)
    p = DNSPruner(model, alpha=0.5, interval=3, exclude=["conv1"])
    assert "conv1" not in p.masks and set(p.masks) == {"conv2", "fc"}
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    for s in range(7):
        _train_step(model, p, opt, s)
        for n, m in p.layers.items():
            assert torch.all(m.weight[~p.masks[n]] == 0)
    assert 0.3 < p.sparsity() < 0.9


def test_magnitude_masks_exact_counts():
    torch.manual_seed(0)
    w = {"a": torch.randn(10, 10), "b": torch.randn(50) * 10}
    per = magnitude_masks(w, 0.3, "layer")
    assert int((~per["a"]).sum()) == 30 and int((~per["b"]).sum()) == 15
    glob = magnitude_masks(w, 0.5, "global")
    assert int((~glob["a"]).sum()) + int((~glob["b"]).sum()) == 75
    assert (~glob["a"]).sum() > (~glob["b"]).sum()  # the small-valued layer loses more
    m = magnitude_mask(torch.tensor([3.0, -1.0, 0.5, 2.0]), 0.5)
    assert m.tolist() == [True, False, False, True]
    with pytest.raises(InputError):
        magnitude_masks(w, 1.0)


def test_cubic_schedule():
    assert cubic_sparsity(0, 0.9, 0, 100) == 0.0
    assert cubic_sparsity(100, 0.9, 0, 100) == pytest.approx(0.9)
    assert cubic_sparsity(500, 0.9, 0, 100) == pytest.approx(0.9)
    assert cubic_sparsity(50, 0.9, 0, 100) == pytest.approx(0.9 * (1 - 0.5**3))
    assert cubic_sparsity(50, 0.9, 0, 100, initial=0.5) == pytest.approx(0.9 - 0.4 * 0.125)


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_gradual_pruner_hits_target(scope):
    model = _model(2)
    p = GradualPruner(model, target=0.75, end_step=8, interval=2, scope=scope, exclude=["conv1"])
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = []
    for s in range(10):
        _train_step(model, p, opt, s)
        history.append(p.sparsity())
    assert history == sorted(history)  # monotone
    rows = {r["name"]: r for r in sparsity_report(model)}
    assert rows["conv1"]["sparsity"] == 0.0
    if scope == "layer":
        assert rows["conv2"]["sparsity"] == pytest.approx(0.75, abs=1e-3)
        assert rows["fc"]["sparsity"] == pytest.approx(0.75, abs=1e-3)
    nnz = rows["conv2"]["nnz"] + rows["fc"]["nnz"]
    size = rows["conv2"]["size"] + rows["fc"]["size"]
    assert 1 - nnz / size == pytest.approx(0.75, abs=2e-3)


def test_gradual_pruner_keeps_input_zeros():
    model = _model(3)
    with torch.no_grad():
        model.fc.weight[:, :8] = 0  # half of fc already pruned
    p = GradualPruner(model, target=0.25, end_step=2, interval=1, layers=["fc"])
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for s in range(3):
        _train_step(model, p, opt, s)
    assert torch.all(model.fc.weight[:, :8] == 0)
    assert sparsity_report(p.masks)[0]["sparsity"] >= 0.5


def test_apply_masks_through_optimizer_step():
    model = _model(4)
    masks = {"conv2": torch.rand(model.conv2.weight.shape) > 0.5}
    apply_masks(model, masks)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    x = torch.randn(4, 1, 8, 8)
    model(x).sum().backward()
    opt.step()
    assert torch.count_nonzero(model.conv2.weight[~masks["conv2"]]) > 0  # the step moved them
    apply_masks(model, masks)
    assert torch.all(model.conv2.weight[~masks["conv2"]] == 0)
    assert torch.equal(initial_masks(model, ["conv2"])["conv2"], masks["conv2"] & (model.conv2.weight != 0))
    with pytest.raises(InputError, match="conv7"):
        apply_masks(model, {"conv7": masks["conv2"]})
    with pytest.raises(InputError, match="fc"):
        apply_masks(model, {"fc": masks["conv2"]})


def test_sparsity_report():
    model = _model(5)
    with torch.no_grad():
        model.fc.weight.view(-1)[:40] = 0
    rows = sparsity_report(model)
    assert [r["name"] for r in rows] == ["conv1", "conv2", "fc", "total"]
    fc = rows[2]
    assert fc["shape"] == (10, 16) and fc["size"] == 160 and fc["nnz"] == 120 and fc["sparsity"] == 0.25
    assert rows[-1]["size"] == 72 + 1152 + 160
    masks = initial_masks(model)
    assert sparsity_report(masks)[2]["nnz"] == 120


def test_pruners_write_the_stored_weight_under_a_parametrization():
    from torch.nn.utils import parametrize

    class Twice(nn.Module):
        def forward(self, w):
            return 2 * w

    model = _model(6)
    parametrize.register_parametrization(model.fc, "weight", Twice())
    p = DNSPruner(model, alpha=0.0, layers=["fc"])
    original = model.fc.parametrizations.weight.original
    assert torch.all(original[~p.masks["fc"]] == 0) and torch.all(model.fc.weight[~p.masks["fc"]] == 0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    _train_step(model, p, opt, 0)
    assert torch.all(original[~p.masks["fc"]] == 0)
    assert weight_param(model.fc) is original and weight_param(model.conv1) is model.conv1.weight


def test_dns_alpha_for_sparsity():
    torch.manual_seed(0)
    w = torch.randn(64, 32, 3, 3)
    w[:8] = 0  # 12.5 % already zero
    a = dns_alpha_for_sparsity(w, 0.6)
    assert dns_threshold(w, a) == pytest.approx(float(torch.quantile(w.abs().flatten(), 0.6)), rel=1e-6)
    model = _model(7)
    alpha = {"conv2": dns_alpha_for_sparsity(model.conv2.weight, 0.7)}
    p = DNSPruner(model, alpha=alpha, layers=["conv2"], low=1.0, high=1.0)
    assert p.sparsity() == pytest.approx(0.7, abs=0.01)
