"""ONNX export (fq_hls.export, `fq-hls export`): the integer network runs in onnxruntime with logits identical
to the numpy reference, the fake-quantized float one within the stated tolerance, and the check can fail."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install 'fq-hls[export]')")
pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'fq-hls[export]')")

from _badinput import cli, expect_error  # noqa: E402
from runtime_models import tiny_model  # noqa: E402

from fq_hls.export import FLOAT_RTOL, check_float, check_integer, float_onnx, integer_onnx  # noqa: E402
from fq_hls.export.integer import FLOAT_EXACT, weight_digits  # noqa: E402
from fq_hls.fqz import write_fqz  # noqa: E402
from fq_hls.lower import lower  # noqa: E402
from fq_hls.synthetic import random_compressed, random_conv_graph, random_images  # noqa: E402

STANDARD_OPS = {"Cast", "Conv", "Add", "Mul", "Sub", "Div", "Mod", "Clip", "MaxPool", "ReduceSum", "Flatten",
                "Gemm", "Unsqueeze", "Relu", "GlobalAveragePool"}


@pytest.mark.parametrize("arch,method", [("smallcnn", "fq5"), ("smallcnn", "int8"), ("smallcnn", "shift5"),
                                         ("resnet18-cifar", "fq5")])
def test_integer_export_gives_the_reference_logits(arch, method):
    cm = random_compressed(arch, method, 0.8, seed=3)
    g = lower(cm)
    m = integer_onnx(g)
    assert {n.op_type for n in m.graph.node} <= STANDARD_OPS and m.opset_import[0].domain == ""
    r = check_integer(m, g, random_images(cm.input_shape, 3, seed=5))
    assert r.ok and r.max_abs_diff == 0 and r.images == 3, r.line()


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["resnet18", "resnet50-cifar"])
def test_registry_resnets_round_trip_identically(arch, tmp_path):
    """.fqz -> ONNX -> onnxruntime for the 224 stem and the 2048-channel bottlenecks (ResNet-50 at 224 in
    test_resnet50_flow; every architecture of the registry in bench/onnx_roundtrip.py)."""
    from fq_hls.archs import ARCHS
    from fq_hls.fqz import read_fqz, write_fqz

    if arch not in ARCHS:
        pytest.skip(f"{arch} is not in this checkout's architecture registry")
    write_fqz(random_compressed(arch, "fq5", 0.8, seed=2), tmp_path / "m.fqz")
    cm = read_fqz(tmp_path / "m.fqz")
    g = lower(cm)
    r = check_integer(integer_onnx(g), g, random_images(cm.input_shape, 1, seed=5))
    assert r.ok, r.line()


def test_float_export_is_within_the_stated_tolerance():
    cm = random_compressed("resnet18-cifar", "fq5", 0.8, seed=4)
    r = check_float(float_onnx(cm), cm, random_images(cm.input_shape, 2, seed=6))
    assert r.ok and r.rel_diff <= FLOAT_RTOL and r.top1_agree == 1.0, r.line()


@pytest.mark.parametrize("kw", [dict(residual=True, relu=False, res_signed=True, in_signed=True),
                                dict(residual=True, relu=True), dict(kernel=1, stride=2, pad=0, relu=False)])
def test_requantization_residual_and_negative_values_are_exact(kw):
    """Negative t (floor, not truncation), negative multipliers, signed and unsigned residuals."""
    g = random_conv_graph(16, 8, 9, 9, method="fq5", seed=2, **kw)
    rng = np.random.default_rng(0)

    def rand(info):
        lo, hi, dt = (-128, 128, np.int8) if info.signed else (0, 256, np.uint8)
        return rng.integers(lo, hi, (4, *info.shape)).astype(dt)

    inputs = {"residual": rand(g.tensors["residual"])} if "residual" in g.tensors else {}
    m = integer_onnx(g)
    assert [i.name for i in m.graph.input] == ["input", *inputs]
    r = check_integer(m, g, x_int=rand(g.tensors["input"]), inputs=inputs)
    assert r.ok, r.line()


def test_weight_digits_split_wide_weights_exactly():
    rng = np.random.default_rng(1)
    w = rng.integers(-(1 << 14), 1 << 14, (4, 64, 3, 3))
    pieces = weight_digits("wide", w, 255)
    assert len(pieces) > 1
    assert np.array_equal(sum(d << s for s, d in pieces), w)
    for _, d in pieces:
        assert np.abs(d).reshape(4, -1).sum(axis=1).max() * 255 < FLOAT_EXACT
    small = rng.integers(-7, 8, (4, 8, 3, 3))
    assert [s for s, _ in weight_digits("small", small, 255)] == [0]


def test_the_check_catches_a_changed_multiplier():
    cm = random_compressed("smallcnn", "fq5", 0.5, seed=7)
    g = lower(cm)
    m = integer_onnx(g)
    init = next(t for t in m.graph.initializer if t.name == "conv2/mult")
    v = onnx.numpy_helper.to_array(init).copy()
    v.flat[0] = v.flat[0] * 3 // 4  # one channel's gain down by a quarter
    init.CopyFrom(onnx.numpy_helper.from_array(v, init.name))
    r = check_integer(m, g, random_images(cm.input_shape, 16, seed=1))
    assert not r.ok and r.max_abs_diff > 0 and "MISMATCH" in r.line()


def test_export_command_writes_and_checks(tmp_path, capsys):
    fqz = tmp_path / "m.fqz"
    write_fqz(tiny_model("fq", size=8), fqz)
    out = tmp_path / "m.onnx"
    rc, text, _ = cli(["export", str(fqz), "--onnx", str(out), "--check", "--images", "2"], capsys)
    assert rc == 0 and "identical int32 logits" in text and ": OK" in text
    assert onnx.load(str(out)).graph.output[0].name == "logits"
    before = out.read_bytes()
    expect_error(["export", str(fqz), "--onnx", str(out)], capsys, "exists", "--force")
    assert out.read_bytes() == before
    expect_error(["export", str(fqz), "--onnx", str(fqz), "--force"], capsys, "input")
    rc, text, _ = cli(["export", str(fqz), "--onnx", str(out), "--float", "--check", "--force"], capsys)
    assert rc == 0 and "float" in text and ": OK" in text
    assert onnx.load(str(out)).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    expect_error(["export", str(tmp_path / "nope.fqz"), "--onnx", str(tmp_path / "x.onnx")], capsys, "nope.fqz")
    garbage = tmp_path / "garbage.fqz"
    garbage.write_bytes(b"FQZ\0" + bytes(range(256)) * 4)
    expect_error(["export", str(garbage), "--onnx", str(tmp_path / "x.onnx")], capsys, "garbage.fqz")
    expect_error(["export", str(fqz), "--onnx", str(tmp_path / "no_such_dir" / "x.onnx")], capsys, "no_such_dir")
    assert not (tmp_path / "x.onnx").exists()
