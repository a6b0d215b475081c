"""Testbench data for Vitis HLS csim/cosim: the program image of a small integer graph and its reference output.

The C++ side is templates/tb_fq_accel.cpp (data-driven, copied unchanged). The graph is one sparse 3x3
convolution (fq_hls.synthetic.random_conv_graph) quantized for the engine (`fq5` for fq, `int8` for int8),
small enough for RTL co-simulation; the output is checked byte for byte against fq_hls.reference.

The m_axi `depth` of each pointer argument sizes co-simulation's memory model of that argument: the cosim
wrapper copies `depth` elements from the testbench's buffer into it and back. So the depth must cover every
element the engine touches and must not exceed what the testbench allocates. `m_axi_depths` derives
both from the program image: the project passes them as -DFQ_DEPTH_WEIGHTS / -DFQ_DEPTH_ACT /
-DFQ_DEPTH_DESC (fq_hls.build.hls_project) to the engine's INTERFACE pragmas and to the testbench, which
allocates at least that many elements and refuses data files larger than them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..hw.config import HardwareConfig
from ..hw.descriptors import DESC_WORDS

TEMPLATE = Path(__file__).parent / "templates" / "tb_fq_accel.cpp"
TB_NAME = "tb_fq_accel.cpp"
# Depths (elements of each pointer's type) when the testbench is not ours (codegen wrote its own): the values
# the engine's pragmas carried before they became macros. Weights and activations are bytes, descriptors
# 32-bit words.
DEFAULT_DEPTHS = {"FQ_DEPTH_WEIGHTS": 65536, "FQ_DEPTH_ACT": 65536, "FQ_DEPTH_DESC": 4096}
DATA_FILES = {"FQ_DEPTH_WEIGHTS": ("weights.bin", 1), "FQ_DEPTH_ACT": ("act.bin", 1), "FQ_DEPTH_DESC": ("desc.bin", 4)}


def tb_graph(cfg: HardwareConfig, seed: int = 0):
    """The integer graph the testbench runs: one 3x3 conv, 8 -> 16 channels on 8x8, half the weights zero."""
    from ..synthetic import random_conv_graph

    method = "fq5" if cfg.shift_pe else "int8"
    return random_conv_graph(8, 16, 8, 8, kernel=3, stride=1, pad=1, sparsity=0.5, method=method, seed=seed)


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def m_axi_depths(cfg: HardwareConfig, data_dir: str | Path) -> dict[str, int]:
    """m_axi depths (elements) for the testbench data in `data_dir`: weights and activations in bytes rounded
    up to whole AXI beats (the engine reads whole beats), descriptors in words (whole layers)."""
    data_dir = Path(data_dir)
    beat = cfg.axi_bits // 8
    out = {}
    for macro, (name, elem) in DATA_FILES.items():
        path = data_dir / name
        if not path.is_file():
            raise InputError(f"{path}: testbench data file missing (write_testbench writes it)")
        size = path.stat().st_size
        if macro == "FQ_DEPTH_DESC":
            if size % (4 * DESC_WORDS):
                raise InputError(f"{path}: {size} bytes is not a whole number of {DESC_WORDS}-word descriptors")
            out[macro] = size // elem
        else:
            out[macro] = _round_up(max(size, 1), beat)
    return out


def write_testbench(cfg: HardwareConfig, src_dir: str | Path, data_dir: str | Path, seed: int = 0) -> list[Path]:
    """Write tb_fq_accel.cpp into src_dir and the test data into data_dir; return [testbench, data files...]."""
    from ..hw.program import build_program
    from ..reference.executor import run_integer

    src_dir, data_dir = Path(src_dir), Path(data_dir)
    graph = tb_graph(cfg, seed)
    prog = build_program(graph, cfg)
    info = graph.tensors[graph.input]
    rng = np.random.default_rng(seed)
    lo, hi = (-128, 128) if info.signed else (0, 256)
    x = rng.integers(lo, hi, size=info.shape).astype(np.int8 if info.signed else np.uint8)
    act = prog.new_act()
    prog.write_input(act, x)
    expected = run_integer(graph, x[None], return_all=True)[graph.output][0]
    out_bytes = np.ascontiguousarray(expected).reshape(-1).view(np.uint8)
    if expected.dtype.itemsize != 1:
        out_bytes = np.ascontiguousarray(expected.astype("<i4")).reshape(-1).view(np.uint8)
    desc = np.ascontiguousarray(prog.descriptors.astype("<u4")).reshape(-1)
    out_offset = prog.tensor_offsets[prog.output_name]
    src_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    tb = src_dir / TB_NAME
    shutil.copyfile(TEMPLATE, tb)
    files = {
        "weights.bin": prog.weights.astype(np.uint8).tobytes(),
        "desc.bin": desc.tobytes(),
        "act.bin": act.tobytes(),
        "expected.bin": out_bytes.tobytes(),
        "meta.txt": f"{prog.n_layers} {out_offset} {out_bytes.size}\n".encode(),
    }
    paths = [tb]
    for name, data in files.items():
        (data_dir / name).write_bytes(data)
        paths.append(data_dir / name)
    return paths
