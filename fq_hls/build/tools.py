"""Finding and running the Xilinx tools (Vitis HLS, Vivado). Nothing here imports the tools' Python APIs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import FQError, ToolMissingError

# Vitis HLS up to 2024.1 is `vitis_hls -f script.tcl`; 2024.2 and later run Tcl through
# `vitis-run --mode hls --tcl script.tcl` (the scripts open a component there: FQ_HLS_DIALECT=component).
HLS_RUNNERS = ("vitis_hls", "vitis-run")


class ToolFailedError(FQError):
    """A tool ran and returned non-zero; the message names its log."""


def which(name: str) -> str | None:
    return shutil.which(name)


def find_hls_runner(prefer: str = "auto") -> str | None:
    """Name of the Vitis HLS runner to use, or None when neither is on PATH."""
    if prefer != "auto":
        if prefer not in HLS_RUNNERS:
            raise FQError(f"unknown HLS runner {prefer!r}; choose auto or one of {', '.join(HLS_RUNNERS)}")
        return prefer if which(prefer) else None
    for name in HLS_RUNNERS:
        if which(name):
            return name
    return None


def hls_command(runner: str, script: Path) -> list[str]:
    if runner == "vitis_hls":
        return ["vitis_hls", "-f", script.name]
    if runner == "vitis-run":
        return ["vitis-run", "--mode", "hls", "--tcl", script.name]
    raise FQError(f"unknown HLS runner {runner!r}")


def hls_env(runner: str) -> dict[str, str]:
    return {"FQ_HLS_DIALECT": "component" if runner == "vitis-run" else "project"}


def vivado_command(script: Path) -> list[str]:
    return ["vivado", "-mode", "batch", "-notrace", "-nojournal", "-log", "vivado.log", "-source", script.name]


def run_tool(cmd: Sequence[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> None:
    """Run `cmd` in `cwd`, output to `log`; ToolFailedError (naming the log and its tail) on failure."""
    if which(cmd[0]) is None:
        raise ToolMissingError(f"{cmd[0]} is not on PATH")
    print(f"fq-hls: running {' '.join(cmd)} in {cwd} (log: {log})", file=sys.stderr, flush=True)
    full_env = {**os.environ, **(env or {})}
    with open(log, "w") as f:
        proc = subprocess.run(list(cmd), cwd=cwd, stdout=f, stderr=subprocess.STDOUT, env=full_env)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise ToolFailedError(f"{cmd[0]} failed (exit {proc.returncode}); log {log}:\n{tail}")
