"""Little-endian primitives of the .fqz payloads: a bounds-checked reader and a byte builder.

Every read checks the remaining length first, so a declared size can never make the reader allocate more
than the bytes that are actually there.
"""

from __future__ import annotations

import struct

import numpy as np

# dtype code (one byte in the file) <-> numpy dtype; arrays are always stored little-endian
DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<u1"),
    2: np.dtype("<i1"),
    3: np.dtype("<u2"),
    4: np.dtype("<i2"),
    5: np.dtype("<u4"),
    6: np.dtype("<i4"),
    7: np.dtype("<u8"),
    8: np.dtype("<i8"),
    9: np.dtype("<f2"),
    10: np.dtype("<f4"),
    11: np.dtype("<f8"),
    12: np.dtype("bool"),
}
_CODE = {dt.newbyteorder("<") if dt.kind != "b" else dt: c for c, dt in DTYPES.items()}


class FormatError(ValueError):
    """A payload is malformed; the container turns it into ModelFileError with file and section names."""


def dtype_code(dt: np.dtype) -> int:
    dt = np.dtype(dt)
    key = dt if dt.kind == "b" else dt.newbyteorder("<")
    if key not in _CODE:
        raise FormatError(f"dtype {dt} cannot be stored")
    return _CODE[key]


def dtype_of(code: int) -> np.dtype:
    if code not in DTYPES:
        raise FormatError(f"unknown dtype code {code}")
    return DTYPES[code]


class Builder:
    """Accumulates a payload."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def raw(self, b: bytes) -> None:
        self.parts.append(b)
        self.size += len(b)

    def u8(self, v: int) -> None:
        self.raw(struct.pack("<B", v))

    def u16(self, v: int) -> None:
        self.raw(struct.pack("<H", v))

    def u32(self, v: int) -> None:
        self.raw(struct.pack("<I", v))

    def f64(self, v: float) -> None:
        self.raw(struct.pack("<d", v))

    def blob(self, b: bytes) -> None:
        """u32 length + bytes."""
        self.u32(len(b))
        self.raw(b)

    def array(self, a: np.ndarray) -> None:
        """u8 dtype code, u32 element count, raw little-endian elements (1-D)."""
        a = np.asarray(a)
        code = dtype_code(a.dtype)
        self.u8(code)
        self.u32(a.size)
        self.raw(np.ascontiguousarray(a.ravel()).astype(DTYPES[code], copy=False).tobytes())

    def bytes(self) -> bytes:
        return b"".join(self.parts)


class Cursor:
    """Reads a payload front to back; every read is checked against the bytes left."""

    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data)
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, what: str = "data") -> bytes:
        if n < 0 or n > self.left:
            raise FormatError(f"{what} needs {n} bytes but only {self.left} are left")
        b = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return b

    def _unpack(self, fmt: str, n: int, what: str):
        return struct.unpack(fmt, self.take(n, what))[0]

    def u8(self, what: str = "u8") -> int:
        return self._unpack("<B", 1, what)

    def u16(self, what: str = "u16") -> int:
        return self._unpack("<H", 2, what)

    def u32(self, what: str = "u32") -> int:
        return self._unpack("<I", 4, what)

    def f64(self, what: str = "f64") -> float:
        return self._unpack("<d", 8, what)

    def blob(self, what: str) -> bytes:
        return self.take(self.u32(f"{what} length"), what)

    def array(self, what: str, count: int | None = None) -> np.ndarray:
        dt = dtype_of(self.u8(f"{what} dtype"))
        n = self.u32(f"{what} count")
        if count is not None and n != count:
            raise FormatError(f"{what} has {n} elements, expected {count}")
        raw = self.take(n * dt.itemsize, what)
        return np.frombuffer(raw, dtype=dt).copy()

    def u8_array(self, n: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(n, what), dtype=np.uint8).copy()

    def done(self, what: str) -> None:
        if self.left:
            raise FormatError(f"{self.left} unexpected bytes at the end of {what}")
