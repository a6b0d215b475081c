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
    assert set(cfgs) == {(b, e) for b in BOARDS for e in sized.ENGINES}
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


# the sensitivity row's --sparsity does not change the sizing (the embedded workloads do): still saved
@pytest.mark.parametrize("extra, saved", [([], True), (["--network", "resnet18"], False),
                                          (["--sparsity", "0.8"], True)])
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


def test_engine_config_is_the_sized_engine_unless_told_otherwise(tmp_path):
    path = tmp_path / "sized.json"
    deep = hardware_config("zcu104", "int8", lanes=48, pixels=32, lb_words=131033)
    sized.write_sized({("zcu104", "int8"): deep}, path)
    assert sized.engine_config("zcu104", "int8", path) == (deep, "sized")
    assert sized.engine_config("zcu104", "fq", path) == (hardware_config("zcu104", "fq"), "default")
    assert sized.engine_config("zcu104", "int8", path, use_sized=False)[0] == hardware_config("zcu104", "int8")
    cfg, origin = sized.engine_config("zcu104", "int8", path, lanes=8)
    assert (cfg.lanes, cfg.pixels, cfg.lb_words) == (8, 32, 131033) and origin == "sized with overrides"
    # a depth sized for the old V does not follow a new V
    assert sized.engine_config("zcu104", "int8", path, pixels=8)[0].lb_words == 0
    fq = hardware_config("zcu104", "fq", lanes=24, pixels=32, dsp_lanes=24)
    sized.write_sized({("zcu104", "fq"): fq}, path)
    assert sized.engine_config("zcu104", "fq", path, lanes=4)[0].dsp_lanes == 4  # clamped with the lanes
    with pytest.raises(InputError, match="unknown board"):
        sized.engine_config("nope", "fq", path)
    with pytest.raises(InputError, match="unknown engine"):
        sized.engine_config("zcu104", "int4", path)


def test_origin_of_names_sized_default_and_custom(tmp_path):
    path = tmp_path / "sized.json"
    cfg = hardware_config("kv260", "fq", lanes=16, pixels=16)
    sized.write_sized({("kv260", "fq"): cfg}, path)
    assert sized.origin_of(cfg, path).startswith("sized")
    assert sized.origin_of(hardware_config("kv260", "int8"), path).startswith("board default")
    assert sized.origin_of(replace(cfg, lanes=4), path).startswith("custom")


def test_records_written_before_a_field_existed_still_read(tmp_path):
    path = tmp_path / "sized.json"
    rec = {"lanes": 8, "pixels": 8, "clock_mhz": 100.0}
    path.write_text(json.dumps({"engines": {"pynq-z2": {"fq": rec}}}))
    assert sized.sized_config("pynq-z2", "fq", path) == hardware_config("pynq-z2", "fq", lanes=8, pixels=8)
