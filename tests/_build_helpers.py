"""Helpers for the build tests: a stand-in for codegen's write_sources, a tiny model file, and fake tool
executables that behave like vitis_hls / vitis-run / vivado at the file level (they write the outputs the
real tools write, copied from tests/data/tool_reports) so the orchestration can be tested without Xilinx tools."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data" / "tool_reports"


def stand_in_sources(with_testbench: bool = False):
    """write_sources(cfg, src) stand-in: the file set codegen writes (top, header, config), optional testbench."""

    def write(cfg, src: Path) -> list[Path]:
        src.mkdir(parents=True, exist_ok=True)
        files = {
            "fq_accel.cpp": '#include "fq_config.h"\nvoid fq_accel() {}\n',
            "fq_engine.h": "#pragma once\n",
            "fq_config.h": f"#pragma once\n// lanes {cfg.lanes}\n",
            "fq_accel_regs.json": "{}\n",
        }
        if with_testbench:
            files["tb_fq_accel.cpp"] = "int main() { return 0; }\n"
        out = []
        for name, text in files.items():
            (src / name).write_text(text)
            out.append(src / name)
        return out

    return write


def tiny_model(path: Path) -> Path:
    from fq_hls.fqz import write_fqz
    from fq_hls.synthetic import random_compressed

    write_fqz(random_compressed("smallcnn", "fq5", 0.5, 10, 0), str(path))
    return path


_FAKE_HLS = """#!{python}
# fake {name}: records its arguments and writes what csynth/export would (outputs copied from test data)
import os, shutil, sys
from pathlib import Path
here = Path.cwd()
with open(here / "fake_tool_calls.txt", "a") as f:
    f.write("{name} " + " ".join(sys.argv[1:]) + " dialect=" + os.environ.get("FQ_HLS_DIALECT", "") + "\\n")
base = here / ("fq_accel_comp/hls" if os.environ.get("FQ_HLS_DIALECT") == "component" else "fq_accel_prj/sol")
(base / "syn/report").mkdir(parents=True, exist_ok=True)
shutil.copyfile(os.environ["FAKE_CSYNTH"], base / "syn/report/csynth.xml")
(base / "impl/ip").mkdir(parents=True, exist_ok=True)
(base / "impl/ip/component.xml").write_text("<component/>\\n")
sys.exit(int(os.environ.get("FAKE_HLS_RC", "0")))
"""

_FAKE_VIVADO = """#!{python}
# fake vivado: writes the overlay pair and the two reports where build_overlay.tcl would put them
import os, shutil, sys
from pathlib import Path
here = Path.cwd()
with open(here / "fake_tool_calls.txt", "a") as f:
    f.write("vivado " + " ".join(sys.argv[1:]) + "\\n")
root = here.parent
(root / "reports").mkdir(exist_ok=True)
shutil.copyfile(os.environ["FAKE_UTIL"], root / "reports/vivado_utilization.rpt")
shutil.copyfile(os.environ["FAKE_TIMING"], root / "reports/vivado_timing_summary.rpt")
(root / "fq_accel.bit").write_bytes(b"\\x00" * 64)
(root / "fq_accel.hwh").write_text("<MODULE/>\\n")
"""


def fake_tools(bindir: Path, names: tuple[str, ...], monkeypatch, family: str = "zynq7") -> Path:
    """Put fake tools in `bindir` and make PATH = bindir + the system dirs (no real Xilinx tools)."""
    bindir.mkdir(parents=True, exist_ok=True)
    for name in names:
        text = (_FAKE_VIVADO if name == "vivado" else _FAKE_HLS).replace("{python}", sys.executable)
        p = bindir / name
        p.write_text(text.replace("{name}", name))
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    suffix = "zynq7" if family == "zynq7" else "zynqmp"
    monkeypatch.setenv("FAKE_CSYNTH", str(DATA / ("csynth_zynq7.xml" if suffix == "zynq7" else "csynth_zynqmp_undef.xml")))
    monkeypatch.setenv("FAKE_UTIL", str(DATA / f"utilization_{suffix}.rpt"))
    monkeypatch.setenv("FAKE_TIMING", str(DATA / ("timing_zynq7.rpt" if suffix == "zynq7" else "timing_zynqmp_failing.rpt")))
    monkeypatch.setenv("PATH", os.pathsep.join([str(bindir), "/usr/bin", "/bin"]))
    return bindir
