"""The runtime runs where torch cannot be imported (the board's ARM cores), and pynq finds the emulated
board only when asked to."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("pynq")

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    class _NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked in this test")
            return None
    sys.meta_path.insert(0, _NoTorch())
    try:
        import torch  # noqa: F401
        raise SystemExit("blocker failed")
    except ImportError:
        pass
    """
)


def _run(code: str, env_extra: dict | None = None) -> str:
    env = dict(os.environ)
    env.pop("FQ_HLS_EMULATE", None)
    env.update(env_extra or {})
    r = subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_runtime_imports_and_drives_the_emulated_board_without_torch():
    out = _run(
        """
        import importlib, warnings
        import numpy as np
        import fq_hls.runtime as rt
        for m in ("driver", "emulated", "runner", "hwh", "overlay", "board"):
            importlib.import_module("fq_hls.runtime." + m)
        importlib.import_module("fq_hls.datasets")  # the dataset reader the board's `fq-hls run` uses
        import fq_hls.commands.run
        # the numpy-only stages the board needs, where they exist in this checkout
        for m in ("fq_hls.fqz", "fq_hls.lower", "fq_hls.reference", "fq_hls.hw.program"):
            try:
                importlib.import_module(m)
            except ModuleNotFoundError as e:
                if e.name != m:
                    raise
        import pynq
        from fq_hls.hw.config import hardware_config
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert not any(isinstance(d, rt.EmulatedDevice) for d in pynq.Device.devices)
        dev = rt.EmulatedDevice(hardware_config("ultra96v2"), kernel=lambda w, a, d, n: [7] * n)
        import tempfile
        bit = rt.write_emulation_overlay(tempfile.mkdtemp(), dev.cfg)
        ol = pynq.Overlay(bit, device=dev)
        drv = ol.fq_accel_0
        assert isinstance(drv, rt.FQAccelDriver)
        bufs = [pynq.allocate((64,), np.uint8, target=dev) for _ in range(3)]
        drv.execute(bufs[0], bufs[1], bufs[2], 2, timeout_s=5)
        print("cycles", dev.check(drv.phys_addr))
        print("torch" in sys.modules)
        """
    )
    assert "cycles [7, 7]" in out and out.strip().endswith("False")


def test_pynq_discovers_the_emulated_board_only_with_the_env_var():
    out = _run(
        """
        import numpy as np, pynq
        import fq_hls.runtime.emulated as em
        devs = pynq.Device.devices
        assert [type(d).__name__ for d in devs] == ["EmulatedDevice"], devs
        assert pynq.Device.active_device is devs[0] and devs[0].cfg.board == "kv260"
        buf = pynq.allocate((4096,), np.int32)  # no target: pynq's active device
        small = pynq.allocate((10,), np.int32)  # <= 4 KB: above 4 GB on ZynqMP, as XRT 2.17 places it
        print(type(buf).__name__, hex(buf.physical_address), hex(small.physical_address))
        """,
        {"FQ_HLS_EMULATE": "1", "FQ_HLS_BOARD": "kv260"},
    )
    assert out.startswith("PynqBuffer 0x10000000 0x800000000")
