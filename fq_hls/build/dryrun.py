"""Run a generated Vivado / Vitis HLS script in plain `tclsh` with recording stubs (no Xilinx tools).

The stubs (tcl/dryrun_stubs.tcl) record every tool command with its arguments as JSON lines and return
plausible handles, so the script's own control flow (loops over ports, layout checks, error paths) runs to
the end. Tests then assert what the real tools would have been asked to do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FQError, ToolMissingError

STUBS = Path(__file__).parent / "tcl" / "dryrun_stubs.tcl"


class DryRunError(FQError):
    """The script failed under the stubs (a Tcl error, or a call the stubs do not know). `trace` holds the
    calls recorded up to the failure."""

    def __init__(self, message: str, trace: TclTrace | None = None):
        super().__init__(message)
        self.trace = trace


@dataclass(frozen=True)
class TclCall:
    cmd: str
    args: tuple[str, ...]

    def option(self, name: str, default: str | None = None) -> str | None:
        """Value following `name` (e.g. "-part") in the arguments."""
        for i, a in enumerate(self.args[:-1]):
            if a == name:
                return self.args[i + 1]
        return default

    def has_flag(self, name: str) -> bool:
        return name in self.args


@dataclass
class TclTrace:
    script: Path
    calls: list[TclCall] = field(default_factory=list)
    stdout: str = ""
    exit_code: int | None = None  # the script's own `exit N`, None when it ended without one

    def of(self, cmd: str) -> list[TclCall]:
        return [c for c in self.calls if c.cmd == cmd]

    def first(self, cmd: str) -> TclCall:
        found = self.of(cmd)
        if not found:
            raise AssertionError(f"{self.script.name}: no call to {cmd}")
        return found[0]

    def commands(self) -> list[str]:
        return [c.cmd for c in self.calls]


def _brace(s: str) -> str:
    if any(ch in s for ch in "{}\\"):
        raise DryRunError(f"path {s!r} cannot be quoted for tclsh")
    return "{" + s + "}"


def dry_run_tcl(
    script: str | Path,
    *,
    board_parts: bool = True,
    missing: Iterable[str] = (),
    omit: Iterable[str] = (),
    env: dict[str, str] | None = None,
    tool_version: str = "2023.2",
    slack: float | None = 0.25,
    timeout: float = 60.0,
) -> TclTrace:
    """Source `script` in tclsh with the recording stubs; return the trace of tool calls.

    board_parts: whether get_board_parts finds board files. missing: glob patterns of paths for which
    `file exists` answers 0 (e.g. the .gen tree, to take the older .srcs layout). omit: stub commands to
    remove (e.g. "open_component" to act as a Vitis HLS without it). env: extra ::env entries. slack: the
    SLACK (ns) of the timing path get_timing_paths returns (the routed design's WNS); None: no path.
    """
    script = Path(script).resolve()
    if not script.is_file():
        raise DryRunError(f"{script}: no such TCL script")
    tclsh = shutil.which("tclsh")
    if tclsh is None:
        raise ToolMissingError("tclsh is not on PATH: the TCL dry-run needs it (apt-get install tcl)")
    with tempfile.TemporaryDirectory(prefix="fq_dryrun_") as tmp:
        log = Path(tmp) / "calls.jsonl"
        lines = [
            "namespace eval ::fqstub {}",
            f"set ::fqstub::log [open {_brace(str(log))} w]",
            f"set ::fqstub::opt(board_parts) {int(board_parts)}",
            f"set ::fqstub::opt(missing) [list {' '.join(_brace(m) for m in missing)}]",
            f"set ::fqstub::opt(tool_version) {_brace(tool_version)}",
            f"set ::fqstub::opt(slack) {_brace('' if slack is None else f'{float(slack):.3f}')}",
            f"source {_brace(str(STUBS))}",
        ]
        lines += [f"rename ::{name} {{}}" for name in omit]
        lines += [f"set ::env({k}) {_brace(v)}" for k, v in (env or {}).items()]
        lines += [
            f"cd {_brace(str(script.parent))}",
            f"set rc [catch {{source {_brace(str(script))}}} msg opts]",
            "close $::fqstub::log",
            "if {$rc == 0} { ::fqstub::real_exit 0 }",
            "set code [dict get $opts -errorcode]",
            "if {[lindex $code 0] eq {FQSTUB_EXIT}} { ::fqstub::real_exit [expr {100 + [lindex $code 1]}] }",
            "puts stderr [dict get $opts -errorinfo]",
            "::fqstub::real_exit 1",
        ]
        driver = Path(tmp) / "driver.tcl"
        driver.write_text("\n".join(lines) + "\n")
        try:
            proc = subprocess.run([tclsh, str(driver)], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise DryRunError(f"{script}: dry-run did not finish in {timeout:.0f} s") from e
        calls = []
        if log.exists():
            for line in log.read_text().splitlines():
                rec = json.loads(line)
                calls.append(TclCall(rec["cmd"], tuple(rec["args"])))
    trace = TclTrace(script=script, calls=calls, stdout=proc.stdout)
    if proc.returncode not in (0,) and proc.returncode < 100:
        raise DryRunError(f"{script}: failed under the dry-run stubs:\n{proc.stderr.strip()}", trace)
    trace.exit_code = proc.returncode - 100 if proc.returncode >= 100 else None
    return trace
