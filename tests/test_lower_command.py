"""`fq-hls lower`: report on a .fqz, JSON output, errors without a traceback."""

import json

import pytest

from fq_hls.cli import main
from fq_hls.synthetic import random_compressed


@pytest.fixture(scope="module")
def fqz(tmp_path_factory):
    fqz_mod = pytest.importorskip("fq_hls.fqz")
    path = tmp_path_factory.mktemp("m") / "small.fqz"
    fqz_mod.write_fqz(random_compressed("smallcnn", "fq5", seed=3), path)
    return path


def test_text_report(fqz, capsys):
    assert main(["lower", str(fqz), "--limit", "8"]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "avgpool" in out and "top-1 agreement" in out and "shift" in out


def test_json_report_and_output_file(fqz, tmp_path, capsys):
    dest = tmp_path / "r.json"
    assert main(["lower", str(fqz), "--limit", "16", "--json", "-o", str(dest)]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep == json.loads(dest.read_text())
    assert rep["comparison"]["images"] == 16 and 0.0 <= rep["comparison"]["top1_agreement"] <= 1.0
    conv1 = rep["layers"][0]
    assert conv1["name"] == "conv1" and conv1["out_type"] == "uint8" and len(conv1["shift"]) == 2
    assert rep["layers"][-1]["out_type"] == "int32"


def test_digits_data(fqz, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    assert main(["lower", str(fqz), "--data", "digits", "--limit", "20", "--json"]) == 0
    c = json.loads(capsys.readouterr().out)["comparison"]
    assert c["images"] == 20 and "top1_integer" in c and "top1_float" in c


def test_errors_have_no_traceback(fqz, tmp_path, capsys):
    assert main(["lower", str(tmp_path / "missing.fqz")]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert main(["lower", str(fqz), "--limit", "0"]) == 2
    assert main(["lower", str(fqz), "-o", str(fqz)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
