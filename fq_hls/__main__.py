"""`python -m fq_hls ...`: the fq-hls command with an explicit interpreter (e.g. the pynq venv's, as root)."""

import sys

from .cli import main

sys.exit(main())
