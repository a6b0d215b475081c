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
from ..hw.config import BOARDS, HardwareConfig
from ..hw.sized import engine_config
from ..ir import IntegerGraph
from ..safeio import read_regular

CONFIG_NAMES = ("hw_config.json", "hardware_config.json", "config.json")
MIN_BUFFER_BYTES = 8192  # XRT 2.17 (PYNQ 3.1) may place buffers of <= 4 KB above 4 GB: allocate more
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
    return engine_config(board, engine)[0], {}  # the sized engine, as `fq-hls build` builds it


def _board_hint(e: BaseException) -> str:
    """What to do when pynq cannot load the overlay on what looks like a board."""
    if isinstance(e, PermissionError) or "ermission" in str(e):
        from .board import root_command

        return f" (pynq needs root on the board: {root_command()})"
    if not os.path.exists("/dev/mem") or not os.path.isdir("/sys/class/fpga_manager"):
        return " (this is no Zynq board: no FPGA manager; off the board, run with --emulate)"
    return ""


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
                 program=None, fclk_mhz: float | None = None, emulated_hwh: dict | None = None,
                 overlay_format: int | None = None):
        if timeout_s is not None and not (isinstance(timeout_s, (int, float)) and 0 < timeout_s < float("inf")):
            raise InputError(f"timeout {timeout_s!r}: expected a finite number of seconds > 0")

        from . import driver as _driver  # registers FQAccelDriver with pynq (bindto VLNV) before the Overlay

        self.graph, self.cfg = graph, cfg
        if program is None:
            from ..hw.program import build_program

            program = build_program(graph, cfg)
        self.program = program
        self._check_program()
        from ..hw.program import Program
        from .agreement import check_program

        if isinstance(program, Program):  # the overlay must run what was packed (runtime/agreement.py)
            check_program(program, cfg, f"{cfg.engine} overlay on {cfg.board}", overlay_format)

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
                bitfile = write_emulation_overlay(self._tmp.name, cfg, **(emulated_hwh or {}))
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

        from .agreement import check_overlay_params
        from .hwh import INSTANCE, read_hwh
        from .overlay import FqOverlay

        # the engine the bitstream's .hwh states (where it states one) is the one the program was packed for
        check_overlay_params(read_hwh(os.path.splitext(bitfile)[0] + ".hwh").ip_params, cfg, bitfile)

        if not self.emulated and os.path.isdir("/sys/class/fpga_manager"):  # a board: pynq needs root
            from .board import check_root

            check_root()
        try:
            self.overlay = FqOverlay(bitfile, device=device, hw_config=cfg, fclk_mhz=fclk_mhz)
        except (OSError, RuntimeError, ValueError, TypeError) as e:  # not root, no FPGA manager, bad .hwh, ...
            hint = "" if self.emulated else _board_hint(e)
            raise DeviceError(f"{bitfile}: pynq could not load the overlay ({type(e).__name__}: {e}){hint}") from e
        self.overlay.attach(self)
        self.driver = self._find_driver(_driver.FQAccelDriver)
        hwh = self.overlay.hwh
        instance = self.driver.name.rsplit("/", 1)[-1]
        if not hwh.master_ranges and instance != INSTANCE:  # an IP instance named otherwise in the design
            hwh = read_hwh(hwh.path, instance)
        self.driver.set_address_map(hwh.master_ranges, hwh.path)
        dev = self.overlay.device
        self.clock_mhz = self._pl_clock_mhz()

        p = self.program
        self.weights = self._allocate(dev, p.weights.nbytes)
        self.desc = self._allocate(dev, p.descriptors.nbytes)
        self.act = self._allocate(dev, p.act_bytes)
        self.act2 = None  # second activation buffer, allocated by the first overlapped predict()
        self.weights[: p.weights.size] = p.weights
        self.desc[: p.descriptors.nbytes] = np.ascontiguousarray(p.descriptors).view(np.uint8).reshape(-1)
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

    def _pl_clock_mhz(self) -> float:
        """The PL clock the IP runs at, read back from the PS clock registers after pynq programmed them."""
        try:
            return float(self.overlay.fclk_mhz)
        except Exception:  # clock registers unreadable (e.g. not root): the configured rate
            if self.emulated:
                raise
            return float(self.cfg.clock_mhz)

    @staticmethod
    def _allocate(dev, nbytes: int):
        """A uint8 pynq buffer of at least `nbytes`, never small enough for XRT to place it above 4 GB."""
        import pynq

        buf = pynq.allocate((max(int(nbytes), MIN_BUFFER_BYTES),), np.uint8, target=dev)
        if buf.nbytes < nbytes:
            raise DeviceError(f"pynq.allocate gave {buf.nbytes} bytes, the program needs {nbytes}")
        return buf

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
        self._stage(self.act, x_chw)
        self._point(self.act)
        self.driver.start()
        self._finish(self.driver.wait(self.timeout_s))
        logits = self._read(self.act)
        self._wall_ms.append((time.perf_counter() - t0) * 1e3)
        return logits

    # steps of one image, shared by run_one and the overlapped predict
    def _stage(self, act, x_chw: np.ndarray) -> None:
        self.program.write_input(act, x_chw)
        act.sync_to_device()

    def _point(self, act) -> None:
        if self.driver.get_pointer("act_in") != act.device_address:
            for name in ("act_in", "act_out", "act_in2"):
                self.driver.set_pointer(name, act)

    def _finish(self, waited_s: float) -> None:
        if self.emulated:
            cycles = self.overlay.device.check(self.driver.phys_addr)
            if not cycles:
                raise DeviceError(f"emulated {self.driver.name}: the kernel reported no cycle counts")
            self._cycles = int(sum(cycles))
            self._latency_ms.append(self._cycles / (self.clock_mhz * 1e3))
        else:
            self._latency_ms.append(waited_s * 1e3)

    def _read(self, act) -> np.ndarray:
        act.sync_from_device()
        logits = np.array(self.program.read_output(act), dtype=np.int32)
        if logits.shape != (self.program.num_classes,):
            raise DeviceError(f"program.read_output gave shape {logits.shape}, expected ({self.program.num_classes},)")
        return logits

    def predict(self, images: np.ndarray, batch_size: int | None = None, overlap: bool = True,
                profile: bool = False):
        """Logits like `run`, with the host's transfers overlapping the accelerator's runs.

        Two activation buffers take turns: while the IP runs image n on one, the host reads the logits of
        image n - 1 from the other and writes image n + 1 into it (the engine works in place on its
        activation buffer, so the next input cannot go into the buffer being run). `batch_size` images are
        prepared (quantized) at a time. `profile=True` also returns the host time per step (ms per image).
        """
        if batch_size is not None and not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
            raise InputError(f"batch_size {batch_size!r}: expected an integer >= 1")
        single = np.asarray(images).ndim == 3
        steps = {"prepare": 0.0, "write": 0.0, "wait": 0.0, "read": 0.0}
        raw = np.asarray(images)
        raw = raw[None] if single else raw
        n = len(raw)
        bs = int(batch_size or max(1, n))
        out = np.zeros((n, self.program.num_classes), np.int32)
        if overlap and self.act2 is None and n > 1:
            self.act2 = self._allocate(self.overlay.device, self.program.act_bytes)
        bufs = [self.act, self.act2] if overlap and n > 1 else [self.act]
        t_all = time.perf_counter()
        x = np.zeros((0,), np.int8)
        x_at = 0  # index of x[0] in the whole input

        def inp(i: int) -> np.ndarray:
            nonlocal x, x_at
            if not x_at <= i < x_at + len(x):
                t = time.perf_counter()
                x, x_at = self.prepare(raw[i : i + bs]), i
                steps["prepare"] += time.perf_counter() - t
            return x[i - x_at]

        if n:
            t = time.perf_counter()
            self._stage(bufs[0], inp(0))
            steps["write"] += time.perf_counter() - t
        for i in range(n):
            cur = bufs[i % len(bufs)]
            self._point(cur)
            self.driver.start()
            t = time.perf_counter()
            if len(bufs) == 2:
                if i > 0:  # the other buffer: logits of image i - 1 out, input of image i + 1 in
                    out[i - 1] = self._read(bufs[(i - 1) % 2])
                    steps["read"] += time.perf_counter() - t
                    t = time.perf_counter()
                if i + 1 < n:
                    self._stage(bufs[(i + 1) % 2], inp(i + 1))
                    steps["write"] += time.perf_counter() - t
            t = time.perf_counter()
            self._finish(self.driver.wait(self.timeout_s))
            steps["wait"] += time.perf_counter() - t
            if len(bufs) == 1:
                t = time.perf_counter()
                out[i] = self._read(cur)
                steps["read"] += time.perf_counter() - t
                if i + 1 < n:
                    t = time.perf_counter()
                    self._stage(cur, inp(i + 1))
                    steps["write"] += time.perf_counter() - t
        if len(bufs) == 2 and n:
            t = time.perf_counter()
            out[n - 1] = self._read(bufs[(n - 1) % 2])
            steps["read"] += time.perf_counter() - t
        wall = time.perf_counter() - t_all
        if n:
            self._wall_ms.extend([wall * 1e3 / n] * n)
        result = out[0] if single else out
        if profile:
            return result, {k: v * 1e3 / max(1, n) for k, v in steps.items()} | {"total": wall * 1e3 / max(1, n)}
        return result

    def throughput_test(self, images: int = 32, batch_size: int | None = None, overlap: bool = True,
                        seed: int = 0) -> dict:
        """Run `images` random inputs through `predict` and report what FINN's throughput_test reports.

        `images_per_s`: on a board, images over the host wall time of the whole run; on the emulated board,
        the C-simulated cycles at the PL clock (the hardware's rate with transfers hidden by the overlap;
        evidence "csim"). DDR bytes/s count what each image moves: the weight stream and descriptors read
        by the IP, the input written and the logits read by the host.
        """
        if not (isinstance(images, (int, np.integer)) and images >= 1):
            raise InputError(f"images {images!r}: expected an integer >= 1")
        c, h, w = (int(v) for v in self.program.input_shape)
        x = np.random.default_rng(seed).integers(-128, 128, size=(int(images), c, h, w), dtype=np.int8)
        first = len(self._latency_ms)
        t0 = time.perf_counter()
        _, host_ms = self.predict(x, batch_size=batch_size, overlap=overlap, profile=True)
        wall_s = time.perf_counter() - t0
        lat_ms = self._latency_ms[first:]
        if self.emulated:
            ips = 1000.0 * len(lat_ms) / sum(lat_ms)
        else:
            ips = len(lat_ms) / wall_s
        p = self.program
        bytes_in = p.weights.nbytes + p.descriptors.nbytes + c * h * w
        bytes_out = 4 * p.num_classes
        return {
            "evidence": "csim" if self.emulated else "board",
            "images": len(lat_ms),
            "batch_size": int(batch_size or images),
            "overlap": bool(overlap),
            "runtime_s": wall_s,
            "images_per_s": ips,
            "ddr_in_bytes_per_image": bytes_in,
            "ddr_out_bytes_per_image": bytes_out,
            "ddr_in_bytes_per_s": bytes_in * ips,
            "ddr_out_bytes_per_s": bytes_out * ips,
            "fclk_mhz": self.clock_mhz,
            "latency_ms_mean": float(np.mean(lat_ms)),
            "host_ms_per_image": host_ms,
        }

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
            clock_mhz=self.clock_mhz,
            cycles=self._cycles,
            wall_ms=_percentiles(self._wall_ms),
        )

    def reset_stats(self) -> None:
        self._latency_ms.clear()
        self._wall_ms.clear()

    def close(self) -> None:
        for name in ("weights", "desc", "act", "act2"):
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
            cfg = engine_config(board, engine)[0]  # the sized engine (fq_hls.hw.sized), as the report models
            model, bitfile = path, None
        else:
            raise InputError(f"{path}: no such build folder or .fqz file")
        graph = load_graph(model)
        if os.path.isdir(path):  # a built overlay is what it is: the program must fit it (runtime/agreement.py)
            if manifest.get("program_format") is not None:
                kwargs.setdefault("overlay_format", manifest["program_format"])
        else:  # the emulated board of a .fqz: the board's engine with buffers for this model (fq_hls.hw.fit)
            from ..hw.fit import fit_config

            cfg = fit_config(cfg, graph)
        return cls(graph, cfg, bitfile=bitfile, emulate=emulate, **kwargs)
