"""File access that hostile or broken paths cannot turn into hangs, memory exhaustion or lost files.

Reading: `open_regular` / `read_regular` refuse anything that is not a regular file (a FIFO would block
forever, `/dev/zero` never ends) and any file larger than the format allows, before reading a byte; the
FIFO check happens on the opened descriptor (O_NONBLOCK), so a path swapped after a stat cannot slip
through. `load_npz` reads an `.npz` without pickles, checking every member's declared shape against the
bytes it really holds before numpy allocates the array.

Writing: `check_output_file` / `check_output_dir` run before any work starts (the folder exists and takes
files, the target is not a folder, an existing file is only replaced with `force`, an input is never
replaced); `write_files` writes every output to a temporary file beside its target and renames them into
place only once all are complete, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .errors import FQError, InputError

MAX_NPZ_BYTES = 1 << 33  # 8 GiB: larger than any dataset or checkpoint this project reads
MAX_NPZ_MEMBERS = 4096
DEFLATE_RATIO = 1032  # the largest expansion a deflate stream can have


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str | os.PathLike, limit: int, what: str = "file", error: type[FQError] = InputError):
    """A binary file object of the regular file `path` (at most `limit` bytes); `error` otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise error(f"cannot read {path}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"cannot read {path}: it is {_kind(st.st_mode)}, not a regular {what}")
        if st.st_size > limit:
            raise error(f"cannot read {path}: {st.st_size} bytes, more than a {what} may have ({limit})")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, limit: int, what: str = "file", error: type[FQError] = InputError) -> bytes:
    """The bytes of the regular file `path`, never more than `limit` (see open_regular)."""
    with open_regular(path, limit, what, error) as f:
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise error(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) > limit:  # grew while we read it
        raise error(f"cannot read {path}: more than {limit} bytes, more than a {what} may have")
    return data


# ------------------------------------------------------------------------------------------------- .npz


def _member_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple, np.dtype]:
    """(shape, dtype) an .npy member declares; ValueError when its header is not one."""
    from numpy.lib import format as npy

    with zf.open(info) as f:
        version = npy.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = npy.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = npy.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    return shape, dtype


def load_npz(path: str | os.PathLike, what: str = "file", keys: Sequence[str] | None = None,
             error: type[FQError] = InputError) -> dict[str, np.ndarray]:
    """The arrays of an .npz (all of them, or `keys` when given: missing ones are left out).

    No pickles (object arrays are refused), numeric dtypes only, and each member's declared shape must
    match the bytes it holds before numpy allocates it. Any defect is `error` naming the file and member.
    """
    out: dict[str, np.ndarray] = {}
    with open_regular(path, MAX_NPZ_BYTES, what, error) as f:
        archive = os.fstat(f.fileno()).st_size
        try:
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise error(f"{path}: not an .npz {what} (not a zip archive: {e})") from None
        with zf:
            infos = zf.infolist()
            if len(infos) > MAX_NPZ_MEMBERS:
                raise error(f"{path}: {len(infos)} members, more than an .npz {what} may have")
            for info in infos:
                name = info.filename.removesuffix(".npy")
                if keys is not None and name not in keys:
                    continue
                where = f"{path}: array {name!r}"
                try:
                    shape, dtype = _member_header(zf, info)
                    if dtype.hasobject or dtype.kind not in "biuf":
                        raise ValueError(f"dtype {dtype} (numbers expected)")
                    count = int(np.prod(shape, dtype=object))
                    # what the member can really hold: its declared size, and no more than its compressed
                    # bytes allow (stored: as many; deflate never expands more than 1032 to 1)
                    room = info.compress_size * (1 if info.compress_type == zipfile.ZIP_STORED else DEFLATE_RATIO)
                    if info.compress_size > archive or count * dtype.itemsize > min(info.file_size, room):
                        raise ValueError(f"shape {shape} of {dtype} needs {count * dtype.itemsize} bytes, the "
                                         f"member holds {info.file_size} ({info.compress_size} compressed)")
                    with zf.open(info) as m:
                        out[name] = np.lib.format.read_array(m, allow_pickle=False)
                except (ValueError, TypeError, OSError, EOFError, KeyError, SyntaxError, OverflowError,
                        MemoryError, zipfile.BadZipFile, NotImplementedError, zlib.error) as e:
                    raise error(f"{where}: unreadable ({type(e).__name__}: {e})") from None
    return out


# ----------------------------------------------------------------------------------------------- output


def _probe_dir(folder: Path, what: str) -> None:
    """InputError unless `folder` is an existing folder we can create files in (tried, not guessed:
    permission bits say nothing for root or on read-only mounts)."""
    if not folder.exists():
        raise InputError(f"{folder}: folder of the {what} does not exist")
    if not folder.is_dir():
        raise InputError(f"{folder}: is not a folder (for the {what})")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".fq_hls_probe_", dir=folder)
    except OSError as e:
        raise InputError(f"{folder}: cannot write the {what} there: {e.strerror or e}") from None
    os.close(fd)
    os.unlink(tmp)


def _same(a: Path, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output_file(path: str | os.PathLike, *, force: bool = False, inputs: Iterable = (),
                      what: str = "output file") -> Path:
    """`path` as a Path once it is certain a file can be written there: not a folder, not one of `inputs`,
    not an existing file unless `force`, in an existing writable folder. InputError otherwise."""
    p = Path(path)
    if str(path) == "" or p.name in ("", ".", ".."):
        raise InputError(f"{path!r}: not a file name (for the {what})")
    if p.is_dir():
        raise InputError(f"{p}: is a folder; the {what} needs a file name")
    for src in inputs:
        if src is not None and p.exists() and _same(p, src):
            raise InputError(f"{p}: is an input of this command; refusing to overwrite it")
    if p.exists() or p.is_symlink():
        if not force:
            raise InputError(f"{p}: exists; refusing to overwrite it (pass --force to replace it)")
        if not p.is_file():
            raise InputError(f"{p}: exists and is not a regular file; refusing to replace it")
    _probe_dir(p.parent if str(p.parent) else Path("."), what)
    return p


def check_output_dir(path: str | os.PathLike, *, force: bool = False, marker: str | None = None,
                     names: Iterable[str] = (), what: str = "output folder") -> Path:
    """`path` as a Path once it is certain the command can fill it: an existing writable folder, or a
    missing one whose nearest existing parent is a writable folder. With `marker`, an existing non-empty
    folder must hold that file (it is one of ours) unless `force`; files in `names` that already exist
    are only replaced with `force`."""
    p = Path(path)
    if str(path) == "":
        raise InputError(f"{path!r}: not a folder name (for the {what})")
    if p.exists() and not p.is_dir():
        raise InputError(f"{p}: exists and is not a folder (for the {what})")
    if p.is_dir():
        _probe_dir(p, what)
        if not force:
            if marker is not None and not (p / marker).exists() and any(p.iterdir()):
                raise InputError(f"{p}: a non-empty folder that is not an fq-hls {what} (no {marker}); "
                                 "refusing to write into it (pass --force to write anyway)")
            clash = [n for n in names if (p / n).exists()]
            if clash:
                raise InputError(f"{p / clash[0]}: exists; refusing to overwrite it (pass --force to replace it)")
        return p
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    _probe_dir(parent if str(parent) else Path("."), what)
    return p


def write_files(items: Sequence[tuple[str | os.PathLike, bytes | str]], mode: int | None = None) -> None:
    """Write every (path, data): all to temporary files beside their targets first, then renamed into
    place in order. Any failure removes the temporary files and raises InputError naming the path."""
    temps: list[tuple[str, Path]] = []
    try:
        for path, data in items:
            p = Path(path)
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent if str(p.parent) else ".")
            except OSError as e:
                raise InputError(f"{p}: cannot write: {e.strerror or e}") from None
            temps.append((tmp, p))
            try:
                with os.fdopen(fd, "wb") as f:
                    umask = os.umask(0)
                    os.umask(umask)
                    os.fchmod(f.fileno(), (0o666 if mode is None else mode) & ~umask)  # mkstemp makes 0600
                    f.write(data.encode("utf-8") if isinstance(data, str) else data)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                raise InputError(f"{p}: cannot write: {e.strerror or e}") from None
        for tmp, p in temps:
            try:
                os.replace(tmp, p)
            except OSError as e:
                raise InputError(f"{p}: cannot write: {e.strerror or e}") from None
    finally:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
