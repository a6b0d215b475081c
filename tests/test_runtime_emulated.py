"""The driver and runner against the emulated board, with small kernels injected in place of the csim.

These check the plumbing that is the runtime's own job (pointers, syncs, ap_ctrl_hs, timeouts, buffer and
shape checks, statistics); bit-exactness against the reference with the real C-simulated engine is in
test_runtime_csim.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pytest

pynq = pytest.importorskip("pynq")

from fq_hls.errors import DeviceError, InputError  # noqa: E402
from fq_hls.hw import abi  # noqa: E402
from fq_hls.hw.config import hardware_config  # noqa: E402
from fq_hls.ir import IntegerGraph, TensorInfo  # noqa: E402
from fq_hls.runtime.emulated import EmulatedDevice, wait_idle  # noqa: E402
from fq_hls.runtime.runner import Accelerator  # noqa: E402

C, H, W, K = 3, 4, 4, 5


@dataclass
class ToyProgram:
    """A one-'layer' program: logits[k] = weights[k] * sum(input) (int8 input, int32 logits)."""

    weights: np.ndarray
    descriptors: np.ndarray
    act_bytes: int = 256
    input_offset: int = 64
    output_offset: int = 192
    input_shape: tuple = (C, H, W)
    num_classes: int = K

    def write_input(self, act, x):
        act[self.input_offset : self.input_offset + x.size] = np.ascontiguousarray(x, np.int8).reshape(-1).view(np.uint8)

    def read_output(self, act):
        return np.asarray(act[self.output_offset : self.output_offset + 4 * self.num_classes]).view("<i4").copy()


def toy_program(**kw) -> ToyProgram:
    p = ToyProgram(weights=np.arange(1, K + 1, dtype=np.uint8), descriptors=np.zeros((1, 4), np.uint32), **kw)
    p.descriptors[0] = (p.input_offset, p.output_offset, C * H * W, K)
    return p


def toy_kernel(weights, act, desc, n_layers):
    i0, o0, n_in, k = (int(v) for v in desc[:4])
    s = act[i0 : i0 + n_in].view(np.int8).astype(np.int64).sum()
    act[o0 : o0 + 4 * k] = (weights[:k].astype(np.int64) * s).astype("<i4").view(np.uint8)
    return [1000 + 10 * s % 7] * n_layers


def toy_expected(x_int8):
    return (np.arange(1, K + 1)[None, :] * x_int8.reshape(len(x_int8), -1).astype(np.int64).sum(1)[:, None]).astype(np.int32)


def toy_graph() -> IntegerGraph:
    tensors = {"input": TensorInfo("input", (C, H, W), True, 1 / 32), "logits": TensorInfo("logits", (K, 1, 1), True, 1.0, bits=32)}
    return IntegerGraph("toy", "int8", K, "input", "logits", tensors, [], (127.5,) * C, (64.0,) * C)


def make_acc(kernel=toy_kernel, board="pynq-z2", **kw) -> Accelerator:
    cfg = hardware_config(board)
    return Accelerator(toy_graph(), cfg, emulate=True, kernel=kernel, program=kw.pop("program", toy_program()), **kw)


def test_one_image_and_batch_through_pynq_overlay():
    rng = np.random.default_rng(0)
    with make_acc() as acc:
        assert type(acc.driver).__name__ == "FQAccelDriver" and acc.driver.phys_addr == 0x4000_0000
        x = rng.integers(-128, 128, size=(6, C, H, W), dtype=np.int8)
        one = acc.run(x[0])
        assert one.dtype == np.int32 and one.shape == (K,)
        np.testing.assert_array_equal(one, toy_expected(x[:1])[0])
        batch = acc.run(x)
        np.testing.assert_array_equal(batch, toy_expected(x))
        # uint8 NHWC pixels go through the graph's input quantization
        px = rng.integers(0, 256, size=(2, H, W, C), dtype=np.uint8)
        np.testing.assert_array_equal(acc.run(px), toy_expected(toy_graph().quantize_input(px)))
        st = acc.stats()
        assert st.evidence == "csim" and st.images == 9 and st.clock_mhz == 100.0
        # latency is the csim cycle count at the configured clock, not host time
        assert st.latency_ms["max"] <= (1000 + 6) / 100e3 + 1e-12 and st.latency_ms["min"] >= 1000 / 100e3 - 1e-12
        assert st.fps == pytest.approx(1000 / st.latency_ms["mean"]) and st.wall_ms["mean"] > 0
        assert {"p50", "p90", "p99"} <= set(st.latency_ms)


def test_zynqmp_board_and_registers_as_pynq_sees_them():
    with make_acc(board="kv260") as acc:
        assert acc.driver.phys_addr == 0xA000_0000
        regs = acc.driver.register_map
        assert int(regs.n_layers.n_layers) == 1
        assert acc.driver.get_pointer("weights") == acc.weights.device_address
        assert acc.driver.get_pointer("act_in") == acc.driver.get_pointer("act_out") == acc.act.device_address
        assert acc.driver.is_idle()
        assert acc.run(np.ones((C, H, W), np.int8)).tolist() == toy_expected(np.ones((1, C, H, W), np.int8))[0].tolist()


def test_buffers_are_non_coherent_like_a_board():
    dev = EmulatedDevice(hardware_config("pynq-z2"))
    buf = pynq.allocate((16,), np.uint8, target=dev)
    buf[:] = 7
    view = dev.default_memory.view(buf.device_address, "x")
    assert view[:16].sum() == 0  # not yet flushed
    buf[4:8].sync_to_device()  # a slice flushes only its bytes
    assert view[:16].tolist() == [0] * 4 + [7] * 4 + [0] * 8
    view[0] = 9
    buf.sync_from_device()
    assert buf[0] == 9 and buf[4] == 7
    with pytest.raises(DeviceError, match="outside every allocated buffer"):
        dev.default_memory.view(buf.device_address + 4096, "act_in")


def test_ap_done_never_rising_times_out_with_a_named_error():
    release = threading.Event()

    def hung(weights, act, desc, n_layers):
        release.wait(10)
        return [1]

    acc = make_acc(kernel=hung, timeout_s=0.2)
    try:
        with pytest.raises(DeviceError, match=r"fq_accel_0 .*0x40000000: ap_done did not rise within 0.2 s"):
            acc.run(np.zeros((C, H, W), np.int8))
        with pytest.raises(DeviceError, match="busy .*ap_idle=0"):
            acc.driver.start()
    finally:
        release.set()
        assert wait_idle(acc.overlay.device.ip(acc.driver.phys_addr))
        acc.close()


def test_kernel_failure_and_bad_pointer_become_device_errors():
    def failing(weights, act, desc, n_layers):
        raise RuntimeError("descriptor 0 invalid")

    with make_acc(kernel=failing) as acc:
        with pytest.raises(DeviceError, match="kernel failed: descriptor 0 invalid"):
            acc.run(np.zeros((C, H, W), np.int8))
    with make_acc() as acc:
        acc.driver.set_pointer("desc", 0x1F00_0000)  # mapped DDR, but no buffer there
        with pytest.raises(DeviceError, match="'desc' = 0x1f000000 points outside"):
            acc.run(np.zeros((C, H, W), np.int8))


def test_wrong_sizes_and_shapes_are_named():
    with pytest.raises(DeviceError, match="output_offset"):
        make_acc(program=toy_program(act_bytes=128))  # logits at 192 do not fit 128 bytes
    with pytest.raises(DeviceError, match="input_offset"):
        make_acc(program=toy_program(input_offset=250, output_offset=0))
    p = toy_program()
    p.descriptors = p.descriptors.astype(np.int64)
    with pytest.raises(DeviceError, match="'descriptors'"):
        make_acc(program=p)
    with make_acc() as acc:
        with pytest.raises(InputError, match=r"expected int8 \(N, 3, 4, 4\)"):
            acc.run(np.zeros((2, C, H + 1, W), np.int8))
        with pytest.raises(InputError, match=r"uint8 \(N, 4, 4, 3\)"):
            acc.run(np.zeros((2, C, H, W), np.uint8))
        with pytest.raises(InputError, match="float32 not accepted"):
            acc.run(np.zeros((C, H, W), np.float32))
        with pytest.raises(DeviceError, match="n_layers"):
            acc.driver.set_args(acc.weights, acc.act, acc.desc, 0)
        with pytest.raises(DeviceError, match="not a buffer from pynq.allocate"):
            acc.driver.set_pointer("weights", np.zeros(4, np.uint8))


def test_ctrl_register_semantics():
    dev = EmulatedDevice(hardware_config("pynq-z2"), kernel=lambda w, a, d, n: [5])
    acc = make_acc(device=dev)
    try:
        mmio = acc.driver.mmio
        assert mmio.read(abi.CTRL) & abi.AP_IDLE
        acc.driver.start()
        acc.driver.wait(5)
        # ap_done is clear-on-read: the wait consumed it
        assert not mmio.read(abi.CTRL) & abi.AP_DONE
        assert dev.check(acc.driver.phys_addr) == [5]
        mmio.write(abi.GIE, 1)
        assert mmio.read(abi.GIE) == 1
    finally:
        acc.close()


def _build_dir(tmp_path, manifest=None, bits=()):
    import json
    import os
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from runtime_models import tiny_model

    from fq_hls.fqz import write_fqz

    d = tmp_path / "build"
    d.mkdir(parents=True)
    write_fqz(tiny_model("fq"), d / "model.fqz")
    if manifest is not None:
        (d / "hw_config.json").write_text(json.dumps(manifest))
    for name, base in bits:
        from fq_hls.runtime.hwh import hwh_text

        (d / f"{name}.hwh").write_text(hwh_text(hardware_config("pynq-z2"), base_addr=base))
        (d / f"{name}.bit").write_bytes(b"\0" * 16)
    return d


def test_build_folder_resolution(tmp_path, monkeypatch):
    pytest.importorskip("fq_hls.hw.program")
    monkeypatch.delenv("FQ_HLS_EMULATE", raising=False)
    monkeypatch.delenv("BOARD", raising=False)
    cfg = hardware_config("pynq-z2").to_dict()
    # the folder's own .hwh (Vivado's, here written at another base address) is what the emulated board loads
    d = _build_dir(tmp_path, {"hardware": cfg, "bitstream": "fq_accel.bit"}, [("fq_accel", 0x43C0_0000)])
    with Accelerator.open(str(d), emulate=True, kernel=toy_kernel) as acc:
        assert acc.driver.phys_addr == 0x43C0_0000 and acc.bitfile == str(d / "fq_accel.bit")
    with pytest.raises(InputError, match="built for engine 'fq', not 'int8'"):
        Accelerator.open(str(d), emulate=True, engine="int8")
    with pytest.raises(InputError, match="built for board 'pynq-z2', not 'kv260'"):
        Accelerator.open(str(d), emulate=True, board="kv260")
    d2 = _build_dir(tmp_path / "b", None, [("a", None), ("b", None)])
    with pytest.raises(InputError, match="no hw_config.json and no --board"):
        Accelerator.open(str(d2), emulate=True)
    with pytest.raises(InputError, match="several bitstreams"):
        Accelerator.open(str(d2), board="pynq-z2")
    d3 = _build_dir(tmp_path / "c", {"hardware": cfg})
    with pytest.raises(InputError, match="no bitstream .* use --emulate"):
        Accelerator.open(str(d3))
    (d3 / "hw_config.json").write_text('{"hardware": {"board": "nope"}}')
    with pytest.raises(InputError, match="not a hardware configuration"):
        Accelerator.open(str(d3), emulate=True)


def test_emulation_placeholder_is_never_taken_for_a_bitstream(tmp_path, monkeypatch):
    pytest.importorskip("fq_hls.hw.program")
    monkeypatch.delenv("FQ_HLS_EMULATE", raising=False)
    from fq_hls.runtime.hwh import write_emulation_overlay

    d = _build_dir(tmp_path, {"hardware": hardware_config("pynq-z2").to_dict()})
    write_emulation_overlay(str(d), hardware_config("pynq-z2"), "fq_accel")
    with pytest.raises(InputError, match="emulation placeholder, not a bitstream"):
        Accelerator.open(str(d))
