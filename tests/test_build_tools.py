"""The real Xilinx tools, where installed: Vitis HLS synthesis + IP export, then the Vivado overlay.
Hours of tool time on a ResNet-sized engine: marked slow, skipped without the tools."""

from __future__ import annotations

import shutil

import pytest
from _build_helpers import tiny_model

from fq_hls.build import hls_project
from fq_hls.build.flow import build_flow, hls_flow
from fq_hls.hw.config import hardware_config


@pytest.mark.hls
@pytest.mark.slow
def test_vitis_hls_synthesis_and_export(tmp_path):
    if shutil.which("vitis_hls") is None and shutil.which("vitis-run") is None:
        pytest.skip("vitis_hls / vitis-run not on PATH")
    cfg = hardware_config("pynq-z2", lanes=2, pixels=2)
    summary = hls_flow(cfg, tmp_path / "hls", tiny_model(tmp_path / "m.fqz"))
    assert summary["hls"]["evidence"] == "hls" and summary["hls"]["top"] == "fq_accel"
    assert hls_project.find_exported_ip(tmp_path / "hls") is not None


@pytest.mark.hls
@pytest.mark.vivado
@pytest.mark.slow
def test_overlay_bitstream(tmp_path):
    if shutil.which("vivado") is None or (shutil.which("vitis_hls") is None and shutil.which("vitis-run") is None):
        pytest.skip("vivado and vitis_hls / vitis-run not on PATH")
    cfg = hardware_config("pynq-z2", lanes=2, pixels=2)
    out = build_flow(cfg, tmp_path / "b", tiny_model(tmp_path / "m.fqz"))
    assert out["built"] and (tmp_path / "b" / "fq_accel.bit").is_file() and (tmp_path / "b" / "fq_accel.hwh").is_file()
    assert out["vivado"]["timing"]["evidence"] == "vivado"
