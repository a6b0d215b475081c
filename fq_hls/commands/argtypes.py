"""argparse `type=` checkers shared by the subcommands (this module is not one: cli.COMMANDS lists those).

Every numeric argument is range-checked when the command line is parsed, so a bad value stops the command in
one line before any work: `--epochs -1`, `--timeout nan`, `--num-classes 0`."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

MAX_INT = (1 << 63) - 1
MAX_IMAGES = 1 << 20  # --images, --limit
MAX_IMAGE_BYTES = 1 << 32  # what synthetic or loaded test images may take together


def _parse_int(text: str) -> int:
    try:
        return int(text, 10)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _parse_float(text: str) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def int_range(lo: int, hi: int = MAX_INT) -> Callable[[str], int]:
    """An integer in lo..hi."""
    def parse(text: str) -> int:
        v = _parse_int(text)
        if not lo <= v <= hi:
            want = f">= {lo}" if hi == MAX_INT else f"in {lo}..{hi}"
            raise argparse.ArgumentTypeError(f"must be an integer {want}, got {v}")
        return v

    parse.__name__ = "integer"
    return parse


def float_range(lo: float, hi: float = math.inf, lo_open: bool = False, hi_open: bool = False) -> Callable[[str], float]:
    """A finite number in the interval [lo, hi] (ends open as asked)."""
    def parse(text: str) -> float:
        v = _parse_float(text)
        if v < lo or (lo_open and v == lo) or v > hi or (hi_open and v == hi):
            left = "(" if lo_open else "["
            right = ")" if hi_open or hi == math.inf else "]"
            raise argparse.ArgumentTypeError(f"must be a number in {left}{lo:g}, {hi:g}{right}, got {text}")
        return v

    parse.__name__ = "number"
    return parse


positive_int = int_range(1)
count = int_range(0)  # epochs, images for re-estimation: 0 switches the step off
seed = int_range(0, (1 << 32) - 1)  # numpy's generators take seeds in 0..2^32-1 through every path here
positive_float = float_range(0.0, lo_open=True)
fraction = float_range(0.0, 1.0, hi_open=True)  # sparsity
num_classes = int_range(1, 1 << 16)
images = int_range(1, MAX_IMAGES)


def check_image_budget(n: int, shape_chw, option: str) -> None:
    """InputError before allocating n images of the model's input shape beyond MAX_IMAGE_BYTES."""
    from ..errors import InputError

    c, h, w = (int(v) for v in shape_chw)
    if n * c * h * w > MAX_IMAGE_BYTES:
        raise InputError(f"{option} {n}: {n} images of {c}x{h}x{w} take more than {MAX_IMAGE_BYTES >> 30} GiB; "
                         "use fewer")


def arch_or_module(text: str) -> str:
    """A registered architecture (fq_hls.archs) or a user module FILE.py:builder."""
    from ..archs import ARCHS

    if text in ARCHS or re.fullmatch(r".+\.py:[A-Za-z_][A-Za-z0-9_]*", text):
        return text
    raise argparse.ArgumentTypeError(f"invalid choice {text!r} (choose from {', '.join(ARCHS)} or FILE.py:builder)")


def input_shape(text: str) -> tuple[int, int, int]:
    """C,H,W: three integers in 1..4096."""
    parts = text.replace("x", ",").split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected C,H,W (three integers), got {text!r}")
    vals = tuple(_parse_int(p.strip()) for p in parts)
    if not all(1 <= v <= 4096 for v in vals):
        raise argparse.ArgumentTypeError(f"C, H and W must be in 1..4096, got {text!r}")
    return vals
