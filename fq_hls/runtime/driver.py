"""pynq driver of the fq_accel IP (register map: fq_hls.hw.abi, docs/accel_abi.md).

pynq binds this class to every IP of type `abi.VLNV` it finds in an overlay's .hwh. The same code drives the
real board (MMIO through /dev/mem) and the emulated board (MMIO through pynq's register read/write hooks).

Two checks against the overlay's .hwh before any register is written:

* the register map pynq parsed from the .hwh (the synthesized IP's) must have every register of the ABI at
  its offset (`fq_hls.hw.abi`), else the driver refuses, naming the register: a bitstream built from other
  HLS sources (e.g. without 64-bit m_axi addresses) would take the pointers at the wrong offsets;
* every pointer must fall, with the whole buffer, inside an address range that the block design maps to the
  m_axi master carrying it (`set_address_map`, from `hwh.read_hwh`), else the IP would read or write
  nothing the host sees.
"""

from __future__ import annotations

import time

import numpy as np
from pynq import DefaultIP

from ..errors import DeviceError
from ..hw import abi

_POINTERS = ("weights", "act_in", "act_out", "desc", "act_in2")


def _address(name: str, buf) -> tuple[int, int]:
    """Physical address and byte size of a pynq buffer (or an int address, size 1); named errors otherwise."""
    if isinstance(buf, (int, np.integer)):
        addr, nbytes = int(buf), 1
    else:
        addr = getattr(buf, "device_address", None)
        if addr is None:
            raise DeviceError(f"fq_accel argument {name!r}: not a buffer from pynq.allocate (no device address)")
        addr, nbytes = int(addr), max(1, int(getattr(buf, "nbytes", 1)))
    if addr <= 0 or addr + nbytes > 1 << 64:
        raise DeviceError(f"fq_accel argument {name!r}: physical address 0x{addr:x} is out of range")
    return addr, nbytes


def check_register_map(registers: dict, where: str) -> None:
    """Refuse a register map (pynq's ip_dict[...]['registers']) that differs from the ABI, naming the register."""
    from .hwh import expected_registers

    if not registers:
        raise DeviceError(f"{where}: the .hwh gives fq_accel no register map; cannot check it against the ABI")
    for name, offset in expected_registers().items():
        reg = registers.get(name)
        if reg is None:
            raise DeviceError(f"{where}: register {name!r} (ABI offset 0x{offset:02x}) is missing from the .hwh "
                              "register map; the IP was built from other sources (docs/accel_abi.md)")
        got = int(reg.get("address_offset", -1))
        if got != offset:
            raise DeviceError(f"{where}: register {name!r} is at offset 0x{got:02x} in the .hwh, the ABI has "
                              f"0x{offset:02x}; rebuild the IP from this checkout (docs/accel_abi.md)")


class FQAccelDriver(DefaultIP):
    """ap_ctrl_hs control of one fq_accel instance: set pointers and n_layers, start, wait for ap_done."""

    bindto = [abi.VLNV]

    def __init__(self, description: dict):
        super().__init__(description)
        self.name = description.get("fullpath", abi.TOP)
        self.phys_addr = int(description["phys_addr"])
        check_register_map(description.get("registers") or {}, f"{self.name} ({abi.VLNV})")
        # m_axi bundle -> [base, end) ranges the block design maps; None: not known (no .hwh read yet)
        self.address_map: dict[str, list[tuple[int, int]]] | None = None

    def set_address_map(self, ranges: dict[str, list[tuple[int, int]]], source: str = "the .hwh") -> None:
        """The DDR ranges each m_axi bundle reaches (from `hwh.read_hwh(...).master_ranges`)."""
        from .hwh import BUNDLES

        amap = {b: list(ranges.get(f"m_axi_{b}", ranges.get(b, []))) for b in BUNDLES}
        for b, rs in amap.items():
            if not rs:
                raise DeviceError(f"{source}: the block design maps no memory to {self.name}/m_axi_{b}; "
                                  "the IP could not reach the buffers (check the address editor)")
        self.address_map = amap

    def __repr__(self) -> str:
        return f"FQAccelDriver({self.name!r} at 0x{self.phys_addr:x})"

    # --- registers ---------------------------------------------------------------------------------------
    @property
    def ctrl(self) -> int:
        """CTRL register. Reading it clears ap_done on the IP (clear on read)."""
        return int(self.read(abi.CTRL))

    def is_idle(self) -> bool:
        return bool(self.ctrl & abi.AP_IDLE)

    def check_address(self, name: str, addr: int, nbytes: int = 1) -> None:
        """Refuse a buffer [addr, addr + nbytes) that no range mapped to the pointer's m_axi master holds."""
        if self.address_map is None:
            return
        from .hwh import POINTER_BUNDLE

        bundle = POINTER_BUNDLE[name]
        ranges = self.address_map[bundle]
        if not any(lo <= addr and addr + nbytes <= hi for lo, hi in ranges):
            mapped = ", ".join(f"0x{lo:x}-0x{hi - 1:x}" for lo, hi in ranges)
            raise DeviceError(f"fq_accel argument {name!r}: buffer 0x{addr:x}+{nbytes} is not mapped to "
                              f"{self.name}/m_axi_{bundle} (mapped: {mapped})")

    def set_pointer(self, name: str, buf) -> int:
        addr, nbytes = _address(name, buf)
        self.check_address(name, addr, nbytes)
        off = abi.REGISTERS[name]
        self.write(off, addr & 0xFFFF_FFFF)
        self.write(off + 4, addr >> 32)
        return addr

    def get_pointer(self, name: str) -> int:
        off = abi.REGISTERS[name]
        return int(self.read(off)) | (int(self.read(off + 4)) << 32)

    def set_args(self, weights, act, desc, n_layers: int) -> None:
        """Program the pointers (act is act_in, act_out and act_in2, see accel_abi.md) and the layer count."""
        if not 0 < int(n_layers) < 1 << 32:
            raise DeviceError(f"{self.name}: n_layers={n_layers} out of range")
        for name, buf in zip(_POINTERS, (weights, act, act, desc, act), strict=True):
            self.set_pointer(name, buf)
        self.write(abi.N_LAYERS, int(n_layers))

    # --- control -----------------------------------------------------------------------------------------
    def start(self) -> None:
        ctrl = self.ctrl
        if not ctrl & abi.AP_IDLE:
            raise DeviceError(
                f"{self.name} ({abi.VLNV}) at 0x{self.phys_addr:x} is busy (CTRL=0x{ctrl:x}, ap_idle=0): "
                "a previous run has not finished; reload the overlay to reset the IP"
            )
        self.write(abi.CTRL, abi.AP_START)

    def wait(self, timeout_s: float = 10.0) -> float:
        """Poll CTRL until ap_done; returns the seconds waited. Raises DeviceError after `timeout_s`."""
        t0 = time.perf_counter()
        deadline = t0 + timeout_s
        spins = 0
        while True:
            ctrl = self.ctrl
            if ctrl & abi.AP_DONE:
                return time.perf_counter() - t0
            now = time.perf_counter()
            if now > deadline:
                raise DeviceError(
                    f"{self.name} ({abi.VLNV}) at 0x{self.phys_addr:x}: ap_done did not rise within "
                    f"{timeout_s:g} s (CTRL=0x{ctrl:x}); the IP is hung or the bitstream does not match its .hwh"
                )
            spins += 1
            if spins > 1000:  # a busy spin first (board runs are ms long), then yield the CPU
                time.sleep(min(1e-3, 1e-5 * (spins - 1000)))

    def execute(self, weights, act, desc, n_layers: int, timeout_s: float = 10.0) -> float:
        """set_args + start + wait; returns the seconds from start to ap_done (as seen by the host)."""
        self.set_args(weights, act, desc, n_layers)
        self.start()
        return self.wait(timeout_s)
