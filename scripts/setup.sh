#!/usr/bin/env bash
# Set up fq-hls on a fresh Debian/Ubuntu machine: system tools (when root), a venv in .venv, the package.
# Idempotent; FQ_HLS_NO_APT=1 skips the system packages (their tests then skip with a reason).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${FQ_HLS_NO_APT:-0}" != "1" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    need=()
    command -v yosys >/dev/null 2>&1 || need+=(yosys)
    command -v iverilog >/dev/null 2>&1 || need+=(iverilog)
    command -v tclsh >/dev/null 2>&1 || need+=(tcl)
    command -v g++ >/dev/null 2>&1 || need+=(g++)
    python3 -c "import ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
    if [ ${#need[@]} -gt 0 ]; then
        echo "setup: apt-get install ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade "pip<26"
# torch==2.13.0 is the CPU wheel this project is developed with; any torch >= 2.2 works.
.venv/bin/python -m pip install -q "torch==${FQ_HLS_TORCH:-2.13.0}" -e '.[dev]'
echo "setup: ok ($(.venv/bin/python -c 'import torch, numpy; print("torch", torch.__version__, "numpy", numpy.__version__)'))"
