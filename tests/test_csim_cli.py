"""`fq-hls csim`: lower, pack, C-simulate and compare with the reference from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _csim_helpers import lowered, need_csim

from fq_hls.cli import main

pytestmark = pytest.mark.csim


@pytest.fixture(scope="module")
def fqz(tmp_path_factory):
    from fq_hls.fqz import write_fqz

    cm, _ = lowered("resnet18-cifar", "fq5", 0.85)
    path = tmp_path_factory.mktemp("m") / "r18.fqz"
    write_fqz(cm, str(path))
    return path


def test_csim_json_synthetic(fqz, capsys):
    need_csim()
    rc = main(["csim", str(fqz), "--board", "zcu104", "--images", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["bit_exact"] is True and out["images"] == 2
    assert len(out["cycles"]) == 2 and out["cycles"][0] == sum(r["cycles"] for r in out["layers"])
    assert out["seconds_per_image"] > 0 and out["evidence"] == "csim"
    assert [r["name"] for r in out["layers"]][0] == "conv1"
    for r in out["layers"]:
        assert abs(r["estimate"] - r["cycles"]) <= 0.05 * r["cycles"]


def test_csim_with_data_and_int8_engine(fqz, tmp_path, capsys):
    need_csim()
    rng = np.random.default_rng(0)
    data = tmp_path / "imgs.npz"
    np.savez(data, x=rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8), y=np.arange(3))
    # fq5 levels exceed int8: the int8 engine refuses with a message naming the layer
    rc = main(["csim", str(fqz), "--board", "pynq-z2", "--engine", "int8", "--data", str(data)])
    assert rc == 2 and "int8 engine" in capsys.readouterr().err
    rc = main(["csim", str(fqz), "--board", "pynq-z2", "--data", str(data), "--images", "3"])
    assert rc == 0 and "bit-exact: yes on 3 image(s)" in capsys.readouterr().out


def test_csim_missing_model(tmp_path, capsys):
    rc = main(["csim", str(tmp_path / "nope.fqz"), "--board", "zcu104"])
    assert rc == 2 and "no such model file" in capsys.readouterr().err
