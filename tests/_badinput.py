"""Shared helpers of the bad-input suites (tests/test_badinput_*.py): CLI runs that must fail in one line,
snapshots that prove no user file changed, .fqz section surgery with valid CRCs, CIFAR pickles (legit, as
Python 2 wrote them, and hostile), and a guard that turns a hang into a failure."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import signal
import struct
import zlib
from pathlib import Path

import numpy as np

from fq_hls.fqz.layout import FRAME_BYTES, HEADER_BYTES

HANG_S = 30


@contextlib.contextmanager
def no_hang(seconds: int = HANG_S):
    """Raise TimeoutError in the main thread if the body takes longer than `seconds` (a hang)."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"hang: no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run `fq-hls argv` in this process: (exit status, stdout, stderr)."""
    from fq_hls.cli import main

    capsys.readouterr()
    with no_hang():
        rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def expect_error(argv: list, capsys, *fragments: str) -> str:
    """`fq-hls argv` must exit 2 with exactly one stderr line `fq-hls CMD: error: ...` holding every
    fragment, and no traceback. Returns that line."""
    rc, _, err = cli(argv, capsys)
    lines = err.strip().splitlines()
    assert rc == 2, (argv, rc, err)
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith(f"fq-hls {argv[0]}: error: "), err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under `folder` (temp files included: none may be left)."""
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# ------------------------------------------------------------------------------------- .fqz surgery


def leaves(x, path: tuple = ()):
    """Every path into a JSON value (dict keys, list indices), the value's own path last."""
    if isinstance(x, dict):
        for k, v in x.items():
            yield from leaves(v, path + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from leaves(v, path + (i,))
    yield path


def sections(data: bytes) -> list[list[bytes]]:
    out, pos = [], HEADER_BYTES
    while pos < len(data):
        n = int.from_bytes(data[pos + 4 : pos + 8], "little")
        out.append([data[pos : pos + 4], data[pos + FRAME_BYTES : pos + FRAME_BYTES + n]])
        pos += FRAME_BYTES + n
    return out


def join(header: bytes, secs) -> bytes:
    """Sections reassembled with their lengths and CRCs recomputed (the framing stays valid)."""
    return header[:HEADER_BYTES] + b"".join(
        t + len(p).to_bytes(4, "little") + (zlib.crc32(p) & 0xFFFFFFFF).to_bytes(4, "little") + p for t, p in secs
    )


def graph_of(data: bytes) -> dict:
    return json.loads(zlib.decompress(sections(data)[0][1][4:]))


def with_graph(data: bytes, graph) -> bytes:
    """`data` with its GRPH section replaced by `graph` (any JSON value), CRC recomputed."""
    secs = sections(data)
    text = json.dumps(graph).encode()
    secs[0][1] = len(text).to_bytes(4, "little") + zlib.compress(text, 9)
    return join(data, secs)


# ------------------------------------------------------------------------------------ CIFAR pickles


def _int_op(v: int) -> bytes:
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    return b"J" + struct.pack("<i", v)


def _str_op(b: bytes) -> bytes:
    return (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<I", len(b))) + b


def py2_batch(data: np.ndarray, labels: list[int]) -> bytes:
    """A CIFAR-10 batch exactly as Python 2 cPickle (protocol 2) and numpy 1.x wrote the real ones:
    str keys and payloads as byte strings, the array through numpy.core.multiarray._reconstruct."""
    assert data.dtype == np.uint8 and data.ndim == 2
    n, m = data.shape
    array = (b"cnumpy.core.multiarray\n_reconstruct\n" b"cnumpy\nndarray\n" + _int_op(0) + b"\x85" + _str_op(b"b")
             + b"\x87R(" + _int_op(1) + _int_op(n) + _int_op(m) + b"\x86"
             + b"cnumpy\ndtype\n" + _str_op(b"u1") + _int_op(0) + _int_op(1) + b"\x87R("
             + _int_op(3) + _str_op(b"|") + b"NNN" + struct.pack("<ci", b"J", -1) + struct.pack("<ci", b"J", -1)
             + _int_op(0) + b"tb" + b"\x89" + _str_op(data.tobytes()) + b"tb")
    lab = b"](" + b"".join(_int_op(v) for v in labels) + b"e"
    return (b"\x80\x02}(" + _str_op(b"batch_label") + _str_op(b"testing batch 1 of 1") + _str_op(b"data") + array
            + _str_op(b"labels") + lab + b"u.")


def legit_batches(n: int = 20, seed: int = 0) -> dict[str, bytes]:
    """name -> bytes of one legitimate batch per writer: Python 2 style, and Python 3 at protocols 2..5
    (bytes keys, str keys, labels as a list or an array)."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    out = {"py2": py2_batch(data, labels)}
    for proto in (2, 3, 4, 5):
        out[f"p{proto}-bytes-keys"] = pickle.dumps({b"batch_label": b"x", b"data": data, b"labels": labels,
                                                    b"filenames": [b"a.png"] * n}, protocol=proto)
        out[f"p{proto}-str-keys"] = pickle.dumps({"data": data, "labels": np.asarray(labels, np.int64)},
                                                 protocol=proto)
    return out


class Evil:
    """Unpickling this runs a shell command that creates `marker`."""

    def __init__(self, marker: Path, how: str = "os.system") -> None:
        self.marker, self.how = str(marker), how

    def __reduce__(self):
        import builtins
        import subprocess

        if self.how == "os.system":
            return (os.system, (f"touch {self.marker}",))
        if self.how == "eval":
            return (builtins.eval, (f"open({self.marker!r}, 'w').close()",))
        if self.how == "exec":
            return (builtins.exec, (f"open({self.marker!r}, 'w').close()",))
        return (subprocess.call, (["touch", self.marker],))


def hostile_batches(marker: Path) -> dict[str, bytes]:
    """name -> pickle bytes that would run code (or build objects a batch never holds) when unpickled."""
    data = np.zeros((2, 3072), np.uint8)
    out = {}
    for how in ("os.system", "eval", "exec", "subprocess"):
        out[f"top-{how}"] = pickle.dumps(Evil(marker, how), protocol=2)
        out[f"value-{how}"] = pickle.dumps({b"data": data, b"labels": [0, 1], b"x": Evil(marker, how)}, protocol=4)
    out["labels-object-array"] = pickle.dumps({b"data": data, b"labels": np.array([Evil(marker), 1], dtype=object)})
    out["global-numpy-load"] = b"\x80\x02cnumpy\nload\nq\x00X\x04\x00\x00\x00/tmpq\x01\x85q\x02Rq\x03."
    out["global-copyreg"] = b"\x80\x02ccopyreg\n_reconstructor\n(cos\n_wrap_close\ncbuiltins\nobject\nNtR."
    # allowed names, hostile arguments: a huge shape, an object dtype, the array class called directly
    out["reconstruct-huge"] = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                               b"J\x00\x00\x00\x40\x85U\x01b\x87R.")
    out["dtype-object"] = b"\x80\x02cnumpy\ndtype\nU\x02O8K\x00K\x01\x87R."
    out["ndarray-called"] = b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x40\x85R."
    out["frombuffer-lies"] = (b"\x80\x05cnumpy.core.numeric\n_frombuffer\n(C\x04abcd"
                              b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87RJ\x00\x00\x00\x40\x85U\x01CtR.")
    out["persistent-id"] = b"\x80\x02U\x03abcQ."
    return out
