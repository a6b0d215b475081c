"""Hostile and broken data files: CIFAR pickle batches, .npz datasets and checkpoints, fine-tuning checkpoints,
FIFOs and devices. Every case is refused with one FQError line or loads as a well-formed dataset; none runs
code (a marker file a payload would create never appears), none raises anything else, none hangs."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import numpy as np
import pytest
from _badinput import Evil, hostile_batches, legit_batches, no_hang

from fq_hls.datafiles import read_batch, read_batches
from fq_hls.errors import FQError, InputError, ModelFileError

SEED = 1234


def _one_line(e: BaseException, *fragments: str) -> None:
    msg = str(e)
    assert "\n" not in msg and msg, msg
    for f in fragments:
        assert f in msg, (f, msg)


def _batch_folder(tmp_path, name: str, blob: bytes):
    folder = tmp_path / name
    folder.mkdir()
    for f in ["test_batch"] + [f"data_batch_{i}" for i in range(1, 6)]:
        (folder / f).write_bytes(blob)
    return folder


# ---------------------------------------------------------------------------------------- CIFAR pickles


def test_legit_batches_load_the_same_in_both_readers(tmp_path):
    from fq_hls.datasets import load_dataset, load_images

    want_x = want_y = None
    for name, blob in legit_batches(n=20).items():
        folder = _batch_folder(tmp_path, name, blob)
        x, y = read_batch(folder / "test_batch")
        assert x.shape == (20, 32, 32, 3) and x.dtype == np.uint8 and y.dtype == np.int64
        if want_x is None:
            want_x, want_y = x, y
        assert np.array_equal(x, want_x) and np.array_equal(y, want_y), name  # every writer, same batch
        ds = load_dataset(str(folder), "train", "resnet18-cifar")
        assert len(ds) == 100 and ds.num_classes == 10
        xi, yi = load_images(str(folder), 20)  # the board's reader: the same images, class-balanced order
        xd, yd = ds.subset(np.arange(20)).arrays()
        assert sorted(map(bytes, xi)) == sorted(map(bytes, xd)) and sorted(yi) == sorted(yd)
    # the pixel layout: 1024 R, then G, then B values, row-major 32x32
    d = np.arange(3072, dtype=np.int64).reshape(1, 3072) % 256
    blob = pickle.dumps({b"data": d.astype(np.uint8), b"labels": [7]})
    (tmp_path / "one").write_bytes(blob)
    x, y = read_batch(tmp_path / "one")
    assert x[0, 0, 1, 0] == 1 and x[0, 0, 0, 1] == 1024 % 256 and x[0, 1, 0, 2] == (2048 + 32) % 256 and y[0] == 7


def test_hostile_batches_are_refused_and_run_nothing(tmp_path):
    from fq_hls.datasets import load_dataset, load_images

    marker = tmp_path / "EXECUTED"
    cases = hostile_batches(marker)
    assert len(cases) >= 15
    for name, blob in cases.items():
        folder = _batch_folder(tmp_path, name, blob)
        for load, args in ((read_batches, (folder, "test")), (load_images, (str(folder), 4)),
                           (load_dataset, (str(folder), "test", "resnet18-cifar"))):
            with no_hang(), pytest.raises(InputError) as e:
                load(*args)
            _one_line(e.value, str(folder))
        assert not marker.exists(), f"{name}: the pickle ran code"
    # the same payloads through plain pickle would have run: the marker proves the payloads are live
    pickle.loads(cases["top-os.system"])
    assert marker.exists()


def _mutations(blob: bytes, rng: np.random.Generator, n: int):
    for _ in range(n):
        b = bytearray(blob)
        how = rng.integers(0, 4)
        if how == 0:
            b = b[: int(rng.integers(0, len(b)))]
        elif how == 1:
            for _ in range(int(rng.integers(1, 4))):
                b[int(rng.integers(0, len(b)))] ^= int(rng.integers(1, 256))
        elif how == 2:
            at = int(rng.integers(0, 120))  # in the opcodes before the pixel bytes
            b[at:at] = rng.integers(0, 256, int(rng.integers(1, 6)), dtype=np.uint8).tobytes()
        else:
            b += rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
        yield bytes(b)


def test_damaged_and_misshapen_batches(tmp_path):
    rng = np.random.default_rng(SEED)
    legit = legit_batches(n=6)
    blobs = [m for name in ("py2", "p2-bytes-keys", "p5-str-keys") for m in _mutations(legit[name], rng, 20)]
    d = np.zeros((3, 3072), np.uint8)
    structural = {
        "a list": pickle.dumps([d, [1, 2, 3]]),
        "no labels": pickle.dumps({b"data": d}),
        "labels count": pickle.dumps({b"data": d, b"labels": [1, 2]}),
        "label 10": pickle.dumps({b"data": d, b"labels": [1, 2, 10]}),
        "label -1": pickle.dumps({b"data": d, b"labels": [1, -1, 2]}),
        "bool labels": pickle.dumps({b"data": d, b"labels": [True, False, True]}),
        "float labels": pickle.dumps({b"data": d, b"labels": [1.0, 2.0, 3.0]}),
        "str labels": pickle.dumps({b"data": d, b"labels": "abc"}),
        "2-D labels": pickle.dumps({b"data": d, b"labels": np.zeros((3, 1), np.int64)}),
        "float data": pickle.dumps({b"data": d.astype(np.float32), b"labels": [1, 2, 3]}),
        "short rows": pickle.dumps({b"data": d[:, :3000], b"labels": [1, 2, 3]}),
        "data 1-D": pickle.dumps({b"data": d.ravel(), b"labels": [1, 2, 3]}),
        "values > 255": pickle.dumps({b"data": d.astype(np.int32) + 300, b"labels": [1, 2, 3]}),
        "data a list": pickle.dumps({b"data": [[0] * 3072] * 3, b"labels": [1, 2, 3]}),
        "empty": b"",
        "not a pickle": b"not a pickle at all",
    }
    blobs += list(structural.values())
    ok = refused = 0
    for i, blob in enumerate(blobs):
        p = tmp_path / f"b{i}"
        p.write_bytes(blob)
        try:
            with no_hang():
                x, y = read_batch(p)
        except InputError as e:
            _one_line(e, str(p))
            refused += 1
            continue
        assert x.dtype == np.uint8 and x.shape[1:] == (32, 32, 3) and len(x) == len(y)
        assert y.dtype == np.int64 and (y.size == 0 or (y.min() >= 0 and y.max() <= 9))
        ok += 1
    assert refused >= len(structural) and ok + refused == len(blobs) == 76


# ------------------------------------------------------------------------------------------------- .npz


def _jpeg_npz(path, n: int = 6, seed: int = 0) -> None:
    """A tiny cifar10-jpeg.npz: a shared JPEG header + per-image scans (here: whole JPEGs, empty header)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    scans, offs = [], [0]
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "JPEG")
        scans.append(buf.getvalue())
        offs.append(offs[-1] + len(buf.getvalue()))
    scan = np.frombuffer(b"".join(scans), np.uint8)
    y = (np.arange(n) % 10).astype(np.uint8)
    np.savez(path, header=np.zeros(0, np.uint8), train_scan=scan, train_offsets=np.array(offs, np.int64),
             y_train=y, test_scan=scan, test_offsets=np.array(offs, np.int64), y_test=y)


def _npz_variants(tmp_path, rng) -> list:
    """(path, kind) of broken .npz files: random damage of legit ones, and well-formed ones whose arrays lie."""
    base = tmp_path / "base"
    base.mkdir()
    _jpeg_npz(base / "jpeg.npz")
    np.savez(base / "plain.npz", x=np.zeros((4, 8, 8, 1), np.uint8), y=np.arange(4))
    out = []
    for src in ("jpeg.npz", "plain.npz"):
        blob = (base / src).read_bytes()
        for j in range(15):
            b = bytearray(blob)
            if j % 3 == 0:
                b = b[: int(rng.integers(0, len(b)))]
            else:
                for _ in range(int(rng.integers(1, 5))):
                    b[int(rng.integers(0, len(b)))] ^= int(rng.integers(1, 256))
            p = tmp_path / f"{src[:-4]}_damaged{j}.npz"
            p.write_bytes(bytes(b))
            out.append(p)

    def save(name, **arrays):
        p = tmp_path / f"{name}.npz"
        np.savez(p, **arrays)
        out.append(p)

    offs = np.array([0, 10, 20], np.int64)
    scan = np.zeros(20, np.uint8)
    y = np.array([1, 2], np.uint8)
    common = dict(header=np.zeros(0, np.uint8))
    save("offsets_decrease", **common, test_scan=scan, test_offsets=np.array([0, 15, 10]), y_test=y)
    save("offsets_beyond", **common, test_scan=scan, test_offsets=np.array([0, 10, 99]), y_test=y)
    save("offsets_float", **common, test_scan=scan, test_offsets=offs.astype(np.float64), y_test=y)
    save("offsets_2d", **common, test_scan=scan, test_offsets=offs[None], y_test=y)
    save("offsets_count", **common, test_scan=scan, test_offsets=offs[:2], y_test=y)
    save("scan_int32", **common, test_scan=scan.astype(np.int32), test_offsets=offs, y_test=y)
    save("labels_negative", **common, test_scan=scan, test_offsets=offs, y_test=np.array([1, -3]))
    save("labels_float", **common, test_scan=scan, test_offsets=offs, y_test=np.array([1.5, 2.0]))
    save("scan_not_jpeg", **common, test_scan=scan, test_offsets=offs, y_test=y)
    save("missing_split", **common, train_scan=scan)
    save("plain_x_float", x=np.zeros((2, 8, 8, 1), np.float32), y=np.array([0, 1]))
    save("plain_x_3d", x=np.zeros((2, 8, 8), np.uint8), y=np.array([0, 1]))
    save("plain_count", x=np.zeros((2, 8, 8, 1), np.uint8), y=np.array([0, 1, 2]))
    save("plain_y_negative", x=np.zeros((2, 8, 8, 1), np.uint8), y=np.array([0, -1]))
    save("plain_empty_map", x=np.zeros((2, 0, 8, 1), np.uint8), y=np.array([0, 1]))
    save("no_arrays")
    p = tmp_path / "object_array.npz"
    np.savez(p, x=np.array([Evil(tmp_path / "EXECUTED")], dtype=object), y=np.array([0]))
    out.append(p)
    p = tmp_path / "huge_shape.npz"  # an .npy header that declares 2^40 bytes for a few stored ones
    with zipfile.ZipFile(p, "w") as zf:
        hdr = "{'descr': '|u1', 'fortran_order': False, 'shape': (1099511627776,), }"
        hdr = hdr + " " * (63 - (10 + len(hdr)) % 64) + "\n"
        zf.writestr("x.npy", b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr.encode() + b"\x00" * 16)
        zf.writestr("y.npy", (base / "plain.npz").read_bytes()[:0] or b"")
    out.append(p)
    p = tmp_path / "zip_of_text.npz"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("x.npy", b"hello")
    out.append(p)
    (tmp_path / "not_a_zip.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    out.append(tmp_path / "not_a_zip.npz")
    return out


def test_broken_npz_datasets_and_checkpoints(tmp_path):
    torch = pytest.importorskip("torch")
    from fq_hls.compress.models import read_state_dict
    from fq_hls.datasets import load_dataset, load_images

    rng = np.random.default_rng(SEED)
    paths = _npz_variants(tmp_path, rng)
    assert len(paths) >= 50
    loaders = {
        "load_images": lambda p: load_images(str(p), 4),
        "load_dataset": lambda p: load_dataset(str(p), "test").arrays(),
        "read_state_dict": lambda p: read_state_dict(p),
    }
    outcomes = {k: [0, 0] for k in loaders}
    for p in paths:
        for name, load in loaders.items():
            try:
                with no_hang():
                    got = load(p)
            except FQError as e:
                _one_line(e, str(p))
                outcomes[name][1] += 1
                continue
            outcomes[name][0] += 1
            if name == "read_state_dict":
                assert all(isinstance(v, torch.Tensor) for v in got.values())
            else:
                x, y = got
                assert x.dtype == np.uint8 and x.ndim == 4 and len(x) == len(y) and (y >= 0).all()
    assert not (tmp_path / "EXECUTED").exists()
    for name, (ok, refused) in outcomes.items():
        assert refused >= 30, (name, outcomes)  # most of them are broken for every reader
        assert ok + refused == len(paths)


# -------------------------------------------------------------------------------- fine-tuning checkpoints


def _model_and_opt(seed: int = 0):
    import torch

    from fq_hls.compress.models import build_model

    torch.manual_seed(seed)
    m = build_model("smallcnn", 10)
    return m, torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)


def test_checkpoint_round_trip_restores_rng(tmp_path):
    torch = pytest.importorskip("torch")
    from fq_hls.compress.finetune import FinetuneConfig, load_checkpoint, save_checkpoint

    m, opt = _model_and_opt()
    m(torch.zeros(2, 1, 8, 8)).sum().backward()
    opt.step()
    np.random.seed(5)
    np.random.standard_normal()  # a cached gaussian in the state
    path = tmp_path / "ck.pt"
    save_checkpoint(path, m, opt, 2, [{"epoch": 1, "eval": np.float32(0.5)}, {"epoch": 2}], FinetuneConfig(epochs=4))
    want = (torch.rand(3), np.random.standard_normal(3))
    m2, opt2 = _model_and_opt(seed=1)
    epoch, hist = load_checkpoint(path, m2, opt2, 4)
    assert epoch == 2 and hist[0]["eval"] == 0.5
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values(), strict=True))
    assert torch.equal(torch.rand(3), want[0]) and np.array_equal(np.random.standard_normal(3), want[1])


def test_hostile_and_malformed_checkpoints(tmp_path):
    torch = pytest.importorskip("torch")
    from fq_hls.compress.finetune import FinetuneConfig, load_checkpoint, save_checkpoint
    from fq_hls.compress.models import read_state_dict

    marker = tmp_path / "EXECUTED"
    m, opt = _model_and_opt()
    good = tmp_path / "good.pt"
    save_checkpoint(good, m, opt, 1, [{"epoch": 1}], FinetuneConfig(epochs=3))
    state = torch.load(good, weights_only=True)

    def edited(**kw):
        s = dict(state)
        for k, v in kw.items():
            if v is KeyError:
                s.pop(k)
            else:
                s[k] = v
        return s

    rng_ok = state["rng"]
    cases = {
        "evil object": Evil(marker),
        "evil in model": edited(model={"conv1.weight": Evil(marker)}),
        "evil subprocess": edited(history=[Evil(marker, "subprocess")]),
        "version 1 numpy": edited(version=1, rng={**rng_ok, "numpy": np.random.get_state()}),
        "a list": [state],
        "kind": edited(kind="other"),
        "version 3": edited(version=3),
        "no version": edited(version=KeyError),
        "epoch -1": edited(epoch=-1),
        "epoch beyond": edited(epoch=99),
        "epoch bool": edited(epoch=True),
        "epoch str": edited(epoch="1"),
        "no model": edited(model=KeyError),
        "model list": edited(model=[1, 2]),
        "model wrong shape": edited(model={k: torch.zeros(1) for k in state["model"]}),
        "model missing key": edited(model={}),
        "optimizer": edited(optimizer={"state": 5, "param_groups": "x"}),
        "history length": edited(history=[]),
        "history items": edited(history=[5]),
        "rng missing": edited(rng=KeyError),
        "rng torch": edited(rng={**rng_ok, "torch": torch.zeros(3, dtype=torch.uint8)}),
        "rng numpy keys": edited(rng={**rng_ok, "numpy": {**rng_ok["numpy"], "keys": torch.full((624,), -5)}}),
        "rng numpy name": edited(rng={**rng_ok, "numpy": {**rng_ok["numpy"], "name": "PCG"}}),
        "rng python": edited(rng={**rng_ok, "python": (99, (1, 2), None)}),
        "rng numpy missing": edited(rng={**rng_ok, "numpy": {}}),
    }
    for name, obj in cases.items():
        p = tmp_path / f"{name}.pt"
        torch.save(obj, p)
        m2, opt2 = _model_and_opt()
        with no_hang(), pytest.raises(ModelFileError) as e:
            load_checkpoint(p, m2, opt2, 3)
        _one_line(e.value, str(p))
        if name.startswith("evil"):
            with pytest.raises(ModelFileError):
                read_state_dict(p)  # --weights: the same refusal
    for i, blob in enumerate(_mutations(good.read_bytes(), np.random.default_rng(SEED), 20)):
        p = tmp_path / f"damaged{i}.pt"
        p.write_bytes(blob)
        m2, opt2 = _model_and_opt()
        try:
            with no_hang():
                load_checkpoint(p, m2, opt2, 3)
        except ModelFileError as e:
            _one_line(e, str(p))
    assert not marker.exists()


# ------------------------------------------------------------------------------- FIFOs and devices


def test_fifos_and_devices_are_refused_without_reading(tmp_path):
    from fq_hls.fqz import read_fqz

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    readers = [read_fqz, read_batch]
    try:
        import torch  # noqa: F401

        from fq_hls.compress.finetune import load_checkpoint
        from fq_hls.compress.models import read_state_dict

        readers += [read_state_dict, lambda p: load_checkpoint(p, *_model_and_opt())]
    except ImportError:
        pass
    for path in (fifo, "/dev/zero", tmp_path):
        for read in readers:
            with no_hang(5), pytest.raises(FQError) as e:
                read(path)
            _one_line(e.value, "cannot read", str(path))
    # a CIFAR folder whose batches are pipes
    folder = tmp_path / "cifar"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(legit_batches(2)["py2"])
    os.mkfifo(folder / "test_batch")
    from fq_hls.datasets import load_images

    with no_hang(5), pytest.raises(InputError, match="FIFO"):
        load_images(str(folder), 2)
