"""What a first run on a real board meets, on the emulated board: the .hwh per chip family as pynq parses it,
PL clocks programmed through pynq.Clocks, the register and address maps checked, predict with overlapped
transfers, the throughput test, the launcher and the root check."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pynq = pytest.importorskip("pynq")

from test_runtime_emulated import C, H, K, W, make_acc, toy_expected, toy_kernel  # noqa: E402

from fq_hls.errors import DeviceError  # noqa: E402
from fq_hls.hw.config import hardware_config  # noqa: E402
from fq_hls.runtime.emulated import EmulatedDevice  # noqa: E402
from fq_hls.runtime.hwh import read_hwh, write_emulation_overlay  # noqa: E402
from fq_hls.runtime.overlay import FqOverlay  # noqa: E402


def _params(hwh: str, modtype: str) -> dict:
    root = ET.parse(hwh).getroot()
    mod = next(m for m in root.iter("MODULE") if m.get("MODTYPE") == modtype)
    return {p.get("NAME"): p.get("VALUE") for p in mod.iter("PARAMETER")}


@pytest.mark.parametrize("board,clock,modtype,fclk", [
    ("pynq-z2", 125.0, "processing_system7", 125.0),  # IO PLL 1000 MHz / 8
    ("kv260", 200.0, "zynq_ultra_ps_e", 1499.985 / 8),  # IOPLL 1499.985 MHz: 200 is not reachable, 187.5 is
    ("zcu104", 100.0, "zynq_ultra_ps_e", 1499.985 / 15),
])
def test_hwh_per_family_as_pynq_parses_it_and_clocks_set_through_pynq(tmp_path, board, clock, modtype, fclk):
    from dataclasses import replace

    cfg = replace(hardware_config(board), clock_mhz=clock)
    bit = write_emulation_overlay(str(tmp_path), cfg)
    hwh = bit[:-4] + ".hwh"
    params = _params(hwh, modtype)
    prefix = "PCW_" if modtype == "processing_system7" else "PSU__"
    clock_params = [k for k in params if "FCLK" in k or "PL0" in k or "FPGA" in k]
    assert clock_params and all(k.startswith(prefix) for k in clock_params)
    info = read_hwh(hwh)
    assert info.family == cfg.info.family and info.pl_clocks_mhz[0] == pytest.approx(fclk, abs=1e-5)

    dev = EmulatedDevice(cfg, kernel=toy_kernel)
    # a factory-default PL clock before the download (100 MHz on every image)
    assert dev.pl_clock_mhz(0) == pytest.approx(100.0, abs=1e-2)
    ov = FqOverlay(bit, device=dev, hw_config=cfg)
    parsed = dev.parsed_clock_dict[0]
    assert parsed["enable"] == 1 and parsed["src_sel"] == ("IO PLL" if prefix == "PCW_" else "IOPLL")
    # pynqmetadata reads the achieved rate only under the ZynqMP name: on a Zynq-7000 it finds none
    assert (parsed["frequency"] is None) == (prefix == "PCW_")
    assert ov.clock_dict[0]["frequency"] == pytest.approx(fclk, abs=1e-5)
    # pynq's Overlay.download programmed the divisors through pynq.Clocks into the PS clock registers
    assert ov.fclk_mhz == pytest.approx(fclk, rel=1e-4)
    # the block design as pynq sees it: PS, IP, one SmartConnect per port, reset; the IP's clock from the PS
    blocks = ov.parser.md.blocks
    assert {"fq_accel_0", "rst_pl", "sc_control", "sc_gmem_w", "sc_gmem_in", "sc_gmem_out", "sc_gmem_in2"} <= set(blocks)
    ap_clk = blocks["fq_accel_0"].ports["ap_clk"].signals["ap_clk"]
    assert any("pl_clk0" in r or "FCLK_CLK0" in r for r in ap_clk._connections)
    assert "fq_accel_0" in ov.ip_dict and not any(k.startswith("sc_") for k in ov.ip_dict)
    ov.fclk_mhz = 50.0  # the setter goes through pynq.Clocks as well
    assert ov.fclk_mhz == pytest.approx(50.0, rel=2e-2)


def test_plain_pynq_overlay_cannot_set_a_zynq7_clock_fqoverlay_can(tmp_path):
    cfg = hardware_config("pynq-z2")
    bit = write_emulation_overlay(str(tmp_path), cfg)
    with pytest.raises(TypeError):  # Clocks.set_pl_clk(0, clk_mhz=None): what a real PYNQ-Z2 run would hit
        pynq.Overlay(bit, device=EmulatedDevice(cfg, kernel=toy_kernel))
    ov = FqOverlay(bit, device=EmulatedDevice(cfg, kernel=toy_kernel), fclk_mhz=50.0)
    assert ov.fclk_mhz == pytest.approx(50.0)


def test_run_reports_the_programmed_clock():
    with make_acc(board="kv260") as acc:
        acc.run(np.ones((C, H, W), np.int8))
        assert acc.stats().clock_mhz == pytest.approx(1499.985 / 8, rel=1e-6)


def test_register_map_mismatch_is_refused_naming_the_register():
    with pytest.raises(DeviceError, match=r"register 'n_layers' is at offset 0x44 in the .hwh, the ABI has 0x40"):
        make_acc(emulated_hwh={"registers": {"n_layers": 0x44}})
    # an IP synthesized with 32-bit m_axi addresses has no high words
    with pytest.raises(DeviceError, match=r"register 'weights_2' \(ABI offset 0x14\) is missing"):
        make_acc(emulated_hwh={"registers": {"weights_2": None}})


def test_unmapped_addresses_are_refused_and_small_buffers_stay_low():
    # ZynqMP, a design that maps only low DDR; buffers of <= 4 KB come from above 4 GB (XRT 2.17)
    with make_acc(board="kv260", emulated_hwh={"ddr_segments": ["DDR_LOW"]}) as acc:
        small = pynq.allocate((2816,), np.uint8, target=acc.overlay.device)
        assert small.device_address >= 1 << 32
        with pytest.raises(DeviceError, match=r"'desc': buffer 0x8000\w+\+2816 is not mapped to "
                                              r"fq_accel_0/m_axi_gmem_w \(mapped: 0x0-0x7fffffff\)"):
            acc.driver.set_pointer("desc", small)
        # the runner's own buffers are allocated large enough to stay in low DDR, and run
        assert all(b.device_address + b.nbytes <= 1 << 31 for b in (acc.weights, acc.desc, acc.act))
        x = np.arange(2 * C * H * W, dtype=np.int64).astype(np.int8).reshape(2, C, H, W)
        np.testing.assert_array_equal(acc.run(x), toy_expected(x))
    with pytest.raises(DeviceError, match="maps no memory to fq_accel_0/m_axi_gmem_w"):
        make_acc(emulated_hwh={"ddr_segments": []})


def test_predict_overlaps_transfers_with_runs_and_is_bit_exact():
    runs: list[tuple[float, float]] = []

    def slow(weights, act, desc, n_layers):
        t0 = time.perf_counter()
        time.sleep(0.02)
        out = toy_kernel(weights, act, desc, n_layers)
        runs.append((t0, time.perf_counter()))
        return out

    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, size=(5, C, H, W), dtype=np.int8)
    with make_acc(kernel=slow) as acc:
        staged: list[float] = []
        stage = acc._stage
        acc._stage = lambda act, xi: (staged.append(time.perf_counter()), stage(act, xi))[1]
        seq = acc.run(x)
        runs.clear()
        staged.clear()
        got, host = acc.predict(x, batch_size=2, profile=True)
        np.testing.assert_array_equal(got, seq)
        np.testing.assert_array_equal(got, toy_expected(x))
        assert acc.act2 is not None and acc.act2.device_address != acc.act.device_address
        # images 1..4 were written while the IP ran the image before them
        assert len(runs) == 5 and len(staged) == 5
        assert all(runs[i][0] <= staged[i + 1] <= runs[i][1] for i in range(4))
        assert set(host) == {"prepare", "write", "wait", "read", "total"}
        np.testing.assert_array_equal(acc.predict(x, overlap=False), seq)
        np.testing.assert_array_equal(acc.predict(x[0]), seq[0])
        with pytest.raises(Exception, match="batch_size 0"):
            acc.predict(x, batch_size=0)


def test_throughput_test_counts():
    with make_acc() as acc:
        r = acc.overlay.throughput_test(images=7, batch_size=3)
        assert r["images"] == 7 and r["evidence"] == "csim" and r["fclk_mhz"] == pytest.approx(100.0)
        lat = acc._latency_ms[-7:]
        assert r["images_per_s"] == pytest.approx(7000.0 / sum(lat))
        per_image = acc.program.weights.nbytes + acc.program.descriptors.nbytes + C * H * W
        assert r["ddr_in_bytes_per_image"] == per_image and r["ddr_out_bytes_per_image"] == 4 * K
        assert r["ddr_in_bytes_per_s"] == pytest.approx(per_image * r["images_per_s"])
        assert acc.stats().images == 7
        assert acc.overlay.predict(np.zeros((C, H, W), np.int8)).shape == (K,)


def _launcher(tmp_path, pynq_python: str):
    from fq_hls.build.flow import launcher_text

    d = tmp_path / "overlay"
    d.mkdir(parents=True)
    (d / "run_on_board.py").write_text(launcher_text("int8", pynq_python=pynq_python))
    return d / "run_on_board.py"


def test_launcher_reexecs_with_the_pynq_interpreter(tmp_path):
    import os
    import subprocess
    import sys

    bare = "/usr/bin/python3"  # a python without pynq, as the system python3 of a PYNQ 3.x image
    if not os.path.isfile(bare) or subprocess.run([bare, "-c", "import pynq"], capture_output=True).returncode == 0:
        pytest.skip("needs a system python3 without pynq")
    script = _launcher(tmp_path, sys.executable)
    r = subprocess.run([bare, str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--check-on-board" in r.stdout, r.stderr  # fq-hls run's help, from the venv
    missing = _launcher(tmp_path / "m", "/nonexistent/pynq-venv/bin/python3")
    r = subprocess.run([bare, str(missing)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "cannot import" in r.stderr and "/nonexistent/pynq-venv/bin/python3 -m pip" in r.stderr


def test_launcher_without_root_prints_the_command(tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the launcher as another user")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="fq_hls_launcher_") as d:  # readable by the other user
        os.chmod(d, 0o755)
        script = _launcher(Path(d), sys.executable)
        os.chmod(script.parent, 0o755)
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, str(script),
                            "--images", "2"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"sudo env XILINX_XRT=/usr {sys.executable} {script} --images 2" in r.stderr


def test_root_check_names_the_command(monkeypatch):
    import sys

    from fq_hls.runtime import board

    monkeypatch.setattr(board, "is_root", lambda: False)
    argv = ["/usr/local/bin/fq-hls", "run", "/home/xilinx/ov", "--check"]
    # no pynq venv on this host: the interpreter running now
    with pytest.raises(DeviceError, match=rf"run: sudo env XILINX_XRT=/usr {sys.executable} "
                                          r"-m fq_hls run /home/xilinx/ov --check$"):
        board.check_root(argv)
    monkeypatch.setattr(board, "board_python", lambda: board.PYNQ_PYTHON)  # on a PYNQ 3.x image
    with pytest.raises(DeviceError, match=r"run: sudo env XILINX_XRT=/usr /usr/local/share/pynq-venv/bin/python3 "
                                          r"-m fq_hls run /home/xilinx/ov --check$"):
        board.check_root(argv)
    monkeypatch.setattr(board, "is_root", lambda: True)
    board.check_root(argv)


def test_board_wheel_pins_numpy_and_runs_without_torch(tmp_path):
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    from test_runtime_notorch import BLOCKER

    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(root),
                        "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.skip(f"pip cannot build the wheel here: {r.stderr.strip()[-200:]}")
    (whl,) = (tmp_path / "dist").glob("fq_hls-*-py3-none-any.whl")  # pure Python: the same on armv7l/aarch64
    with zipfile.ZipFile(whl) as z:
        names = set(z.namelist())
        meta = next(z.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    assert any("numpy<2" in line and 'extra == "board"' in line for line in requires)
    assert any("pynq>=3.0" in line and 'extra == "board"' in line for line in requires)
    assert not any("torch" in line and "extra" not in line for line in requires)
    assert {"fq_hls/__main__.py", "fq_hls/runtime/overlay.py", "fq_hls/runtime/board.py"} <= names
    assert not any(n.startswith("tests/") for n in names)
    # installed on its own (as into the pynq venv, next to its pynq), the runtime imports without torch
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
                        str(target), str(whl)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    code = BLOCKER + "import fq_hls, fq_hls.runtime.overlay, fq_hls.commands.run; print(fq_hls.__file__)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, cwd=str(tmp_path))
    assert r.returncode == 0 and r.stdout.startswith(str(target)), r.stderr
