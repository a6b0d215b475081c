"""Overlay and model agree (issue 17, item 8): the runtime refuses a program image that the loaded overlay
cannot run (engine, P, V, buffer sizes, format version), naming the mismatch, before anything runs."""

from __future__ import annotations

import dataclasses
import json

import pytest
from runtime_models import tiny_model

from fq_hls.errors import DeviceError
from fq_hls.fqz import write_fqz
from fq_hls.hw.config import hardware_config
from fq_hls.hw.descriptors import D
from fq_hls.hw.program import PROGRAM_FORMAT, build_program
from fq_hls.lower import lower
from fq_hls.runtime.agreement import check_overlay_params, check_program
from fq_hls.runtime.hwh import hwh_text, read_hwh

SMALL = dict(lanes=4, pixels=4, max_in_ch=32, max_width=16, max_out_ch=32, max_nnz_per_lane=512)


def _cfg(engine: str = "fq", **kw):
    return hardware_config("pynq-z2", engine, **{**SMALL, **kw})


@pytest.fixture(scope="module")
def graph():
    return lower(tiny_model("fq", seed=3))


@pytest.fixture(scope="module")
def program(graph):
    return build_program(graph, _cfg())


def test_a_program_runs_on_the_overlay_it_was_packed_for(program):
    check_program(program, _cfg(), "overlay")
    check_program(program, _cfg(clock_mhz=50.0), "overlay")  # the clock does not change the program
    assert program.format_version == PROGRAM_FORMAT and program.hardware["lanes"] == 4


@pytest.mark.parametrize("field,value", [("lanes", 8), ("pixels", 8), ("max_nnz_per_lane", 256),
                                         ("max_in_ch", 64), ("lb_words", 4096), ("axi_bits", 128)])
def test_another_engine_size_is_refused_by_name(program, field, value):
    with pytest.raises(DeviceError, match=f"packed for {field}={program.hardware[field]}, the overlay has "
                                          f"{field}={value}"):
        check_program(program, _cfg(**{field: value}), "overlay")


def test_another_engine_is_refused(graph, program):
    with pytest.raises(DeviceError, match="packed for engine=fq, the overlay has engine=int8"):
        check_program(program, _cfg("int8"), "overlay")


def test_format_versions_must_agree(program):
    with pytest.raises(DeviceError, match=f"program format {PROGRAM_FORMAT}, the overlay reads format 7"):
        check_program(program, _cfg(), "overlay", overlay_format=7)
    old = dataclasses.replace(program, format_version=PROGRAM_FORMAT + 1)
    with pytest.raises(DeviceError, match=f"program format {PROGRAM_FORMAT + 1}"):
        check_program(old, _cfg(), "overlay")
    with pytest.raises(DeviceError, match="does not say which engine"):
        check_program(dataclasses.replace(program, hardware={}), _cfg(), "overlay")


@pytest.mark.parametrize("word,value,msg", [
    ("IN_CH", 33, "33 input channels > the overlay's max_in_ch 32"),
    ("OUT_CH", 64, "64 output channels > the overlay's max_out_ch 32"),
    ("MAX_ENTRIES", 513, "513 weight entries per lane > the overlay's weight buffer max_nnz_per_lane 512"),
    ("KERNEL", 9, "kernel 9 > the overlay's max_kernel 7"),
    ("ENTRY_BYTES", 1, "1-byte weight entries"),
    ("OP", 9, "op code 9"),
])
def test_a_descriptor_beyond_the_overlay_is_refused_by_layer(program, word, value, msg):
    bad = dataclasses.replace(program, descriptors=program.descriptors.copy())
    bad.descriptors[1, D[word]] = value
    with pytest.raises(DeviceError, match=f"layer {program.layer_names[1]}: .*{msg}"):
        check_program(bad, _cfg(), "overlay")


def test_line_buffer_of_the_overlay_is_checked(program):
    tight = dict(program.hardware, lb_words=64)
    bad = dataclasses.replace(program, hardware=tight)
    with pytest.raises(DeviceError, match=r"line buffer needs \d+ entries > the overlay's 64"):
        check_program(bad, _cfg(lb_words=64), "overlay")


def test_hwh_parameters_against_the_build_configuration(tmp_path):
    p = tmp_path / "o.hwh"
    p.write_text(hwh_text(_cfg(lanes=8)))
    params = read_hwh(str(p)).ip_params
    assert params["FQ_LANES"] == "8" and params["FQ_PROGRAM_FORMAT"] == str(PROGRAM_FORMAT)
    check_overlay_params(params, _cfg(lanes=8), "o.bit")
    with pytest.raises(DeviceError, match="o.bit: the overlay's .hwh says lanes=8, its hardware configuration "
                                          "says lanes=4"):
        check_overlay_params(params, _cfg(), "o.bit")
    with pytest.raises(DeviceError, match=f"reads program format 9, this runtime writes format {PROGRAM_FORMAT}"):
        check_overlay_params({**params, "FQ_PROGRAM_FORMAT": "9"}, _cfg(lanes=8), "o.bit")
    check_overlay_params({}, _cfg(), "vivado.bit")  # a Vivado .hwh states no engine: the manifest decides


def _never(*args):
    raise AssertionError("the kernel ran although the overlay and the program disagree")


def test_accelerator_refuses_before_anything_runs(graph):
    from fq_hls.runtime.runner import Accelerator

    other = build_program(graph, _cfg(lanes=8))
    with pytest.raises(DeviceError, match="packed for lanes=8, the overlay has lanes=4"):
        Accelerator(graph, _cfg(), emulate=True, kernel=_never, program=other)


def test_build_folder_whose_bitstream_and_manifest_disagree(tmp_path, monkeypatch):
    from fq_hls.runtime.runner import Accelerator

    monkeypatch.delenv("FQ_HLS_EMULATE", raising=False)
    d = tmp_path / "build"
    d.mkdir()
    write_fqz(tiny_model("fq", seed=3), d / "model.fqz")
    (d / "fq_accel.hwh").write_text(hwh_text(_cfg(pixels=8)))
    (d / "fq_accel.bit").write_bytes(b"\0" * 16)
    manifest = {"hardware": _cfg().to_dict(), "bitstream": "fq_accel.bit", "program_format": PROGRAM_FORMAT}
    (d / "hw_config.json").write_text(json.dumps(manifest))
    with pytest.raises(DeviceError, match="says pixels=8, its hardware configuration says pixels=4"):
        Accelerator.open(str(d), emulate=True, kernel=_never)
    (d / "fq_accel.hwh").write_text(hwh_text(_cfg()))
    (d / "hw_config.json").write_text(json.dumps({**manifest, "program_format": PROGRAM_FORMAT + 1}))
    with pytest.raises(DeviceError, match=f"the overlay reads format {PROGRAM_FORMAT + 1}"):
        Accelerator.open(str(d), emulate=True, kernel=_never)
