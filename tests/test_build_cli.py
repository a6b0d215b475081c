"""`fq-hls hls` and `fq-hls build` end to end: board validation, the clean stop at a missing tool, and the
gathered build folder (with fake tools that write the files the real ones write)."""

from __future__ import annotations

import json

import pytest
from _build_helpers import DATA, fake_tools, tiny_model

from fq_hls.cli import main
from fq_hls.hw.config import board_names


@pytest.fixture(autouse=True)
def _fixed_resource_model(monkeypatch):
    """The flows compare reports with fq_hls.cost's resource model (Yosys runs on a cold cache, ~10 s per board
    family); here a fixed model stands in: test_build_model_check covers the real one and the comparison."""
    from fq_hls.build import model_check

    model = {"lut": 31820, "ff": 21776, "dsp": 24, "bram18": 421, "bram36": 211, "uram": 0, "evidence": "model"}
    monkeypatch.setattr(model_check, "model_resources", lambda cfg: dict(model))


def test_unknown_board_lists_boards(tmp_path, capsys):
    rc = main(["hls", "--board", "zedboard", str(tiny_model(tmp_path / "m.fqz")), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "zedboard" in err and all(b in err for b in board_names())
    assert "Traceback" not in err


def test_hls_without_tool(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "hlsproj"
    rc = main(["hls", "--board", "ultra96v2", str(tiny_model(tmp_path / "m.fqz")), "-o", str(out),
               "--engine", "int8"])
    err = capsys.readouterr().err
    assert rc == 2 and "vitis_hls" in err and "vitis-run" in err and "run_hls.sh" in err
    assert (out / "run_hls.tcl").is_file() and (out / "src" / "fq_accel.cpp").is_file()
    assert json.loads((out / "hls_config.json").read_text())["config"]["engine"] == "int8"


def test_build_without_tools_writes_every_script(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "b"
    model = tiny_model(tmp_path / "m.fqz")
    rc = main(["build", "--board", "zcu104", str(model), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "vitis_hls" in err and "build.sh" in err and "Traceback" not in err
    for rel in ("hls/run_hls.tcl", "hls/project.tcl", "vivado/build_overlay.tcl", "vivado/settings.tcl",
                "vivado/board.tcl", "vivado/bd_zynqmp.tcl", "vivado/overlay.tcl", "build.sh", "run_on_board.py"):
        assert (out / rel).is_file(), rel
    assert (out / "model.fqz").read_bytes() == model.read_bytes()
    manifest = json.loads((out / "hw_config.json").read_text())
    assert manifest["built"] is False and manifest["hardware"]["board"] == "zcu104"
    script = (out / "run_on_board.py").read_text()
    assert 'main(["run", str(HERE), "--engine", ENGINE' in script
    assert 'PYNQ_PYTHON = "/usr/local/share/pynq-venv/bin/python3"' in script
    assert (out / "reference_logits.npz").is_file()
    assert 'ENGINE = "fq"' in script


def test_build_stops_at_vivado(tmp_path, monkeypatch, capsys):
    fake_tools(tmp_path / "bin", ("vitis_hls",), monkeypatch)
    out = tmp_path / "b"
    rc = main(["build", "--board", "pynq-z2", str(tiny_model(tmp_path / "m.fqz")), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "vivado is not on PATH" in err and "build_overlay.tcl" in err
    assert json.loads((out / "reports" / "hls.json").read_text())["evidence"] == "hls"


@pytest.mark.parametrize("board,family", [("pynq-z2", "zynq7"), ("kv260", "zynqmp")])
def test_build_with_tools_gathers_the_folder(tmp_path, monkeypatch, capsys, board, family):
    fake_tools(tmp_path / "bin", ("vitis-run", "vivado"), monkeypatch, family=family)
    monkeypatch.setenv("FAKE_TIMING", str(DATA / "timing_zynq7.rpt"))  # met (a failing one stops the build)
    out = tmp_path / "b"
    rc = main(["build", "--board", board, str(tiny_model(tmp_path / "m.fqz")), "-o", str(out), "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["built"] is True and summary["check"]["ok"] is True
    assert (out / "fq_accel.bit").is_file() and (out / "fq_accel.hwh").is_file()
    viv = json.loads((out / "reports" / "vivado.json").read_text())
    assert viv["utilization"]["evidence"] == "vivado" and viv["timing"]["evidence"] == "vivado"
    assert viv["timing"]["timing_met"] is True
    manifest = json.loads((out / "hw_config.json").read_text())
    assert manifest["built"] is True and manifest["bitstream"] == "fq_accel.bit"
    assert manifest["reports"] == {"hls": "reports/hls.json", "vivado": "reports/vivado.json",
                                   "model_check": "reports/model_check.json"}
    assert json.loads((out / "reports" / "model_check.json").read_text()) == summary["check"]
    # run_hls.tcl of the build runs the default steps, co-simulation included
    assert "cosim_design" in (out / "hls" / "run_hls.tcl").read_text()
    assert "vivado -mode batch" in (out / "vivado" / "fake_tool_calls.txt").read_text()
    # the runtime reads the same manifest
    from fq_hls.runtime.runner import _load_config

    assert _load_config(str(out), None, "fq")[0].board == board


def test_build_fails_on_negative_wns(tmp_path, monkeypatch, capsys):
    fake_tools(tmp_path / "bin", ("vitis-run", "vivado"), monkeypatch, family="zynqmp")  # WNS -0.412 ns
    out = tmp_path / "b"
    rc = main(["build", "--board", "kv260", str(tiny_model(tmp_path / "m.fqz")), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "WNS -0.412 ns at 200 MHz" in err and "lower --clock-mhz" in err
    assert "Traceback" not in err
    assert json.loads((out / "reports" / "vivado.json").read_text())["timing"]["timing_met"] is False
    assert json.loads((out / "reports" / "model_check.json").read_text())["ok"] is False


def test_build_stops_before_vivado_on_an_ii_miss(tmp_path, monkeypatch, capsys):
    from test_build_reports import write_hls_reports

    fake_tools(tmp_path / "bin", ("vitis_hls", "vivado"), monkeypatch)
    monkeypatch.setenv("FAKE_CSYNTH", str(write_hls_reports(tmp_path / "fake", ii={"decode_entry": 4})))
    out = tmp_path / "b"
    rc = main(["build", "--board", "pynq-z2", str(tiny_model(tmp_path / "m.fqz")), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "decode_entry" in err and "II 4 achieved, target 1" in err
    assert not (out / "vivado" / "fake_tool_calls.txt").exists()  # Vivado never ran
    assert not (out / "fq_accel.bit").exists()


def test_build_steps_option(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "b"
    model = str(tiny_model(tmp_path / "m.fqz"))
    assert main(["build", "--board", "pynq-z2", model, "-o", str(out), "--steps", "csynth,export"]) == 2
    text = (out / "hls" / "run_hls.tcl").read_text()
    assert "csynth_design" in text and "cosim_design" not in text and "csim_design" not in text
    capsys.readouterr()
    assert main(["build", "--board", "pynq-z2", model, "-o", str(out), "--steps", "csim,csynth"]) == 2
    assert "needs export" in capsys.readouterr().err


def test_hls_default_steps_include_cosim(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "h"
    assert main(["hls", "--board", "pynq-z2", str(tiny_model(tmp_path / "m.fqz")), "-o", str(out)]) == 2
    assert json.loads((out / "hls_config.json").read_text())["steps"] == ["csim", "csynth", "cosim", "export"]


def test_collect_after_a_build_by_hand(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "b"
    main(["build", "--board", "pynq-z2", str(tiny_model(tmp_path / "m.fqz")), "-o", str(out)])
    capsys.readouterr()
    # what build.sh leaves behind
    (out / "reports").mkdir(exist_ok=True)
    (out / "reports" / "vivado_utilization.rpt").write_text((DATA / "utilization_zynq7.rpt").read_text())
    (out / "reports" / "vivado_timing_summary.rpt").write_text((DATA / "timing_zynq7.rpt").read_text())
    (out / "fq_accel.bit").write_bytes(b"\0")
    (out / "fq_accel.hwh").write_text("<x/>")
    assert main(["build", "--collect", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "WNS 1.327" in text and "met" in text
    assert json.loads((out / "hw_config.json").read_text())["built"] is True


def test_collect_on_a_non_build_folder(tmp_path, capsys):
    assert main(["build", "--collect", "-o", str(tmp_path)]) == 2
    assert "hw_config.json" in capsys.readouterr().err
