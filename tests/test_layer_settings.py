"""`compress --layers FILE`: per-layer method, bits and sparsity by name or glob, applied and refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _badinput import cli

from fq_hls.compress.layer_settings import (
    LayerSetting,
    layer_aliases,
    read_layer_settings,
    resolve_layer_settings,
)
from fq_hls.errors import InputError

NAMES = ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1", "layer2.0.downsample.0", "fc"]


def _resolve(doc: dict, tmp_path, suffix=".json", method="fq5", sparsity=0.5):
    p = tmp_path / f"layers{suffix}"
    p.write_text(json.dumps(doc))
    return resolve_layer_settings(read_layer_settings(p), layer_aliases(NAMES), method,
                                  {n: (None if n == "conv1" else sparsity) for n in NAMES}, source=str(p))


def test_globs_in_file_order_and_node_names(tmp_path):
    got = _resolve({"layers": {"layer*": {"method": "fq7"}, "layer2.*": {"sparsity": 0.9},
                               "layer2.0.downsample": {"method": "int8"}, "fc": {"bits": 8, "method": "int8"},
                               "conv1": {"sparsity": None}, "layer1.0.conv2": {"bits": 5}}}, tmp_path)
    assert got["conv1"] == LayerSetting("fq5", None)
    assert got["layer1.0.conv1"] == LayerSetting("fq7", 0.5)
    assert got["layer1.0.conv2"] == LayerSetting("fq5", 0.5)  # bits 5 of the fq kind: fq7 -> fq5
    assert got["layer2.0.conv1"] == LayerSetting("fq7", 0.9)
    assert got["layer2.0.downsample.0"] == LayerSetting("int8", 0.9)  # the node name matches its module
    assert got["fc"] == LayerSetting("int8", 0.5)


def test_yaml(tmp_path):
    p = tmp_path / "l.yaml"
    p.write_text("layers:\n  'layer1.*':\n    method: shift5\n    sparsity: 0.25\n")
    got = resolve_layer_settings(read_layer_settings(p), layer_aliases(NAMES), "fq5", {}, source=str(p))
    assert got["layer1.0.conv2"] == LayerSetting("shift5", 0.25) and got["fc"] == LayerSetting("fq5", None)


@pytest.mark.parametrize("doc,fragment", [
    ({"layers": {"layer9.*": {"method": "fq7"}}}, "layers.layer9.*: matches no conv/linear layer"),
    ({"layers": {"fc": {"precision": 8}}}, "layers.fc: unknown field 'precision'"),
    ({"layers": {"fc": {"method": "fq6"}}}, "layers.fc.method: 'fq6' is not one of"),
    ({"layers": {"fc": {"method": "fq5", "bits": 7}}}, "layers.fc.bits: 7 does not match method fq5"),
    ({"layers": {"fc": {"bits": 6}}}, "layers.fc.bits: fq quantization has 5, 7 bits, not 6"),
    ({"layers": {"fc": {"sparsity": 1.0}}}, "layers.fc.sparsity: expected a number in [0, 1)"),
    ({"layers": {"fc": {"sparsity": True}}}, "layers.fc.sparsity"),
    ({"layers": {"fc": 3}}, "layers.fc: expected a mapping"),
    ({"fc": {"method": "int8"}}, 'expected one top-level key "layers"'),
    ([1, 2], 'expected one top-level key "layers"'),
])
def test_refusals_name_file_pattern_and_field(tmp_path, doc, fragment):
    with pytest.raises(InputError) as e:
        _resolve(doc, tmp_path)
    assert fragment in str(e.value) and "layers.json" in str(e.value) and "\n" not in str(e.value)


def test_unreadable_files(tmp_path):
    bad = tmp_path / "l.json"
    bad.write_text("{layers: }")
    with pytest.raises(InputError, match=r"l\.json: not valid JSON"):
        read_layer_settings(bad)
    y = tmp_path / "l.yaml"
    y.write_text("layers: !!python/object/apply:os.system ['true']\n")  # safe_load refuses object tags
    with pytest.raises(InputError, match=r"l\.yaml: not valid YAML"):
        read_layer_settings(y)
    with pytest.raises(InputError, match="missing.json"):
        read_layer_settings(tmp_path / "missing.json")


def _digits_ckpt(tmp_path):
    from fq_hls.compress.models import build_model

    torch.manual_seed(0)
    path = tmp_path / "w.pt"
    torch.save(build_model("smallcnn").state_dict(), path)
    return path


def test_compress_applies_the_settings(tmp_path, capsys):
    from fq_hls.fqz import read_fqz

    ckpt = _digits_ckpt(tmp_path)
    layers = tmp_path / "layers.json"
    layers.write_text(json.dumps({"layers": {"conv*": {"sparsity": 0.25}, "conv2": {"method": "int8"},
                                             "fc": {"bits": 7, "sparsity": 0.75}}}))
    out = tmp_path / "m.fqz"
    rc, _, err = cli(["compress", "--arch", "smallcnn", "--weights", ckpt, "--method", "fq5", "--sparsity", "0.5",
                      "--layers", layers, "--no-progress", "-o", out], capsys)
    assert rc == 0, err
    nodes = {n.name: n for n in read_fqz(out).nodes}
    assert nodes["conv2"].weight.mode == "int8" and nodes["conv2"].weight.bits == 8
    assert nodes["fc"].weight.bits == 7 and nodes["conv1"].weight.bits == 5
    for name, want in (("conv1", 0.25), ("conv2", 0.25), ("fc", 0.75)):
        codes = nodes[name].weight.codes
        assert abs(float(np.mean(codes == 0)) - want) < 0.05, name


def test_compress_refuses_unknown_names_before_work(tmp_path, capsys):
    ckpt = _digits_ckpt(tmp_path)
    layers = tmp_path / "layers.json"
    layers.write_text(json.dumps({"layers": {"conv3": {"method": "int8"}}}))
    rc, _, err = cli(["compress", "--arch", "smallcnn", "--weights", ckpt, "--method", "fq5", "--layers", layers,
                      "-o", tmp_path / "m.fqz"], capsys)
    errors = [line for line in err.splitlines() if "error" in line]  # a no-data warning may come first
    assert rc == 2 and "Traceback" not in err and len(errors) == 1
    assert "layers.json: layers.conv3: matches no conv/linear layer" in errors[0]
    assert not (tmp_path / "m.fqz").exists() and not (tmp_path / "m.json").exists()
