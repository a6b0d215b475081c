"""Quoting Python values into generated Tcl (brace-quoted words; values that cannot be braced are refused)."""

from __future__ import annotations

from ..errors import InputError


def tcl_word(value: object) -> str:
    s = str(value)
    if any(ch in s for ch in "{}\\\n\r"):
        raise InputError(f"{s!r} cannot be written into a TCL script (braces, backslashes or newlines)")
    return "{" + s + "}"


def tcl_list(values) -> str:
    return "[list " + " ".join(tcl_word(v) for v in values) + "]"
