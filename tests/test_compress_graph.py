"""torch model -> CompressedModel -> torch round trip, node naming, calibration and evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fq_hls.compress.calibrate import calibrate
from fq_hls.compress.data import normalize
from fq_hls.compress.evaluate import evaluate_model
from fq_hls.compress.graph import to_compressed, to_torch
from fq_hls.compress.models import build_model, prunable_layers
from fq_hls.datasets import ArrayDataset, load_dataset
from fq_hls.errors import InputError
from fq_hls.model import QuantWeight

STEP = 2.0**-9


def exact_qweights(model: torch.nn.Module) -> dict[str, QuantWeight]:
    """Round every conv/fc weight onto a grid of STEP, then describe it exactly: codebook = the distinct
    integer levels (0 first), scale = STEP. The dequantized weights equal the model's bit for bit."""
    out = {}
    for name, m in prunable_layers(model).items():
        with torch.no_grad():
            ints = torch.round(m.weight / STEP)
            m.weight.copy_(ints * STEP)
        ints = ints.numpy().astype(np.int64)
        nz = np.unique(ints[ints != 0])
        codebook = np.concatenate([[0], nz]).astype(np.int64)
        codes = np.zeros(ints.shape, np.uint16)
        codes[ints != 0] = np.searchsorted(nz, ints[ints != 0]) + 1
        scale = np.full(ints.shape[0], STEP, np.float32)
        out[name] = QuantWeight("float", 32, codes, codebook, scale)
        assert np.array_equal(out[name].dequantize(), m.weight.detach().numpy())
    return out


def randomize_bn(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=g))
                m.bias.copy_(0.2 * torch.randn(n, generator=g))
                m.running_mean.copy_(0.2 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
    return model.eval()


def test_resnet_node_graph():
    model = randomize_bn(build_model("resnet18"))
    cm = to_compressed(model, "resnet18", exact_qweights(model), "float", meta={"src": "t"})
    names = [n.name for n in cm.nodes]
    assert names[:6] == ["conv1", "maxpool", "layer1.0.conv1", "layer1.0.conv2", "layer1.0", "layer1.1.conv1"]
    assert names[-2:] == ["avgpool", "fc"] and cm.output == "fc"
    assert cm.node("conv1").inputs == ["input"] and cm.node("conv1").relu and cm.node("conv1").bn is not None
    assert cm.node("conv1").attrs == {"kernel": 7, "stride": 2, "padding": 3}
    assert cm.node("maxpool").attrs == {"kernel": 3, "stride": 2, "padding": 1}
    assert cm.node("layer1.0").inputs == ["layer1.0.conv2", "maxpool"] and cm.node("layer1.0").op == "add"
    assert cm.node("layer1.0").relu and not cm.node("layer1.0.conv2").relu and cm.node("layer1.0.conv1").relu
    assert cm.node("layer2.0").inputs == ["layer2.0.conv2", "layer2.0.downsample"]
    ds = cm.node("layer2.0.downsample")
    assert ds.inputs == ["layer1.1"] and ds.attrs == {"kernel": 1, "stride": 2, "padding": 0} and not ds.relu
    assert cm.node("layer2.1").inputs == ["layer2.1.conv2", "layer2.0"]
    assert cm.node("fc").inputs == ["avgpool"] and cm.node("fc").bias is not None
    assert len(cm.weighted()) == 21 and len(names) == 21 + 8 + 2  # + maxpool, avgpool
    assert cm.num_classes == 1000 and cm.input_shape == (3, 224, 224) and cm.meta == {"src": "t"}
    assert cm.node("layer3.1.conv2").bn.eps == model.layer3[1].bn2.eps
    with torch.no_grad():
        x = torch.randn(1, 3, 224, 224)
        assert torch.allclose(to_torch(cm)(x), model(x), atol=1e-4, rtol=1e-4)


def _pair(arch):
    torch.manual_seed(0)
    model = randomize_bn(build_model(arch), 1)
    with torch.no_grad():
        model.fc.bias.copy_(torch.randn(model.fc.out_features))
    return model, to_compressed(model, arch, exact_qweights(model), "float", act_max={"input": 1.0})


@pytest.fixture(scope="module")
def cifar_pair():
    return _pair("resnet18-cifar")  # built once: exact_qweights over 11 M weights takes a moment


@pytest.mark.parametrize("arch", ["resnet18-cifar", "smallcnn"])
def test_round_trip_matches_torch_model(arch, cifar_pair):
    model, cm = cifar_pair if arch == "resnet18-cifar" else _pair(arch)
    if arch == "resnet18-cifar":
        assert "maxpool" not in [n.name for n in cm.nodes] and cm.node("layer1.0").inputs[1] == "conv1"
    else:
        assert [n.name for n in cm.nodes] == ["conv1", "conv2", "avgpool", "fc"]
    net = to_torch(cm)
    c, h, w = cm.input_shape
    x = torch.randn(3, c, h, w)
    with torch.no_grad():
        ref, got = model(x), net(x)
        allv = net(x, return_all=True)
    assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5)
    assert set(allv) == {"input"} | {n.name for n in cm.nodes} and torch.equal(allv["fc"], got)
    assert not net.training and net.train().training is False
    assert cm.act_max == {"input": 1.0}


def test_missing_or_bad_qweights(cifar_pair):
    model = randomize_bn(build_model("smallcnn"))
    qw = exact_qweights(model)
    partial = {k: v for k, v in qw.items() if k != "conv2"}
    with pytest.raises(InputError, match="conv2"):
        to_compressed(model, "smallcnn", partial, "float")
    wrong = dict(qw, conv2=qw["conv1"])
    with pytest.raises(InputError, match=r"conv2.*shape"):
        to_compressed(model, "smallcnn", wrong, "float")
    with pytest.raises(InputError, match="conv9"):
        to_compressed(model, "smallcnn", dict(qw, conv9=qw["conv1"]), "float")
    # the downsample conv is keyed by module name ("layer3.0.downsample.0"); its node name works too
    model, cm = cifar_pair
    by_node = {n.name: n.weight for n in cm.weighted()}
    again = to_compressed(model, "resnet18-cifar", by_node, "float")
    assert again.node("layer3.0.downsample").weight is by_node["layer3.0.downsample"]


def test_pruned_zeros_survive_round_trip():
    model = randomize_bn(build_model("smallcnn"))
    with torch.no_grad():
        model.conv2.weight[model.conv2.weight.abs() < 0.1] = 0
    cm = to_compressed(model, "smallcnn", exact_qweights(model), "float")
    w = cm.node("conv2").weight
    assert np.array_equal(w.codes == 0, model.conv2.weight.detach().numpy() == 0) and w.nnz < w.codes.size


def test_calibrate():
    model = randomize_bn(build_model("smallcnn"), 3)
    cm = to_compressed(model, "smallcnn", exact_qweights(model), "float")
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(40, 8, 8, 1), dtype=np.uint8)
    act = calibrate(cm, imgs, percentile=100.0, batch_size=16)
    assert set(act) == {"input", "conv1", "conv2", "avgpool", "fc"} and cm.act_max is act
    with torch.no_grad():
        outs = to_torch(cm)(normalize(imgs, cm.mean, cm.std), return_all=True)
    for name, t in outs.items():
        assert act[name] == pytest.approx(float(t.abs().max()), rel=1e-6)
    p = calibrate(cm, imgs, percentile=99.0, batch_size=7)
    for name, t in outs.items():
        exact = float(np.percentile(t.abs().numpy().ravel(), 99.0, method="inverted_cdf"))
        assert exact <= p[name] <= exact * 1.011 + 1e-12
        assert p[name] <= act[name]
    with pytest.raises(InputError, match="8, 8, 1"):
        calibrate(cm, imgs[..., 0])


def test_evaluate_model_counts():
    model = build_model("smallcnn").eval()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(30, 8, 8, 1), dtype=np.uint8)
    with torch.no_grad():
        logits = model(normalize(x, (78.0,), (96.0,)))
    top = logits.topk(5, dim=1).indices.numpy()
    # a third top-1 hits, a third only top-5 hits (4th guess), a third misses both
    miss = np.array([np.setdiff1d(np.arange(10), t)[0] for t in top])
    y = np.choose(np.arange(30) % 3, [top[:, 0], top[:, 3], miss])
    res = evaluate_model(model, ArrayDataset(x, y), batch_size=8)
    assert res == {"top1": pytest.approx(100 / 3), "top5": pytest.approx(200 / 3), "images": 30}
    assert evaluate_model(model, ArrayDataset(x, y), limit=4)["images"] == 4


def test_evaluate_cli_float_checkpoint(tmp_path, capsys):
    from fq_hls.cli import main

    torch.manual_seed(0)
    model = build_model("smallcnn")
    ckpt = tmp_path / "digits.pt"
    torch.save(model.state_dict(), ckpt)
    assert (
        main(["evaluate", str(ckpt), "--arch", "smallcnn", "--data", "digits", "--limit", "50", "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 50 and out["method"] == "float" and out["model"] == str(ckpt)
    ref = evaluate_model(model, load_dataset("digits", "test"), limit=50)
    assert out["top1"] == pytest.approx(ref["top1"]) and 0 <= out["top5"] <= 100
    assert main(["evaluate", str(ckpt), "--data", "digits"]) == 2
    assert "--arch" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "none.pt"), "--arch", "smallcnn", "--data", "digits"]) == 2
    assert "none.pt" in capsys.readouterr().err
    assert main(["evaluate", str(ckpt), "--arch", "resnet18-cifar", "--data", "digits"]) == 2
    assert "digits.pt" in capsys.readouterr().err
    assert main(["evaluate", str(ckpt), "--arch", "smallcnn", "--data", str(tmp_path)]) == 2
    assert "not recognised" in capsys.readouterr().err


def test_observe_sees_every_node(cifar_pair):
    cm = cifar_pair[1]
    net = to_torch(cm)
    seen = {}
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        out = net(x, observe=lambda n, t: seen.setdefault(n, tuple(t.shape)))
        assert torch.equal(out, net(x, return_all=True)["fc"])
    assert list(seen) == ["input"] + [n.name for n in cm.nodes]
    assert seen["layer4.1"] == (1, 512, 4, 4) and seen["avgpool"] == (1, 512, 1, 1) and seen["fc"] == (1, 10)


def test_evaluate_cli_fqz(tmp_path, capsys):
    fqz = pytest.importorskip("fq_hls.fqz")
    if not hasattr(fqz, "write_fqz"):
        pytest.skip("fq_hls.fqz.write_fqz not available in this build")
    from fq_hls.cli import main

    torch.manual_seed(1)
    model = randomize_bn(build_model("smallcnn"), 4)
    cm = to_compressed(model, "smallcnn", exact_qweights(model), "float")
    path = tmp_path / "m.fqz"
    fqz.write_fqz(cm, path)
    assert main(["evaluate", str(path), "--data", "digits", "--limit", "40", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = evaluate_model(model, load_dataset("digits", "test"), limit=40)
    assert out["images"] == 40 and out["top1"] == pytest.approx(ref["top1"]) and out["method"] == "float"
    assert main(["evaluate", str(path), "--arch", "resnet18", "--data", "digits"]) == 2
    assert "smallcnn" in capsys.readouterr().err
