"""ResNet-18/34/50 and their CIFAR stems: torchvision's state_dict layout, class counts from the checkpoint,
the bottleneck graph (v1.5: stride in the 3x3), and the errors a wrong checkpoint gets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fq_hls.archs import ARCHS
from fq_hls.compress.graph import to_compressed, to_torch
from fq_hls.compress.models import build_model, load_model, prunable_layers
from fq_hls.errors import ModelFileError
from fq_hls.model import QuantWeight

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
DEPTHS = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet34": ("basic", (3, 4, 6, 3)),
          "resnet50": ("bottleneck", (3, 4, 6, 3))}
# parameter counts of torchvision's resnet18/34/50 with 1000 classes (their published model cards)
TORCHVISION_PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032}


def torchvision_keys(depth: str) -> list[str]:
    """The state_dict keys torchvision's resnetNN() has, written out from its module layout."""
    block, blocks = DEPTHS[depth]
    convs = 3 if block == "bottleneck" else 2
    keys = ["conv1.weight"] + [f"bn1.{k}" for k in BN]
    for stage, n in enumerate(blocks, start=1):
        for b in range(n):
            p = f"layer{stage}.{b}"
            for c in range(1, convs + 1):
                keys += [f"{p}.conv{c}.weight"] + [f"{p}.bn{c}.{k}" for k in BN]
            if b == 0 and (stage > 1 or block == "bottleneck"):
                keys += [f"{p}.downsample.0.weight"] + [f"{p}.downsample.1.{k}" for k in BN]
    return keys + ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("depth", list(DEPTHS))
def test_keys_and_sizes_are_torchvision_s(depth):
    m = build_model(depth)
    assert list(m.state_dict()) == torchvision_keys(depth)
    assert sum(p.numel() for p in m.parameters()) == TORCHVISION_PARAMS[depth]
    cifar = build_model(f"{depth}-cifar", 10)
    assert list(cifar.state_dict()) == torchvision_keys(depth)
    assert cifar.conv1.kernel_size == (3, 3) and isinstance(cifar.maxpool, torch.nn.Identity)
    assert ARCHS[f"{depth}-cifar"]["input_shape"] == (3, 32, 32) and ARCHS[depth]["input_shape"] == (3, 224, 224)


def test_bottleneck_is_v1_5():
    m = build_model("resnet50-cifar", 10)
    b = m.layer2[0]
    assert b.conv1.stride == (1, 1) and b.conv2.stride == (2, 2) and b.conv3.stride == (1, 1)
    assert (b.conv1.kernel_size, b.conv2.kernel_size, b.conv3.kernel_size) == ((1, 1), (3, 3), (1, 1))
    assert b.downsample[0].stride == (2, 2) and b.downsample[0].kernel_size == (1, 1)
    assert m.layer1[0].downsample[0].stride == (1, 1)  # 64 -> 256 channels, same map
    assert m.fc.in_features == 2048


@pytest.mark.parametrize("arch,classes", [("resnet18", 3), ("resnet34-cifar", 101), ("resnet18-cifar", 1)])
def test_class_count_comes_from_the_checkpoint(tmp_path, arch, classes):
    src = build_model(arch, classes)
    with torch.no_grad():
        src.fc.weight.normal_()
    path = tmp_path / "w.pt"
    torch.save(src.state_dict(), path)
    m = load_model(arch, path)  # no num_classes: the fc decides
    assert m.fc.out_features == classes
    assert torch.equal(m.fc.weight, src.fc.weight)
    c, h, w = ARCHS[arch]["input_shape"]
    with torch.no_grad():
        assert m(torch.zeros(1, c, min(h, 64), min(w, 64))).shape == (1, classes)


def test_mismatches_name_the_key_and_both_shapes(tmp_path):
    path = tmp_path / "r18_100.pt"
    torch.save(build_model("resnet18", 100).state_dict(), path)
    with pytest.raises(ModelFileError, match=r"r18_100\.pt: key 'fc\.weight' has shape \(100, 512\), the model "
                                             r"expects \(10, 512\)"):
        load_model("resnet18", path, num_classes=10)
    with pytest.raises(ModelFileError, match=r"r18_100\.pt: missing key 'layer1\.0\.conv3\.weight'"):
        load_model("resnet50", path)  # a ResNet-18 checkpoint is not a ResNet-50
    sd = build_model("resnet18", 5).state_dict()
    sd["fc.weight"] = torch.zeros(5)
    torch.save(sd, path)
    with pytest.raises(ModelFileError, match=r"key 'fc\.weight' has shape \(5,\), expected \(classes"):
        load_model("resnet18", path)


def _exact_qweights(model: torch.nn.Module, step: float = 2.0**-9) -> dict[str, QuantWeight]:
    """Each weight rounded onto a grid and described exactly (the dequantized weight is the model's):
    codebook [0, -r..-1, 1..r], so that code = the level's index."""
    out = {}
    for name, m in prunable_layers(model).items():
        with torch.no_grad():
            ints = torch.round(m.weight / step)
            m.weight.copy_(ints * step)
        ints = ints.numpy().astype(np.int64)
        r = int(np.abs(ints).max())
        codebook = np.concatenate([[0], np.arange(-r, 0), np.arange(1, r + 1)]).astype(np.int64)
        codes = np.where(ints < 0, ints + r + 1, np.where(ints > 0, ints + r, 0)).astype(np.uint16)
        out[name] = QuantWeight("float", 32, codes, codebook, np.full(ints.shape[0], step, np.float32))
        assert np.array_equal(out[name].integer(), ints)
    return out


def test_bottleneck_checkpoint_and_graph(tmp_path):
    """A 7-class ResNet-50 (CIFAR stem) checkpoint: classes from its fc, and the node graph computes the model."""
    torch.manual_seed(0)
    src = build_model("resnet50-cifar", 7)
    with torch.no_grad():
        for m in src.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.2, 0.6)  # keep 16 residual stages from growing without bound
                m.running_var.uniform_(0.5, 1.5)
    torch.save(src.state_dict(), tmp_path / "r50.pt")
    model = load_model("resnet50-cifar", tmp_path / "r50.pt")
    cm = to_compressed(model, "resnet50-cifar", _exact_qweights(model), "float")
    names = [n.name for n in cm.nodes]
    assert names[:6] == ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer1.0.conv3", "layer1.0.downsample",
                         "layer1.0"]
    node = {n.name: n for n in cm.nodes}
    assert node["layer2.0.conv2"].attrs["stride"] == 2 and node["layer2.0.conv2"].relu
    assert not node["layer2.0.conv3"].relu and node["layer2.0"].inputs == ["layer2.0.conv3", "layer2.0.downsample"]
    assert node["layer2.1"].inputs == ["layer2.1.conv3", "layer2.0"]
    assert sum(n.op == "add" for n in cm.nodes) == 16 and cm.num_classes == 7
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want, got = model(x), to_torch(cm)(x)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))
