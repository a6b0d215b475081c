"""C-simulation of the HLS engine: g++ builds hls_src/ + the generated config into a shared library."""

from __future__ import annotations

from .kernel import Kernel, build_library, load_kernel, run_csim

__all__ = ["Kernel", "build_library", "load_kernel", "run_csim"]
