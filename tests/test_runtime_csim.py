"""The emulated board with the real C-simulated engine: bit-exact against the numpy reference."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

pytest.importorskip("pynq")
csim = pytest.importorskip("fq_hls.csim")
program_mod = pytest.importorskip("fq_hls.hw.program")

sys.path.insert(0, os.path.dirname(__file__))
from runtime_models import tiny_model  # noqa: E402

from fq_hls.hw.config import hardware_config  # noqa: E402
from fq_hls.lower import lower  # noqa: E402
from fq_hls.reference import run_integer  # noqa: E402
from fq_hls.runtime.runner import Accelerator  # noqa: E402

pytestmark = pytest.mark.csim

# small engines keep the g++ build and the simulation quick
SMALL = dict(lanes=4, pixels=4, max_in_ch=32, max_width=16, max_out_ch=32, max_nnz_per_lane=512)


def _cfg(engine: str):
    from fq_hls.csim.kernel import ap_types_dir, compiler
    from fq_hls.errors import ToolMissingError

    try:
        compiler()
        ap_types_dir()
    except ToolMissingError as e:
        pytest.skip(str(e))
    return hardware_config("pynq-z2", engine, **SMALL)


@pytest.fixture(scope="module", params=["fq", "int8"])
def engine_acc(request):
    engine = request.param
    cfg = _cfg(engine)
    kernel = csim.load_kernel(cfg)
    graph = lower(tiny_model(engine))
    acc = Accelerator(graph, cfg, emulate=True, kernel=kernel.run)
    yield engine, graph, acc
    acc.close()


def test_one_image_and_batch_bit_exact(engine_acc):
    engine, graph, acc = engine_acc
    rng = np.random.default_rng(1)
    px = rng.integers(0, 256, size=(4, 8, 8, 3), dtype=np.uint8)
    ref = np.asarray(run_integer(graph, graph.quantize_input(px)))
    one = acc.run(px[0])
    np.testing.assert_array_equal(one, ref[0])
    batch = acc.run(px)
    assert batch.dtype == np.int32 and batch.shape == (4, graph.num_classes)
    np.testing.assert_array_equal(batch, ref)
    assert len(np.unique(batch, axis=0)) > 1  # different images, different logits
    st = acc.stats()
    assert st.evidence == "csim" and st.cycles > 0
    assert st.latency_ms["p50"] == pytest.approx(st.cycles / (acc.cfg.clock_mhz * 1e3), rel=0.5)


def test_predict_with_overlapped_transfers_bit_exact(engine_acc):
    engine, graph, acc = engine_acc
    px = np.random.default_rng(7).integers(0, 256, size=(5, 8, 8, 3), dtype=np.uint8)
    ref = np.asarray(run_integer(graph, graph.quantize_input(px)))
    np.testing.assert_array_equal(acc.predict(px, batch_size=2), ref)
    np.testing.assert_array_equal(acc.predict(px, overlap=False), ref)
    t = acc.throughput_test(3)
    assert t["images"] == 3 and t["images_per_s"] > 0 and t["fclk_mhz"] == pytest.approx(acc.cfg.clock_mhz)


def test_cli_check_against_logits_shipped_at_build_time(tmp_path, capsys, monkeypatch):
    from fq_hls.cli import main
    from fq_hls.fqz import write_fqz
    from fq_hls.runtime.refcheck import REFERENCE_NAME, write_reference

    _cfg("fq")
    monkeypatch.delenv("FQ_HLS_EMULATE", raising=False)
    model = tiny_model("fq", seed=3)
    build = tmp_path / "build"
    build.mkdir()
    write_fqz(model, build / "model.fqz")
    (build / "hw_config.json").write_text(json.dumps({"hardware": hardware_config("pynq-z2", "fq", **SMALL).to_dict()}))
    write_reference(build, lower(model))

    def run(*extra):
        rc = main(["run", str(build), "--emulate", "--images", "3", "--check", "--json", *extra])
        return rc, json.loads(capsys.readouterr().out)

    rc, out = run()
    assert rc == 0 and out["bit_exact"] and out["reference"] == {"shipped": 3, "recomputed": 0}
    rc, out = run("--check-on-board")
    assert rc == 0 and out["bit_exact"] and out["reference"] == {"shipped": 0, "recomputed": 3}
    # shipped logits that disagree with the board are reported (the check really uses them)
    ref = dict(np.load(build / REFERENCE_NAME))
    ref["logits"][1] += 1
    np.savez(build / REFERENCE_NAME, **ref)
    rc, out = run()
    assert rc == 1 and out["bit_exact"] is False and out["mismatched_images"] == [1]

    # fq-hls doctor: versions, register map, clock and a one-image check against the shipped logits
    rc = main(["doctor", str(build), "--emulate", "--json"])
    rep = json.loads(capsys.readouterr().out)
    ov = rep["overlay"]
    assert rc == 0 and rep["versions"]["pynq"] and ov["register_map"]["n_layers"] == "0x40"
    assert ov["fclk_mhz"] == pytest.approx(100.0) and ov["one_image"]["bit_exact"]
    assert ov["one_image"]["reference"] == {"shipped": 1, "recomputed": 0}


def test_cli_run_emulated_check_json(tmp_path, capsys, monkeypatch):
    from fq_hls.cli import main
    from fq_hls.fqz import write_fqz

    _cfg("fq")
    monkeypatch.delenv("FQ_HLS_EMULATE", raising=False)
    model = tiny_model("fq", seed=3)
    path = tmp_path / "model.fqz"
    write_fqz(model, path)
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "data.npz", x=rng.integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8),
             y=np.arange(6) % 3)
    build = tmp_path / "build"
    build.mkdir()
    (build / "model.fqz").write_bytes(path.read_bytes())
    manifest = {"hardware": hardware_config("pynq-z2", "fq", **SMALL).to_dict(), "model": "model.fqz",
                "bitstream": "fq_accel.bit", "built": False}  # the layout `fq-hls build` writes, before Vivado
    (build / "hw_config.json").write_text(json.dumps(manifest))
    rc = main(["run", str(build), "--emulate", "--images", "3", "--data", str(tmp_path / "data.npz"), "--check",
               "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["bit_exact"] is True and out["images"] == 3 and out["evidence"] == "csim"
    assert 0.0 <= out["top1"] <= 1.0 and {"p50", "p90", "p99"} <= set(out["latency_ms"]) and out["fps"] > 0
    # a .fqz without a build folder runs only emulated
    rc = main(["run", str(path)])
    assert rc == 2 and "--emulate" in capsys.readouterr().err


def test_device_without_kernel_builds_the_csim_on_first_start():
    """The device pynq discovers with FQ_HLS_EMULATE=1 has no kernel until the IP is started."""
    from fq_hls.runtime.emulated import EmulatedDevice

    cfg = _cfg("int8")
    graph = lower(tiny_model("int8", seed=5))
    dev = EmulatedDevice(cfg)
    x = graph.quantize_input(np.random.default_rng(4).integers(0, 256, size=(2, 8, 8, 3), dtype=np.uint8))
    with Accelerator(graph, cfg, emulate=True, device=dev) as acc:
        np.testing.assert_array_equal(acc.run(x), run_integer(graph, x))
