"""The Vitis HLS testbench (tb_fq_accel.cpp + tb_data) built with g++ against the engine sources and the
ap_types headers, as Vitis csim would build it: it passes on the engine and catches a wrong output byte."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from fq_hls.build import hls_project
from fq_hls.hw.config import hardware_config


def _compile(tmp_path, board, engine, flags=(), project_defines=False):
    """Build the written project's engine + testbench with g++; project_defines: with the -D flags project.tcl
    gives Vitis HLS (the m_axi depth macros)."""
    try:
        from fq_hls.csim.kernel import ap_types_dir
        inc = ap_types_dir()
    except Exception as e:  # ToolMissingError: no hls4ml headers
        pytest.skip(str(e))
    cxx = shutil.which("g++")
    if cxx is None:
        pytest.skip("g++ not on PATH")
    out = tmp_path / "hls"
    hls_project.write_hls_project(hardware_config(board, engine), out)
    src = out / "src"
    exe = tmp_path / "tb"
    defines = []
    if project_defines:
        meta = json.loads((out / "hls_config.json").read_text())
        defines = hls_project.depth_cflags(meta["m_axi_depths"]).split()
        project = (out / "project.tcl").read_text()
        assert defines and all(d in project for d in defines)
    cmd = [cxx, "-O1", "-std=c++14", "-w", *flags, *defines, "-isystem", str(inc), "-I", str(src),
           str(src / "fq_accel.cpp"), str(src / "tb_fq_accel.cpp"), "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return exe, out / hls_project.TB_DATA


@pytest.mark.csim
@pytest.mark.parametrize("board,engine", [("pynq-z2", "fq"), ("zcu104", "int8")])
def test_testbench_passes_and_detects_errors(tmp_path, board, engine):
    exe, data = _compile(tmp_path, board, engine)
    r = subprocess.run([str(exe), str(data)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "PASS" in r.stdout, r.stderr
    expected = bytearray((data / "expected.bin").read_bytes())
    expected[len(expected) // 2] ^= 0x01
    (data / "expected.bin").write_bytes(bytes(expected))
    r = subprocess.run([str(exe), str(data)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "FAIL: 1 of" in r.stderr
    (data / "meta.txt").write_text("garbage\n")
    assert subprocess.run([str(exe), str(data)], capture_output=True, timeout=120).returncode == 2


@pytest.mark.csim
@pytest.mark.parametrize("board,engine", [("pynq-z2", "fq"), ("kv260", "int8")])
def test_engine_stays_within_the_m_axi_depths(tmp_path, board, engine):
    """Co-simulation's memory models hold `depth` elements: with the project's depth macros the testbench's
    buffers are exactly that long, and AddressSanitizer (std::vector bounds annotated) sees no access beyond."""
    if subprocess.run(["g++", "-fsanitize=address", "-x", "c++", "-", "-o", str(tmp_path / "probe")],
                      input="int main(){return 0;}", capture_output=True, text=True).returncode:
        pytest.skip("g++ without AddressSanitizer")
    exe, data = _compile(tmp_path, board, engine, flags=("-g", "-fsanitize=address", "-D_GLIBCXX_SANITIZE_VECTOR"),
                         project_defines=True)
    env = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([str(exe), str(data)], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and "PASS" in r.stdout, r.stderr[-3000:]
    assert "AddressSanitizer" not in r.stderr


@pytest.mark.csim
def test_data_larger_than_a_depth_is_refused(tmp_path):
    exe, data = _compile(tmp_path, "pynq-z2", "fq", flags=("-DFQ_DEPTH_WEIGHTS=64",))
    r = subprocess.run([str(exe), str(data)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "weights.bin" in r.stderr and "more than the m_axi depth (64 bytes)" in r.stderr
