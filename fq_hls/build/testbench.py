"""Testbench data for Vitis HLS csim/cosim: the program image of a small integer graph and its reference output.

The C++ side is templates/tb_fq_accel.cpp (data-driven, copied unchanged). The graph is one sparse 3x3
convolution (fq_hls.testing.random_conv_graph) quantized for the engine (`fq5` for fq, `int8` for int8):
small enough for RTL co-simulation and for the m_axi depth pragmas (64 KiB, 4096 descriptor words), and
the output is checked byte for byte against fq_hls.reference.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..hw.config import HardwareConfig

TEMPLATE = Path(__file__).parent / "templates" / "tb_fq_accel.cpp"
TB_NAME = "tb_fq_accel.cpp"
DEPTH_BYTES = 65536
DEPTH_DESC_WORDS = 4096


def tb_graph(cfg: HardwareConfig, seed: int = 0):
    """The integer graph the testbench runs: one 3x3 conv, 8 -> 16 channels on 8x8, half the weights zero."""
    from ..testing import random_conv_graph

    method = "int8" if cfg.engine == "int8" else "fq5"
    return random_conv_graph(8, 16, 8, 8, kernel=3, stride=1, pad=1, sparsity=0.5, method=method, seed=seed)


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
    if prog.weights.size > DEPTH_BYTES or prog.act_bytes > DEPTH_BYTES or desc.size > DEPTH_DESC_WORDS:
        raise InputError(f"testbench program for {cfg.board}/{cfg.engine} exceeds the m_axi depths "
                         f"({prog.weights.size} weight bytes, {prog.act_bytes} activation bytes)")
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
