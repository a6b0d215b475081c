"""fq_hls.synthetic model builders, and a full ResNet-18 (224x224) image through the integer reference."""

import time

import numpy as np
import pytest

from fq_hls.lower import lower
from fq_hls.model import normalise
from fq_hls.reference import run_float, run_integer
from fq_hls.synthetic import random_compressed, random_conv_graph, random_images


def test_smallcnn_builder_contract():
    cm = random_compressed("smallcnn", "fq5", sparsity=0.5, seed=4)
    assert [n.name for n in cm.nodes] == ["conv1", "conv2", "avgpool", "fc"]
    assert cm.input_shape == (1, 8, 8) and cm.num_classes == 10
    assert set(cm.act_max) == {"input", "conv1", "conv2", "avgpool", "fc"}
    assert abs(cm.sparsity() - 0.5) < 0.05
    for n in cm.weighted():
        qw = n.weight
        assert qw.codebook[0] == 0 and qw.mode in ("recentralized", "shift")
        np.testing.assert_array_equal(qw.fields.levels(), qw.codebook)
    again = random_compressed("smallcnn", "fq5", sparsity=0.5, seed=4)
    np.testing.assert_array_equal(again.nodes[0].weight.codes, cm.nodes[0].weight.codes)
    assert random_compressed("smallcnn", "int8", num_classes=3).num_classes == 3


def test_resnet18_cifar_names_follow_torchvision():
    cm = random_compressed("resnet18-cifar", "int8", seed=0)
    names = [n.name for n in cm.nodes]
    assert names[:5] == ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer1.0", "layer1.1.conv1"]
    assert "maxpool" not in names and names[-2:] == ["avgpool", "fc"]
    blk = cm.node("layer2.0")
    assert blk.op == "add" and blk.relu and blk.inputs == ["layer2.0.conv2", "layer2.0.downsample"]
    assert cm.node("layer1.1").inputs == ["layer1.1.conv2", "layer1.0"]
    assert cm.node("layer2.0.downsample").weight.shape == (128, 64, 1, 1)
    assert all(n.weight.mode == "int8" for n in cm.weighted())
    assert cm.node("fc").weight.shape == (10, 512) and cm.node("fc").bias is not None


def test_random_conv_graph_shapes_and_residual():
    g = random_conv_graph(5, 7, 9, 6, 5, 2, 2, 0.6, "shift5", 3, relu=False, residual=True, in_signed=True)
    lay = g.layers[0]
    assert g.tensors["conv"].shape == (7, 5, 3) and g.tensors["residual"].shape == (7, 5, 3)
    assert lay.residual == "residual" and lay.wformat.kind == "shift" and not lay.relu
    assert (lay.mult < 0).any() or (lay.mult > 0).all()


def test_resnet18_imagenet_image_runs():
    cm = random_compressed("resnet18", "fq5", sparsity=0.9, seed=1)
    names = [n.name for n in cm.nodes]
    assert names[:2] == ["conv1", "maxpool"] and cm.num_classes == 1000
    g = lower(cm)
    assert g.tensors["maxpool"].shape == (64, 56, 56) and not g.tensors["maxpool"].signed
    imgs = random_images(cm.input_shape, 1, seed=2)
    t0 = time.perf_counter()
    li = run_integer(g, g.quantize_input(imgs))
    dt = time.perf_counter() - t0
    assert li.shape == (1, 1000) and li.dtype == np.int32
    lf = run_float(cm, normalise(imgs, cm.mean, cm.std))
    assert np.corrcoef(g.dequantize(g.output, li).ravel(), lf.ravel())[0, 1] > 0.95
    assert dt < 20, f"one 224x224 image took {dt:.1f} s"
    print(f"ResNet-18 224x224 integer reference: {dt:.3f} s/image")


@pytest.mark.parametrize("method", ["fq7", "shift7"])
def test_seven_bit_methods_lower(method):
    cm = random_compressed("smallcnn", method, seed=5)
    g = lower(cm)
    assert g.layers[-1].out_bits == 32
