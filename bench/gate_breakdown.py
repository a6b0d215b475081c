"""Benchmark: where the FQ MAC cell's extra gates over the shift cell go (the paper's Table 4 widths).

Synthesizes (Yosys, flow "gates", the same as fq_hls.cost.table4) the Table 4 cells and two parts of the FQ
cell: its q path alone (zero gate, 2-bit shift, signed add into the 22-bit q accumulator: rtl.fq_pe with
cacc_bits=0) and the shift cell at the FQ cell's q widths. The FQ cell minus its q path is the cost of
the per-weight mean term (one signed add into the 19-bit mean accumulator). Evidence label: yosys.

    python bench/gate_breakdown.py        # writes bench/results/gate_breakdown.{json,md}
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine_info, markdown_table, publish  # noqa: E402

from fq_hls.cost import rtl, table4  # noqa: E402
from fq_hls.cost.yosys import find_yosys, synthesize, yosys_version  # noqa: E402


def main() -> int:
    cells = table4.datapaths()
    fq = cells["fq5"][1]
    p = fq.params
    rows = {
        "shift, 5-bit (3-bit exponent, 26-bit accumulator)": synthesize(cells["shift5"][1].verilog, "shift_pe",
                                                                        "gates", dsp=False).gates,
        "shift at the FQ q widths (2-bit exponent, 22-bit accumulator)": synthesize(
            rtl.shift_pe(act_bits=p["act_bits"], exp_bits=p["exp_bits"], acc_bits=p["acc_bits"]).verilog,
            "shift_pe", "gates", dsp=False).gates,
        "FQ q path alone (zero gate, 2-bit shift, 22-bit q accumulator)": synthesize(
            rtl.fq_pe(act_bits=p["act_bits"], exp_bits=p["exp_bits"], acc_bits=p["acc_bits"], cacc_bits=0).verilog,
            "fq_pe", "gates", dsp=False).gates,
        "FQ, 5-bit (q path + 19-bit mean accumulator)": synthesize(fq.verilog, "fq_pe", "gates", dsp=False).gates,
    }
    shift = rows["shift, 5-bit (3-bit exponent, 26-bit accumulator)"]
    q_only = rows["FQ q path alone (zero gate, 2-bit shift, 22-bit q accumulator)"]
    full = rows["FQ, 5-bit (q path + 19-bit mean accumulator)"]
    table = [[k, str(g), f"{g / shift:.2f}"] for k, g in rows.items()]
    md = [
        "**Gates of the Table 4 MAC cells and of the FQ cell's parts** (yosys, flow `gates`: abc -g, MUX = 3)",
        "",
        markdown_table(["cell", "gates (yosys)", "x shift 5-bit"], table),
        "",
        f"The mean term costs {full - q_only} of the FQ cell's {full} gates; its q path alone is "
        f"{q_only / shift:.2f}x the shift cell.",
    ]
    payload = {"cells": rows, "mean_term_gates": full - q_only, "evidence": "yosys",
               "yosys": yosys_version(find_yosys()) if find_yosys() else None, "command": command_line(), "machine": machine_info(torch_too=False)}
    return publish(Path(__file__).resolve().parent / "results", "gate_breakdown", payload, "\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
