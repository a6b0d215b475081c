"""Where the runtime runs on a PYNQ 3.x board: the interpreter, root, and the command to use instead.

PYNQ 3.x images install pynq into a virtual environment, /usr/local/share/pynq-venv (activated by
/etc/profile.d/pynq_venv.sh for login shells); the system python3 has neither pynq nor fq_hls, and
`sudo python3 ...` runs the system one. pynq maps the PL registers and programs the FPGA as root.
"""

from __future__ import annotations

import os
import shlex
import sys

PYNQ_VENV = "/usr/local/share/pynq-venv"
PYNQ_PYTHON = f"{PYNQ_VENV}/bin/python3"
XRT_ENV = "XILINX_XRT=/usr"  # what /etc/profile.d/xrt_setup.sh exports on the images


def board_python(venv: str = PYNQ_VENV) -> str:
    """The interpreter that has pynq on the board: the pynq venv's python where it exists, else this one."""
    py = os.path.join(venv, "bin", "python3")
    return py if os.path.isfile(py) else sys.executable


def root_command(argv: list[str] | None = None, python: str | None = None) -> str:
    """The exact command that reruns `argv` (default: this process) as root with the pynq interpreter."""
    argv = list(sys.argv if argv is None else argv)
    py = python or board_python()
    if argv and argv[0].endswith(("fq-hls", "__main__.py")):
        argv = ["-m", "fq_hls", *argv[1:]]
    return f"sudo env {XRT_ENV} {shlex.quote(py)} " + " ".join(shlex.quote(a) for a in argv)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def check_root(argv: list[str] | None = None) -> None:
    """Raise DeviceError naming the command to run instead when a board run is started without root."""
    from ..errors import DeviceError

    if not is_root():
        raise DeviceError(f"pynq needs root on the board to load the overlay; run: {root_command(argv)}")
