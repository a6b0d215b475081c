#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job on its embedded default: `fq-hls demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/fq-hls demo "$@"
