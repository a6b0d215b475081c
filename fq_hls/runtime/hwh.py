"""The hardware handoff (.hwh) of the fq_accel overlay: written for the emulated board, read for the driver.

Vivado writes the real .hwh next to the bitstream; pynq reads it (through `pynqmetadata`) to learn where each
IP's s_axilite window lives, which driver to bind (by VLNV) and which PL clocks to program. Without Vivado
there is no .hwh, so for emulation `hwh_text` writes one with the structure of the block design that
fq_hls/build/tcl/overlay.tcl builds, per chip family:

* the processing system with the parameters Vivado writes for that family: `PCW_*` for the Zynq-7000
  (processing_system7), `PSU__*` for ZynqMP (zynq_ultra_ps_e): PL clock enables, source PLL, divisors,
  requested and achieved rates, the ports used;
* the fq_accel IP with its register map (docs/accel_abi.md), one SmartConnect per AXI port, the reset block;
* the clock net from the PS clock pin to every clocked pin, the AXI bus nets;
* the address map: the PS master's window onto s_axi_control and, per m_axi master of the IP, the PS DDR
  segments it reaches (`HPx_DDR_LOWOCM` on Zynq-7000, `HPx_DDR_LOW` and `HPx_DDR_HIGH` on ZynqMP).

`read_hwh` reads back what the runtime needs from any .hwh (Vivado's or ours): each master's address ranges
and the PL clocks' achieved rates.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ..errors import DeviceError
from ..hw import abi
from ..hw.config import HardwareConfig
from ..hw.program import PROGRAM_FORMAT

INSTANCE = f"{abi.TOP}_0"  # instance name the Vivado block design gives the IP (build TCL uses the same)
BUNDLES = ("gmem_w", "gmem_in", "gmem_out", "gmem_in2")  # m_axi bundles of fq_accel (docs/accel_abi.md)
# which bundle carries which pointer argument
POINTER_BUNDLE = {"weights": "gmem_w", "desc": "gmem_w", "act_in": "gmem_in", "act_out": "gmem_out",
                  "act_in2": "gmem_in2"}

GIB = 1 << 30
# PS DDR as the PL masters see it: (segment suffix, base, size) per family; Vivado's default assignment
_DDR = {
    "zynq7": [("DDR_LOWOCM", 0x0, GIB // 2)],  # PYNQ-Z2: 512 MB
    "zynqmp": [("DDR_LOW", 0x0, 2 * GIB), ("DDR_HIGH", 0x8_0000_0000, 32 * GIB)],
}

# PS block per family, with the parameter names Vivado writes for it
_PS = {
    "zynq7": dict(
        instance="processing_system7_0",
        modtype="processing_system7",
        vlnv="xilinx.com:ip:processing_system7:5.5",
        master="M_AXI_GP0",
        slaves=("S_AXI_HP0", "S_AXI_HP1", "S_AXI_HP2", "S_AXI_HP3"),
        slave_segment="HP{k}_{seg}",
        base=0x4000_0000,
        clk_pin="FCLK_CLK{i}",
        rst_pin="FCLK_RESET0_N",
        enable="PCW_FPGA_FCLK{i}_ENABLE",
        div="PCW_FCLK{i}_PERIPHERAL_DIVISOR{j}",
        src="PCW_FCLK{i}_PERIPHERAL_CLKSRC",
        src_value="IO PLL",
        req="PCW_FPGA{i}_PERIPHERAL_FREQMHZ",
        act="PCW_ACT_FPGA{i}_PERIPHERAL_FREQMHZ",
        pll=[("PCW_CRYSTAL_PERIPHERAL_FREQMHZ", "50"), ("PCW_IOPLL_CTRL_FBDIV", "20")],
        pll_mhz=1000.0,
        use_master="PCW_USE_M_AXI_GP0",
        use_slave="PCW_USE_S_AXI_HP{k}",
        slave_width="PCW_S_AXI_HP{k}_DATA_WIDTH",
    ),
    "zynqmp": dict(
        instance="zynq_ultra_ps_e_0",
        modtype="zynq_ultra_ps_e",
        vlnv="xilinx.com:ip:zynq_ultra_ps_e:3.5",
        master="M_AXI_HPM0_FPD",
        slaves=("S_AXI_HP0_FPD", "S_AXI_HP1_FPD", "S_AXI_HP2_FPD", "S_AXI_HP3_FPD"),
        slave_segment="HP{k}_{seg}",
        base=0xA000_0000,
        clk_pin="pl_clk{i}",
        rst_pin="pl_resetn0",
        enable="PSU__FPGA_PL{i}_ENABLE",
        div="PSU__CRL_APB__PL{i}_REF_CTRL__DIVISOR{j}",
        src="PSU__CRL_APB__PL{i}_REF_CTRL__SRCSEL",
        src_value="IOPLL",
        req="PSU__CRL_APB__PL{i}_REF_CTRL__FREQMHZ",
        act="PSU__CRL_APB__PL{i}_REF_CTRL__ACT_FREQMHZ",
        pll=[("PSU__PSS_REF_CLK__FREQMHZ", "33.333"), ("PSU__CRL_APB__IOPLL_CTRL__FBDIV", "90"),
             ("PSU__CRL_APB__IOPLL_CTRL__DIV2", "1")],
        pll_mhz=33.333 * 90 / 2,
        use_master="PSU__USE__M_AXI_GP0",
        use_slave="PSU__USE__S_AXI_GP{g}",
        slave_width="PSU__SAXIGP{g}__DATA_WIDTH",
    ),
}
# family-specific names of the achieved-rate parameter (pynqmetadata reads only the ZynqMP one)
ACT_FREQ_PARAMS = {fam: ps["act"] for fam, ps in _PS.items()}

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


def expected_registers() -> dict[str, int]:
    """Register name -> offset that the driver requires of an overlay's register map: the ones it uses
    (CTRL, both words of every pointer, n_layers; not the interrupt registers, the driver polls)."""
    return {name: off for name, off, _, _ in register_map() if name not in ("GIER", "IP_IER", "IP_ISR")}


def pl_divisors(pll_mhz: float, want_mhz: float) -> tuple[int, int, float]:
    """Two 6-bit divisors of the PL clock generator closest to `want_mhz`, and the rate they give."""
    best = None
    for d1 in range(1, 64):  # Vivado fills the first divisor first
        for d0 in range(1, 64):
            err = abs(pll_mhz / (d0 * d1) - want_mhz)
            if best is None or err < best[0] - 1e-9:
                best = (err, d0, d1)
    _, d0, d1 = best
    return d0, d1, pll_mhz / (d0 * d1)


def _param(parent: ET.Element, name: str, value) -> None:
    ET.SubElement(parent, "PARAMETER", NAME=name, VALUE=str(value))


def _prop(parent: ET.Element, name: str, value) -> None:
    ET.SubElement(parent, "PROPERTY", NAME=name, VALUE=str(value))


def _port(ports: ET.Element, name: str, direction: str, signame: str, peers: list[tuple[str, str]],
          sigis: str | None = None, clk_hz: int | None = None) -> None:
    attrs = dict(DIR=direction, NAME=name, SIGNAME=signame)
    if sigis:
        attrs["SIGIS"] = sigis
    if clk_hz:
        attrs["CLKFREQUENCY"] = str(clk_hz)
    p = ET.SubElement(ports, "PORT", **attrs)
    cons = ET.SubElement(p, "CONNECTIONS")
    for inst, pin in peers:
        ET.SubElement(cons, "CONNECTION", INSTANCE=inst, PORT=pin)


def _busif(bifs: ET.Element, name: str, kind: str, busname: str) -> None:
    ET.SubElement(bifs, "BUSINTERFACE", BUSNAME=busname, NAME=name, TYPE=kind,
                  VLNV="xilinx.com:interface:aximm:1.0")


def _memrange(memmap: ET.Element, *, block: str, base: int, size: int, instance: str, master: str, slave: str,
              memtype: str, names: tuple[str, str]) -> None:
    ET.SubElement(memmap, "MEMRANGE", ADDRESSBLOCK=block, BASENAME=names[0], BASEVALUE=f"0x{base:08X}",
                  HIGHNAME=names[1], HIGHVALUE=f"0x{base + size - 1:08X}", INSTANCE=instance, IS_DATA="TRUE",
                  IS_INSTRUCTION="TRUE", MASTERBUSINTERFACE=master, MEMTYPE=memtype, SLAVEBUSINTERFACE=slave)


def hwh_text(cfg: HardwareConfig, base_addr: int | None = None, *, ddr_segments: list[str] | None = None,
             registers: dict[str, int | None] | None = None) -> str:
    """The .hwh XML for `cfg`'s board with the fq_accel IP at `base_addr` (default: the PS master's base).

    `ddr_segments` limits the DDR segments mapped to the IP's masters (default: all of the family's);
    `registers` replaces register offsets (name -> offset, None: absent), to describe an IP built otherwise.
    """
    fam = cfg.info.family
    ps = _PS[fam]
    psi = ps["instance"]
    base = ps["base"] if base_addr is None else base_addr
    d0, d1, act_mhz = pl_divisors(ps["pll_mhz"], cfg.clock_mhz)
    clk_hz = round(act_mhz * 1e6)
    clk_net = f"{psi}_{ps['clk_pin'].format(i=0)}"

    root = ET.Element("EDKSYSTEM", EDWVERSION="1.2", VIVADOVERSION="fq-hls emulation (no Vivado)")
    ET.SubElement(root, "SYSTEMINFO", NAME="fq_overlay", DEVICE=cfg.info.part, ARCH=fam,
                  BOARD=cfg.info.pynq_board)
    ET.SubElement(root, "EXTERNALPORTS")
    ET.SubElement(root, "EXTERNALINTERFACES")
    modules = ET.SubElement(root, "MODULES")

    interconnects = [f"sc_{b}" for b in BUNDLES] + ["sc_control"]
    clocked = [(INSTANCE, "ap_clk"), ("rst_pl", "slowest_sync_clk")] + [(ic, "aclk") for ic in interconnects]

    # ---- processing system
    psmod = ET.SubElement(modules, "MODULE", FULLNAME=f"/{psi}", INSTANCE=psi, MODTYPE=ps["modtype"],
                          VLNV=ps["vlnv"], MODCLASS="PROCESSOR", IS_ENABLE="1")
    params = ET.SubElement(psmod, "PARAMETERS")
    for name, value in ps["pll"]:
        _param(params, name, value)
    for i in range(4):
        on = i == 0
        _param(params, ps["enable"].format(i=i), 1 if on else 0)
        _param(params, ps["div"].format(i=i, j=0), d0 if on else 1)
        _param(params, ps["div"].format(i=i, j=1), d1 if on else 1)
        _param(params, ps["src"].format(i=i), ps["src_value"])
        _param(params, ps["req"].format(i=i), f"{cfg.clock_mhz:g}" if on else "100")
        _param(params, ps["act"].format(i=i), f"{act_mhz:.6f}" if on else "10.000000")
    _param(params, ps["use_master"], 1)
    for k in range(4):
        _param(params, ps["use_slave"].format(k=k, g=k + 2), 1)
        _param(params, ps["slave_width"].format(k=k, g=k + 2), min(cfg.axi_bits, 64) if fam == "zynq7" else cfg.axi_bits)
    memmap = ET.SubElement(psmod, "MEMORYMAP")
    _memrange(memmap, block="Reg", base=base, size=abi.ADDRESS_RANGE, instance=INSTANCE, master=ps["master"],
              slave="s_axi_control", memtype="REGISTER", names=("C_S_AXI_CONTROL_BASEADDR", "C_S_AXI_CONTROL_HIGHADDR"))
    ports = ET.SubElement(psmod, "PORTS")
    _port(ports, ps["clk_pin"].format(i=0), "O", clk_net, clocked, "clk", clk_hz)
    _port(ports, ps["rst_pin"], "O", f"{psi}_{ps['rst_pin']}", [("rst_pl", "ext_reset_in")], "rst")
    bifs = ET.SubElement(psmod, "BUSINTERFACES")
    _busif(bifs, ps["master"], "MASTER", f"{psi}_{ps['master']}")
    for k, slave in enumerate(ps["slaves"]):
        _busif(bifs, slave, "SLAVE", f"sc_{BUNDLES[k]}_M00_AXI")

    # ---- the IP
    ip = ET.SubElement(modules, "MODULE", FULLNAME=f"/{INSTANCE}", INSTANCE=INSTANCE, MODTYPE=abi.TOP,
                       VLNV=abi.VLNV, IPTYPE="PERIPHERAL", IS_ENABLE="1")
    params = ET.SubElement(ip, "PARAMETERS")
    for key, value in cfg.to_dict().items():
        _param(params, f"FQ_{key.upper()}", value)
    _param(params, "FQ_PROGRAM_FORMAT", PROGRAM_FORMAT)  # the program layout this engine reads (runtime.agreement)
    _param(params, "C_S_AXI_CONTROL_BASEADDR", f"0x{base:08X}")
    _param(params, "C_S_AXI_CONTROL_HIGHADDR", f"0x{base + abi.ADDRESS_RANGE - 1:08X}")
    for b in BUNDLES:
        _param(params, f"C_M_AXI_{b.upper()}_ADDR_WIDTH", 64)
    memmap = ET.SubElement(ip, "MEMORYMAP")
    wanted = ddr_segments if ddr_segments is not None else [s for s, _, _ in _DDR[fam]]
    for k, b in enumerate(BUNDLES):
        for seg, seg_base, size in _DDR[fam]:
            if seg in wanted:
                _memrange(memmap, block=ps["slave_segment"].format(k=k, seg=seg), base=seg_base, size=size,
                          instance=psi, master=f"m_axi_{b}", slave=ps["slaves"][k], memtype="MEMORY",
                          names=(f"C_{seg}_BASEADDR", f"C_{seg}_HIGHADDR"))
    blocks = ET.SubElement(ip, "ADDRESSBLOCKS")
    block = ET.SubElement(blocks, "ADDRESSBLOCK", ACCESS="read-write", INTERFACE="s_axi_control", NAME="Reg",
                          RANGE=str(abi.ADDRESS_RANGE), USAGE="register")
    regs = ET.SubElement(block, "REGISTERS")
    for name, offset, desc, fields in register_map():
        offset = (registers or {}).get(name, offset)
        if offset is None:  # a register the IP does not have
            continue
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
    ports = ET.SubElement(ip, "PORTS")
    _port(ports, "ap_clk", "I", clk_net, [(psi, ps["clk_pin"].format(i=0))], "clk", clk_hz)
    _port(ports, "ap_rst_n", "I", "rst_pl_peripheral_aresetn", [("rst_pl", "peripheral_aresetn")], "rst")
    bifs = ET.SubElement(ip, "BUSINTERFACES")
    _busif(bifs, "s_axi_control", "SLAVE", "sc_control_M00_AXI")
    for b in BUNDLES:
        _busif(bifs, f"m_axi_{b}", "MASTER", f"{INSTANCE}_m_axi_{b}")

    # ---- interconnects (one SmartConnect per AXI port, as overlay.tcl builds) and the reset block
    for ic in interconnects:
        mod = ET.SubElement(modules, "MODULE", FULLNAME=f"/{ic}", INSTANCE=ic, MODTYPE="smartconnect",
                            VLNV="xilinx.com:ip:smartconnect:1.0", MODCLASS="BUS", IS_ENABLE="1")
        params = ET.SubElement(mod, "PARAMETERS")
        _param(params, "NUM_SI", 1)
        _param(params, "NUM_MI", 1)
        ports = ET.SubElement(mod, "PORTS")
        _port(ports, "aclk", "I", clk_net, [(psi, ps["clk_pin"].format(i=0))], "clk", clk_hz)
        _port(ports, "aresetn", "I", "rst_pl_interconnect_aresetn", [("rst_pl", "interconnect_aresetn")], "rst")
        bifs = ET.SubElement(mod, "BUSINTERFACES")
        if ic == "sc_control":
            _busif(bifs, "S00_AXI", "SLAVE", f"{psi}_{ps['master']}")
        else:
            _busif(bifs, "S00_AXI", "SLAVE", f"{INSTANCE}_m_axi_{ic[3:]}")
        _busif(bifs, "M00_AXI", "MASTER", f"{ic}_M00_AXI")
    rst = ET.SubElement(modules, "MODULE", FULLNAME="/rst_pl", INSTANCE="rst_pl", MODTYPE="proc_sys_reset",
                        VLNV="xilinx.com:ip:proc_sys_reset:5.0", IS_ENABLE="1")
    ET.SubElement(rst, "PARAMETERS")
    ports = ET.SubElement(rst, "PORTS")
    _port(ports, "slowest_sync_clk", "I", clk_net, [(psi, ps["clk_pin"].format(i=0))], "clk", clk_hz)
    _port(ports, "ext_reset_in", "I", f"{psi}_{ps['rst_pin']}", [(psi, ps["rst_pin"])], "rst")
    _port(ports, "peripheral_aresetn", "O", "rst_pl_peripheral_aresetn", [(INSTANCE, "ap_rst_n")], "rst")
    _port(ports, "interconnect_aresetn", "O", "rst_pl_interconnect_aresetn",
          [(ic, "aresetn") for ic in interconnects], "rst")
    ET.SubElement(rst, "BUSINTERFACES")

    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n' + ET.tostring(root, encoding="unicode") + "\n"


@dataclass
class HwhInfo:
    """What the runtime reads from an overlay's .hwh besides what pynq's parser gives."""

    path: str
    family: str | None  # "zynq7" / "zynqmp" from the PS module, None without one
    master_ranges: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # m_axi_<bundle> -> [base, end)
    pl_clocks_mhz: dict[int, float] = field(default_factory=dict)  # achieved rate of each enabled PL clock
    ip_params: dict[str, str] = field(default_factory=dict)  # the IP's FQ_* parameters (emulated .hwh only)

    def ranges_for(self, bundle: str) -> list[tuple[int, int]]:
        return self.master_ranges.get(f"m_axi_{bundle}", [])


def read_hwh(path: str, instance: str = INSTANCE) -> HwhInfo:
    """Parse `path` for the address ranges of `instance`'s AXI masters and the PS's PL clock rates."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise DeviceError(f"{path}: not a readable .hwh ({type(e).__name__}: {e})") from None
    info = HwhInfo(path=path, family=None)
    for mod in root.iter("MODULE"):
        modtype = mod.get("MODTYPE")
        params = {p.get("NAME"): p.get("VALUE") for p in mod.iter("PARAMETER")}
        fam = next((f for f, ps in _PS.items() if ps["modtype"] == modtype), None)
        if fam is not None:
            info.family = fam
            ps = _PS[fam]
            for i in range(4):
                if params.get(ps["enable"].format(i=i)) == "1":
                    value = params.get(ps["act"].format(i=i)) or params.get(ps["req"].format(i=i))
                    try:
                        info.pl_clocks_mhz[i] = float(value)
                    except (TypeError, ValueError):
                        pass
        if mod.get("INSTANCE") == instance:
            info.ip_params = {k: v for k, v in params.items() if k and k.startswith("FQ_") and v is not None}
            for mr in mod.iter("MEMRANGE"):
                master = mr.get("MASTERBUSINTERFACE") or ""
                if mr.get("MEMTYPE") != "MEMORY" or not master.startswith("m_axi_"):
                    continue
                try:
                    lo, hi = int(mr.get("BASEVALUE"), 16), int(mr.get("HIGHVALUE"), 16)
                except (TypeError, ValueError):
                    raise DeviceError(f"{path}: MEMRANGE {mr.get('ADDRESSBLOCK')!r} of {instance}/{master} "
                                      "has no hexadecimal BASEVALUE/HIGHVALUE") from None
                info.master_ranges.setdefault(master, []).append((lo, hi + 1))
    return info


EMULATION_BIT_MARKER = b"fq-hls emulated overlay: not a bitstream\n"


def write_emulation_overlay(folder: str, cfg: HardwareConfig, name: str = "fq_overlay", **hwh_kwargs) -> str:
    """Write `<name>.hwh` (from the ABI) and a `<name>.bit` placeholder for the emulated board.

    pynq.Overlay insists on a bitstream file next to the .hwh; the emulated device never reads it. The
    placeholder says what it is in its first line so that it can never be mistaken for a real bitstream.
    Returns the path of the .bit. `hwh_kwargs` go to `hwh_text`.
    """
    os.makedirs(folder, exist_ok=True)
    bit = os.path.join(folder, f"{name}.bit")
    with open(os.path.join(folder, f"{name}.hwh"), "w", encoding="utf-8") as f:
        f.write(hwh_text(cfg, **hwh_kwargs))
    with open(bit, "wb") as f:
        f.write(EMULATION_BIT_MARKER)
    return bit
