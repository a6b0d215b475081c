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


def test_csim_defaults_to_the_sized_engine(fqz, capsys):
    """Issue 14 item 7: csim, run --emulate, hls, build and demo use the engine the report sized."""
    need_csim()
    from fq_hls.hw.sized import sized_config

    rc = main(["csim", str(fqz), "--board", "zcu104", "--json"])
    out = json.loads(capsys.readouterr().out)
    cfg = sized_config("zcu104", "fq")
    assert rc == 0 and out["engine_origin"] == "sized"
    assert (out["lanes"], out["pixels"], out["clock_mhz"]) == (cfg.lanes, cfg.pixels, cfg.clock_mhz)


@pytest.mark.parametrize("command", ["csim", "hls", "build", "run"])
def test_engine_options_pick_p_v_and_variants(command):
    import argparse

    from fq_hls.commands import build, csim, hls, run
    from fq_hls.commands.hls import engine_from_args
    from fq_hls.hw.config import hardware_config
    from fq_hls.hw.sized import sized_config

    mod = {"csim": csim, "hls": hls, "build": build, "run": run}[command]
    p = argparse.ArgumentParser()
    mod.add_arguments(p)
    first = ["m.fqz"] if command != "build" else ["m.fqz", "-o", "x"]
    args = p.parse_args([*first, "--board", "kv260"])
    assert engine_from_args(args) == (sized_config("kv260", "fq"), "sized")
    args = p.parse_args([*first, "--board", "kv260", "--config", "default", "--engine", "int8"])
    assert engine_from_args(args) == (hardware_config("kv260", "int8"), "default")
    args = p.parse_args([*first, "--board", "kv260", "--lanes", "4", "--pixels", "8", "--variant", "fill_overlap=0",
                         "--variant", "in_ports=1"])
    cfg, origin = engine_from_args(args)
    assert (cfg.lanes, cfg.pixels, cfg.fill_overlap, cfg.in_ports) == (4, 8, False, 1)
    assert origin == "sized with overrides"


def test_bad_variant_is_one_clear_line(capsys, tmp_path):
    rc = main(["csim", str(tmp_path / "m.fqz"), "--board", "pynq-z2", "--variant", "lanes=3"])
    assert rc == 2 and "--variant 'lanes=3'" in capsys.readouterr().err
    rc = main(["csim", str(tmp_path / "m.fqz"), "--board", "pynq-z2", "--variant", "in_ports=x"])
    assert rc == 2 and "integer" in capsys.readouterr().err


def test_build_manifest_records_the_sized_engine(tmp_path, capsys):
    from fq_hls.fqz import write_fqz
    from fq_hls.hw.sized import sized_config
    from fq_hls.synthetic import random_compressed

    model = tmp_path / "m.fqz"
    write_fqz(random_compressed("smallcnn", "fq5", 0.5, seed=0), model)
    main(["build", str(model), "--board", "ultra96v2", "-o", str(tmp_path / "b")])  # stops at the missing tools
    manifest = json.loads((tmp_path / "b" / "hw_config.json").read_text())
    cfg = sized_config("ultra96v2", "fq")
    assert manifest["hardware"]["lanes"] == cfg.lanes and manifest["hardware"]["pixels"] == cfg.pixels
    assert manifest["hardware_origin"].startswith("sized")
    main(["build", str(model), "--board", "ultra96v2", "--lanes", "4", "-o", str(tmp_path / "c")])
    assert json.loads((tmp_path / "c" / "hw_config.json").read_text())["hardware_origin"].startswith("custom")
