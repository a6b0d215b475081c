"""Progress of the long compression steps: a tqdm bar where a step loops, one stderr line with its time when
it ends, and the time recorded in the report's `timings` either way."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable, Iterator


class Steps:
    """Times named steps into `timings` (seconds, key `<name>_s`); with `show`, prints `name: 12.3 s`."""

    def __init__(self, timings: dict, show: bool) -> None:
        self.timings = timings
        self.show = show

    @contextlib.contextmanager
    def step(self, name: str, what: str | None = None) -> Iterator[None]:
        if self.show and what:
            print(f"{what} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        yield
        dt = time.perf_counter() - t0
        self.timings[f"{name}_s"] = self.timings.get(f"{name}_s", 0.0) + dt
        if self.show:
            print(f"{what or name}: {dt:.1f} s", file=sys.stderr, flush=True)

    def bar(self, items: Iterable, desc: str, total: int | None = None, unit: str = "batch") -> Iterable:
        """`items` wrapped in a tqdm bar on stderr when shown, else as they are."""
        if not self.show:
            return items
        from tqdm.auto import tqdm

        return tqdm(items, desc=desc, total=total, unit=unit, leave=False, file=sys.stderr)
