"""Dataset readers on tiny synthetic data in every supported format, ordering and loaders."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from fq_hls.archs import ARCHS
from fq_hls.compress.data import augment_batch, make_loader, normalize
from fq_hls.datasets import ArrayDataset, limit_indices, load_dataset
from fq_hls.errors import InputError
from fq_hls.sampling import class_balanced_order


def _rand_images(n, h=32, w=32, seed=0):
    rng = np.random.default_rng(seed)
    # smooth-ish images so JPEG is not pure noise
    base = rng.integers(0, 256, size=(n, h // 4, w // 4, 3), dtype=np.uint8)
    return np.repeat(np.repeat(base, 4, axis=1), 4, axis=2)


def _jpeg(img):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _decode(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def write_jpeg_npz(path, splits):
    """The cifar10-jpeg.npz layout: common header + per-split scans and offsets."""
    files = {s: [_jpeg(im) for im in x] for s, (x, _) in splits.items()}
    header = os.path.commonprefix([f for fs in files.values() for f in fs])
    arrays = {"header": np.frombuffer(header, dtype=np.uint8)}
    for s, (_, y) in splits.items():
        tails = [f[len(header) :] for f in files[s]]
        arrays[f"{s}_scan"] = np.frombuffer(b"".join(tails), dtype=np.uint8)
        arrays[f"{s}_offsets"] = np.concatenate([[0], np.cumsum([len(t) for t in tails])]).astype(np.int64)
        arrays[f"y_{s}"] = np.asarray(y, dtype=np.uint8)
    np.savez(path, **arrays)
    return files


def test_jpeg_npz(tmp_path):
    x_tr, y_tr = _rand_images(6, seed=1), [0, 1, 2, 0, 1, 2]
    x_te, y_te = _rand_images(4, seed=2), [2, 2, 0, 1]
    files = write_jpeg_npz(tmp_path / "cifar10-jpeg.npz", {"train": (x_tr, y_tr), "test": (x_te, y_te)})
    for where in (tmp_path, tmp_path / "cifar10-jpeg.npz"):
        ds = load_dataset(str(where), "test", "resnet18-cifar")
        assert len(ds) == 4 and ds.image_shape == (32, 32, 3)
        assert list(ds.labels) == y_te
        got = ds.images[[3, 0]]
        assert got.dtype == np.uint8 and got.shape == (2, 32, 32, 3)
        assert np.array_equal(got[0], _decode(files["test"][3]))
        assert np.array_equal(ds.images[0], _decode(files["test"][0]))
        # lossy but close to the source pixels
        assert np.abs(got[1].astype(int) - x_te[0]).mean() < 20
    tr = load_dataset(str(tmp_path), "train")
    assert len(tr) == 6 and np.array_equal(tr.images[5], _decode(files["train"][5]))


def test_jpeg_npz_missing_split(tmp_path):
    write_jpeg_npz(tmp_path / "d.npz", {"test": (_rand_images(2), [0, 1])})
    with pytest.raises(InputError, match=r"d\.npz.*train"):
        load_dataset(str(tmp_path / "d.npz"), "train")


def _write_cifar_batch(path, x, y):
    data = x.transpose(0, 3, 1, 2).reshape(len(x), -1)
    with open(path, "wb") as f:
        pickle.dump({b"data": data, b"labels": list(y), b"batch_label": b"x"}, f)


def test_cifar_pickle_folder(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(0)
    xs = [rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8) for _ in range(6)]
    for i in range(5):
        _write_cifar_batch(root / f"data_batch_{i + 1}", xs[i], [i, i + 1, i + 2])
    _write_cifar_batch(root / "test_batch", xs[5], [9, 8, 7])
    te = load_dataset(str(tmp_path), "test", "resnet18-cifar")  # the parent folder works too
    assert np.array_equal(te.images[:], xs[5]) and list(te.labels) == [9, 8, 7]
    tr = load_dataset(str(root), "train")
    assert len(tr) == 15 and np.array_equal(tr.images[3:6], xs[1])
    os.remove(root / "data_batch_4")
    with pytest.raises(InputError, match="data_batch_4"):
        load_dataset(str(root), "train")


def _write_folder(root, sizes):
    for cls, (w, h) in sizes.items():
        d = root / cls
        d.mkdir(parents=True)
        for k in range(2):
            img = np.full((h, w, 3), 40 * k + 10, np.uint8)
            img[h // 2 - 2 : h // 2 + 2, w // 2 - 2 : w // 2 + 2] = 250  # a bright center survives the crop
            Image.fromarray(img).save(d / f"{k}.png")


def test_image_folder(tmp_path):
    _write_folder(tmp_path / "val", {"dog": (48, 40), "cat": (40, 64)})
    (tmp_path / "val" / "cat" / "notes.txt").write_text("ignored")
    ds = load_dataset(str(tmp_path), "test", "resnet18-cifar")
    assert len(ds) == 4 and list(ds.labels) == [0, 0, 1, 1]  # classes sorted: cat, dog
    x = ds.images[:]
    assert x.shape == (4, 32, 32, 3)
    assert x[0, 16, 16, 0] > 200 and x[0, 0, 0, 0] < 30
    big = load_dataset(str(tmp_path / "val"), "test", "resnet18")
    assert big.images[[1]].shape == (1, 224, 224, 3)
    with pytest.raises(InputError, match="train"):
        load_dataset(str(tmp_path), "train", "resnet18")


def test_digits():
    tr, te = load_dataset("digits", "train", "smallcnn"), load_dataset("digits", "test", "smallcnn")
    assert len(tr) + len(te) == 1797 and te.image_shape == (8, 8, 1)
    x = te.images[:]
    assert x.dtype == np.uint8 and x.max() == 255


def test_unrecognised_inputs(tmp_path):
    with pytest.raises(InputError, match="missing_dir"):
        load_dataset(str(tmp_path / "missing_dir"), "test")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty.*not recognised"):
        load_dataset(str(tmp_path / "empty"), "test")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InputError, match=r"x\.txt"):
        load_dataset(str(tmp_path / "x.txt"), "test")
    with pytest.raises(InputError, match="split"):
        load_dataset("digits", "validation")
    with pytest.raises(InputError, match=r"8x8x1.*resnet18-cifar.*32x32x3"):
        load_dataset("digits", "test", "resnet18-cifar")


def test_class_balanced_order():
    labels = [0, 0, 0, 1, 1, 2]
    assert list(class_balanced_order(labels)) == [0, 3, 5, 1, 4, 2]
    labels = [2, 1, 2, 0, 1, 2]
    assert list(class_balanced_order(labels)) == [3, 1, 0, 4, 2, 5]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 500)
    order = class_balanced_order(y)
    assert sorted(order) == list(range(500))
    first = y[order[:50]]
    assert np.bincount(first, minlength=10).min() == 5  # every class once per round
    assert list(limit_indices(y, 7)) == list(order[:7])
    with pytest.raises(InputError, match="limit"):
        limit_indices(y, 0)


def test_normalize_and_augment():
    x = np.zeros((2, 4, 4, 3), np.uint8)
    x[..., 1] = 255
    t = normalize(x, (0, 127.5, 0), (1, 127.5, 2))
    assert t.shape == (2, 3, 4, 4) and t.dtype == torch.float32
    assert torch.all(t[:, 1] == 1.0) and torch.all(t[:, 0] == 0.0)
    rng = np.random.default_rng(0)
    img = np.arange(6 * 6, dtype=np.uint8).reshape(1, 6, 6, 1)
    out = augment_batch(np.repeat(img, 40, axis=0), rng, pad=0, flip=True)
    same = [np.array_equal(o, img[0]) for o in out]
    mirrored = [np.array_equal(o, img[0, :, ::-1]) for o in out]
    assert all(a or b for a, b in zip(same, mirrored, strict=True)) and any(same) and any(mirrored)
    flat = np.full((5, 8, 8, 3), 77, np.uint8)
    assert np.array_equal(augment_batch(flat, rng, pad=4, flip=True), flat)
    shifted = augment_batch(np.repeat(img[:1], 50, axis=0), rng, pad=2, flip=False)
    assert shifted.shape == (50, 6, 6, 1) and not all(np.array_equal(s, img[0]) for s in shifted)


def test_make_loader():
    ds = load_dataset("digits", "test", "smallcnn")
    loader = make_loader(ds, "smallcnn", batch_size=100)
    batches = list(loader)
    assert [len(b[1]) for b in batches] == [100, 100, 100, 60]
    x, y = batches[0]
    assert x.shape == (100, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(y, torch.from_numpy(ds.labels[:100]))
    expect = (torch.from_numpy(ds.images[:100]).permute(0, 3, 1, 2).float() - 78.0) / 96.0
    assert torch.allclose(x, expect)
    tr = make_loader(ds, "smallcnn", batch_size=64, train=True, seed=1)
    seen = torch.cat([b[1] for b in tr])
    assert sorted(seen.tolist()) == sorted(ds.labels.tolist()) and not torch.equal(
        seen, torch.from_numpy(ds.labels)
    )


def test_train_augmentation_is_reproducible_per_epoch():
    x = np.random.default_rng(0).integers(0, 256, size=(64, 32, 32, 3), dtype=np.uint8)
    ds = ArrayDataset(x, np.arange(64) % 10)

    def epoch(e, seed=3):
        loader = make_loader(ds, "resnet18-cifar", batch_size=16, train=True, seed=seed)
        loader.dataset.set_epoch(e)
        loader.sampler.sampler.generator.manual_seed(seed + e)
        return torch.cat([b[0] for b in loader])

    a, b, c = epoch(0), epoch(0), epoch(1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    plain = make_loader(ds, "resnet18-cifar", batch_size=64, augment=False)
    xs, _ = next(iter(plain))
    info = ARCHS["resnet18-cifar"]
    assert torch.equal(xs, normalize(x, info["mean"], info["std"]))
