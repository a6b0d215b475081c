"""Every command against hostile and broken inputs, as a new user and an attacker would try them: each ends
in one line `fq-hls CMD: error: ...` (exit 2) naming the file, field or argument, with no traceback, no hang,
no code run from a file, and no user file changed; outputs appear whole or not at all."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from _badinput import Evil, cli, expect_error, graph_of, legit_batches, snapshot, with_graph
from runtime_models import tiny_model

from fq_hls.fqz import write_fqz


@pytest.fixture
def model(tmp_path):
    p = tmp_path / "m.fqz"
    write_fqz(tiny_model("fq", size=8), p)
    return p


@pytest.fixture
def bad_models(tmp_path, model):
    """name -> path of a model file that every command must refuse before doing anything."""
    data = model.read_bytes()
    g = graph_of(data)
    g["nodes"][0]["attrs"]["stride"] = 0
    files = {
        "missing": tmp_path / "nope.fqz",
        "folder": tmp_path,
        "empty": tmp_path / "empty.fqz",
        "garbage": tmp_path / "garbage.fqz",
        "truncated": tmp_path / "trunc.fqz",
        "stride0": tmp_path / "stride0.fqz",
        "fifo": tmp_path / "pipe.fqz",
        "dev-zero": "/dev/zero",
    }
    files["empty"].write_bytes(b"")
    files["garbage"].write_bytes(os.urandom(300))
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["stride0"].write_bytes(with_graph(data, g))
    os.mkfifo(files["fifo"])
    return files


@pytest.fixture
def evil_cifar(tmp_path):
    """A cifar-10-batches-py folder whose batches run `touch EXECUTED` when unpickled."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    blob = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1],
                         b"batch_label": Evil(tmp_path / "EXECUTED")}, protocol=2)
    for name in ["test_batch"] + [f"data_batch_{i}" for i in range(1, 6)]:
        (folder / name).write_bytes(blob)
    return folder


@pytest.fixture
def corrupt_npz(tmp_path):
    """name -> path of a broken .npz given as --weights or --data."""
    np.savez(tmp_path / "ok.npz", x=np.zeros((4, 8, 8, 3), np.uint8), y=np.arange(4))
    blob = (tmp_path / "ok.npz").read_bytes()
    out = {"truncated": blob[: len(blob) // 2], "flipped": blob[:60] + bytes([blob[60] ^ 0xFF]) + blob[61:],
           "not-zip": b"PK\x03\x04 not really", "text": b"hello"}
    paths = {}
    for k, v in out.items():
        paths[k] = tmp_path / f"{k}.npz"
        paths[k].write_bytes(v)
    np.savez(tmp_path / "labels12.npz", x=np.zeros((4, 8, 8, 3), np.uint8), y=np.array([0, 1, 12, 3]))
    paths["labels12"] = tmp_path / "labels12.npz"
    np.savez(tmp_path / "object.npz", x=np.array([Evil(tmp_path / "EXECUTED")], dtype=object), y=np.array([0]))
    paths["object"] = tmp_path / "object.npz"
    return paths


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from fq_hls.compress.models import build_model

    torch.manual_seed(0)
    p = tmp_path_factory.mktemp("ckpt") / "smallcnn.pt"
    torch.save(build_model("smallcnn").state_dict(), p)
    return p


# --------------------------------------------------------------------------------- parse-time ranges

BAD_ARGS = [
    ("compress", "--num-classes", "-3"), ("compress", "--num-classes", "0"), ("compress", "--num-classes", "1e9"),
    ("compress", "--epochs", "-1"), ("compress", "--bn-recalibration", "-5"), ("compress", "--batch-size", "0"),
    ("compress", "--lr", "0"), ("compress", "--lr", "nan"), ("compress", "--lr", "-0.1"), ("compress", "--lr", "inf"),
    ("compress", "--sparsity", "1.0"), ("compress", "--sparsity", "-0.1"), ("compress", "--sparsity", "nan"),
    ("compress", "--seed", "-1"), ("compress", "--max-batches", "0"), ("compress", "--limit", "0"),
    ("compress", "--epochs", "1.5"), ("compress", "--epochs", "ten"),
    ("prune", "--sparsity", "1.5"), ("prune", "--epochs", "0"), ("prune", "--batch-size", "-4"),
    ("prune", "--lr", "nan"),
    ("evaluate", "--limit", "0"), ("evaluate", "--batch-size", "0"),
    ("lower", "--limit", "0"), ("lower", "--limit", "-1"), ("lower", "--batch-size", "0"),
    ("lower", "--limit", "99999999999"),
    ("csim", "--images", "0"), ("csim", "--images", "-3"), ("csim", "--images", "nan"), ("csim", "--seed", "-1"),
    ("run", "--timeout", "nan"), ("run", "--timeout", "inf"), ("run", "--timeout", "0"), ("run", "--timeout", "-1"),
    ("run", "--timeout", "abc"), ("run", "--images", "0"),
    ("report", "--sparsity", "1"), ("report", "--sparsity", "nan"),
    ("demo", "--images", "0"), ("hls", "--clock-mhz", "0"), ("hls", "--clock-mhz", "nan"),
    ("hls", "--clock-mhz", "5000"), ("build", "--clock-mhz", "nan"),
    # choices: --arch, --method, --board are validated by argparse in every command that takes them
    ("compress", "--arch", "vgg16"), ("compress", "--arch", "net.py"), ("compress", "--method", "fq6"),
    ("compress", "--input-shape", "3,32"), ("compress", "--input-shape", "3,0,32"),
    ("prune", "--arch", "vgg16"), ("evaluate", "--arch", "vgg16"), ("csim", "--board", "zedboard"),
    ("hls", "--board", "zedboard"), ("build", "--board", "zedboard"), ("run", "--board", "zedboard"),
    ("demo", "--board", "zedboard"), ("doctor", "--board", "zedboard"), ("report", "--board", "zedboard"),
    ("report", "--network", "vgg16"),
]
REQUIRED = {
    "compress": ["--arch", "smallcnn", "--weights", "w.pt", "--method", "fq5", "-o", "o.fqz"],
    "prune": ["--arch", "smallcnn", "--weights", "w.pt", "--sparsity", "0.5", "--epochs", "1", "--data", "digits",
              "-o", "o.pt"],
    "evaluate": ["m.fqz", "--data", "digits"], "lower": ["m.fqz"], "csim": ["m.fqz", "--board", "pynq-z2"],
    "run": ["m.fqz", "--emulate"], "report": [], "demo": [], "hls": ["m.fqz", "--board", "pynq-z2"],
    "build": ["m.fqz", "--board", "pynq-z2", "-o", "b"], "doctor": [],
}
# every option that takes one of a fixed set of names, per command
CHOICES = {"compress": ("--arch", "--method"), "prune": ("--arch",), "evaluate": ("--arch",),
           "csim": ("--board",), "hls": ("--board",), "build": ("--board",), "run": ("--board",),
           "demo": ("--board",), "doctor": ("--board",), "report": ("--board", "--network")}


@pytest.mark.parametrize("cmd,opt,value", BAD_ARGS)
def test_argument_ranges_are_checked_at_parse_time(cmd, opt, value, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = expect_error([cmd, *REQUIRED[cmd], opt, value], capsys, f"argument {opt}", value)
    assert "--help" in line
    assert sorted(os.listdir(tmp_path)) == []  # nothing was done


@pytest.mark.parametrize("cmd", sorted(CHOICES))
def test_choices_are_shown_in_usage(cmd, capsys):
    from fq_hls.archs import ARCHS
    from fq_hls.compress.methods import METHODS
    from fq_hls.hw.config import board_names

    rc, out, _ = cli([cmd, "--help"], capsys)
    assert rc == 0
    usage = out.split("\n\n")[0]
    names = {"--arch": list(ARCHS), "--method": list(METHODS), "--board": board_names(), "--network": list(ARCHS)}
    for opt in CHOICES[cmd]:
        shown = usage.split(opt, 1)[1].split()[0]
        assert shown.startswith("{") and all(n in shown for n in names[opt]), (opt, shown)
    # no developer notes: no source paths or function names in what a user reads
    assert "fq_hls/" not in out and "add_arguments" not in out and ".cpp" not in out


def test_top_level_help_is_for_users(capsys):
    rc, out, _ = cli(["--help"], capsys)
    assert rc == 0 and "fq_hls/commands" not in out and "add_arguments" not in out


# ------------------------------------------------------------------------------------------ model files


@pytest.mark.parametrize("cmd", ["inspect", "lower", "csim", "evaluate", "run", "hls", "report", "build"])
def test_bad_model_files(cmd, bad_models, tmp_path, capsys):
    argv = {
        "inspect": lambda m: ["inspect", m], "lower": lambda m: ["lower", m],
        "csim": lambda m: ["csim", m, "--board", "pynq-z2"], "evaluate": lambda m: ["evaluate", m, "--data", "digits"],
        "run": lambda m: ["run", m, "--emulate", "--board", "pynq-z2"],
        "hls": lambda m: ["hls", m, "--board", "pynq-z2", "-o", tmp_path / "hls_out"],
        "report": lambda m: ["report", "--model", m, "--board", "pynq-z2"],
        "build": lambda m: ["build", m, "--board", "pynq-z2", "-o", tmp_path / "build_out"],
    }[cmd]
    if cmd == "evaluate":
        pytest.importorskip("torch")
    before = snapshot(tmp_path)
    for name, path in bad_models.items():
        if cmd in ("hls", "build") and name == "folder":
            continue  # the folder holds the output folder: covered by the output tests
        line = expect_error(argv(path), capsys)
        assert str(path) in line or name in ("missing", "folder") and ("no such" in line or "folder" in line), line
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "hls_out").exists() and not (tmp_path / "build_out").exists()


# -------------------------------------------------------------------------------------- data and weights


def test_hostile_cifar_folder_runs_no_code(evil_cifar, model, ckpt, tmp_path, capsys):
    marker = tmp_path / "EXECUTED"
    runs = [["lower", model, "--data", evil_cifar], ["csim", model, "--board", "pynq-z2", "--data", evil_cifar],
            ["run", model, "--emulate", "--data", evil_cifar], ["evaluate", model, "--data", evil_cifar],
            ["compress", "--arch", "resnet18-cifar", "--weights", ckpt, "--method", "fq5", "--data", evil_cifar,
             "-o", tmp_path / "x.fqz"]]
    for argv in runs:
        expect_error(argv, capsys, str(evil_cifar), "refusing to load this pickle")
        assert not marker.exists(), argv
    assert not (tmp_path / "x.fqz").exists()


def test_legit_cifar_folder_is_read(tmp_path, capsys):
    folder = tmp_path / "cifar"
    folder.mkdir()
    for name in ["test_batch"] + [f"data_batch_{i}" for i in range(1, 6)]:
        (folder / name).write_bytes(legit_batches(12)["py2"])
    m = tmp_path / "cifar.fqz"
    from fq_hls.synthetic import random_compressed

    write_fqz(random_compressed("resnet18-cifar", "fq5", 0.9, seed=1), m)
    rc, out, err = cli(["lower", m, "--data", folder, "--limit", "2", "--json"], capsys)
    assert rc == 0, err


def test_corrupt_weights_and_data(corrupt_npz, model, ckpt, tmp_path, capsys):
    pytest.importorskip("torch")
    before = snapshot(tmp_path)
    for name, path in corrupt_npz.items():
        if name != "labels12":
            for argv in (["compress", "--arch", "smallcnn", "--weights", path, "--method", "fq5", "-o", tmp_path / "o.fqz"],
                         ["prune", "--arch", "smallcnn", "--weights", path, "--sparsity", "0.5", "--epochs", "1",
                          "--data", "digits", "-o", tmp_path / "o.pt"],
                         ["evaluate", path, "--arch", "smallcnn", "--data", "digits"]):
                expect_error(argv, capsys, str(path))
        for argv in (["lower", model, "--data", path], ["csim", model, "--board", "pynq-z2", "--data", path],
                     ["run", model, "--emulate", "--data", path], ["evaluate", model, "--data", path],
                     ["compress", "--arch", "smallcnn", "--weights", ckpt, "--method", "fq5", "--data", path,
                      "-o", tmp_path / "o.fqz"]):
            if name == "labels12" and argv[0] in ("csim", "run"):
                continue  # no accuracy there (run checks labels once the overlay is up: tested below)
            expect_error(argv, capsys, str(path))
    assert snapshot(tmp_path) == before and not (tmp_path / "EXECUTED").exists()


@pytest.mark.csim
def test_run_refuses_labels_outside_the_classes(model, tmp_path, capsys):
    from _csim_helpers import need_csim

    need_csim()
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 8, 8, 3), np.uint8), y=np.array([0, 10, 3]))
    expect_error(["run", model, "--emulate", "--board", "pynq-z2", "--data", tmp_path / "d.npz"], capsys,
                 "label 10 is outside the model's 10 classes")


def test_hostile_resume_checkpoint_runs_no_code(ckpt, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "EXECUTED"
    cp = tmp_path / "ft.pt"
    torch.save({"kind": "fq-hls-finetune", "version": 2, "epoch": Evil(marker)}, cp)
    common = ["compress", "--arch", "smallcnn", "--weights", ckpt, "--method", "fq5", "--data", "digits",
              "--epochs", "1", "--max-batches", "1", "--no-progress"]
    before = snapshot(tmp_path)
    expect_error(common + ["--checkpoint", cp, "--resume", "-o", tmp_path / "a.fqz"], capsys, str(cp), "safely")
    assert not marker.exists() and snapshot(tmp_path) == before
    # the flags themselves
    expect_error(common + ["--resume", "-o", tmp_path / "a.fqz"], capsys, "--resume needs --checkpoint")
    expect_error(common + ["--checkpoint", cp, "-o", tmp_path / "a.fqz"], capsys, str(cp), "--force")
    expect_error(common[:-5] + ["--checkpoint", cp, "-o", tmp_path / "a.fqz"], capsys, "needs --epochs > 0")
    assert snapshot(tmp_path) == before


def test_resume_of_a_real_checkpoint(ckpt, tmp_path, capsys):
    pytest.importorskip("torch")
    cp = tmp_path / "ft.pt"
    common = ["compress", "--arch", "smallcnn", "--weights", ckpt, "--method", "fq5", "--data", "digits",
              "--max-batches", "2", "--no-progress", "--bn-recalibration", "0", "--limit", "20", "--checkpoint", cp]
    rc, _, err = cli(common + ["--epochs", "1", "-o", tmp_path / "a.fqz"], capsys)
    assert rc == 0 and cp.is_file(), err
    rc, _, err = cli(common + ["--epochs", "2", "--resume", "-o", tmp_path / "b.fqz"], capsys)
    assert rc == 0 and (tmp_path / "b.json").is_file(), err
    import json

    assert json.loads((tmp_path / "b.json").read_text())["finetune"]["resumed_from"] == 1
    expect_error(common + ["--epochs", "1", "--resume", "-o", tmp_path / "c.fqz"], capsys,
                 "field 'epoch'", "0..1")  # 2 epochs done, 1 asked for


# ------------------------------------------------------------------------------------------------ outputs


def test_compress_never_overwrites_and_never_half_writes(ckpt, model, tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    out = tmp_path / "out.fqz"
    base = ["compress", "--arch", "smallcnn", "--weights", ckpt, "--method", "fq5", "--no-progress",
            "--data", "digits", "--bn-recalibration", "0", "--limit", "20"]
    out.write_bytes(b"the user's earlier model")
    before = snapshot(tmp_path)
    expect_error(base + ["-o", out], capsys, str(out), "exists", "--force")
    assert snapshot(tmp_path) == before
    out.unlink()
    (tmp_path / "out.json").write_text("{}")  # only the report exists: still refused
    expect_error(base + ["-o", out], capsys, "out.json", "exists")
    (tmp_path / "out.json").unlink()
    for target, why in ((tmp_path / "missing" / "o.fqz", "does not exist"), (tmp_path / "o.fqz" / "x.fqz", ""),
                        (model / "x.fqz", "not a folder"), (tmp_path, "")):
        expect_error(base + ["-o", target], capsys, why)
    # a failure after the work (here: the evaluation) leaves neither file nor a temporary one
    from fq_hls.compress import evaluate as ev
    from fq_hls.errors import InputError

    def broken(*a, **k):
        raise InputError("evaluation failed on purpose")

    monkeypatch.setattr(ev, "evaluate_model", broken)
    snap = snapshot(tmp_path)
    expect_error(base + ["-o", out], capsys, "on purpose")
    assert snapshot(tmp_path) == snap
    monkeypatch.undo()
    out.write_bytes(b"the user's earlier model")
    rc, _, err = cli(base + ["-o", out, "--force"], capsys)  # --force replaces both, whole
    assert rc == 0, err
    assert out.read_bytes()[:4] == b"FQZ\x00" and (tmp_path / "out.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_lower_output_checked_before_work(model, tmp_path, capsys):
    before = snapshot(tmp_path)
    (tmp_path / "ro").mkdir()
    cases = [(tmp_path / "missing" / "r.json", "does not exist"), (tmp_path / "ro", "is a folder"),
             (model, "input"), (model / "r.json", "not a folder")]
    for target, why in cases:
        expect_error(["lower", model, "-o", target], capsys, why)
    expect_error(["lower", model, "-o", model, "--force"], capsys, "input")  # never, even with --force
    report = tmp_path / "r.json"
    report.write_text("mine")
    expect_error(["lower", model, "-o", report], capsys, "exists", "--force")
    assert report.read_text() == "mine"
    assert cli(["lower", model, "-o", report, "--force", "--limit", "2", "--json"], capsys)[0] == 0
    assert report.read_text().startswith("{")
    before["r.json"] = snapshot(tmp_path)["r.json"]
    assert snapshot(tmp_path) == before


def test_project_folders_checked_before_work(model, tmp_path, capsys):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"\xff\xd8 precious")
    (tmp_path / "afile").write_text("x")
    before = snapshot(tmp_path)
    for cmd in ("hls", "build"):
        for target, why in ((foreign, "not an fq-hls"), (tmp_path / "afile", "not a folder"),
                            (tmp_path / "afile" / "sub", "not a folder")):
            expect_error([cmd, model, "--board", "pynq-z2", "-o", target], capsys, str(target.parent), why)
    assert snapshot(tmp_path) == before


def test_report_and_demo_outputs_checked_before_work(model, tmp_path, capsys, monkeypatch):
    from fq_hls.cost import report

    def never(*a, **k):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr(report, "build_report", never)
    (tmp_path / "afile").write_text("x")
    full = tmp_path / "full"
    full.mkdir()
    (full / "report.md").write_text("my notes")
    (full / "demo.json").write_text("{}")
    before = snapshot(tmp_path)
    for target, why in ((tmp_path / "afile", "not a folder"), (tmp_path / "afile" / "r", "not a folder"),
                        (full, "report.md")):
        expect_error(["report", "--board", "pynq-z2", "-o", target], capsys, why)
    for target, why in ((tmp_path / "afile", "not a folder"), (full, "demo.json")):
        expect_error(["demo", "-o", target], capsys, why)
    expect_error(["report", "--board", "pynq-z2", "--hw-reports", tmp_path / "nope"], capsys, "nope")
    expect_error(["report", "--board", "pynq-z2", "--network", "vgg"], capsys, "argument --network: invalid choice: 'vgg'")
    expect_error(["report", "--board", "nope"], capsys, "argument --board: invalid choice: 'nope'")
    expect_error(["demo", "--data", tmp_path / "afile"], capsys, "afile")  # bad test images: before the work
    assert snapshot(tmp_path) == before


def test_prune_never_overwrites(ckpt, tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "p.pt"
    out.write_bytes(b"mine")
    argv = ["prune", "--arch", "smallcnn", "--weights", ckpt, "--sparsity", "0.5", "--epochs", "1", "--data",
            "digits", "-o"]
    expect_error(argv + [out], capsys, "exists", "--force")
    expect_error(argv + [ckpt, "--force"], capsys, "input")
    expect_error(argv + [tmp_path / "p.txt"], capsys, ".pt or .pth")
    assert out.read_bytes() == b"mine"
