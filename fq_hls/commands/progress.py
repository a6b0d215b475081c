"""The one progress-flag convention of the long-running subcommands (compress, prune, evaluate):
`--progress` / `--no-progress`; by default on when stderr is a terminal (bars and step times go to stderr,
so the JSON on stdout stays clean either way). Not a subcommand (cli.COMMANDS lists those)."""

from __future__ import annotations

import argparse
import sys


def add_progress_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars and step times on stderr (default: on when stderr is a terminal)")


def progress_enabled(args: argparse.Namespace) -> bool:
    """The flag as given, else whether stderr is a terminal."""
    flag = getattr(args, "progress", None)
    if flag is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(flag)
