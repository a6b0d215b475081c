"""Shared helpers of the csim/streams/cycles tests: tool checks, small configs, cached models and kernels."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from fq_hls.errors import ToolMissingError
from fq_hls.hw.config import hardware_config


def need_csim() -> None:
    """Skip the calling test when g++ or the hls4ml ap_types headers are missing."""
    from fq_hls.csim.kernel import ap_types_dir, compiler

    try:
        compiler()
        ap_types_dir()
    except ToolMissingError as e:
        pytest.skip(f"C-simulation unavailable: {e}")


def small_cfg(engine: str = "fq", **overrides):
    """P = 8 lanes, V = 4 pixels: channel counts and widths of the tests do not divide them."""
    kw = dict(lanes=8, pixels=4, axi_bits=64, max_nnz_per_lane=2048)
    kw.update(overrides)
    return hardware_config("pynq-z2", engine, **kw)


@functools.cache
def kernel(cfg, hls_path: bool = False):
    from fq_hls.csim.kernel import load_kernel

    return load_kernel(cfg, hls_path=hls_path)


@functools.cache
def lowered(arch: str, method: str, sparsity: float, seed: int = 0):
    from fq_hls.lower import lower
    from fq_hls.synthetic import random_compressed

    cm = random_compressed(arch, method, sparsity, seed=seed)
    return cm, lower(cm)


def images(cm, n: int, seed: int = 5) -> np.ndarray:
    from fq_hls.synthetic import random_images

    return random_images(tuple(cm.input_shape), n, seed=seed)


def run_graph(graph, cfg, x_chw: np.ndarray, extra: dict | None = None, hls_path: bool = False):
    """(program, act memory after the run, cycles per layer) of one image through the C-simulation (`hls_path`:
    through the code path Vitis HLS synthesizes, fq_hls.csim.kernel.build_library)."""
    from fq_hls.hw.program import build_program

    prog = build_program(graph, cfg)
    act = prog.new_act()
    prog.write_input(act, x_chw)
    for name, v in (extra or {}).items():
        prog.write_tensor(act, name, v)
    k = kernel(cfg, hls_path)
    k.layer_names = prog.layer_names
    cyc = k.run(prog.weights, act, prog.descriptors, prog.n_layers)
    return prog, act, cyc
