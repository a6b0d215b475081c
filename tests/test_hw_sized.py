"""The sized engines (fq_hls.hw.sized): the committed file, merging writes, refusals, and `fq-hls report`
saving them only when it runs the default sizing."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fq_hls.errors import InputError
from fq_hls.hw import sized
from fq_hls.hw.config import BOARDS, hardware_config


def test_committed_file_sizes_every_board_on_its_defaults():
    cfgs = sized.sized_configs()
    assert set(cfgs) == {(b, e) for b in BOARDS for e in ("fq", "int8")}
    for (board, engine), cfg in cfgs.items():
        default = hardware_config(board, engine)
        # only the searched fields may differ from the board's defaults
        assert replace(cfg, **{k: getattr(default, k) for k in sized.SEARCHED}) == default
        assert sized.sized_config(board, engine) == cfg


def test_write_merges_boards_and_reports_changes(tmp_path):
    path = tmp_path / "sized.json"
    a = hardware_config("pynq-z2", "fq", lanes=12, fill_overlap=False)
    b = hardware_config("zcu104", "int8", lanes=48, pixels=32, lb_words=4096)
    assert sized.write_sized({("pynq-z2", "fq"): a}, path)
    assert sized.write_sized({("zcu104", "int8"): b}, path)
    assert not sized.write_sized({("zcu104", "int8"): b}, path)  # unchanged: not rewritten
    assert sized.sized_configs(path) == {("pynq-z2", "fq"): a, ("zcu104", "int8"): b}
    assert set(json.loads(path.read_text())["engines"]["zcu104"]["int8"]) == set(sized.SEARCHED)


def test_missing_and_malformed_entries_are_refused(tmp_path):
    path = tmp_path / "sized.json"
    sized.write_sized({("pynq-z2", "fq"): hardware_config("pynq-z2", "fq")}, path)
    with pytest.raises(InputError, match=r"no sized int8 engine for board 'pynq-z2'.*fq-hls report"):
        sized.sized_config("pynq-z2", "int8", path)
    data = json.loads(path.read_text())
    data["engines"]["pynq-z2"]["fq"]["lanes_typo"] = 3
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"engines\.pynq-z2\.fq: expected the fields"):
        sized.sized_configs(path)
    path.write_text(json.dumps({"engines": {"nope": {}}}))
    with pytest.raises(InputError, match="not a board"):
        sized.sized_configs(path)
    path.write_text("{")
    with pytest.raises(InputError, match="not a sized-engine file"):
        sized.sized_configs(path)


@pytest.mark.parametrize("extra, saved", [([], True), (["--network", "resnet18"], False),
                                          (["--sparsity", "0.8"], False)])
def test_report_saves_only_the_default_sizing(monkeypatch, tmp_path, capsys, extra, saved):
    from fq_hls.cli import main
    from fq_hls.cost import report

    path = tmp_path / "sized.json"
    cfg = hardware_config("kv260", "fq", lanes=16, pixels=16)

    def fake(boards, *a, **kw):  # the report's search takes minutes: its result is what matters here
        return {"synthesis": "ok", "boards": {}}, {("kv260", "fq"): cfg}

    monkeypatch.setattr(sized, "SIZED_FILE", path)
    monkeypatch.setattr(report, "sized_report", fake)
    monkeypatch.setattr(report, "markdown", lambda rep: "")
    assert main(["report", "--board", "kv260", *extra]) == 0
    assert path.exists() == saved
    if saved:
        assert sized.sized_config("kv260", "fq", path) == cfg
        assert "updated" in capsys.readouterr().err
