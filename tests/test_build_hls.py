"""The Vitis HLS project: scripts written per board, dry-run in tclsh (both dialects), runner selection,
and the `fq-hls hls` flow with and without (fake) tools."""

from __future__ import annotations

import json
import shutil

import pytest
from _build_helpers import fake_tools, stand_in_sources, tiny_model

from fq_hls.build import hls_project
from fq_hls.build.flow import hls_flow
from fq_hls.build.testbench import DEFAULT_DEPTHS, m_axi_depths
from fq_hls.errors import InputError, ModelFileError, ToolMissingError
from fq_hls.hw import abi
from fq_hls.hw.config import board_names, hardware_config
from fq_hls.hw.cycles import DEPTHS

needs_tclsh = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not on PATH")


@pytest.fixture(autouse=True)
def _fixed_resource_model(monkeypatch):
    """The flows compare reports with fq_hls.cost's resource model (Yosys runs on a cold cache, ~10 s per board
    family); here a fixed model stands in: test_build_model_check covers the real one and the comparison."""
    from fq_hls.build import model_check

    model = {"lut": 31820, "ff": 21776, "dsp": 24, "bram18": 421, "bram36": 211, "uram": 0, "evidence": "model"}
    monkeypatch.setattr(model_check, "model_resources", lambda cfg: dict(model))


def _dry(script, **kw):
    from fq_hls.build.dryrun import dry_run_tcl

    return dry_run_tcl(script, **kw)


@needs_tclsh
@pytest.mark.parametrize("board", board_names())
@pytest.mark.parametrize("dialect", ["project", "component"])
def test_hls_scripts_dry_run(tmp_path, board, dialect):
    cfg = hardware_config(board)
    run = hls_project.write_hls_project(cfg, tmp_path / "hls", write_sources=stand_in_sources())
    assert run.name == "run_hls.tcl"
    trace = _dry(run, env={"FQ_HLS_DIALECT": dialect})
    assert trace.exit_code == 0
    if dialect == "project":
        assert trace.first("open_project").args[-1] == hls_project.PROJECT
        sol = trace.first("open_solution")
        assert sol.option("-flow_target") == "vivado" and sol.has_flag("-reset")  # csynth starts clean
        assert not trace.of("open_component")
    else:
        comp = trace.first("open_component")
        assert comp.option("-flow_target") == "vivado" and hls_project.COMPONENT in comp.args
        assert not trace.of("open_project") and not trace.of("open_solution")
    assert trace.first("set_top").args == (abi.TOP,)
    assert trace.first("set_part").args == (cfg.info.part,)
    clock = trace.first("create_clock")
    assert float(clock.option("-period")) == pytest.approx(1000.0 / cfg.clock_mhz, abs=1e-3)
    adds = [c for c in trace.of("add_files") if not c.has_flag("-tb")]
    assert len(adds) == 1 and adds[0].args[0].endswith("/src/fq_accel.cpp")  # headers via -I, json not added
    (tb,) = [c for c in trace.of("add_files") if c.has_flag("-tb")]
    assert tb.args[1].endswith("/src/tb_fq_accel.cpp")  # fq_hls.build.testbench's, codegen wrote none
    cflags = adds[0].option("-cflags")
    assert "-I" + str((tmp_path / "hls" / "src").resolve()) in cflags and "-std=c++14" in cflags
    # the m_axi depth macros: sized for the testbench data, the same for the engine and the testbench
    depths = m_axi_depths(cfg, tmp_path / "hls" / "tb_data")
    assert all(f"-D{k}={v}" in cflags.split() for k, v in depths.items()) and tb.option("-cflags") == cflags
    assert depths["FQ_DEPTH_DESC"] == 32 and depths["FQ_DEPTH_ACT"] % (cfg.axi_bits // 8) == 0
    # the pinned m_axi interface, after the solution/component is open
    iface = trace.first("config_interface")
    assert iface.option("-m_axi_addr64") == "true"
    assert iface.option("-m_axi_alignment_byte_size") == str(cfg.axi_bits // 8)
    assert iface.option("-m_axi_max_widen_bitwidth") == str(cfg.axi_bits)
    assert iface.option("-m_axi_latency") == str(DEPTHS["load"])
    assert iface.option("-m_axi_auto_max_ports") == "false"
    cmds = trace.commands()
    assert cmds.index("set_part") < cmds.index("config_interface") < cmds.index("csynth_design")
    exp = trace.first("config_export")
    vendor, library, name, version = abi.VLNV.split(":")
    assert exp.option("-format") == "ip_catalog"
    assert (exp.option("-vendor"), exp.option("-library"), exp.option("-ipname"), exp.option("-version")) == (
        vendor, library, name, version)
    steps = [c for c in trace.commands() if c.endswith("_design")]
    assert steps == ["csim_design", "csynth_design", "cosim_design", "export_design"]  # DEFAULT_STEPS
    assert trace.first("csim_design").option("-argv") == str((tmp_path / "hls" / "tb_data").resolve())
    assert trace.first("cosim_design").option("-argv") == str((tmp_path / "hls" / "tb_data").resolve())
    assert trace.first("cosim_design").option("-rtl") == "verilog"
    assert trace.first("export_design").option("-format") == "ip_catalog"
    assert trace.commands()[-1] == "exit"


@needs_tclsh
def test_dialect_auto_detects_open_component(tmp_path):
    run = hls_project.write_hls_project(hardware_config("kv260"), tmp_path, write_sources=stand_in_sources())
    assert _dry(run).of("open_component")  # the tool has it: 2024.2+ dialect
    old = _dry(run, omit=["open_component"])  # a Vitis HLS without it
    assert old.of("open_project") and old.of("open_solution") and not old.of("open_component")


@needs_tclsh
def test_step_scripts_and_testbench(tmp_path):
    cfg = hardware_config("zcu104", "int8")
    run = hls_project.write_hls_project(cfg, tmp_path, steps=("cosim", "csim", "csynth", "export"),
                                        write_sources=stand_in_sources(with_testbench=True))
    trace = _dry(run, env={"FQ_HLS_DIALECT": "project"})
    assert [c for c in trace.commands() if c.endswith("_design")] == [
        "csim_design", "csynth_design", "cosim_design", "export_design"]
    tb = [c for c in trace.of("add_files") if c.has_flag("-tb")]
    assert len(tb) == 1 and tb[0].args[1].endswith("tb_fq_accel.cpp")
    assert trace.first("cosim_design").option("-argv") is None  # codegen's own testbench: no data folder
    cflags = trace.first("add_files").option("-cflags").split()
    assert all(f"-D{k}={v}" in cflags for k, v in DEFAULT_DEPTHS.items())  # its depths: the defaults
    # a later step alone reuses the synthesised solution (no -reset)
    cosim = _dry(tmp_path / "cosim.tcl", env={"FQ_HLS_DIALECT": "project"})
    assert not cosim.first("open_solution").has_flag("-reset")
    assert [c for c in cosim.commands() if c.endswith("_design")] == ["cosim_design"]
    for step in hls_project.STEPS:
        assert (tmp_path / f"{step}.tcl").is_file()
    meta = json.loads((tmp_path / "hls_config.json").read_text())
    assert meta["vlnv"] == abi.VLNV and meta["config"]["engine"] == "int8" and meta["testbench_files"]
    assert meta["m_axi_depths"] == DEFAULT_DEPTHS and meta["config_interface"]["-m_axi_max_widen_bitwidth"] == "128"


def test_register_map_is_the_64_bit_address_layout(tmp_path):
    # fq_hls.hw.abi's offsets are what Vitis HLS lays out with 64-bit m_axi addresses, not with 32-bit ones
    assert hls_project.s_axilite_offsets(addr64=True) == abi.REGISTERS
    assert hls_project.s_axilite_offsets(addr64=False)["act_in"] == 0x18
    hls_project.check_register_map(True)
    with pytest.raises(InputError, match="act_in 0x1c != 0x18"):
        hls_project.check_register_map(False)
    assert hls_project.interface_settings(hardware_config("pynq-z2"))["-m_axi_addr64"] == "true"


def test_axi_width_must_be_a_power_of_two(tmp_path):
    from dataclasses import replace

    cfg = replace(hardware_config("zcu104"), axi_bits=96)
    with pytest.raises(InputError, match="axi_bits 96"):
        hls_project.write_hls_project(cfg, tmp_path, write_sources=stand_in_sources(with_testbench=True))


def test_steps_parsing_and_testbench_requirement(tmp_path):
    assert hls_project.parse_steps("export, csynth") == ("csynth", "export")
    with pytest.raises(InputError, match="synth"):
        hls_project.parse_steps("csynth,synth")
    with pytest.raises(InputError, match="csim.*testbench"):
        hls_project.write_hls_project(hardware_config("pynq-z2"), tmp_path, steps=("csim", "csynth"),
                                      write_sources=stand_in_sources(), testbench=False)


def test_sources_without_top_are_refused(tmp_path):
    def only_header(cfg, src):
        src.mkdir(parents=True, exist_ok=True)
        (src / "x.h").write_text("")
        return [src / "x.h"]

    with pytest.raises(InputError, match="fq_accel.cpp"):
        hls_project.write_hls_project(hardware_config("pynq-z2"), tmp_path, write_sources=only_header)


def test_real_codegen_sources(tmp_path):
    from fq_hls import codegen

    if not hasattr(codegen, "write_sources"):
        pytest.skip("fq_hls.codegen.write_sources not in this checkout yet")
    run = hls_project.write_hls_project(hardware_config("ultra96v2"), tmp_path)
    text = (tmp_path / "project.tcl").read_text()
    assert "fq_accel.cpp" in text and run.is_file()


def test_hls_flow_without_tools_writes_everything(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    model = tiny_model(tmp_path / "m.fqz")
    out = tmp_path / "proj"
    with pytest.raises(ToolMissingError) as e:
        hls_flow(hardware_config("pynq-z2"), out, model, write_sources=stand_in_sources())
    msg = str(e.value)
    assert "vitis_hls" in msg and "vitis-run" in msg and str(out) in msg and "run_hls.sh" in msg
    assert (out / "run_hls.tcl").is_file() and (out / "project.tcl").is_file()
    assert (out / "model.fqz").read_bytes() == model.read_bytes()


def test_hls_flow_refuses_bad_model(tmp_path):
    bad = tmp_path / "bad.fqz"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="bad.fqz"):
        hls_flow(hardware_config("pynq-z2"), tmp_path / "p", bad, write_sources=stand_in_sources())
    with pytest.raises(InputError, match="missing.fqz"):
        hls_flow(hardware_config("pynq-z2"), tmp_path / "p", tmp_path / "missing.fqz",
                 write_sources=stand_in_sources())


@pytest.mark.parametrize("runner,dialect", [("vitis_hls", "project"), ("vitis-run", "component")])
def test_hls_flow_runs_the_tool_and_parses_its_report(tmp_path, monkeypatch, runner, dialect):
    fake_tools(tmp_path / "bin", (runner,), monkeypatch)
    out = tmp_path / "proj"
    summary = hls_flow(hardware_config("pynq-z2"), out, tiny_model(tmp_path / "m.fqz"),
                       write_sources=stand_in_sources())
    assert summary["runner"] == runner
    call = (out / "fake_tool_calls.txt").read_text()
    expected = "-f run_hls.tcl" if runner == "vitis_hls" else "--mode hls --tcl run_hls.tcl"
    assert f"{runner} {expected} dialect={dialect}" in call
    assert summary["hls"]["evidence"] == "hls" and summary["hls"]["resources"]["lut"] == 31877
    assert json.loads((out / "reports" / "hls.json").read_text())["resources"]["dsp"] == 21
    assert summary["ip"].endswith("impl/ip")
    # the check ran on the report: no labelled loop in it (a top-level report only), so each is named missing
    check = json.loads((out / "reports" / "model_check.json").read_text())
    assert check["ok"] is True and check == summary["check"]
    assert any("comp_entry" in d and "not in the csynth report" in d for d in check["discrepancies"])


def test_hls_tool_failure_names_log(tmp_path, monkeypatch):
    from fq_hls.build.tools import ToolFailedError

    fake_tools(tmp_path / "bin", ("vitis_hls",), monkeypatch)
    monkeypatch.setenv("FAKE_HLS_RC", "1")
    with pytest.raises(ToolFailedError, match=r"run_hls\.log"):
        hls_flow(hardware_config("pynq-z2"), tmp_path / "p", tiny_model(tmp_path / "m.fqz"),
                 write_sources=stand_in_sources())


def test_register_layout_follows_the_engine_signature():
    # TOP_ARGS (which lays out the s_axilite map) is the order of fq_accel's parameters in hls_src
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "hls_src" / "fq_accel.cpp").read_text()
    m = re.search(r"void\s+fq_accel\s*\(([^)]*)\)", text)
    assert m, "no fq_accel definition in hls_src/fq_accel.cpp"
    params = [re.split(r"[\s*&]+", p.strip())[-1] for p in m.group(1).split(",")]
    assert params == [name for name, _ in hls_project.TOP_ARGS]
    kinds = ["pointer" if "*" in p else "scalar32" for p in m.group(1).split(",")]
    assert kinds == [kind for _, kind in hls_project.TOP_ARGS]
