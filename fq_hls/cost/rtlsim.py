"""Simulate a generated datapath (fq_hls.cost.rtl) with Icarus Verilog against its Python reference.

The testbench reads the input vectors from a hex file, clocks them in one per cycle and prints every
registered output after each edge; Python compares the printout with `rtl.reference_trace`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolMissingError
from .rtl import Datapath, random_inputs, reference_trace


@dataclass
class SimResult:
    datapath: str
    cycles: int
    mismatches: list[str]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def simulator() -> str | None:
    """Path of iverilog when both iverilog and vvp are on PATH."""
    if shutil.which("iverilog") and shutil.which("vvp"):
        return shutil.which("iverilog")
    return None


def _testbench(dp: Datapath, n: int) -> str:
    ins = [("en", 1), ("clr", 1)] + [(p.name, p.width) for p in dp.inputs]
    total = sum(w for _, w in ins)
    lines = ["`timescale 1ns/1ps", "module tb;", "    reg clk = 0;"]
    lines.append(f"    reg [{total - 1}:0] mem [0:{n - 1}];")
    lines.append(f"    reg [{total - 1}:0] cur;")
    for name, w in ins:
        lines.append(f"    wire [{w - 1}:0] {name};")
    lo = 0
    for name, w in reversed(ins):  # the first port is the most significant field of a vector
        lines.append(f"    assign {name} = cur[{lo + w - 1}:{lo}];")
        lo += w
    for p in dp.outputs:
        lines.append(f"    wire [{p.width - 1}:0] o_{p.name};")
    conn = ["clk", "en", "clr"] + [p.name for p in dp.inputs]
    conns = [f".{c}({c})" for c in conn] + [f".{p.name}(o_{p.name})" for p in dp.outputs]
    lines.append(f"    {dp.top} dut ({', '.join(conns)});")
    fmt = " ".join("%h" for _ in dp.outputs)
    outs = ", ".join(f"o_{p.name}" for p in dp.outputs)
    lines += [
        "    integer k;",
        "    initial begin",
        '        $readmemh("vectors.hex", mem);',
        f"        for (k = 0; k < {n}; k = k + 1) begin",
        "            cur = mem[k];",
        "            #1 clk = 1;",
        "            #1 clk = 0;",
        f'            $display("{fmt}", {outs});',
        "        end",
        "        $finish;",
        "    end",
        "endmodule",
    ]
    return "\n".join(lines) + "\n"


def _pack(dp: Datapath, vec: dict[str, int]) -> str:
    ins = [("en", 1), ("clr", 1)] + [(p.name, p.width) for p in dp.inputs]
    word = 0
    for name, w in ins:
        word = (word << w) | (vec[name] & ((1 << w) - 1))
    return f"{word:x}"


def simulate(dp: Datapath, n: int = 500, seed: int = 0, workdir: Path | None = None) -> SimResult:
    """Run n random cycles of `dp` in iverilog and compare every output with the reference."""
    iverilog = simulator()
    if iverilog is None:
        raise ToolMissingError("iverilog/vvp not on PATH: cannot simulate the datapath RTL")
    vecs = random_inputs(dp, n, seed)
    expected = reference_trace(dp, vecs)
    with tempfile.TemporaryDirectory(prefix="fq_rtlsim_") as tmp:
        d = Path(workdir) if workdir else Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        (d / "dut.v").write_text(dp.verilog)
        (d / "tb.v").write_text(_testbench(dp, n))
        (d / "vectors.hex").write_text("\n".join(_pack(dp, v) for v in vecs) + "\n")
        subprocess.run([iverilog, "-g2005", "-o", "sim.vvp", "tb.v", "dut.v"], cwd=d, check=True,
                       capture_output=True, text=True)
        run = subprocess.run(["vvp", "-n", "sim.vvp"], cwd=d, check=True, capture_output=True, text=True)
    got = [ln.split() for ln in run.stdout.splitlines() if ln.strip() and not ln.startswith(("VCD", "tb.v"))]
    mismatches = []
    if len(got) != n:
        mismatches.append(f"{dp.name}: simulator printed {len(got)} lines for {n} cycles")
    for k, (row, exp) in enumerate(zip(got, expected, strict=False)):
        for p, h in zip(dp.outputs, row, strict=False):
            val = int(h, 16) if "x" not in h.lower() else None
            if val != exp[p.name]:
                mismatches.append(f"{dp.name} cycle {k} {p.name}: rtl {h} != reference {exp[p.name]:x}")
                if len(mismatches) > 10:
                    return SimResult(dp.name, n, mismatches)
    return SimResult(dp.name, n, mismatches)
