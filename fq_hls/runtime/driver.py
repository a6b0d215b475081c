"""pynq driver of the fq_accel IP (register map: fq_hls.hw.abi, docs/accel_abi.md).

pynq binds this class to every IP of type `abi.VLNV` it finds in an overlay's .hwh. The same code drives the
real board (MMIO through /dev/mem) and the emulated board (MMIO through pynq's register read/write hooks).
"""

from __future__ import annotations

import time

import numpy as np
from pynq import DefaultIP

from ..errors import DeviceError
from ..hw import abi

_POINTERS = ("weights", "act_in", "act_out", "desc", "act_in2")


def _address(name: str, buf) -> int:
    """Physical address of a pynq buffer (or an int address); named errors for anything else."""
    if isinstance(buf, (int, np.integer)):
        addr = int(buf)
    else:
        addr = getattr(buf, "device_address", None)
        if addr is None:
            raise DeviceError(f"fq_accel argument {name!r}: not a buffer from pynq.allocate (no device address)")
        addr = int(addr)
    if addr <= 0 or addr >= 1 << 64:
        raise DeviceError(f"fq_accel argument {name!r}: physical address 0x{addr:x} is out of range")
    return addr


class FQAccelDriver(DefaultIP):
    """ap_ctrl_hs control of one fq_accel instance: set pointers and n_layers, start, wait for ap_done."""

    bindto = [abi.VLNV]

    def __init__(self, description: dict):
        super().__init__(description)
        self.name = description.get("fullpath", abi.TOP)
        self.phys_addr = int(description["phys_addr"])

    def __repr__(self) -> str:
        return f"FQAccelDriver({self.name!r} at 0x{self.phys_addr:x})"

    # --- registers ---------------------------------------------------------------------------------------
    @property
    def ctrl(self) -> int:
        """CTRL register. Reading it clears ap_done on the IP (clear on read)."""
        return int(self.read(abi.CTRL))

    def is_idle(self) -> bool:
        return bool(self.ctrl & abi.AP_IDLE)

    def set_pointer(self, name: str, buf) -> int:
        addr = _address(name, buf)
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
