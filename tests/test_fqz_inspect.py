"""`fq-hls inspect`: table and JSON output, errors without a traceback."""

import json

from _fqz_models import small_model

from fq_hls.cli import main
from fq_hls.fqz import size_report, write_fqz


def test_inspect_table_and_json(tmp_path, capsys):
    m = small_model()
    path = tmp_path / "m.fqz"
    write_fqz(m, path)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    for name in ("conv1", "conv2", "conv3", "fc", "recentralized", "compression ratio"):
        assert name in out
    assert main(["inspect", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rep = size_report(m)
    assert doc["size_bytes"] == doc["file_bytes"] == path.stat().st_size == rep["size_bytes"]
    assert doc["arch"] == "smallcnn" and doc["method"] == "fq5" and doc["input_shape"] == [3, 8, 8]
    assert [r["name"] for r in doc["layers"]] == ["conv1", "conv2", "conv3", "fc"]
    assert doc["layers"][1]["mode"] == "recentralized"


def test_inspect_bad_file(tmp_path, capsys):
    bad = tmp_path / "bad.fqz"
    bad.write_bytes(b"not a model at all")
    assert main(["inspect", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.fqz" in err and "not a .fqz file" in err and "Traceback" not in err
