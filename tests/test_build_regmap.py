"""The exported IP's driver header (x<top>_hw.h, as Vitis HLS writes it) checked against the ABI."""

from __future__ import annotations

import pytest

from fq_hls.build.model_check import DesignCheckError
from fq_hls.build.regmap import check_driver_header, find_driver_header, parse_driver_header

HEADER = """// ==============================================================
// control
// 0x00 : Control signals
// ...
#define XFQ_ACCEL_CONTROL_ADDR_AP_CTRL       0x00
#define XFQ_ACCEL_CONTROL_ADDR_GIE           0x04
#define XFQ_ACCEL_CONTROL_ADDR_IER           0x08
#define XFQ_ACCEL_CONTROL_ADDR_ISR           0x0c
#define XFQ_ACCEL_CONTROL_ADDR_WEIGHTS_DATA  0x10
#define XFQ_ACCEL_CONTROL_BITS_WEIGHTS_DATA  64
#define XFQ_ACCEL_CONTROL_ADDR_ACT_IN_DATA   0x1c
#define XFQ_ACCEL_CONTROL_BITS_ACT_IN_DATA   64
#define XFQ_ACCEL_CONTROL_ADDR_ACT_OUT_DATA  0x28
#define XFQ_ACCEL_CONTROL_BITS_ACT_OUT_DATA  64
#define XFQ_ACCEL_CONTROL_ADDR_DESC_DATA     0x34
#define XFQ_ACCEL_CONTROL_BITS_DESC_DATA     64
#define XFQ_ACCEL_CONTROL_ADDR_N_LAYERS_DATA 0x40
#define XFQ_ACCEL_CONTROL_BITS_N_LAYERS_DATA 32
#define XFQ_ACCEL_CONTROL_ADDR_ACT_IN2_DATA  0x48
#define XFQ_ACCEL_CONTROL_BITS_ACT_IN2_DATA  64
"""


def _write(tmp_path, text):
    src = tmp_path / "ip" / "drivers" / "fq_accel_v1_0" / "src"
    src.mkdir(parents=True)
    (src / "xfq_accel_hw.h").write_text(text)
    return tmp_path / "ip"


def test_header_matching_the_abi_passes(tmp_path):
    ip = _write(tmp_path, HEADER)
    header = find_driver_header(ip)
    assert header is not None and check_driver_header(header)["act_in2"] == 0x48
    addr, bits = parse_driver_header(HEADER)
    assert addr["n_layers"] == 0x40 and bits["weights"] == 64


def test_moved_narrow_or_missing_registers_are_named(tmp_path):
    moved = HEADER.replace("ADDR_N_LAYERS_DATA 0x40", "ADDR_N_LAYERS_DATA 0x44")
    with pytest.raises(DesignCheckError, match=r"register 'n_layers' is at 0x44, the ABI has 0x40"):
        check_driver_header(_write(tmp_path / "a", moved) / "drivers/fq_accel_v1_0/src/xfq_accel_hw.h")
    narrow = HEADER.replace("BITS_DESC_DATA     64", "BITS_DESC_DATA     32")
    with pytest.raises(DesignCheckError, match=r"pointer 'desc' is 32 bits wide"):
        check_driver_header(_write(tmp_path / "b", narrow) / "drivers/fq_accel_v1_0/src/xfq_accel_hw.h")
    missing = "\n".join(line for line in HEADER.splitlines() if "ACT_IN2" not in line)
    with pytest.raises(DesignCheckError, match=r"register 'act_in2' is missing"):
        check_driver_header(_write(tmp_path / "c", missing) / "drivers/fq_accel_v1_0/src/xfq_accel_hw.h")
