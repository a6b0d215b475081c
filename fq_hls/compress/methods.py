"""The quantization method names and their nominal widths (no torch: the CLI lists them in --help)."""

from __future__ import annotations

METHODS = ("fq5", "fq7", "shift5", "int8")
BITS = {"fq5": 5, "fq7": 7, "shift5": 5, "int8": 8}
