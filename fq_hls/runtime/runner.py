"""Inference through the fq_accel overlay: program image in DDR, one image at a time, latency statistics.

`Accelerator.open(path, board=..., emulate=...)` takes a build folder (bitstream + .hwh + model .fqz) or a
.fqz; `Accelerator(graph, cfg, ...)` takes an already lowered IntegerGraph. The same code drives the real
board (pynq's default device, wall-clock latency, evidence "board") and the emulated board (EmulatedDevice,
latency from the C-simulation's cycle count at the configured clock, evidence "csim").
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import DeviceError, InputError
from ..hw import abi
from ..hw.config import BOARDS, HardwareConfig, hardware_config
from ..ir import IntegerGraph
from ..safeio import read_regular

CONFIG_NAMES = ("hw_config.json", "hardware_config.json", "config.json")
BOARD_TIMEOUT_S = 10.0  # a ResNet-18 on the smallest board takes well under a second
EMULATED_TIMEOUT_S = 3600.0  # the C-simulation is far slower than the hardware


@dataclass
class LatencyStats:
    """Latency of the accelerator per image (start -> ap_done) and what it is based on."""

    evidence: str  # "board" (wall clock on the board) or "csim" (C-simulated cycles at clock_mhz)
    images: int
    latency_ms: dict  # p50, p90, p99, mean, min, max
    fps: float  # 1000 / mean latency: one image at a time
    clock_mhz: float | None = None
    cycles: int | None = None  # csim: cycles of the last image
    wall_ms: dict | None = None  # host wall time per image, input to logits (emulation time when emulated)

    def to_dict(self) -> dict:
        return asdict(self)


def _percentiles(values_ms: list[float]) -> dict:
    v = np.asarray(values_ms, dtype=np.float64)
    p50, p90, p99 = np.percentile(v, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(v.mean()),
            "min": float(v.min()), "max": float(v.max())}


def _board_from_env() -> str | None:
    """Our board name for the PYNQ image we run on (PYNQ images export BOARD)."""
    name = os.environ.get("BOARD", "")
    for key, info in BOARDS.items():
        if name and name.lower() in (info.pynq_board.lower(), key):
            return key
    return None


def _load_config(folder: str, board: str | None, engine: str) -> tuple[HardwareConfig, dict]:
    """The build's hardware configuration and manifest (hw_config.json written by `fq-hls build`)."""
    for name in CONFIG_NAMES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            try:
                manifest = json.loads(read_regular(path, 1 << 24, "hardware configuration").decode("utf-8"))
                d = manifest.get("hardware", manifest)
                fields = set(HardwareConfig.__dataclass_fields__)
                cfg = HardwareConfig(**{k: v for k, v in d.items() if k in fields})
                cfg.info  # noqa: B018  (KeyError for an unknown board)
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
                raise InputError(f"{path}: not a hardware configuration ({type(e).__name__}: {e})") from None
            if board is not None and board != cfg.board:
                raise InputError(f"{path}: built for board {cfg.board!r}, not {board!r}")
            if engine != cfg.engine:
                raise InputError(f"{path}: built for engine {cfg.engine!r}, not {engine!r} (--engine)")
            return cfg, manifest
    board = board or _board_from_env()
    if board is None:
        raise InputError(f"{folder}: no {CONFIG_NAMES[0]} and no --board given; name the board")
    try:
        return hardware_config(board, engine), {}
    except ValueError as e:
        raise InputError(str(e)) from None


def _find_bitfile(folder: str, manifest: dict) -> str | None:
    named = manifest.get("bitstream")
    if named:
        bit = os.path.join(folder, named)
        if os.path.isfile(bit) and os.path.isfile(os.path.splitext(bit)[0] + ".hwh"):
            return bit
    bits = sorted(p for p in glob.glob(os.path.join(folder, "*.bit"))
                  if os.path.isfile(os.path.splitext(p)[0] + ".hwh"))
    if len(bits) > 1:
        raise InputError(f"{folder}: several bitstreams with a .hwh ({', '.join(map(os.path.basename, bits))})")
    return bits[0] if bits else None


def _find_model(folder: str, manifest: dict) -> str:
    p = os.path.join(folder, manifest.get("model") or "model.fqz")
    if os.path.isfile(p):
        return p
    fqz = sorted(glob.glob(os.path.join(folder, "*.fqz")))
    if len(fqz) != 1:
        raise InputError(f"{folder}: expected model.fqz (or exactly one .fqz), found {len(fqz)}")
    return fqz[0]


def load_graph(fqz_path: str) -> IntegerGraph:
    """Read a .fqz and lower it to the integer graph (numpy only)."""
    try:
        from ..fqz import read_fqz
    except ImportError:  # older checkouts export it from the container module only
        from ..fqz.container import read_fqz
    from ..lower import lower

    return lower(read_fqz(fqz_path))


class Accelerator:
    """The fq_accel IP with a network loaded: `run(images) -> int32 logits`, `stats()` -> LatencyStats."""

    def __init__(self, graph: IntegerGraph, cfg: HardwareConfig, *, bitfile: str | None = None,
                 emulate: bool = False, device=None, kernel=None, timeout_s: float | None = None,
                 program=None):
        if timeout_s is not None and not (isinstance(timeout_s, (int, float)) and 0 < timeout_s < float("inf")):
            raise InputError(f"timeout {timeout_s!r}: expected a finite number of seconds > 0")
        import pynq

        from . import driver as _driver  # registers FQAccelDriver with pynq (bindto VLNV) before the Overlay

        self.graph, self.cfg = graph, cfg
        if program is None:
            from ..hw.program import build_program

            program = build_program(graph, cfg)
        self.program = program
        self._check_program()

        self.emulated = bool(emulate)
        self._tmp = None
        if self.emulated:
            from .emulated import EmulatedDevice
            from .hwh import write_emulation_overlay

            if device is None:
                if kernel is None:  # build the C-simulation now, so that no image's time includes g++
                    from ..csim import load_kernel

                    csim = load_kernel(cfg)
                    csim.layer_names = getattr(program, "layer_names", None)  # names in kernel errors
                    kernel = csim.run
                device = EmulatedDevice(cfg, kernel=kernel)
            elif not isinstance(device, EmulatedDevice):
                raise DeviceError(f"emulate=True but device {device!r} is not an EmulatedDevice")
            if bitfile is None:  # no Vivado build: an overlay description written from the ABI
                self._tmp = tempfile.TemporaryDirectory(prefix="fq_hls_emulated_")
                bitfile = write_emulation_overlay(self._tmp.name, cfg)
        elif bitfile is None:
            raise InputError("a real board needs the overlay's bitstream (.bit with its .hwh); pass the build folder")
        else:
            from .hwh import EMULATION_BIT_MARKER

            with open(bitfile, "rb") as f:
                if f.read(len(EMULATION_BIT_MARKER)) == EMULATION_BIT_MARKER:
                    raise InputError(f"{bitfile}: an emulation placeholder, not a bitstream; use --emulate")
        self.device = device
        self.bitfile = bitfile
        self.timeout_s = timeout_s if timeout_s is not None else (EMULATED_TIMEOUT_S if self.emulated else BOARD_TIMEOUT_S)

        try:
            self.overlay = pynq.Overlay(bitfile, device=device)
        except (OSError, RuntimeError, ValueError) as e:  # not root, no FPGA manager, unreadable .hwh, ...
            hint = "" if self.emulated else " (off the board, run with --emulate)"
            raise DeviceError(f"{bitfile}: pynq could not load the overlay ({type(e).__name__}: {e}){hint}") from e
        self.driver = self._find_driver(_driver.FQAccelDriver)
        dev = self.overlay.device
        self.clock_mhz = self._pl_clock_mhz(dev)

        p = self.program
        self.weights = pynq.allocate((max(1, p.weights.size),), np.uint8, target=dev)
        self.desc = pynq.allocate(p.descriptors.shape, np.uint32, target=dev)
        self.act = pynq.allocate((p.act_bytes,), np.uint8, target=dev)
        for name, buf, need in (("weights", self.weights, p.weights.nbytes), ("desc", self.desc, p.descriptors.nbytes),
                                ("act", self.act, p.act_bytes)):
            if buf.nbytes < need:
                raise DeviceError(f"buffer {name!r}: pynq.allocate gave {buf.nbytes} bytes, the program needs {need}")
        self.weights[: p.weights.size] = p.weights
        self.desc[:] = p.descriptors
        self.weights.sync_to_device()
        self.desc.sync_to_device()
        self.driver.set_args(self.weights, self.act, self.desc, self.n_layers)
        self._latency_ms: list[float] = []
        self._wall_ms: list[float] = []
        self._cycles: int | None = None

    # --- setup checks ------------------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return int(self.program.descriptors.shape[0])

    def _check_program(self) -> None:
        p = self.program
        w, d = np.asarray(p.weights), np.asarray(p.descriptors)
        if w.dtype != np.uint8 or w.ndim != 1:
            raise DeviceError(f"program field 'weights': expected a 1-D uint8 array, got {w.dtype} {w.shape}")
        if d.dtype != np.uint32 or d.ndim != 2 or d.shape[0] < 1:
            raise DeviceError(f"program field 'descriptors': expected uint32 (n_layers, DESC_WORDS), got {d.dtype} {d.shape}")
        c, h, wd = (int(v) for v in p.input_shape)
        if tuple(p.input_shape) != tuple(self.graph.tensors[self.graph.input].shape):
            raise DeviceError(f"program field 'input_shape' {tuple(p.input_shape)} != the graph input "
                              f"{tuple(self.graph.tensors[self.graph.input].shape)}")
        if p.input_offset < 0 or p.input_offset + c * h * wd > p.act_bytes:
            raise DeviceError(f"program field 'input_offset': input [{p.input_offset}, +{c * h * wd}) does not fit "
                              f"the activation buffer of act_bytes={p.act_bytes}")
        if p.output_offset < 0 or p.output_offset % 4 or p.output_offset + 4 * p.num_classes > p.act_bytes:
            raise DeviceError(f"program field 'output_offset': logits [{p.output_offset}, +{4 * p.num_classes}) do not "
                              f"fit (or are misaligned in) the activation buffer of act_bytes={p.act_bytes}")
        if p.num_classes != self.graph.num_classes:
            raise DeviceError(f"program field 'num_classes' {p.num_classes} != the graph's {self.graph.num_classes}")

    def _pl_clock_mhz(self, dev) -> float:
        """The PL clock the IP runs at: the emulated .hwh's rate, pynq's fclk0 on a board, else the config's."""
        if self.emulated:
            return float(getattr(dev, "clock_mhz", {}).get(0) or self.cfg.clock_mhz)
        try:
            import pynq

            return float(pynq.Clocks.fclk0_mhz)
        except Exception:  # clock registers unreadable (e.g. not root): the configured rate
            return float(self.cfg.clock_mhz)

    def _find_driver(self, cls):
        hits = [k for k, v in self.overlay.ip_dict.items() if str(v.get("type", "")).startswith(abi.VLNV.rpartition(":")[0])]
        if len(hits) != 1:
            raise DeviceError(f"{self.bitfile}: expected one IP of type {abi.VLNV} in the .hwh, found {hits or 'none'}")
        drv = self.overlay
        for part in hits[0].split("/"):
            drv = getattr(drv, part)
        if not isinstance(drv, cls):
            raise DeviceError(f"{self.bitfile}: IP {hits[0]} is of type {self.overlay.ip_dict[hits[0]]['type']}; "
                              f"pynq bound {type(drv).__name__}, not FQAccelDriver (IP version mismatch?)")
        return drv

    # --- inference ---------------------------------------------------------------------------------------
    def prepare(self, images: np.ndarray) -> np.ndarray:
        """uint8 NHWC / HWC images or int8 NCHW / CHW network inputs -> int8 (N, C, H, W)."""
        x = np.asarray(images)
        c, h, w = (int(v) for v in self.program.input_shape)
        if x.dtype == np.uint8:
            if x.ndim == 3:
                x = x[None]
            if x.ndim != 4 or x.shape[1:] != (h, w, c):
                raise InputError(f"images: expected uint8 (N, {h}, {w}, {c}) or ({h}, {w}, {c}) pixels, got {x.shape}")
            return self.graph.quantize_input(x)
        if x.dtype == np.int8:
            if x.ndim == 3:
                x = x[None]
            if x.ndim != 4 or x.shape[1:] != (c, h, w):
                raise InputError(f"images: expected int8 (N, {c}, {h}, {w}) network inputs, got {x.shape}")
            return np.ascontiguousarray(x)
        raise InputError(f"images: dtype {x.dtype} not accepted: uint8 NHWC pixels or int8 NCHW network inputs")

    def run_one(self, x_chw: np.ndarray) -> np.ndarray:
        """One int8 (C, H, W) input -> int32 (num_classes,) logits."""
        t0 = time.perf_counter()
        self.program.write_input(self.act, x_chw)
        self.act.sync_to_device()
        self.driver.start()
        waited = self.driver.wait(self.timeout_s)
        if self.emulated:
            cycles = self.overlay.device.check(self.driver.phys_addr)
            if not cycles:
                raise DeviceError(f"emulated {self.driver.name}: the kernel reported no cycle counts")
            self._cycles = int(sum(cycles))
            self._latency_ms.append(self._cycles / (self.clock_mhz * 1e3))
        else:
            self._latency_ms.append(waited * 1e3)
        self.act.sync_from_device()
        logits = np.array(self.program.read_output(self.act), dtype=np.int32)
        self._wall_ms.append((time.perf_counter() - t0) * 1e3)
        if logits.shape != (self.program.num_classes,):
            raise DeviceError(f"program.read_output gave shape {logits.shape}, expected ({self.program.num_classes},)")
        return logits

    def run(self, images: np.ndarray) -> np.ndarray:
        """Logits (N, num_classes) int32 for a batch, (num_classes,) for one image; image by image."""
        single = np.asarray(images).ndim == 3
        x = self.prepare(images)
        out = np.stack([self.run_one(xi) for xi in x]) if len(x) else np.zeros((0, self.program.num_classes), np.int32)
        return out[0] if single else out

    def stats(self) -> LatencyStats:
        if not self._latency_ms:
            raise InputError("no image has run yet: call run() first")
        lat = _percentiles(self._latency_ms)
        return LatencyStats(
            evidence="csim" if self.emulated else "board",
            images=len(self._latency_ms),
            latency_ms=lat,
            fps=1000.0 / lat["mean"] if lat["mean"] > 0 else float("inf"),
            clock_mhz=self.clock_mhz if self.emulated else None,
            cycles=self._cycles,
            wall_ms=_percentiles(self._wall_ms),
        )

    def reset_stats(self) -> None:
        self._latency_ms.clear()
        self._wall_ms.clear()

    def close(self) -> None:
        for name in ("weights", "desc", "act"):
            buf = getattr(self, name, None)
            if buf is not None:
                buf.freebuffer()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Accelerator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- construction from files -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str, board: str | None = None, emulate: bool = False, engine: str = "fq",
             **kwargs) -> Accelerator:
        """`path`: a build folder (bitstream + .hwh + model.fqz [+ hw_config.json]) or a .fqz file."""
        emulate = emulate or os.environ.get("FQ_HLS_EMULATE", "") not in ("", "0")
        if os.path.isdir(path):
            cfg, manifest = _load_config(path, board, engine)
            model = _find_model(path, manifest)
            bitfile = _find_bitfile(path, manifest)
            if bitfile is None and not emulate:
                raise InputError(f"{path}: no bitstream (.bit with its .hwh) in the build folder; use --emulate "
                                 "to run on the emulated board")
        elif os.path.isfile(path):
            if not path.endswith(".fqz"):
                raise InputError(f"{path}: expected a build folder or a .fqz model")
            if not emulate:
                raise InputError(f"{path}: a .fqz alone has no bitstream; pass the build folder, or --emulate")
            board = board or _board_from_env() or "pynq-z2"
            try:
                cfg = hardware_config(board, engine)
            except ValueError as e:
                raise InputError(str(e)) from None
            model, bitfile = path, None
        else:
            raise InputError(f"{path}: no such build folder or .fqz file")
        return cls(load_graph(model), cfg, bitfile=bitfile, emulate=emulate, **kwargs)
