"""The .fqz container: exact round trip, atomic writes, and every reader/writer error as ModelFileError."""

import zlib

import numpy as np
import pytest
from _fqz_models import small_model

from fq_hls.errors import ModelFileError
from fq_hls.fqz import (
    VERSION,
    decode_model,
    encode_model,
    model_differences,
    models_equal,
    read_fqz,
    write_fqz,
)
from fq_hls.fqz.layout import FRAME_BYTES, HEADER_BYTES


def _frame(tag: bytes, payload: bytes) -> bytes:
    return tag + len(payload).to_bytes(4, "little") + zlib.crc32(payload).to_bytes(4, "little") + payload


def _split(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], HEADER_BYTES
    while pos < len(data):
        n = int.from_bytes(data[pos + 4 : pos + 8], "little")
        out.append((data[pos : pos + 4], data[pos + FRAME_BYTES : pos + FRAME_BYTES + n]))
        pos += FRAME_BYTES + n
    return out


def _join(header: bytes, sections) -> bytes:
    return header + b"".join(_frame(t, p) for t, p in sections)


def test_round_trip_is_exact(tmp_path):
    m = small_model()
    path = tmp_path / "m.fqz"
    n = write_fqz(m, path)
    assert n == path.stat().st_size
    back = read_fqz(path)
    assert model_differences(m, back) == []
    # types of free-form fields survive, not just values
    assert isinstance(back.meta["shape"], tuple) and back.meta[3] == "int key"
    assert back.meta["hist"].dtype == np.int16 and isinstance(back.act_max["conv1"], np.float32)
    assert np.isnan(back.meta["top1"])
    assert back.node("conv3").weight.scale.dtype == np.float32
    assert back.node("conv2").weight.fields.mu_sign == (-1, 1)
    assert [n.weight.codes.dtype for n in back.weighted()] == [np.uint16] * 4
    assert encode_model(back).data == path.read_bytes()  # deterministic


def test_models_equal_sees_every_kind_of_difference():
    a = small_model()
    edits = [
        lambda m: m.node("conv2").weight.codes.__setitem__((0, 0, 0, 0), (m.node("conv2").weight.codes[0, 0, 0, 0] + 1) % 8),
        lambda m: m.node("fc").bias.__setitem__(0, -0.0 if m.node("fc").bias[0] == 0 else 0.0),
        lambda m: setattr(m.node("conv1").bn, "eps", 1e-3),
        lambda m: setattr(m.node("conv1").weight, "scale", m.node("conv1").weight.scale.astype(np.float64)),
        lambda m: m.meta.__setitem__("shape", list(m.meta["shape"])),
        lambda m: setattr(m.node("add1"), "relu", False),
        lambda m: setattr(m.node("conv2").weight.fields, "q_shift", 3),
        lambda m: m.act_max.__setitem__("fc", 7.5),
    ]
    for edit in edits:
        b = small_model()
        edit(b)
        assert not models_equal(a, b)
    assert models_equal(a, small_model())


def test_write_is_atomic_and_never_truncates(tmp_path):
    path = tmp_path / "m.fqz"
    write_fqz(small_model(0), path)
    before = path.read_bytes()
    write_fqz(read_fqz(path), path)  # rewriting the file a model came from is safe
    assert path.read_bytes() == before
    bad = small_model(1)
    bad.node("fc").weight.codes[0, 0] = 999  # beyond the codebook: fails while encoding
    with pytest.raises(ModelFileError, match="fc.*beyond"):
        write_fqz(bad, path)
    assert path.read_bytes() == before
    with pytest.raises(ModelFileError, match="refusing"):
        write_fqz(small_model(1), path, overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.fqz"]  # no temp files left behind
    with pytest.raises(ModelFileError, match="cannot write"):
        write_fqz(small_model(), tmp_path / "missing" / "m.fqz")


def test_writer_rejects_models_the_reader_would_reject():
    cases = {
        "codebook\\[0\\] must be 0": lambda m: m.node("conv3").weight.codebook.__setitem__(0, 5),
        "do not reproduce the codebook": lambda m: m.node("conv1").weight.codebook.__setitem__(3, 77),
        "scale must be float": lambda m: setattr(m.node("conv1").weight, "scale", np.ones(3, np.float32)),
        "bias must be": lambda m: setattr(m.node("fc"), "bias", np.ones(4, np.float32)),
        "not an earlier node": lambda m: m.node("conv2").inputs.__setitem__(0, "fc"),
        "cannot be stored": lambda m: m.meta.__setitem__("obj", object()),
        "duplicate name": lambda m: setattr(m.node("pool"), "name", "conv1"),
        "shape must be 2": lambda m: setattr(m.node("fc").weight, "codes", m.node("fc").weight.codes[..., None]),
    }
    for pattern, edit in cases.items():
        m = small_model()
        edit(m)
        with pytest.raises(ModelFileError, match=pattern):
            encode_model(m)


def test_reader_errors_name_file_section_and_problem(tmp_path):
    data = encode_model(small_model()).data
    header, sections = data[:HEADER_BYTES], _split(data)

    def check(blob: bytes, *patterns: str):
        p = tmp_path / "x.fqz"
        p.write_bytes(blob)
        with pytest.raises(ModelFileError) as e:
            read_fqz(p)
        msg = str(e.value)
        assert str(p) in msg
        for pat in patterns:
            assert pat in msg, msg

    check(b"", "too short")
    check(b"PK\x03\x04" + data[4:], "not a .fqz file")
    check(data[:4] + (VERSION + 1).to_bytes(2, "little") + data[6:], f"version {VERSION + 1}")
    check(data[:6] + b"\x01\x00" + data[8:], "flags")
    check(data[:-20], "truncated")
    check(data[: len(data) - 16], "no closing END")
    check(data + b"\x00", "after the END")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    check(bytes(flipped), "CRC32 mismatch")
    # valid CRCs, inconsistent content
    lay = [i for i, (t, _) in enumerate(sections) if t == b"LAYR"]
    check(_join(header, [s for i, s in enumerate(sections) if i != lay[-1]]), "missing LAYR", "'fc'")
    check(_join(header, [sections[0], sections[lay[1]], *sections[1:]]), "layer 'conv1'", "node #")
    check(_join(header, sections[1:]), "before the graph")
    not_json = b"{not json"
    check(_join(header, [(b"GRPH", len(not_json).to_bytes(4, "little") + zlib.compress(not_json))] + sections[1:]),
          "graph is invalid")
    check(_join(header, [(b"GRPH", b"\x09\x00\x00\x00{not zlib")] + sections[1:]), "GRPH", "not a valid zlib")
    big = len(sections[0][1]) * 1000
    check(_join(header, [(b"GRPH", (1 << 27).to_bytes(4, "little") + sections[0][1][4:])] + sections[1:]), "limit")
    check(_join(header, [(b"GRPH", big.to_bytes(4, "little") + sections[0][1][4:])] + sections[1:]),
          "GRPH", f"{big} declared")
    check(data[:4] + (1).to_bytes(2, "little") + data[6:], "format version 1", "write the model again")
    check(_join(header, sections[:-1] + [(b"END\x00", b"\x09\x00\x00\x00")]), "section count")
    check(_join(header, sections[:1] + [(b"WXYZ", b"")] + sections[1:]), "unknown critical section")
    t, p = sections[lay[0]]
    check(_join(header, sections[: lay[0]] + [(t, p + b"\x00")] + sections[lay[0] + 1 :]), "layer 'conv1'",
          "unexpected bytes")
    check(_join(header, sections[: lay[0]] + [(t, p[:-3])] + sections[lay[0] + 1 :]), "layer 'conv1'")
    # ancillary (lower-case) sections from newer writers are skipped
    ok = _join(header, sections[:1] + [(b"note", b"hello")] + sections[1:-1] + [(b"END\x00", (len(sections)).to_bytes(4, "little"))])
    assert models_equal(decode_model(ok, _strict=True), small_model())


def test_missing_and_unreadable_paths(tmp_path):
    with pytest.raises(ModelFileError, match="cannot read .*nope.fqz"):
        read_fqz(tmp_path / "nope.fqz")
    with pytest.raises(ModelFileError, match="cannot read"):
        read_fqz(tmp_path)


@pytest.mark.parametrize("method", ["fq5", "int8", "shift5"])
def test_round_trip_of_the_shared_random_models(method):
    from fq_hls.synthetic import random_compressed

    m = random_compressed("smallcnn", method=method, seed=2)
    assert model_differences(m, decode_model(encode_model(m).data, _strict=True)) == []
