"""An emulated Zynq board behind pynq's own API: `pynq.Device` subclass, PynqBuffers, MMIO, Overlay.

* Memory: `allocate` returns real `pynq.PynqBuffer`s with physical addresses in an emulated DDR. Buffers are
  non-coherent like cacheable buffers on a board: the host array and the DDR copy are separate, and only
  `flush()`/`sync_to_device()` and `invalidate()`/`sync_from_device()` move bytes between them, so a driver
  that forgets a sync fails here as it would on the board.
* Registers: the device has the REGISTER_RW capability, so `pynq.MMIO` routes every register access to
  `read_registers`/`write_registers`, which serve the s_axilite window of each fq_accel IP in the loaded
  overlay (ap_ctrl_hs, ap_done clear-on-read).
* Overlay: `get_bitfile_metadata` parses the .hwh with pynq's own parser (pynqmetadata) and `download` "loads"
  it: an emulated IP is created for every IP of type `abi.VLNV`.
* PS clocks: the device reports the board's CPU architecture (armv7l / aarch64) and serves the PS clock
  registers that `pynq.Clocks` programs (Zynq-7000 SLCR, ZynqMP CRL_APB/CRF_APB), so `Overlay.download`
  sets the PL clocks from the .hwh's clock table through pynq's own code, and `Clocks.fclk0_mhz` reads back
  the rate the emulated IP is timed at.
* Small buffers: as XRT 2.17 (PYNQ 3.1) does on ZynqMP, buffers of 4 KB or less come from high DDR (above
  4 GB), so a design that does not map high DDR sees the problem here first.
* Compute: writing ap_start runs the kernel (by default the C-simulated HLS engine, `fq_hls.csim`) in a
  thread on the DDR bytes the pointer registers point to; the IP reports ap_done/ap_idle when it returns.

The device is discovered by pynq (`pynq.Device.devices`) only when FQ_HLS_EMULATE=1 is set, and then after
every real device (highest probe priority number), so it never hijacks a board; or it is created and passed
explicitly (`EmulatedDevice(cfg)`, `device=`/`target=` arguments).
"""

from __future__ import annotations

import bisect
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pynq
from pynq.buffer import PynqBuffer

from ..errors import DeviceError
from ..hw import abi
from ..hw.config import HardwareConfig, hardware_config

ENV = "FQ_HLS_EMULATE"
KernelFn = Callable[[np.ndarray, np.ndarray, np.ndarray, int], list]  # (weights, act, desc, n_layers) -> cycles
PAGE = 4096
SMALL_BYTES = 4096  # XRT 2.17 on ZynqMP may place buffers this small above 4 GB
HIGH_DDR = 0x8_0000_0000  # ZynqMP high DDR (DDR_HIGH segment)

# PS clock registers as a PYNQ image boots them (fclk0 = 100 MHz): absolute address -> value.
# Zynq-7000 SLCR: 50 MHz crystal; IO PLL x20 = 1000 MHz, ARM PLL x26 = 1300 MHz (CPU /2 = 650 MHz),
# FPGA0_CLK_CTRL divisors 10 x 1 from the IO PLL.
_ZYNQ7_CLOCK_REGS = {
    0xF800_0100: 26 << 12, 0xF800_0104: 21 << 12, 0xF800_0108: 20 << 12, 0xF800_0120: 2 << 8,
    0xF800_0170: (1 << 20) | (10 << 8), 0xF800_0180: (1 << 20) | (10 << 8),
    0xF800_0190: (1 << 20) | (10 << 8), 0xF800_01A0: (1 << 20) | (10 << 8),
}
# ZynqMP CRL_APB / CRF_APB: 33.333 MHz reference; IOPLL x90 / 2, RPLL x72 / 2, APLL x72 / 2, DPLL, VPLL;
# PL0..3_REF_CTRL: clock active, IOPLL, divisors 15 x 1 (99.999 MHz).
_ZYNQMP_CLOCK_REGS = {
    0xFF5E_0020: (1 << 16) | (90 << 8), 0xFF5E_0030: (1 << 16) | (72 << 8),
    **{0xFF5E_00C0 + 4 * i: (1 << 24) | (1 << 16) | (15 << 8) for i in range(4)},
    0xFD1A_0020: (1 << 16) | (72 << 8), 0xFD1A_002C: (1 << 16) | (64 << 8), 0xFD1A_0038: (1 << 16) | (90 << 8),
    0xFD1A_0060: 1 << 8,
}
_CLOCK_WINDOWS = {"zynq7": [(0xF800_0000, 0x200)], "zynqmp": [(0xFF5E_0000, 0x100), (0xFD1A_0000, 0x100)]}


@dataclass
class _Region:
    base: int
    nbytes: int
    host: weakref.ref  # the uint8 array under the PynqBuffer
    ddr: np.ndarray | None  # None: coherent (the DDR is the host array)

    def ddr_bytes(self) -> np.ndarray:
        if self.ddr is not None:
            return self.ddr
        host = self.host()
        if host is None:
            raise DeviceError(f"emulated DDR 0x{self.base:x}: buffer was freed")
        return host


class EmulatedMemory:
    """Bump allocator over an emulated DDR address range; one host array + one DDR array per buffer."""

    def __init__(self, device: EmulatedDevice, base: int, size: int, small_base: int | None = None):
        self.device = device
        self.base, self.size = base, size
        self._next = base
        self.small_base = small_base  # buffers <= SMALL_BYTES are placed from here (XRT 2.17 on ZynqMP)
        self._next_small = small_base
        self._bases: list[int] = []
        self._regions: dict[int, _Region] = {}  # bo -> region
        self._by_base: dict[int, int] = {}  # base -> bo
        self._bo = 0
        self._lock = threading.Lock()

    def allocate(self, shape, dtype, cacheable: bool = True, **kwargs) -> PynqBuffer:
        dtype = np.dtype(dtype)
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        span = max(PAGE, -(-nbytes // PAGE) * PAGE)
        with self._lock:
            if self._next_small is not None and nbytes <= SMALL_BYTES:
                addr, self._next_small = self._next_small, self._next_small + span
                self._bo += 1
                bo = self._bo
            elif self._next + span > self.base + self.size:
                raise DeviceError(
                    f"emulated DDR exhausted: {nbytes} bytes requested, "
                    f"{self.base + self.size - self._next} of {self.size} left"
                )
            else:
                addr, self._next = self._next, self._next + span
                self._bo += 1
                bo = self._bo
        host = np.zeros(max(nbytes, 1), np.uint8)
        region = _Region(addr, nbytes, weakref.ref(host), None if not cacheable else np.zeros(max(nbytes, 1), np.uint8))
        buf = PynqBuffer(shape, dtype, buffer=host, device=self.device, device_address=addr, bo=bo,
                         coherent=not cacheable)
        with self._lock:
            self._regions[bo] = region
            self._by_base[addr] = bo
            bisect.insort(self._bases, addr)
        weakref.finalize(host, self._free, bo)
        return buf

    def _free(self, bo: int) -> None:
        with self._lock:
            region = self._regions.pop(bo, None)
            if region is not None:
                self._by_base.pop(region.base, None)
                self._bases.remove(region.base)

    def region(self, bo: int) -> _Region:
        try:
            return self._regions[bo]
        except KeyError:
            raise DeviceError(f"emulated DDR: buffer object {bo} is not allocated (freed?)") from None

    def view(self, addr: int, name: str) -> np.ndarray:
        """DDR bytes from physical address `addr` to the end of the buffer that holds it."""
        with self._lock:
            i = bisect.bisect_right(self._bases, addr) - 1
            region = self._regions[self._by_base[self._bases[i]]] if i >= 0 else None
        if region is None or not region.base <= addr < region.base + region.nbytes:
            raise DeviceError(f"fq_accel pointer {name!r} = 0x{addr:x} points outside every allocated buffer")
        return region.ddr_bytes()[addr - region.base : region.nbytes]


@dataclass
class EmulatedAccel:
    """Register file and behaviour of one fq_accel instance."""

    name: str
    base: int
    size: int
    memory: EmulatedMemory
    kernel: KernelFn | None
    regs: dict[int, int] = field(default_factory=dict)
    running: bool = False
    done: bool = False
    ready: bool = False
    runs: int = 0
    last_cycles: list[int] | None = None
    last_error: BaseException | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)  # CTRL bits vs the kernel thread

    def read(self, offset: int) -> int:
        if offset == abi.CTRL:
            with self._lock:
                value = (abi.AP_START if self.running else 0) | (0 if self.running else abi.AP_IDLE)
                value |= (abi.AP_DONE if self.done else 0) | (abi.AP_READY if self.ready else 0)
                self.done = self.ready = False  # clear on read
            return value
        return self.regs.get(offset, 0)

    def write(self, offset: int, value: int) -> None:
        if offset == abi.CTRL:
            if value & abi.AP_START and not self.running:
                self._start()
            return
        if offset == abi.ISR:  # toggle on write
            self.regs[offset] = self.regs.get(offset, 0) ^ value
            return
        self.regs[offset] = value & 0xFFFF_FFFF

    def pointer(self, name: str) -> int:
        off = abi.REGISTERS[name]
        return self.regs.get(off, 0) | (self.regs.get(off + 4, 0) << 32)

    def _start(self) -> None:
        if self.kernel is None:
            raise DeviceError(f"emulated {self.name}: no kernel to run (the device was created without one)")
        with self._lock:
            self.running, self.done, self.ready = True, False, False
        self.last_cycles, self.last_error = None, None
        self._thread = threading.Thread(target=self._run, name=f"emulated-{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            ptr = {n: self.pointer(n) for n in ("weights", "act_in", "act_out", "desc", "act_in2")}
            for other in ("act_out", "act_in2"):
                if ptr["act_in"] != ptr[other]:
                    raise DeviceError(
                        f"emulated {self.name}: act_in (0x{ptr['act_in']:x}) != {other} (0x{ptr[other]:x}); "
                        "the engine works in place on one activation buffer (docs/accel_abi.md)"
                    )
            n_layers = self.regs.get(abi.N_LAYERS, 0)
            weights = self.memory.view(ptr["weights"], "weights")
            act = self.memory.view(ptr["act_in"], "act_in")
            desc_bytes = self.memory.view(ptr["desc"], "desc")
            if ptr["desc"] % 4:
                raise DeviceError(f"emulated {self.name}: desc pointer 0x{ptr['desc']:x} is not 4-byte aligned")
            desc = desc_bytes[: desc_bytes.size // 4 * 4].view(np.uint32)
            cycles = self.kernel(weights, act, desc, n_layers)
            self.last_cycles = [int(c) for c in cycles]
        except BaseException as e:  # reported to the host by EmulatedDevice.check(); the IP still finishes
            self.last_error = e
        finally:
            with self._lock:
                self.runs += 1
                self.running = False
                self.done = self.ready = True


def csim_kernel(cfg: HardwareConfig) -> KernelFn:
    """The C-simulated HLS engine for `cfg` (g++ build of hls_src/, see fq_hls.csim)."""
    from ..csim import load_kernel  # g++ / ctypes: only when an emulated IP actually runs

    kernel = load_kernel(cfg)
    return kernel.run


class EmulatedDevice(pynq.Device):
    """A Zynq board emulated in host memory; see the module docstring."""

    _probe_priority_ = 1000  # after every real pynq device (embedded 50, versal 40, remote 100, xrt 200)

    @classmethod
    def _probe_(cls):
        if os.environ.get(ENV, "") not in ("", "0"):
            board = os.environ.get("FQ_HLS_BOARD", "pynq-z2")
            engine = os.environ.get("FQ_HLS_ENGINE", "fq")
            return [cls(hardware_config(board, engine))]
        return []

    def __init__(self, cfg: HardwareConfig, kernel: KernelFn | None = None, tag: str = "fq_hls_emulated"):
        super().__init__(tag)
        self.cfg = cfg
        self.name = f"{cfg.info.pynq_board} (emulated)"
        self.capabilities = {"REGISTER_RW": True}
        family = cfg.info.family
        self.arch = "armv7l" if family == "zynq7" else "aarch64"  # what pynq.Clocks dispatches on
        self.timestamp = ""
        self.bitfile_name = ""
        self.clock_mhz: dict[int, float] = {}
        self._kernel = kernel
        # PS DDR seen by the PL: Zynq-7000 0x0..0x3fff_ffff, ZynqMP low DDR 0x0..0x7fff_ffff; leave page 0 free.
        base, size = (0x1000_0000, 0x1000_0000) if family == "zynq7" else (0x1000_0000, 0x6000_0000)
        self._memory = EmulatedMemory(self, base, size, None if family == "zynq7" else HIGH_DDR)
        self.ips: dict[int, EmulatedAccel] = {}  # base address -> IP
        self.ps_regs: dict[int, int] = dict(_ZYNQ7_CLOCK_REGS if family == "zynq7" else _ZYNQMP_CLOCK_REGS)
        self._ps_windows = _CLOCK_WINDOWS[family]
        self.parsed_clock_dict: dict = {}  # the .hwh's clock table as pynq's parser gave it

    def __repr__(self) -> str:
        return f"EmulatedDevice({self.cfg.board!r}, engine={self.cfg.engine!r})"

    # --- memory ------------------------------------------------------------------------------------------
    @property
    def default_memory(self) -> EmulatedMemory:
        return self._memory

    def flush(self, bo, offset, ptr, size):
        region = self._memory.region(bo)
        if region.ddr is not None:
            host = region.host()
            region.ddr[offset : offset + size] = host[offset : offset + size]

    def invalidate(self, bo, offset, ptr, size):
        region = self._memory.region(bo)
        if region.ddr is not None:
            host = region.host()
            host[offset : offset + size] = region.ddr[offset : offset + size]

    # --- registers (pynq.MMIO with REGISTER_RW) ----------------------------------------------------------
    def _ip_at(self, address: int) -> tuple[EmulatedAccel, int]:
        for base, ip in self.ips.items():
            if base <= address < base + ip.size:
                return ip, address - base
        raise DeviceError(f"emulated board: no IP at address 0x{address:x} (is the overlay downloaded?)")

    def _is_ps_reg(self, address: int) -> bool:
        return any(base <= address < base + size for base, size in self._ps_windows)

    def read_registers(self, address: int, length: int) -> bytes:
        out = bytearray()
        for a in range(address, address + length, 4):
            if self._is_ps_reg(a):
                out += self.ps_regs.get(a, 0).to_bytes(4, "little")
                continue
            ip, off = self._ip_at(a)
            out += int(ip.read(off)).to_bytes(4, "little")
        return bytes(out[:length])

    def write_registers(self, address: int, data: bytes) -> None:
        if len(data) % 4:
            raise DeviceError(f"emulated board: register write of {len(data)} bytes at 0x{address:x} is not whole words")
        for i in range(0, len(data), 4):
            value = int.from_bytes(data[i : i + 4], "little")
            if self._is_ps_reg(address + i):
                self.ps_regs[address + i] = value
                continue
            ip, off = self._ip_at(address + i)
            ip.write(off, value)

    # --- overlay -----------------------------------------------------------------------------------------
    def get_bitfile_metadata(self, bitfile_name: str, partial: bool = False):
        from pynq.pl_server.hwh_parser import get_hwh_name
        from pynqmetadata.frontends import Metadata
        from pynqmetadata.views.runtime import RuntimeMetadataParser

        hwh = get_hwh_name(bitfile_name)
        if not os.path.isfile(hwh):
            raise DeviceError(f"{hwh}: no .hwh next to {bitfile_name}; pynq needs it to find the fq_accel IP")
        parser = RuntimeMetadataParser(Metadata(input=hwh))
        self.parsed_clock_dict = {i: dict(c) for i, c in parser.clock_dict.items()}
        self.clock_mhz = {i: c["frequency"] for i, c in parser.clock_dict.items() if c.get("enable")}
        # pynq.Clocks keeps the first device it was used with; point it at this board's clock registers
        # (on a board there is one device, so pynq never needs this)
        from pynq.ps import Clocks

        if "_real_instance" in vars(Clocks):
            delattr(Clocks, "_real_instance")
        return parser

    def download(self, bitstream, parser=None):
        if parser is None:
            raise DeviceError(f"{bitstream.bitfile_name}: the emulated board needs the overlay's .hwh")
        self.ips = {}
        for name, d in parser.ip_dict.items():
            if str(d.get("type", "")).rpartition(":")[0] == abi.VLNV.rpartition(":")[0]:
                kernel = self._kernel if self._kernel is not None else _LazyKernel(self.cfg)
                self.ips[int(d["phys_addr"])] = EmulatedAccel(name, int(d["phys_addr"]), int(d["addr_range"]),
                                                              self._memory, kernel)
        if not self.ips:
            raise DeviceError(f"{bitstream.bitfile_name}: its .hwh has no IP of type {abi.VLNV}")
        self.post_download(bitstream, parser, self.name)

    def gen_cache(self, bitstream, parser=None):
        pass

    # --- emulation only ------------------------------------------------------------------------------------
    def pl_clock_mhz(self, i: int = 0) -> float:
        """The rate PL clock `i` runs at, from the emulated clock registers (what pynq.Clocks programmed)."""
        from pynq.ps import Clocks

        Clocks.set_device(self)
        if "_real_instance" in vars(Clocks) and _clocks_device(Clocks) is not self:
            delattr(Clocks, "_real_instance")
        return float(Clocks._instance.get_pl_clk(i))

    def ip(self, address: int) -> EmulatedAccel:
        return self._ip_at(address)[0]

    def check(self, address: int) -> list[int]:
        """After ap_done: raise the kernel's error (as a DeviceError), else return its cycles per layer."""
        ip = self.ip(address)
        err = ip.last_error
        if err is not None:
            ip.last_error = None
            if isinstance(err, DeviceError):
                raise err
            raise DeviceError(f"emulated {ip.name}: the C-simulated kernel failed: {err}") from err
        return list(ip.last_cycles or [])


def _clocks_device(clocks) -> object:
    inst = vars(clocks).get("_real_instance")
    mmio = getattr(inst, "_slcr_mmio", None) or getattr(inst, "_crl_mmio", None)
    return getattr(mmio, "device", None)


class _LazyKernel:
    """Builds the csim kernel on the first ap_start (a g++ build), not when the overlay loads."""

    def __init__(self, cfg: HardwareConfig):
        self.cfg = cfg
        self._fn: KernelFn | None = None
        self._lock = threading.Lock()

    def __call__(self, weights, act, desc, n_layers):
        with self._lock:
            if self._fn is None:
                self._fn = csim_kernel(self.cfg)
        return self._fn(weights, act, desc, n_layers)


def wait_idle(ip: EmulatedAccel, timeout_s: float = 5.0) -> bool:
    """Test helper: wait until an emulated IP's kernel thread returns."""
    t = ip._thread
    if t is not None:
        t.join(timeout_s)
    deadline = time.monotonic() + timeout_s
    while ip.running and time.monotonic() < deadline:
        time.sleep(1e-3)
    return not ip.running
