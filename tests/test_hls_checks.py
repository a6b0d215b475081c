"""The checks that stand in for Vitis HLS (docs/engine.md "Checks"): the bounded-stream simulation of the
synthesized path (every stream at its declared depth, every DATAFLOW process a thread, deadlocks reported) and
the port-budget simulation (accesses per physical memory bank and pipelined iteration against its ports)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from _csim_helpers import need_csim, small_cfg
from test_csim_layers import CASES, FLAT_CASES, _conv_pool_graph, _input

from fq_hls.errors import DeviceError
from fq_hls.reference import run_integer

pytestmark = pytest.mark.csim

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _tools():
    need_csim()


def _run(g, cfg, seed=0, **build):
    """Outputs of every layer through a check build of the engine, against the reference; the kernel."""
    from fq_hls.csim.kernel import load_kernel
    from fq_hls.hw.program import build_program

    rng = np.random.default_rng(seed)
    x = _input(g, rng)
    extra = {}
    if "residual" in g.tensors:
        r = g.tensors["residual"]
        lo, hi = (-128, 128) if r.signed else (0, 256)
        extra["residual"] = rng.integers(lo, hi, r.shape).astype(np.int8 if r.signed else np.uint8)
    prog = build_program(g, cfg)
    act = prog.new_act()
    prog.write_input(act, x)
    for name, v in extra.items():
        prog.write_tensor(act, name, v)
    k = load_kernel(cfg, **build)
    k.layer_names = prog.layer_names
    k.run(prog.weights, act, prog.descriptors, prog.n_layers)
    ref = run_integer(g, x[None], return_all=True, inputs={n: v[None] for n, v in extra.items()})
    for lyr in g.layers:
        if lyr.output not in prog.unwritten:
            np.testing.assert_array_equal(prog.read_tensor(act, lyr.output), ref[lyr.output][0], err_msg=lyr.name)
    return k


def _graphs(engine: str):
    from fq_hls.synthetic import random_conv_graph

    m = "fq5" if engine == "fq" else "int8"
    yield "many_channels_per_lane", random_conv_graph(method=m, sparsity=0.6, seed=2, in_ch=8, out_ch=64, h=6, w=9)
    for case in ("3x3_stride2", "residual_relu", "1x1_downsample"):
        yield case, random_conv_graph(method=m, sparsity=0.6, seed=2, **CASES[case])
    yield "flat", random_conv_graph(method=m, sparsity=0.6, seed=6, **FLAT_CASES["7x7_3x3_residual"])
    yield "conv_pool", _conv_pool_graph(3)


@pytest.mark.parametrize("engine", ["fq", "int8", "int8_sparse"])
@pytest.mark.parametrize("fill_overlap", [True, False])
@pytest.mark.parametrize("fuse_pool", [True, False])
def test_bounded_streams_no_deadlock_bit_exact(engine, fill_overlap, fuse_pool):
    """Every stream at its declared depth (s_out: 2), load/compute/store and load/pool as threads: no
    deadlock, no stream left non-empty, and still bit-exact (lanes ending 8 channels per tile, stride 2, a
    residual, a flat map, a fused and an unfused max pool)."""
    cfg = small_cfg(engine, fill_overlap=fill_overlap, fuse_pool=fuse_pool)
    for name, g in _graphs(engine):
        if name == "flat":
            cfg_g = small_cfg(engine, fill_overlap=fill_overlap, fuse_pool=fuse_pool, pixels=16)
        else:
            cfg_g = cfg
        _run(g, cfg_g, bounded=True)


def test_bounded_check_catches_the_two_deadlocks(tmp_path):
    """The detector on the two schedules the engine had (tests/csim/tb_deadlock.cpp): a stream filled outside a
    DATAFLOW region (the old max pool) and lane FIFOs drained lane after lane (the old store, s_out depth 4).
    Both stop with a report naming the processes and the streams; the fixed schedules complete."""
    from fq_hls.csim.kernel import SIM_INCLUDE, ap_types_dir, compiler

    exe = tmp_path / "tb_deadlock"
    subprocess.run([compiler(), "-std=c++14", "-O1", "-pthread", "-DFQ_BOUNDED_STREAMS", "-isystem",
                    str(ap_types_dir()), "-I", str(SIM_INCLUDE), "-I", str(ROOT / "hls_src"),
                    str(ROOT / "tests" / "csim" / "tb_deadlock.cpp"), "-o", str(exe)], check=True)

    def run(which):
        return subprocess.run([str(exe), which], capture_output=True, text=True, timeout=60)

    r = run("sequential")
    assert r.returncode == 1 and "[top: write to s_seq (full, 2 of 2)]" in r.stdout
    r = run("lanes")
    assert r.returncode == 1
    assert "conv_rows/compute: write to s_out[" in r.stdout and "conv_rows/store: read from s_out[0]" in r.stdout
    for fixed, total in (("sequential_fixed", 28), ("round_robin", 4 * 6 * 150 + 4 * 15)):
        r = run(fixed)
        assert r.returncode == 0 and r.stdout.strip() == f"completed {total}", r.stdout


def test_round_robin_store_needs_no_depth():
    """store_rows takes packets from whichever lane has one, so even lane FIFOs of depth 1 complete (and stay
    bit-exact) where lane-after-lane draining needed MAX_J."""
    _run(_conv_pool_graph(3), small_cfg("fq"), bounded=True, defines={"FQ_S_OUT_DEPTH": 1})
    from fq_hls.synthetic import random_conv_graph

    g = random_conv_graph(method="int8", sparsity=0.6, seed=2, in_ch=8, out_ch=64, h=6, w=9)
    _run(g, small_cfg("int8"), bounded=True, defines={"FQ_S_OUT_DEPTH": 1})


def _sized_configs():
    from fq_hls.hw.sized import sized_configs

    return list(sized_configs().values())


# the loops every conv + pool run must exercise (avg_sum: no bank; load_flat_beat/absorb_flat_beat: URAM flat)
CONV_LOOPS = {"comp_entry", "decode_entry", "load_beat", "absorb_beat", "store_pkt", "load_chtab_j", "load_params",
              "pool_win"}


@pytest.mark.parametrize("cfg", _sized_configs(), ids=lambda c: f"{c.board}-{c.engine}")
def test_port_budget_on_sized_configurations(cfg):
    """Each board's sized engine (fq_hls.hw.sized), built with the port-budget check: through a
    stride-1 and a stride-2 conv, a residual, a fused and an unfused max pool, no memory bank of any pipelined
    loop is asked for more accesses per iteration than its ports give (what II = 1 requires)."""
    from dataclasses import replace

    from fq_hls.synthetic import random_conv_graph

    m = "fq5" if cfg.engine == "fq" else "int8"
    seen: set[str] = set()
    for fuse in (True, False):
        c = replace(cfg, fuse_pool=fuse)
        k = _run(_conv_pool_graph(3, w=3 * cfg.pixels + 5), c, port_check=True)
        for case in ("3x3_stride2", "residual_relu"):
            _run(random_conv_graph(method=m, sparsity=0.6, seed=2, **CASES[case]), c, port_check=True)
        rep = k.port_report()
        assert rep.violations == {}, rep.violations
        seen |= set(rep.iterations)
    assert CONV_LOOPS <= seen


@pytest.mark.parametrize("lb_uram", [False, True])
def test_port_budget_catches_shared_line_buffer(lb_uram):
    """The FQ engine with one line-buffer copy for all lanes (the engine before per-lane copies): P lanes read
    one simple dual-port bank set per cycle, and the check says so, naming the loop and the memory."""
    cfg = small_cfg("fq", lb_uram=lb_uram)
    k = _run(_conv_pool_graph(3), cfg, port_check=True, defines={"FQ_LB_COPIES": 1})
    rep = k.port_report()
    mem = "lbu" if lb_uram else "lbb"
    keys = [k for k in rep.violations if k.startswith(f"comp_entry: {mem} (")]
    assert keys, rep.violations
    n, example = rep.violations[keys[0]]
    assert n > 0 and "reads" in example


def test_check_builds_refuse_a_stream_without_depth():
    """A FIFO depth below 1 is a configuration error: the build stops (static_assert in fq_stream.h)."""
    from fq_hls.csim.kernel import load_kernel

    with pytest.raises(DeviceError, match="g\\+\\+ failed"):
        load_kernel(small_cfg("fq"), bounded=True, defines={"FQ_S_OUT_DEPTH": 0})


@pytest.mark.parametrize(("board", "engine", "kw"), [
    ("pynq-z2", "fq", dict(fill_overlap=False)), ("pynq-z2", "int8", {}), ("zcu104", "fq", {}),
    ("kv260", "fq", dict(lb_uram=True, fill_overlap=False)), ("kv260", "int8", dict(fuse_pool=False)),
    ("zcu104", "int8_sparse", dict(lb_uram=True)), ("pynq-z2", "int8_sparse", dict(fill_overlap=False)),
    ("pynq-z2", "fq", dict(dsp_lanes=16)), ("ultra96v2", "fq", dict(dsp_lanes=5)),
])
def test_memory_manifest_is_what_the_source_declares(board, engine, kw):
    """fq_hls.hw.memories.manifest (what codegen binds and the resource model counts) against the shapes the
    synthesized path itself declares (fq_accel_memory_report, from the arrays' types and sizes)."""
    from fq_hls.csim.kernel import load_kernel
    from fq_hls.hw.config import hardware_config
    from fq_hls.hw.memories import manifest

    cfg = hardware_config(board, engine, **kw)
    declared = {r[0]: r[1:] for r in load_kernel(cfg, hls_path=True).memory_report()}
    listed = {m.name: (m.count, m.depth, m.width) for m in manifest(cfg)}
    if not cfg.fuse_pool:  # the arrays exist in the source; the manifest leaves out what the engine never uses
        declared = {k: v for k, v in declared.items() if not k.startswith("pool_")}
    assert listed == declared


def test_port_check_measures_axi_beats_per_iteration():
    """The port check counts the AXI beats one pipelined iteration touches per m_axi bundle (measured, not a
    violation: docs/engine.md "Known limits"). A 1x1 stride-1 conv whose rows start on beats reads one beat
    per input port per fill beat; at stride 2 a fill beat takes every other byte, two beats per port."""
    from fq_hls.synthetic import random_conv_graph

    cfg = small_cfg("fq")  # 64-bit AXI, two input ports: a fill beat is 16 entries, 8 from each port
    for stride, want in ((1, (1, 0)), (2, (0, 1))):
        # 16 entries per fill beat: a row of 16 (stride 1) or of 32 (stride 2: the 16 even columns) bytes
        g = random_conv_graph(method="fq5", sparsity=0.5, seed=3, in_ch=4, out_ch=8, h=4, w=16 * stride, kernel=1,
                              stride=stride, pad=0)
        rep = _run(g, cfg, port_check=True).port_report()
        for port in ("gmem_in", "gmem_in2"):
            reads = rep.axi[f"load_beat: {port}"][0]
            assert reads[want.index(max(want))] > 0 and sum(reads) == reads[want.index(max(want))], (stride, reads)
        assert sum(rep.axi["store_pkt: gmem_out"][1]) > 0  # the store's writes are counted too
