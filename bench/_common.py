"""Shared helpers of the bench/ scripts: machine record, repeat timing, Markdown tables, result files.

Every script records the exact command line and the machine it ran on, takes medians over repeats (the
benchmark machines are shared and noisy), and compares variants only within one run, interleaving them so
that load changes hit both sides of a ratio alike.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def cpu_model() -> str:
    """`model name` of the first processor in /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gxx_version() -> str | None:
    cxx = os.environ.get("CXX") or "g++"
    try:
        r = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.splitlines()[0].strip() if r.returncode == 0 and r.stdout else None


def machine_info(torch_too: bool = True, device: str | None = None) -> dict:
    """CPU model, core counts, load, OS, python/numpy/torch/g++ versions (and the GPU when one is used)."""
    import numpy as np

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gxx": _gxx_version(),
    }
    if torch_too:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if device and device.startswith("cuda") and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    if device:
        info["device"] = device
    return info


def machine_line(m: dict) -> str:
    """One Markdown-ready line describing the machine."""
    parts = [f"{m['cpu']}, {m['cpus_usable']} usable core(s) of {m['cpu_count']}"]
    if m.get("gpu"):
        parts.append(f"GPU {m['gpu']}")
    if m.get("loadavg_at_start") is not None:
        end = m.get("loadavg_at_end")
        parts.append(f"1-min load avg {m['loadavg_at_start'][0]:.2f} at start"
                     + (f", {end[0]:.2f} at end" if end else ""))
    parts.append(f"Python {m['python']}")
    parts.append(f"numpy {m['numpy']}")
    if m.get("torch"):
        parts.append(f"torch {m['torch']} ({m['torch_threads']} threads)")
    if m.get("gxx"):
        parts.append(m["gxx"])
    parts.append(m["platform"])
    return "; ".join(parts)


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def write_results(out_dir: str | Path, name: str, payload: dict, markdown: str) -> tuple[Path, Path]:
    """bench/results/NAME.json (payload) and NAME.md (the table, the command and the machine line)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if hasattr(os, "getloadavg"):
        payload["machine"]["loadavg_at_end"] = list(os.getloadavg())
    jp, mp = out / f"{name}.json", out / f"{name}.md"
    jp.write_text(json.dumps(payload, indent=1, default=_jsonable) + "\n")
    md = (
        markdown.rstrip()
        + f"\n\nCommand: `{payload['command']}`\n\nMachine: {machine_line(payload['machine'])}\n"
    )
    mp.write_text(md)
    return jp, mp


def publish(out_dir: str | Path, name: str, payload: dict, markdown: str) -> int:
    """Write the results, print the table with its command line and machine; the scripts' exit status."""
    write_results(out_dir, name, payload, markdown)
    print()
    print(markdown)
    print(f"\nCommand: `{payload['command']}`\n\nMachine: {machine_line(payload['machine'])}")
    return 0


def _jsonable(x):
    try:
        import numpy as np

        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
    except ImportError:
        pass
    return str(x)


def fmt(x: float | None, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def verdict(value: float | None, target: float, le: bool = True) -> str:
    """'yes'/'no' against a target (value <= target when `le`, else >=)."""
    if value is None:
        return ""
    ok = value <= target if le else value >= target
    return "yes" if ok else "**no**"
