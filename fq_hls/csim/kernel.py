"""Build the C-simulation library with g++ (cached by content hash) and call it through ctypes."""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DeviceError, InputError, ToolMissingError
from ..hw.config import HardwareConfig
from ..hw.descriptors import DESC_WORDS, FLAG_OUT32, FLAG_POOL, FLAG_RESIDUAL, OP_CONV, OP_FUSED, STATUS, D
from ..hw.program import Program, build_program

# -O3 -march=native: the C-simulation is integer-only (bit-exact whatever the vector width) and runs on the
# machine that built it; vectorised over the V pixels it meets the 0.2 s/image CIFAR target on the dense int8
# engine too (0.29 s at -O2, 0.13 s here, one core of the development machine). -fwrapv: the lanes'
# accumulators are native ints that run on between outputs (hls_src store_rows takes differences), so they
# must wrap like the hardware's two's complement registers.
CXXFLAGS = ["-O3", "-march=native", "-std=c++14", "-fPIC", "-shared", "-w", "-fwrapv"]
LIB_NAME = "libfq_accel_csim.so"
_LOCKS: dict[str, threading.Lock] = {}  # the library keeps its buffers in statics: one call at a time


def ap_types_dir() -> Path:
    """The ap_types headers shipped inside the installed hls4ml package."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.origin:
        raise ToolMissingError(
            "hls4ml is not installed: the C-simulation needs its ap_types headers (pip install hls4ml)"
        )
    d = Path(spec.origin).parent / "templates" / "vivado" / "ap_types"
    if not (d / "ap_int.h").is_file():
        raise ToolMissingError(f"hls4ml at {Path(spec.origin).parent} has no ap_types headers ({d})")
    return d


def compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("g++")
    if not cxx or not shutil.which(cxx):
        raise ToolMissingError("g++ is not on PATH: the C-simulation needs a C++ compiler")
    return cxx


def cache_dir() -> Path:
    return Path(os.environ.get("FQ_HLS_CACHE") or Path.home() / ".cache" / "fq_hls")


def _cpu_id() -> str:
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "flags", "Features")):
                    return platform.machine() + line
    except OSError:
        pass
    return platform.machine() + platform.processor()


HLS_PATH_FLAGS = ["-DFQ_HLS_PATH_CHECK"]  # build the code Vitis synthesizes instead of the fast kernels
# The bounded-stream check (include/fq_dataflow_sim.h): the synthesized path with every stream at its declared
# depth and every DATAFLOW process a thread.
SIM_INCLUDE = Path(__file__).resolve().parent / "include"
BOUNDED_FLAGS = ["-DFQ_BOUNDED_STREAMS", "-pthread"]
# The port-budget check (include/fq_port_check.h): the synthesized path counting, per pipelined iteration,
# the accesses to every physical memory bank.
PORT_CHECK_FLAGS = ["-DFQ_PORT_CHECK"]


def _flags(
    hls_path: bool, bounded: bool = False, defines: dict[str, int] | None = None, port_check: bool = False
) -> list[str]:
    flags = list(CXXFLAGS)
    if hls_path or bounded or port_check:
        flags += HLS_PATH_FLAGS + ["-I", str(SIM_INCLUDE)]
    flags += (BOUNDED_FLAGS if bounded else []) + (PORT_CHECK_FLAGS if port_check else [])
    return flags + [f"-D{k}={int(v)}" for k, v in sorted((defines or {}).items())]


def library_path(
    cfg: HardwareConfig,
    hls_path: bool = False,
    bounded: bool = False,
    defines: dict[str, int] | None = None,
    port_check: bool = False,
) -> Path:
    """Where the library for `cfg` lives in the cache: a hash of sources, generated header, compiler, flags."""
    from ..codegen import HLS_SRC, SOURCES, config_header

    inc = ap_types_dir()
    cxx = compiler()
    header = config_header(cfg)
    h = hashlib.sha256()
    for name in SOURCES:
        h.update(name.encode() + b"\0" + (HLS_SRC / name).read_bytes() + b"\0")
    if bounded or port_check or hls_path:
        for f in sorted(SIM_INCLUDE.glob("*.h")):
            h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(header.encode())
    h.update(" ".join([cxx] + _flags(hls_path, bounded, defines, port_check)).encode())
    h.update(str(inc).encode())
    h.update(_cpu_id().encode())  # -march=native: a library is only valid on the CPU model that built it
    return cache_dir() / f"csim-{h.hexdigest()[:20]}" / LIB_NAME


def build_library(
    cfg: HardwareConfig,
    verbose: bool = False,
    hls_path: bool = False,
    bounded: bool = False,
    defines: dict[str, int] | None = None,
    port_check: bool = False,
) -> Path:
    """Compile (or reuse from the cache) the C-simulation library for `cfg`; returns its path. `hls_path`: the
    code path Vitis HLS synthesizes (ap_int arithmetic, the fill inside the entry loop; hls_src/fq_types.h
    FQ_HLS_PATH), slower, for tests that run it against the reference. `bounded`: that path with bounded
    streams and concurrent DATAFLOW processes (deadlocks are reported). `port_check`: that path counting the
    accesses per memory bank and pipelined iteration (Kernel.port_report). `defines`: extra -D macros (checks
    that override a depth or a copy count)."""
    lib = library_path(cfg, hls_path, bounded, defines, port_check)
    inc = ap_types_dir()
    cxx = compiler()
    out = lib.parent
    if lib.is_file():
        return lib
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        from ..codegen import write_sources

        write_sources(cfg, Path(tmp))
        tmp_lib = Path(tmp) / LIB_NAME
        cmd = [
            cxx,
            *_flags(hls_path, bounded, defines, port_check),
            "-isystem",
            str(inc),
            "-I",
            tmp,
            str(Path(tmp) / "fq_accel.cpp"),
            "-o",
            str(tmp_lib),
        ]
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise DeviceError(f"g++ failed to build the C-simulation library:\n{r.stderr[-4000:]}")
        if verbose:
            print(f"csim library built in {time.time() - t0:.1f} s: {lib}")
        os.replace(tmp_lib, lib)  # atomic: concurrent builders never see a half-written library
    return lib


@dataclass
class PortReport:
    """Pipelined iterations checked per loop, the loops whose accesses to one memory bank exceed its ports
    (loop: memory (storage) -> (iterations over budget, an example)), and per loop and m_axi bundle the
    iterations that read and that wrote 1, 2 and 3 or more AXI beats (a pipelined loop gets one a cycle)."""

    iterations: dict[str, int]
    violations: dict[str, tuple[int, str]]
    axi: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> PortReport:
        it: dict[str, int] = {}
        bad: dict[str, tuple[int, str]] = {}
        axi: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {}
        for line in text.splitlines():
            if line.startswith("axi "):
                head, rest = line[len("axi "):].split(" read ", 1)
                rd, wr = rest.split(" write ")
                axi[head] = (tuple(int(v) for v in rd.split()), tuple(int(v) for v in wr.split()))
                continue
            if line.startswith("iterations "):
                _, loop, n = line.split(" ")
                it[loop] = int(n)
            elif line.startswith("violation "):
                head, example = line[len("violation "):].split(" iterations, e.g. ", 1)
                key, n = head.rsplit(": ", 1)
                bad[key] = (int(n), example)
        return cls(it, bad, axi)


class Kernel:
    """ctypes wrapper of `fq_accel_csim` for one HardwareConfig."""

    def __init__(self, lib_path: Path, cfg: HardwareConfig):
        self.cfg = cfg
        self.path = Path(lib_path)
        self._lib = ctypes.CDLL(str(self.path))
        f = self._lib.fq_accel_csim
        f.restype = ctypes.c_int
        f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p]
        self._msg = self._lib.fq_accel_csim_message
        self._msg.restype = ctypes.c_char_p
        self.layer_names: list[str] | None = None
        self._lock = _LOCKS.setdefault(str(self.path), threading.Lock())

    def run(self, weights: np.ndarray, act: np.ndarray, desc: np.ndarray, n_layers: int) -> list[int]:
        """Execute `n_layers` descriptors in place on `act` (uint8); returns cycles per layer."""
        w = np.ascontiguousarray(weights, dtype=np.uint8)
        d = np.ascontiguousarray(desc, dtype=np.uint32).reshape(-1)
        if not (isinstance(act, np.ndarray) and act.dtype == np.uint8 and act.flags.c_contiguous):
            raise InputError("act must be a C-contiguous uint8 numpy array (it is written in place)")
        if d.size < n_layers * DESC_WORDS:
            raise InputError(f"{d.size} descriptor words for {n_layers} layers of {DESC_WORDS} words")
        self._check_bounds(w.size, act.size, d.reshape(-1, DESC_WORDS)[:n_layers])
        cyc = np.zeros(max(n_layers, 1), dtype=np.uint64)
        with self._lock:
            rc = self._lib.fq_accel_csim(
                w.ctypes.data, act.ctypes.data, d.ctypes.data, n_layers, cyc.ctypes.data
            )
            msg = self._msg().decode(errors="replace") if rc else ""
        if rc != 0:
            name = self._layer_name(rc - 1)
            code = int(msg.rsplit("status", 1)[-1]) if "status" in msg else 0
            raise DeviceError(f"C-simulation rejected layer {name} ({STATUS.get(code, 'error')}): {msg}")
        return [int(c) for c in cyc[:n_layers]]

    def port_report(self, reset: bool = True) -> PortReport:
        """The port-budget check's findings since the last reset (a library built with port_check=True)."""
        try:
            f = self._lib.fq_port_check_report
        except AttributeError:
            raise InputError(f"{self.path} was not built with port_check=True") from None
        f.restype = ctypes.c_char_p
        f.argtypes = [ctypes.c_int]
        with self._lock:
            text = f(1 if reset else 0).decode()
        return PortReport.parse(text)

    def memory_report(self) -> list[tuple[str, int, int, int]]:
        """(name, physical memories, words, bits per word) of every memory the synthesized path declares (a
        library built with hls_path, bounded or port_check)."""
        try:
            f = self._lib.fq_accel_memory_report
        except AttributeError:
            raise InputError(f"{self.path} is not a build of the synthesized path (hls_path=True)") from None
        f.restype = ctypes.c_char_p
        rows = []
        for line in f().decode().splitlines():
            name, count, depth, width = line.split()
            rows.append((name, int(count), int(depth), int(width)))
        return rows

    def _layer_name(self, i: int) -> str:
        return self.layer_names[i] if self.layer_names and i < len(self.layer_names) else f"#{i}"

    def _check_bounds(self, w_size: int, act_size: int, desc: np.ndarray) -> None:
        """Every buffer window a descriptor names must lie inside the buffers (the C++ trusts them)."""
        for i, row in enumerate(desc.astype(np.int64)):
            op, flags = int(row[D["OP"]]), int(row[D["FLAGS"]])
            c, h, w = (int(row[D[k]]) for k in ("IN_CH", "IN_H", "IN_W"))
            oc, oh, ow = (int(row[D[k]]) for k in ("OUT_CH", "OUT_H", "OUT_W"))
            if op == OP_FUSED:  # run by the layer before: touches nothing
                continue
            ob = 4 if flags & FLAG_OUT32 else 1
            if flags & FLAG_POOL:  # stores the fused max pool's map
                oh, ow = (oh + 1) // 2, (ow + 1) // 2
            windows = [
                ("input", row[D["IN_OFF"]], c * h * w, act_size),
                ("output", row[D["OUT_OFF"]], oc * oh * ow * ob, act_size),
            ]
            if flags & FLAG_RESIDUAL:
                windows.append(("residual", row[D["RES_OFF"]], oc * oh * ow, act_size))
            if op == OP_CONV:
                windows.append(("weights", row[D["W_OFF"]], max(int(row[D["W_BYTES"]]), 16 * oc), w_size))
            for what, off, n, size in windows:
                if int(off) + n > size:
                    raise DeviceError(
                        f"layer {self._layer_name(i)}: {what} window {int(off)}+{n} bytes exceeds its buffer ({size} bytes)"
                    )

    def run_program(self, prog: Program, x_int8_chw: np.ndarray) -> tuple[np.ndarray, list[int]]:
        act = prog.new_act()
        prog.write_input(act, x_int8_chw)
        self.layer_names = prog.layer_names
        cycles = self.run(prog.weights, act, prog.descriptors, prog.n_layers)
        return prog.read_output(act), cycles


def load_kernel(cfg: HardwareConfig, verbose: bool = False, **build: object) -> Kernel:
    """The C-simulation kernel for `cfg`; `build`: the flavour keywords of build_library (hls_path, bounded,
    port_check, defines)."""
    return Kernel(build_library(cfg, verbose=verbose, **build), cfg)


def run_csim(graph, cfg: HardwareConfig, x_int8: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Logits (int32) and cycles per layer of one image (C, H, W int8) or a batch (N, C, H, W)."""
    prog = build_program(graph, cfg)
    k = load_kernel(cfg)
    x = np.asarray(x_int8)
    if x.ndim == 3:
        return k.run_program(prog, x)
    outs, cyc = [], []
    for xi in x:
        o, c = k.run_program(prog, xi)
        outs.append(o)
        cyc.append(c)
    return np.stack(outs), cyc
