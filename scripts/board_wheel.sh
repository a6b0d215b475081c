#!/usr/bin/env bash
# Build the fq-hls wheel for a PYNQ board (pure Python: one wheel for armv7l and aarch64) into dist/, and
# print how to install it into the board's pynq venv (docs/board_guide.md "Install").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
rm -f dist/fq_hls-*.whl
"$PY" -m pip wheel --no-deps --no-build-isolation -q . -w dist
WHL=$(ls dist/fq_hls-*.whl)
echo "built $WHL"
cat <<EOT
on the board (PYNQ 3.x image), as root, into the pynq venv:
  scp $WHL xilinx@<board>:/home/xilinx/
  sudo -i
  source /etc/profile.d/pynq_venv.sh   # the prompt shows (pynq-venv)
  pip install "/home/xilinx/$(basename "$WHL")[board]"      # numpy stays < 2, no torch
  fq-hls doctor
EOT
