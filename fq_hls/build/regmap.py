"""The register map of the exported IP, from the driver header Vitis HLS writes, against the ABI.

Vitis HLS exports `impl/ip/drivers/<top>_v*/src/x<top>_hw.h` with one `#define X<TOP>_CONTROL_ADDR_<ARG>_DATA
0x..` per s_axilite argument (`_BITS_<ARG>_DATA` its width) and `..._ADDR_AP_CTRL` for the control register.
The runtime (fq_hls.hw.abi) writes the pointers at fixed offsets, so a build whose IP has them elsewhere (e.g.
32-bit m_axi addresses, another argument order) is stopped here, before Vivado, naming the register.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..hw import abi
from .model_check import DesignCheckError

_DEFINE = re.compile(r"^\s*#define\s+X\w*?_CONTROL_(ADDR|BITS)_(\w+?)\s+(0x[0-9a-fA-F]+|\d+)\b", re.M)
POINTERS = ("weights", "act_in", "act_out", "desc", "act_in2")


def find_driver_header(ip_dir: Path) -> Path | None:
    found = sorted(Path(ip_dir).glob(f"drivers/*/src/x{abi.TOP}_hw.h"))
    return found[0] if found else None


def parse_driver_header(text: str) -> tuple[dict[str, int], dict[str, int]]:
    """({register: offset}, {register: bits}) with names lower-case without `_data` (`ap_ctrl`, `weights`)."""
    addr: dict[str, int] = {}
    bits: dict[str, int] = {}
    for kind, name, value in _DEFINE.findall(text):
        key = name.lower().removesuffix("_data")
        (addr if kind == "ADDR" else bits)[key] = int(value, 0)
    return addr, bits


def check_driver_header(path: Path) -> dict[str, int]:
    """Raise DesignCheckError naming the register whose offset or width differs from the ABI."""
    addr, bits = parse_driver_header(Path(path).read_text(errors="replace"))
    want = {"ap_ctrl": abi.CTRL, "n_layers": abi.N_LAYERS} | {p: abi.REGISTERS[p] for p in POINTERS}
    for name, offset in want.items():
        if name not in addr:
            raise DesignCheckError(f"{path}: register {name!r} is missing (the ABI has it at 0x{offset:02x}); "
                                   "the IP was built from other sources (docs/accel_abi.md)")
        if addr[name] != offset:
            raise DesignCheckError(f"{path}: register {name!r} is at 0x{addr[name]:02x}, the ABI has 0x{offset:02x} "
                                   "(docs/accel_abi.md)")
    for name in POINTERS:
        if bits.get(name, 64) != 64:
            raise DesignCheckError(f"{path}: pointer {name!r} is {bits[name]} bits wide, the ABI needs 64 "
                                   "(m_axi_addr64)")
    return {k: addr[k] for k in want}
