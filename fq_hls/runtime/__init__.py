"""PYNQ runtime: the fq_accel driver, an emulated board behind pynq's API, and the inference runner.

numpy + pynq only: this package must import where torch does not. Submodules that need pynq are imported
on first use, so `import fq_hls.runtime` works on a host without pynq as well.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "FQAccelDriver": "driver",
    "FqOverlay": "overlay",
    "read_hwh": "hwh",
    "EmulatedDevice": "emulated",
    "Accelerator": "runner",
    "LatencyStats": "runner",
    "load_graph": "runner",
    "load_images": ".datasets",  # fq_hls.datasets: the one dataset reader (numpy + Pillow)
    "hwh_text": "hwh",
    "write_emulation_overlay": "hwh",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
