"""The Vitis HLS testbench (tb_fq_accel.cpp + tb_data) built with g++ against the engine sources and the
ap_types headers, as Vitis csim would build it: it passes on the engine and catches a wrong output byte."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from fq_hls.build import hls_project
from fq_hls.hw.config import hardware_config


def _compile(tmp_path, board, engine):
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
    cmd = [cxx, "-O1", "-std=c++14", "-w", "-isystem", str(inc), "-I", str(src),
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
