"""Float model builders: torchvision-compatible keys, output shapes, checkpoint loading and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fq_hls.archs import ARCHS
from fq_hls.compress.models import build_model, load_model, load_weights, prunable_layers
from fq_hls.errors import InputError, ModelFileError

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def torchvision_resnet18_keys() -> list[str]:
    keys = ["conv1.weight"] + [f"bn1.{k}" for k in BN]
    for layer in range(1, 5):
        for block in range(2):
            p = f"layer{layer}.{block}"
            keys += [f"{p}.conv1.weight"] + [f"{p}.bn1.{k}" for k in BN]
            keys += [f"{p}.conv2.weight"] + [f"{p}.bn2.{k}" for k in BN]
            if layer > 1 and block == 0:
                keys += [f"{p}.downsample.0.weight"] + [f"{p}.downsample.1.{k}" for k in BN]
    return keys + ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("arch", ["resnet18", "resnet18-cifar"])
def test_resnet18_keys_match_torchvision(arch):
    keys = list(build_model(arch).state_dict())
    assert keys == torchvision_resnet18_keys()
    assert len(keys) == 122


def test_stems_and_output_shapes():
    m = build_model("resnet18").eval()
    assert m.conv1.kernel_size == (7, 7) and m.conv1.stride == (2, 2)
    assert isinstance(m.maxpool, torch.nn.MaxPool2d)
    with torch.no_grad():
        assert m(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)
    c = build_model("resnet18-cifar", 10).eval()
    assert c.conv1.kernel_size == (3, 3) and c.conv1.stride == (1, 1)
    with torch.no_grad():
        assert c(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    s = build_model("smallcnn").eval()
    with torch.no_grad():
        assert s(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert c.arch == "resnet18-cifar"


def test_archs_table():
    assert ARCHS["resnet18-cifar"]["input_shape"] == (3, 32, 32)
    assert ARCHS["resnet18"]["input_shape"] == (3, 224, 224)
    assert ARCHS["smallcnn"]["input_shape"] == (1, 8, 8)
    assert ARCHS["resnet18-cifar"]["mean"][0] == pytest.approx(0.4914 * 255, abs=1e-3)
    assert ARCHS["resnet18"]["std"][2] == pytest.approx(0.225 * 255, abs=1e-3)
    with pytest.raises(InputError, match="vgg"):
        build_model("vgg")


def test_prunable_layers():
    names = list(prunable_layers(build_model("resnet18-cifar")))
    assert len(names) == 21 and names[0] == "conv1" and names[-1] == "fc"
    assert "layer2.0.downsample.0" in names and "layer1.0.downsample.0" not in names


def _perturbed(arch="resnet18-cifar", n=10):
    m = build_model(arch, n)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return m


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k].float(), sb[k].float()) for k in sa)


@pytest.mark.parametrize("wrap", [None, "state_dict", "model", "module."])
def test_load_pt(tmp_path, wrap):
    src = _perturbed()
    sd = src.state_dict()
    if wrap == "module.":
        obj = {f"module.{k}": v for k, v in sd.items()}
    elif wrap:
        obj = {wrap: sd, "epoch": 3}
    else:
        obj = sd
    path = tmp_path / "m.pt"
    torch.save(obj, path)
    dst = load_weights(build_model("resnet18-cifar", 10), path)
    assert _same(src, dst)


def test_load_npz_fp16_and_infer_classes(tmp_path):
    src = _perturbed("smallcnn", 7)
    path = tmp_path / "m.npz"
    np.savez(
        path,
        **{
            k: v.numpy().astype(np.float16) if v.is_floating_point() else v.numpy()
            for k, v in src.state_dict().items()
        },
    )
    m = load_model("smallcnn", path)
    assert m.fc.out_features == 7 and not m.training
    assert m.conv1.weight.dtype == torch.float32
    ref = src.conv1.weight.detach().half().float()
    assert torch.equal(m.conv1.weight.detach(), ref)


def test_load_errors_name_file_and_key(tmp_path):
    src = build_model("smallcnn")
    sd = src.state_dict()
    bad = dict(sd)
    bad["conv9.weight"] = torch.zeros(1)
    p = tmp_path / "extra.pt"
    torch.save(bad, p)
    with pytest.raises(ModelFileError, match=r"extra\.pt.*conv9\.weight"):
        load_weights(build_model("smallcnn"), p)

    missing = {k: v for k, v in sd.items() if k != "bn2.running_var"}
    p = tmp_path / "missing.pt"
    torch.save(missing, p)
    with pytest.raises(ModelFileError, match=r"missing\.pt.*bn2\.running_var"):
        load_weights(build_model("smallcnn"), p)

    p = tmp_path / "shape.pt"
    torch.save(build_model("smallcnn", 3).state_dict(), p)
    with pytest.raises(ModelFileError, match=r"shape\.pt.*fc\.weight.*\(3, 16\)"):
        load_weights(build_model("smallcnn", 10), p)

    with pytest.raises(ModelFileError, match="nope.pt"):
        load_weights(build_model("smallcnn"), tmp_path / "nope.pt")
    p = tmp_path / "junk.pt"
    p.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="junk.pt"):
        load_weights(build_model("smallcnn"), p)


def test_load_any_model_infers_classes_as_a_new_user_expects(tmp_path):
    """issue 17: a 100-class torchvision-layout ResNet-18 loads without --num-classes."""
    from fq_hls.compress.models import load_any_model, num_outputs

    path = tmp_path / "r18_100.pt"
    torch.save(build_model("resnet18-cifar", 100).state_dict(), path)
    m = load_any_model("resnet18-cifar", path)
    assert num_outputs(m) == 100 and m.arch == "resnet18-cifar" and not m.training
    with pytest.raises(ModelFileError, match=r"'fc\.weight' has shape \(100, 512\), the model expects \(10, 512\)"):
        load_any_model("resnet18-cifar", path, num_classes=10)
    with pytest.raises(InputError, match="--input-shape is for --arch FILE.py:builder"):
        load_any_model("resnet18-cifar", path, input_shape=(3, 32, 32))
