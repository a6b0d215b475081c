"""A minimal hardware handoff (.hwh) for the emulated board, written from `fq_hls.hw.abi`.

Vivado writes the real .hwh next to the bitstream; pynq reads it (through `pynqmetadata`) to learn where each
IP's s_axilite window lives and which driver to bind (by VLNV). Without Vivado there is no .hwh, so for
emulation we write the smallest description that pynq's own parser accepts: one processing system (family of
the board) whose AXI master maps the `fq_accel` IP's `s_axi_control` window, with the register map of
docs/accel_abi.md. Nothing else of a block design (clocks wiring, interconnects, resets) is described.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from ..hw import abi
from ..hw.config import HardwareConfig

INSTANCE = f"{abi.TOP}_0"  # instance name the Vivado block design gives the IP (build TCL uses the same)

# PS block per family: (MODTYPE, VLNV, AXI master to the PL, base address of that master's window,
#                       clock-enable/divisor/source parameter names, achieved-frequency parameter name)
_PS = {
    "zynq7": dict(
        modtype="processing_system7",
        vlnv="xilinx.com:ip:processing_system7:5.5",
        master="M_AXI_GP0",
        base=0x4000_0000,
        enable="PCW_FPGA_FCLK{i}_ENABLE",
        div="PCW_FCLK{i}_PERIPHERAL_DIVISOR{j}",
        src="PCW_FCLK{i}_PERIPHERAL_CLKSRC",
        src_value="IO PLL",
        pll_mhz=1000.0,
    ),
    "zynqmp": dict(
        modtype="zynq_ultra_ps_e",
        vlnv="xilinx.com:ip:zynq_ultra_ps_e:3.5",
        master="M_AXI_HPM0_FPD",
        base=0xA000_0000,
        enable="PSU__FPGA_PL{i}_ENABLE",
        div="PSU__CRL_APB__PL{i}_REF_CTRL__DIVISOR{j}",
        src="PSU__CRL_APB__PL{i}_REF_CTRL__SRCSEL",
        src_value="IOPLL",
        pll_mhz=1500.0,
    ),
}
# pynqmetadata reads the achieved PL clock from this parameter name for both PS families
_FREQ = "PSU__CRL_APB__PL{i}_REF_CTRL__ACT_FREQMHZ"

# (name, offset, description, fields[(name, bit, width, access)])
_CTRL_FIELDS = [
    ("AP_START", 0, 1, "read-write"),
    ("AP_DONE", 1, 1, "read-only"),
    ("AP_IDLE", 2, 1, "read-only"),
    ("AP_READY", 3, 1, "read-only"),
    ("AUTO_RESTART", 7, 1, "read-write"),
]


def register_map() -> list[tuple[str, int, str, list[tuple[str, int, int, str]]]]:
    """The s_axilite registers in Vitis HLS naming (64-bit pointers as `<arg>_1` low and `<arg>_2` high)."""
    regs = [
        ("CTRL", abi.CTRL, "Control signals", _CTRL_FIELDS),
        ("GIER", abi.GIE, "Global Interrupt Enable Register", [("Enable", 0, 1, "read-write")]),
        ("IP_IER", abi.IER, "IP Interrupt Enable Register", [("CHAN0_INT_EN", 0, 1, "read-write")]),
        ("IP_ISR", abi.ISR, "IP Interrupt Status Register", [("CHAN0_INT_ST", 0, 1, "read-write")]),
    ]
    for arg in ("weights", "act_in", "act_out", "desc", "act_in2"):
        off = abi.REGISTERS[arg]
        regs.append((f"{arg}_1", off, f"Data signal of {arg} (low word)", [(f"{arg}", 0, 32, "read-write")]))
        regs.append((f"{arg}_2", off + 4, f"Data signal of {arg} (high word)", [(f"{arg}", 0, 32, "read-write")]))
    regs.append(("n_layers", abi.N_LAYERS, "Data signal of n_layers", [("n_layers", 0, 32, "read-write")]))
    regs.sort(key=lambda r: r[1])
    return regs


def _param(parent: ET.Element, name: str, value) -> None:
    ET.SubElement(parent, "PARAMETER", NAME=name, VALUE=str(value))


def _prop(parent: ET.Element, name: str, value) -> None:
    ET.SubElement(parent, "PROPERTY", NAME=name, VALUE=str(value))


def hwh_text(cfg: HardwareConfig, base_addr: int | None = None) -> str:
    """The .hwh XML for `cfg`'s board with the fq_accel IP at `base_addr` (default: the PS master's base)."""
    ps = _PS[cfg.info.family]
    base = ps["base"] if base_addr is None else base_addr
    root = ET.Element("EDKSYSTEM", EDWVERSION="1.2", VIVADOVERSION="fq-hls emulation (no Vivado)")
    ET.SubElement(root, "SYSTEMINFO", NAME="fq_overlay", DEVICE=cfg.info.part, ARCH=cfg.info.family)
    ET.SubElement(root, "EXTERNALPORTS")
    ET.SubElement(root, "EXTERNALINTERFACES")
    modules = ET.SubElement(root, "MODULES")

    psmod = ET.SubElement(modules, "MODULE", FULLNAME=f"/{ps['modtype']}_0", INSTANCE=f"{ps['modtype']}_0",
                          MODTYPE=ps["modtype"], VLNV=ps["vlnv"], MODCLASS="PROCESSOR", IS_ENABLE="1")
    params = ET.SubElement(psmod, "PARAMETERS")
    divisor = max(1, round(ps["pll_mhz"] / cfg.clock_mhz))
    for i in range(4):
        _param(params, ps["enable"].format(i=i), 1 if i == 0 else 0)
        _param(params, ps["div"].format(i=i, j=0), divisor if i == 0 else 1)
        _param(params, ps["div"].format(i=i, j=1), 1)
        _param(params, ps["src"].format(i=i), ps["src_value"])
        if i == 0:
            _param(params, _FREQ.format(i=i), f"{cfg.clock_mhz:g}")
    memmap = ET.SubElement(psmod, "MEMORYMAP")
    ET.SubElement(memmap, "MEMRANGE", ADDRESSBLOCK="Reg", BASENAME="C_S_AXI_CONTROL_BASEADDR",
                  BASEVALUE=f"0x{base:08X}", HIGHNAME="C_S_AXI_CONTROL_HIGHADDR",
                  HIGHVALUE=f"0x{base + abi.ADDRESS_RANGE - 1:08X}", INSTANCE=INSTANCE, IS_DATA="TRUE",
                  IS_INSTRUCTION="TRUE", MASTERBUSINTERFACE=ps["master"], MEMTYPE="REGISTER",
                  SLAVEBUSINTERFACE="s_axi_control")
    ET.SubElement(psmod, "PORTS")
    bifs = ET.SubElement(psmod, "BUSINTERFACES")
    ET.SubElement(bifs, "BUSINTERFACE", NAME=ps["master"], TYPE="MASTER", VLNV="xilinx.com:interface:aximm:1.0")

    ip = ET.SubElement(modules, "MODULE", FULLNAME=f"/{INSTANCE}", INSTANCE=INSTANCE, MODTYPE=abi.TOP,
                       VLNV=abi.VLNV, IPTYPE="PERIPHERAL", IS_ENABLE="1")
    params = ET.SubElement(ip, "PARAMETERS")
    for key, value in cfg.to_dict().items():
        _param(params, f"FQ_{key.upper()}", value)
    _param(params, "C_S_AXI_CONTROL_BASEADDR", f"0x{base:08X}")
    _param(params, "C_S_AXI_CONTROL_HIGHADDR", f"0x{base + abi.ADDRESS_RANGE - 1:08X}")
    blocks = ET.SubElement(ip, "ADDRESSBLOCKS")
    block = ET.SubElement(blocks, "ADDRESSBLOCK", ACCESS="read-write", INTERFACE="s_axi_control", NAME="Reg",
                          RANGE=str(abi.ADDRESS_RANGE), USAGE="register")
    regs = ET.SubElement(block, "REGISTERS")
    for name, offset, desc, fields in register_map():
        reg = ET.SubElement(regs, "REGISTER", NAME=name)
        _prop(reg, "DESCRIPTION", desc)
        _prop(reg, "ADDRESS_OFFSET", offset)
        _prop(reg, "SIZE", 32)
        _prop(reg, "ACCESS", "read-write")
        _prop(reg, "IS_ENABLED", "true")
        _prop(reg, "RESET_VALUE", 0)
        flds = ET.SubElement(reg, "FIELDS")
        for fname, bit, width, access in fields:
            f = ET.SubElement(flds, "FIELD", NAME=fname)
            _prop(f, "DESCRIPTION", f"{name}.{fname}")
            _prop(f, "ADDRESS_OFFSET", offset)
            _prop(f, "ACCESS", access)
            _prop(f, "BIT_OFFSET", bit)
            _prop(f, "BIT_WIDTH", width)
    ET.SubElement(ip, "PORTS")
    bifs = ET.SubElement(ip, "BUSINTERFACES")
    ET.SubElement(bifs, "BUSINTERFACE", NAME="s_axi_control", TYPE="SLAVE", VLNV="xilinx.com:interface:aximm:1.0")
    for bundle in ("gmem_w", "gmem_in", "gmem_out", "gmem_in2"):
        ET.SubElement(bifs, "BUSINTERFACE", NAME=f"m_axi_{bundle}", TYPE="MASTER",
                      VLNV="xilinx.com:interface:aximm:1.0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n' + ET.tostring(root, encoding="unicode") + "\n"


EMULATION_BIT_MARKER = b"fq-hls emulated overlay: not a bitstream\n"


def write_emulation_overlay(folder: str, cfg: HardwareConfig, name: str = "fq_overlay") -> str:
    """Write `<name>.hwh` (from the ABI) and a `<name>.bit` placeholder for the emulated board.

    pynq.Overlay insists on a bitstream file next to the .hwh; the emulated device never reads it. The
    placeholder says what it is in its first line so that it can never be mistaken for a real bitstream.
    Returns the path of the .bit.
    """
    os.makedirs(folder, exist_ok=True)
    bit = os.path.join(folder, f"{name}.bit")
    with open(os.path.join(folder, f"{name}.hwh"), "w", encoding="utf-8") as f:
        f.write(hwh_text(cfg))
    with open(bit, "wb") as f:
        f.write(EMULATION_BIT_MARKER)
    return bit
