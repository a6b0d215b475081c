"""The Vivado overlay scripts of all four boards, dry-run in tclsh with recording stubs: part, PS, clock,
one HP/HPC port per m_axi bundle, s_axilite on the GP/HPM master, DDR address segments, runs, reports and
the PYNQ .bit/.hwh pair."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace

import pytest

from fq_hls.build.vivado_project import BUNDLES, write_vivado_project
from fq_hls.errors import InputError
from fq_hls.hw import abi
from fq_hls.hw.config import board_names, hardware_config

pytestmark = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not on PATH")

PS = {"zynq7": ("xilinx.com:ip:processing_system7", "ps7", "FCLK_CLK0"),
      "zynqmp": ("xilinx.com:ip:zynq_ultra_ps_e", "zynq_ps", "pl_clk0")}
# where the runtime's .hwh (fq_hls.runtime.hwh) expects the control window
CTRL_BASE = {"zynq7": 0x4000_0000, "zynqmp": 0xA000_0000}
SLAVE_PORT = {"zynq7": r"S_AXI_HP[0-3]", "zynqmp": r"S_AXI_HPC?[0-3]_FPD"}
BOARD_PART = {"pynq-z2": "tul.com.tw:pynq-z2:", "zcu104": "xilinx.com:zcu104:", "ultra96v2": "avnet.com:ultra96v2:",
              "kv260": "xilinx.com:kv260_som:"}
MASTER_PORT = {"zynq7": r"M_AXI_GP[01]", "zynqmp": r"M_AXI_HPM[01]_[FL]PD"}


def _props(trace, cell):
    """Merged CONFIG.* properties set on `cell` with set_property -dict."""
    out = {}
    for c in trace.of("set_property"):
        if c.args[0] == "-dict" and c.args[-1] == cell:
            words = c.args[1].split()
            out.update(zip(words[::2], words[1::2], strict=True))
    return out


def _intf_links(trace):
    return {(c.args[0], c.args[1]) for c in trace.of("connect_bd_intf_net")}


def _build(tmp_path, board, **kw):
    from fq_hls.build.dryrun import dry_run_tcl

    cfg = kw.pop("cfg", None) or hardware_config(board)
    script = write_vivado_project(cfg, tmp_path / "vivado", ip_repo=tmp_path / "hls")
    return cfg, dry_run_tcl(script, **kw)


@pytest.mark.parametrize("board", board_names())
def test_block_design(tmp_path, board):
    cfg, t = _build(tmp_path, board)
    fam = cfg.info.family
    ps_vlnv, ps, clk_pin = PS[fam]
    assert t.first("create_project").option("-part") == cfg.info.part
    # board files found -> the board part is set on the project
    bp = [c for c in t.of("set_property") if c.args[0] == "board_part"]
    assert len(bp) == 1 and bp[0].args[1].startswith(BOARD_PART[board])
    # IP catalog: the HLS export folder, the ABI's VLNV
    assert any(c.args[:2] == ("ip_repo_paths", str(tmp_path / "hls")) for c in t.of("set_property"))
    cells = {c.args[-1]: c.option("-vlnv") for c in t.of("create_bd_cell")}
    assert cells[ps] == ps_vlnv and cells["fq_accel_0"] == abi.VLNV
    assert cells["rst_pl"] == "xilinx.com:ip:proc_sys_reset"

    props = _props(t, ps)
    if fam == "zynq7":
        assert float(props["CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ"]) == cfg.clock_mhz
    else:
        assert float(props["CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"]) == cfg.clock_mhz

    links = _intf_links(t)
    used_ports = []
    for bundle in BUNDLES:
        sc = f"sc_{bundle}"
        assert (f"fq_accel_0/m_axi_{bundle}", f"{sc}/S00_AXI") in links
        (port,) = [b.split("/")[1] for a, b in links if a == f"{sc}/M00_AXI"]
        assert re.fullmatch(SLAVE_PORT[fam], port), port
        used_ports.append(port)
        # the interconnect and the PS port are clocked by the PL clock
        nets = [c.args for c in t.of("connect_bd_net") if f"{sc}/aclk" in c.args]
        assert nets and nets[0][0] == f"{ps}/{clk_pin}"
        # the bundle's master sees DDR through that port
        segs = [c for c in t.of("assign_bd_address")
                if c.option("-target_address_space") == f"fq_accel_0/Data_m_axi_{bundle}"]
        targets = sorted(c.args[-1] for c in segs)
        n = port[len("S_AXI_HP"):].split("_")[0].lstrip("C")  # HP0 -> 0, HPC1_FPD -> 1
        if fam == "zynq7":
            assert targets == [f"ps7/{port}/HP{n}_DDR_LOWOCM"]
        else:
            kind = "HPC" if port.startswith("S_AXI_HPC") else "HP"
            assert [t.rsplit("/", 1)[1] for t in targets] == [f"{kind}{n}_DDR_HIGH", f"{kind}{n}_DDR_LOW"]
            assert all(t.startswith(f"{ps}/SAXIGP") for t in targets)
    assert len(set(used_ports)) == len(BUNDLES)  # one PS port each

    (ctrl,) = [a.split("/")[1] for a, b in links if b == "sc_control/S00_AXI"]
    assert re.fullmatch(MASTER_PORT[fam], ctrl)
    assert ("sc_control/M00_AXI", "fq_accel_0/s_axi_control") in links
    (addr,) = [c for c in t.of("assign_bd_address") if c.args[-1] == "fq_accel_0/s_axi_control/Reg"]
    assert addr.option("-target_address_space") == f"{ps}/Data"
    assert int(addr.option("-offset"), 16) == CTRL_BASE[fam]
    assert int(addr.option("-range"), 16) == abi.ADDRESS_RANGE
    # only the control master is enabled among the PS masters (an enabled unclocked one fails validation)
    enabled = [k for k, v in props.items() if re.search(r"USE_?_?M_AXI", k) and v == "1"]
    assert len(enabled) == 1

    cmds = t.commands()
    assert cmds.index("validate_bd_design") < cmds.index("make_wrapper") < cmds.index("launch_runs")
    # implementation to route_design, reports, the WNS gate, then the bitstream step of the same run
    impl = [i for i, c in enumerate(t.calls) if c.cmd == "launch_runs" and c.args[0] == "impl_1"]
    assert len(impl) == 2
    assert t.calls[impl[0]].option("-to_step") is None
    assert t.calls[impl[1]].option("-to_step") == "write_bitstream"
    paths = t.first("get_timing_paths")
    assert paths.has_flag("-setup") and paths.option("-max_paths") == "1" and paths.option("-nworst") == "1"
    gate = cmds.index("get_timing_paths")
    assert cmds.index("report_timing_summary") < gate < impl[1]
    assert any(c.args[0] == "SLACK" for c in t.of("get_property"))
    assert "timing met, WNS 0.250 ns" in t.stdout
    assert t.first("report_utilization").option("-file") == str(tmp_path / "reports" / "vivado_utilization.rpt")
    assert t.first("report_timing_summary").option("-file") == str(
        tmp_path / "reports" / "vivado_timing_summary.rpt")
    copies = {c.args[-1]: c.args[-2] for c in t.of("file copy")}
    bit, hwh = str(tmp_path / "fq_accel.bit"), str(tmp_path / "fq_accel.hwh")
    assert copies[bit].endswith("fq_overlay.runs/impl_1/fq_bd_wrapper.bit")
    assert copies[hwh].endswith("fq_overlay.gen/sources_1/bd/fq_bd/hw_handoff/fq_bd.hwh")


@pytest.mark.parametrize("board", ["pynq-z2", "kv260"])
def test_without_board_files_and_older_srcs_layout(tmp_path, board):
    cfg, t = _build(tmp_path, board, board_parts=False, missing=["*.gen/*"])
    assert not [c for c in t.of("set_property") if c.args[0] == "board_part"]
    if cfg.info.family == "zynq7":
        assert "apply_board_preset 0" in t.first("apply_bd_automation").option("-config")
    else:
        assert not t.of("apply_bd_automation")  # no preset to apply on the bare part
    copies = {c.args[-1]: c.args[-2] for c in t.of("file copy")}
    assert copies[str(tmp_path / "fq_accel.hwh")].endswith(
        "fq_overlay.srcs/sources_1/bd/fq_bd/hw_handoff/fq_bd.hwh")
    assert "no board files match" in t.stdout


def test_zynq7_hp_ports_capped_at_64_bits(tmp_path):
    cfg = replace(hardware_config("pynq-z2"), axi_bits=128, clock_mhz=125.0)
    _, t = _build(tmp_path, "pynq-z2", cfg=cfg)
    props = _props(t, "ps7")
    assert props["CONFIG.PCW_S_AXI_HP0_DATA_WIDTH"] == "64" and props["CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ"] == "125"


def test_zynqmp_hp_width_follows_config(tmp_path):
    _, t = _build(tmp_path, "zcu104")
    props = _props(t, "zynq_ps")
    assert props["CONFIG.PSU__SAXIGP2__DATA_WIDTH"] == "128" and props["CONFIG.PSU__USE__S_AXI_GP2"] == "1"


def test_missing_bitstream_stops_the_script(tmp_path):
    from fq_hls.build.dryrun import DryRunError

    with pytest.raises(DryRunError, match="bitstream .* was not written"):
        _build(tmp_path, "ultra96v2", missing=["*.bit"])


@pytest.mark.parametrize("board", ["pynq-z2", "zcu104"])
def test_negative_wns_stops_before_the_bitstream(tmp_path, board):
    from fq_hls.build.dryrun import DryRunError

    cfg = hardware_config(board)
    with pytest.raises(DryRunError, match=rf"timing not met: WNS -0.137 ns < 0 at {cfg.clock_mhz:g} MHz") as e:
        _build(tmp_path, board, slack=-0.137)
    t = e.value.trace
    # the reports are written (for fq-hls build --collect), the bitstream step never launched, nothing copied
    assert t.of("report_utilization") and t.of("report_timing_summary")
    assert not [c for c in t.of("launch_runs") if c.option("-to_step") == "write_bitstream"]
    assert not t.of("file copy")
    assert "lower the clock" in str(e.value) and "vivado_timing_summary.rpt" in str(e.value)


def test_zero_slack_passes_and_no_timing_path_stops(tmp_path):
    from fq_hls.build.dryrun import DryRunError

    _, t = _build(tmp_path, "kv260", slack=0.0)
    assert [c for c in t.of("launch_runs") if c.option("-to_step") == "write_bitstream"]
    with pytest.raises(DryRunError, match="no setup timing path"):
        _build(tmp_path, "kv260", slack=None)


def test_unknown_board(tmp_path):
    with pytest.raises(InputError, match="pynq-z2"):
        write_vivado_project(replace(hardware_config("pynq-z2"), board="nope"), tmp_path, ip_repo=tmp_path)
