"""Verilog for the arithmetic of one PE lane, generated from Python, with a cycle-exact Python reference.

Every datapath is a small synchronous module with the same accumulate protocol, so that the simulator check
(`fq_hls.cost.rtlsim`) and the synthesis (`fq_hls.cost.yosys`) treat them alike:

    at posedge clk:  if clr: acc <= 0  else if en: acc <= acc + term(inputs)   (every accumulator of the PE)

`clr` is the flip-flops' synchronous reset, once per tile: the engine never clears an accumulator between
the outputs a lane computes in a tile. It emits running sums, and the store stage takes the difference of a
lane's consecutive packets (hls_src/fq_engine.h store_rows), exact because accumulators wrap modulo
2^width (two's complement) and every output's own sum fits the width. A clear-and-add per output would
put a 2:1 multiplexer in front of every accumulator bit. The Python reference wraps the same way.

Datapaths (the paper's Table 4 rows and the two engines' PEs):

* `fq_pe`      focused quantization: weight code = comp bit + q-zero flag + sign + exponent. The q term
               +-(x << e) goes into acc_q; the mean term mu_sign[comp] (x << d[comp]) into the ONE mean
               accumulator acc_m (neg_p/neg_n = the layer's mean signs, d_p/d_n = mu_shift[c] - min(mu_shift),
               per-layer registers of `delta_bits` bits; none when delta_bits = 0). hls_src/fq_pe.h FqPolicy.
* `fq_recombine` per output: acc = (acc_q << q_shift) + (use_m ? acc_m << m_shift : 0), in the store stage
               (one per store pixel, V in the engine; see docs/cost_model.md).
* `shift_pe`   pure power-of-two weights: sign + exponent, acc += +-(x << e).
* `int8_mac`   int8 weight x 8-bit activation, acc += w * x (DSP-mapped, or LUT-only with -nodsp).
* `int8_mac2`  two pixels sharing a weight on one DSP multiplier: w * ((x1 << 16) + x0), the low product
               sign-corrected, two fabric accumulators (hls_src/fq_pe.h mac2).
* `fq_dsp_pe`  a pixel of an FQ lane on DSPs: acc += x * v, v the entry's whole weight (one DSP).
* `fq_weight_value` per FQ lane on DSPs: v = +-2^(e + eq) + mu_sign 2^(d + em) from the entry's code.
* `lqnet_pe`   LQ-Net style multi-bit weight w = sum_i b_i v_i (b_i in {-1,+1}, v_i the layer's basis
               values, held in registers): per weight, n_bases basis products v_i * x, signed and summed.
* `abcnet_pe`  ABC-Net style: n_bases binary weight bases, each its own accumulator acc_i += b_i ? -x : x;
               the per-output scaling by the basis coefficients is outside the PE (like fq_recombine).

Signed conditional add (`acc +- t`) is written as `acc + (t ^ {W{s}}) + s`: one carry chain with a carry-in,
the form a hand design uses; every PE uses the same idiom so the comparisons are like for like.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ..hw.memories import ACT_BITS


@dataclass(frozen=True)
class Port:
    name: str
    width: int
    signed: bool = False


@dataclass
class Datapath:
    name: str  # table name, e.g. "fq_pe"
    top: str  # Verilog module name
    verilog: str
    inputs: list[Port]  # data inputs (clk, en, clr are implicit)
    outputs: list[Port]  # registered outputs
    # reference(state: dict[str, int], inputs: dict[str, int]) -> new state (the registered outputs)
    reference: Callable[[dict, dict], dict]
    dsp: bool = False  # may the Xilinx flow map multipliers to DSPs (False: synth_xilinx -nodsp)
    params: dict = field(default_factory=dict)
    description: str = ""
    accumulating: bool = False  # a PE: `clr` resets its accumulators (reference_trace); else clr is unused
    # inputs whose values are limited to a range (port -> (lo, hi), as signed/unsigned values): the int8 MACs'
    # activations are int8 or uint8 values widened to 9 bits, never -256 .. -129 (hls_src/fq_types.h act_t)
    domain: dict = field(default_factory=dict)

    def initial_state(self) -> dict[str, int]:
        return {p.name: 0 for p in self.outputs}


def _wrap(v: int, width: int) -> int:
    """Two's complement wrap to `width` bits, returned as the unsigned bit pattern."""
    return int(v) & ((1 << width) - 1)


def _as_signed(v: int, width: int) -> int:
    v &= (1 << width) - 1
    return v - (1 << width) if v >> (width - 1) else v


def _ext(sig: str, width: int, to: int, signed: bool) -> str:
    """Verilog expression: `sig` (width bits) zero/sign extended to `to` bits, or cut to its low `to` bits
    (exact where the result is taken modulo 2^to, as in the 32-bit recombination)."""
    if to == width:
        return sig
    if to < width:
        return f"{sig}[{to - 1}:0]"
    fill = f"{{{to - width}{{{sig}[{width - 1}]}}}}" if signed else f"{{{to - width}{{1'b0}}}}"
    return f"{{{fill}, {sig}}}"


def _act_value(x: int, act_bits: int, act_signed: bool) -> int:
    return _as_signed(x, act_bits) if act_signed else x & ((1 << act_bits) - 1)


def _header(name: str, ports: list[str]) -> str:
    return f"module {name} (\n    " + ",\n    ".join(["input wire clk", "input wire en", "input wire clr"] + ports) + "\n);\n"


def _in(p: Port) -> str:
    return f"input wire [{p.width - 1}:0] {p.name}" if p.width > 1 else f"input wire {p.name}"


def _out(p: Port) -> str:
    return f"output reg [{p.width - 1}:0] {p.name}"


def _acc_block(updates: list[tuple[str, int, str]]) -> str:
    """The accumulate protocol: synchronous reset on clr, else acc <= acc + term while en."""
    v = "    always @(posedge clk) begin\n        if (clr) begin\n"
    v += "".join(f"            {acc} <= {w}'d0;\n" for acc, w, _ in updates)
    v += "        end else if (en) begin\n"
    v += "".join(f"            {acc} <= {acc} + {term};\n" for acc, _, term in updates)
    return v + "        end\n    end\nendmodule\n"


def _signed_term(t: str, s: str, width: int) -> str:
    # +-t as one add with carry-in: (t ^ {W{s}}) + s
    return f"(({t}) ^ {{{width}{{{s}}}}}) + {{{{{width - 1}{{1'b0}}}}, {s}}}"


# ---------------------------------------------------------------------------------------------- FQ PE


def fq_pe(act_bits: int = 8, act_signed: bool = False, exp_bits: int = 4, acc_bits: int = 32,
          cacc_bits: int = 21, delta_bits: int = 0) -> Datapath:
    """The focused-quantization PE: +-(x << e) into acc_q, mu_sign[comp] (x << d[comp]) into acc_m.

    `cacc_bits` is the width of the mean accumulator acc_m (signed; 0: no mean path at all, the q path alone,
    for the gate breakdown in bench/gate_breakdown.py); `delta_bits` the width of the per-layer shifts d_p, d_n
    of its input (0: no shifter, the layer's two mean shifts are equal)."""
    mean = cacc_bits > 0
    ins = [Port("x", act_bits, act_signed), Port("comp", 1), Port("nz", 1), Port("sign", 1), Port("e", exp_bits)]
    if mean:
        ins += [Port("neg_p", 1), Port("neg_n", 1)]
    if mean and delta_bits:
        ins += [Port("d_p", delta_bits), Port("d_n", delta_bits)]
    outs = [Port("acc_q", acc_bits, True)] + ([Port("acc_m", cacc_bits, True)] if mean else [])
    top = "fq_pe"
    v = _header(top, [_in(p) for p in ins] + [_out(p) for p in outs])
    # sign-0 codes are non-zero weights (level = the component mean): their q term is zero
    v += f"    wire [{act_bits - 1}:0] xg = x & {{{act_bits}{{nz}}}};\n"
    v += f"    wire [{acc_bits - 1}:0] xs = {_ext('xg', act_bits, acc_bits, act_signed)} << e;\n"
    v += "    wire sq = sign & nz;\n"
    v += f"    wire [{acc_bits - 1}:0] tq = {_signed_term('xs', 'sq', acc_bits)};\n"
    updates = [("acc_q", acc_bits, "tq")]
    if mean:
        xm = _ext("x", act_bits, cacc_bits, act_signed)
        v += "    wire ng = comp ? neg_p : neg_n;\n"
        if delta_bits:
            v += f"    wire [{cacc_bits - 1}:0] xm = {xm} << (comp ? d_p : d_n);\n"
        else:
            v += f"    wire [{cacc_bits - 1}:0] xm = {xm};\n"
        v += f"    wire [{cacc_bits - 1}:0] tm = {_signed_term('xm', 'ng', cacc_bits)};\n"
        updates.append(("acc_m", cacc_bits, "tm"))
    v += _acc_block(updates)

    def ref(st: dict, i: dict) -> dict:
        x = _act_value(i["x"], act_bits, act_signed)
        tq = (-1 if i["sign"] else 1) * (x << i["e"]) if i["nz"] else 0
        out = {"acc_q": _wrap(st["acc_q"] + tq, acc_bits)}
        if mean:
            d = (i["d_p"] if i["comp"] else i["d_n"]) if delta_bits else 0
            ng = i["neg_p"] if i["comp"] else i["neg_n"]
            out["acc_m"] = _wrap(st["acc_m"] + (-1 if ng else 1) * (x << d), cacc_bits)
        return out

    return Datapath("fq_pe", top, v, ins, outs, ref, False,
                    dict(act_bits=act_bits, act_signed=act_signed, exp_bits=exp_bits, acc_bits=acc_bits,
                         cacc_bits=cacc_bits, delta_bits=delta_bits),
                    "FQ PE: +-(x<<e) into acc_q, mu_sign[c] (x<<d_c) into one mean accumulator acc_m"
                    if mean else "FQ PE q path alone (no mean accumulator)",
                    accumulating=True)


def fq_recombine(acc_bits: int = 32, cacc_bits: int = 21, act_signed: bool = True, shift_bits: int = 5,
                 out_bits: int = 32) -> Datapath:
    """Per-output recombination of the FQ accumulators (registered result): (q << q_shift) + (m << m_shift).

    `act_signed` is kept for call compatibility (the mean accumulator is always signed)."""
    ins = [Port("acc_q", acc_bits, True), Port("acc_m", cacc_bits, True), Port("q_shift", shift_bits),
           Port("m_shift", shift_bits), Port("use_m", 1)]
    outs = [Port("acc", out_bits, True)]
    top = "fq_recombine"
    v = _header(top, [_in(p) for p in ins] + [_out(p) for p in outs])
    v += f"    wire [{out_bits - 1}:0] q = {_ext('acc_q', acc_bits, out_bits, True)} << q_shift;\n"
    v += f"    wire [{out_bits - 1}:0] m = {_ext('acc_m', cacc_bits, out_bits, True)} << m_shift;\n"
    # clr is unused (the output is not an accumulator) but kept for the common port list
    v += f"    always @(posedge clk) begin\n        if (en) acc <= q + (use_m ? m : {out_bits}'d0);\n"
    v += "    end\nendmodule\n"

    def ref(st: dict, i: dict) -> dict:
        q = _as_signed(i["acc_q"], acc_bits) << i["q_shift"]
        m = _as_signed(i["acc_m"], cacc_bits) << i["m_shift"]
        return {"acc": _wrap(q + (m if i["use_m"] else 0), out_bits)}

    return Datapath("fq_recombine", top, v, ins, outs, ref, False,
                    dict(acc_bits=acc_bits, cacc_bits=cacc_bits, shift_bits=shift_bits, out_bits=out_bits),
                    "FQ per-output recombination (acc_q<<q_shift) + (acc_m<<m_shift)")


def packet_delta(widths: tuple[int, ...] = (32,)) -> Datapath:
    """Store-stage difference of a lane's consecutive packets (hls_src Pol::recombine): the accumulators run
    on between the outputs of a tile, so output j is packet j - packet j - 1, modulo 2^width per accumulator.
    One unit per store pixel; the previous packet is the store stage's own register."""
    ins = [Port(f"cur{i}", w, True) for i, w in enumerate(widths)] + [Port(f"prev{i}", w, True)
                                                                     for i, w in enumerate(widths)]
    outs = [Port(f"d{i}", w, True) for i, w in enumerate(widths)]
    top = "packet_delta"
    v = _header(top, [_in(p) for p in ins] + [_out(p) for p in outs])
    v += "    always @(posedge clk) begin\n        if (en) begin\n"
    v += "".join(f"            d{i} <= cur{i} - prev{i};\n" for i in range(len(widths)))
    v += "        end\n    end\nendmodule\n"

    def ref(st: dict, i: dict) -> dict:
        return {f"d{k}": _wrap(i[f"cur{k}"] - i[f"prev{k}"], w) for k, w in enumerate(widths)}

    return Datapath("packet_delta", top, v, ins, outs, ref, False, dict(widths=list(widths)),
                    "store stage: packet - previous packet of the lane, per accumulator")


# ------------------------------------------------------------------------------------------- shift PE


def shift_pe(act_bits: int = 8, act_signed: bool = False, exp_bits: int = 4, acc_bits: int = 32) -> Datapath:
    ins = [Port("x", act_bits, act_signed), Port("sign", 1), Port("e", exp_bits)]
    outs = [Port("acc", acc_bits, True)]
    top = "shift_pe"
    v = _header(top, [_in(p) for p in ins] + [_out(p) for p in outs])
    v += f"    wire [{acc_bits - 1}:0] xs = {_ext('x', act_bits, acc_bits, act_signed)} << e;\n"
    v += _acc_block([("acc", acc_bits, f"({_signed_term('xs', 'sign', acc_bits)})")])

    def ref(st: dict, i: dict) -> dict:
        x = _act_value(i["x"], act_bits, act_signed)
        t = (-1 if i["sign"] else 1) * (x << i["e"])
        return {"acc": _wrap(st["acc"] + t, acc_bits)}

    return Datapath("shift_pe", top, v, ins, outs, ref, False,
                    dict(act_bits=act_bits, act_signed=act_signed, exp_bits=exp_bits, acc_bits=acc_bits),
                    "pure shift PE: acc += +-(x<<e)", accumulating=True)


# ------------------------------------------------------------------------------------------- int8 MAC


def int8_mac(act_bits: int = 8, act_signed: bool = False, w_bits: int = 8, acc_bits: int = 32,
             dsp: bool = True) -> Datapath:
    ins = [Port("x", act_bits, act_signed), Port("w", w_bits, True)]
    outs = [Port("acc", acc_bits, True)]
    top = "int8_mac"
    xs = "$signed(x)" if act_signed else "$signed({1'b0, x})"
    v = _header(top, [_in(p) for p in ins] + [_out(p) for p in outs])
    v += f"    wire signed [{acc_bits - 1}:0] prod = $signed(w) * {xs};\n"
    v += _acc_block([("acc", acc_bits, "prod")])

    def ref(st: dict, i: dict) -> dict:
        x = _act_value(i["x"], act_bits, act_signed)
        return {"acc": _wrap(st["acc"] + _as_signed(i["w"], w_bits) * x, acc_bits)}

    name = "int8_mac_dsp" if dsp else "int8_mac_lut"
    return Datapath(name, top, v, ins, outs, ref, dsp,
                    dict(act_bits=act_bits, act_signed=act_signed, w_bits=w_bits, acc_bits=acc_bits),
                    f"int8 x {'int' if act_signed else 'uint'}{act_bits} MAC ({'DSP' if dsp else 'LUT-only'})",
                    accumulating=True)


def int8_mac2(act_bits: int = 9, act_signed: bool = True, w_bits: int = 8, acc_bits: int = 32,
              shift: int = 16) -> Datapath:
    """Two int8 x int9 MACs on one multiplier: p = w * ((x1 << shift) + x0); acc0 += p[shift-1:0] (signed),
    acc1 += (p >> shift) + p[shift-1] (the low product's borrow given back). Exact while |w x| < 2^(shift-1)."""
    ins = [Port("x0", act_bits, act_signed), Port("x1", act_bits, act_signed), Port("w", w_bits, True)]
    outs = [Port("acc0", acc_bits, True), Port("acc1", acc_bits, True)]
    top = "int8_mac2"
    ob = act_bits + shift + (0 if act_signed else 1)  # the packed operand (25 bits for 9-bit activations)
    pb = ob + w_bits

    def xs(n: str) -> str:
        return f"$signed({n})" if act_signed else f"$signed({{1'b0, {n}}})"

    v = _header(top, [_in(p) for p in ins] + [_out(p) for p in outs])
    v += f"    wire signed [{ob - 1}:0] xp = ({xs('x1')} <<< {shift}) + {xs('x0')};\n"
    v += f"    wire signed [{pb - 1}:0] p = xp * $signed(w);\n"
    v += f"    wire signed [{shift - 1}:0] lo = p[{shift - 1}:0];\n"
    v += f"    wire signed [{pb - shift - 1}:0] hi = p[{pb - 1}:{shift}] + p[{shift - 1}];\n"
    v += f"    wire [{acc_bits - 1}:0] t0 = {{{{{acc_bits - shift}{{lo[{shift - 1}]}}}}, lo}};\n"
    v += f"    wire [{acc_bits - 1}:0] t1 = {{{{{acc_bits - (pb - shift)}{{hi[{pb - shift - 1}]}}}}, hi}};\n"
    v += _acc_block([("acc0", acc_bits, "t0"), ("acc1", acc_bits, "t1")])

    def ref(st: dict, i: dict) -> dict:
        w = _as_signed(i["w"], w_bits)
        x0, x1 = (_act_value(i[n], act_bits, act_signed) for n in ("x0", "x1"))
        return {"acc0": _wrap(st["acc0"] + w * x0, acc_bits), "acc1": _wrap(st["acc1"] + w * x1, acc_bits)}

    lo = -128 if act_signed else 0  # int8 or uint8 activations (the operand and the low field need it)
    return Datapath("int8_mac2", top, v, ins, outs, ref, True,
                    dict(act_bits=act_bits, act_signed=act_signed, w_bits=w_bits, acc_bits=acc_bits, shift=shift),
                    "two int8 MACs on one DSP multiplier (pixels sharing a weight; packed operand, borrow fix)",
                    accumulating=True, domain={"x0": (lo, 255), "x1": (lo, 255)})


def fq_weight_value(exp_bits: int = 4, delta_bits: int = 1, unit_bits: int = 4, v_bits: int = 18) -> Datapath:
    """An FQ lane on DSPs: its entry's whole weight as one multiplier operand (registered), once per lane and
    cycle for its V pixels: v = (nz ? +-2^(e + eq) : 0) + (mean ? -+2^(d_c + em) : 0), eq/em the layer's
    units (hls_src/fq_types.h layer_derive, V_EXP_MAX = 15: terms up to 2^15 in 18 bits)."""
    ins = [Port("comp", 1), Port("nz", 1), Port("sign", 1), Port("e", exp_bits), Port("neg_p", 1),
           Port("neg_n", 1), Port("use_m", 1), Port("d_p", delta_bits), Port("d_n", delta_bits),
           Port("eq", unit_bits), Port("em", unit_bits)]
    outs = [Port("v", v_bits, True)]
    top = "fq_weight_value"
    v = _header(top, [_in(p) for p in ins] + [_out(p) for p in outs])
    v += f"    wire [{v_bits - 1}:0] tq = {{{{{v_bits - 1}{{1'b0}}}}, nz}} << (e + eq);\n"
    v += f"    wire [{v_bits - 1}:0] tm = {{{{{v_bits - 1}{{1'b0}}}}, use_m}} << ((comp ? d_p : d_n) + em);\n"
    v += "    wire ng = comp ? neg_p : neg_n;\n"
    v += f"    always @(posedge clk) begin\n        if (en) v <= ({_signed_term('tq', 'sign', v_bits)}) + " \
         f"({_signed_term('tm', 'ng', v_bits)});\n"
    v += "    end\nendmodule\n"
    def ref(st: dict, i: dict) -> dict:
        ex = i["e"] + i["eq"]
        d = (i["d_p"] if i["comp"] else i["d_n"]) + i["em"]
        tq = ((1 << ex) if i["nz"] and ex < v_bits - 1 else 0) * (-1 if i["sign"] else 1)
        tm = ((1 << d) if i["use_m"] and d < v_bits - 1 else 0) * (-1 if (i["neg_p"] if i["comp"] else i["neg_n"]) else 1)
        return {"v": _wrap(tq + tm, v_bits)}

    # the packer keeps e + eq and d + em within 15 (streams.V_EXP_MAX): the simulation draws inside that
    return Datapath("fq_weight_value", top, v, ins, outs, ref, False,
                    dict(exp_bits=exp_bits, delta_bits=delta_bits, unit_bits=unit_bits, v_bits=v_bits),
                    "FQ DSP lane: the entry's whole weight as an 18-bit multiplier operand (per lane)",
                    domain={"e": (0, (1 << exp_bits) - 1), "eq": (0, 0), "em": (0, 15 - (1 << delta_bits) + 1)})


def fq_dsp_pe(act_bits: int = 9, act_signed: bool = True, v_bits: int = 18, acc_bits: int = 32) -> Datapath:
    """A pixel of an FQ lane on DSPs: acc += x * v (v from fq_weight_value), one DSP multiplier."""
    dp = int8_mac(act_bits, act_signed, w_bits=v_bits, acc_bits=acc_bits, dsp=True)
    return Datapath("fq_dsp_pe", dp.top, dp.verilog, dp.inputs, dp.outputs, dp.reference, True, dict(dp.params),
                    "FQ lane on DSPs, one pixel: acc += x * v (the whole weight)", accumulating=True)


# ------------------------------------------------------------------------------- multi-bit comparators


def lqnet_pe(n_bases: int = 2, act_bits: int = 8, act_signed: bool = False, basis_bits: int = 8,
             acc_bits: int = 32) -> Datapath:
    """LQ-Net style: w = sum_i b_i v_i; per weight n_bases products v_i * x (v_i: unsigned basis registers)."""
    ins = [Port("x", act_bits, act_signed)] + [Port(f"v{i}", basis_bits) for i in range(n_bases)]
    ins += [Port(f"b{i}", 1) for i in range(n_bases)]
    outs = [Port("acc", acc_bits, True)]
    top = f"lqnet{n_bases}_pe"
    xs = "$signed(x)" if act_signed else "$signed({1'b0, x})"
    v = _header(top, [_in(p) for p in ins] + [_out(p) for p in outs])
    for i in range(n_bases):
        v += f"    wire signed [{acc_bits - 1}:0] p{i} = $signed({{1'b0, v{i}}}) * {xs};\n"
        v += f"    wire [{acc_bits - 1}:0] t{i} = {_signed_term(f'p{i}', f'b{i}', acc_bits)};\n"
    v += _acc_block([("acc", acc_bits, " + ".join(f"t{i}" for i in range(n_bases)))])

    def ref(st: dict, i: dict) -> dict:
        x = _act_value(i["x"], act_bits, act_signed)
        t = sum((-1 if i[f"b{k}"] else 1) * i[f"v{k}"] * x for k in range(n_bases))
        return {"acc": _wrap(st["acc"] + t, acc_bits)}

    return Datapath(f"lqnet{n_bases}_pe", top, v, ins, outs, ref, False,
                    dict(n_bases=n_bases, act_bits=act_bits, act_signed=act_signed, basis_bits=basis_bits,
                         acc_bits=acc_bits),
                    f"LQ-Net {n_bases}-bit weights: {n_bases} basis products v_i*x, LUT-only", accumulating=True)


def abcnet_pe(n_bases: int = 5, act_bits: int = 8, act_signed: bool = False, cacc_bits: int = 22) -> Datapath:
    """ABC-Net style: one accumulator per binary basis, acc_i += b_i ? -x : x."""
    ins = [Port("x", act_bits, act_signed)] + [Port(f"b{i}", 1) for i in range(n_bases)]
    outs = [Port(f"acc{i}", cacc_bits, True) for i in range(n_bases)]
    top = f"abcnet{n_bases}_pe"
    v = _header(top, [_in(p) for p in ins] + [_out(p) for p in outs])
    v += f"    wire [{cacc_bits - 1}:0] xc = {_ext('x', act_bits, cacc_bits, act_signed)};\n"
    v += _acc_block([(f"acc{i}", cacc_bits, f"({_signed_term('xc', f'b{i}', cacc_bits)})")
                     for i in range(n_bases)])

    def ref(st: dict, i: dict) -> dict:
        x = _act_value(i["x"], act_bits, act_signed)
        return {f"acc{k}": _wrap(st[f"acc{k}"] + (-x if i[f"b{k}"] else x), cacc_bits)
                for k in range(n_bases)}

    return Datapath(f"abcnet{n_bases}_pe", top, v, ins, outs, ref, False,
                    dict(n_bases=n_bases, act_bits=act_bits, act_signed=act_signed, cacc_bits=cacc_bits),
                    f"ABC-Net {n_bases} binary bases: {n_bases} accumulators of +-x, LUT-only", accumulating=True)


# ------------------------------------------------------------------------------------ engine support


def requant(acc_bits: int = 32, mult_bits: int = 16, res_bits: int = 9, shift_bits: int = 6,
            t_bits: int = 51) -> Datapath:
    """The IR's per-output requantization (fq_hls.ir ConvLayer), registered:

    t = (acc + bias) * mult + (use_res ? res * res_mult : 0);  out = clamp((t + 2^(shift-1)) >> shift, lo, hi)
    lo, hi = (0, 255) if relu else (-128, 127); out is 9-bit two's complement (int8 or uint8 widened).
    t_bits = 51 holds every t exactly (|t| < 2^49 + 2^24); for shift >= t_bits the rounded result is 0, so
    the RTL forces y = 0 there instead of widening the shifter (exact for IR shifts up to 62).
    """
    ins = [Port("acc", acc_bits, True), Port("bias", acc_bits, True), Port("mult", mult_bits, True),
           Port("res", res_bits, True), Port("res_mult", mult_bits, True), Port("shift", shift_bits),
           Port("relu", 1), Port("use_res", 1)]
    outs = [Port("out", 9, True)]
    top = "requant"
    v = _header(top, [_in(p) for p in ins] + [_out(p) for p in outs])
    v += f"    wire signed [{acc_bits}:0] ab = $signed(acc) + $signed(bias);\n"
    v += f"    wire signed [{t_bits - 1}:0] t1 = ab * $signed(mult);\n"
    v += f"    wire signed [{t_bits - 1}:0] t2 = use_res ? $signed(res) * $signed(res_mult) : {t_bits}'sd0;\n"
    v += f"    wire signed [{t_bits - 1}:0] rnd = $signed({{{{{t_bits - 1}{{1'b0}}}}, 1'b1}}) <<< (shift - 1);\n"
    v += f"    wire big = shift >= {shift_bits}'d{t_bits};\n"
    v += f"    wire signed [{t_bits - 1}:0] y = big ? {t_bits}'sd0 : ((t1 + t2 + rnd) >>> shift);\n"
    v += f"    wire signed [{t_bits - 1}:0] lo = relu ? {t_bits}'sd0 : -{t_bits}'sd128;\n"
    v += f"    wire signed [{t_bits - 1}:0] hi = relu ? {t_bits}'sd255 : {t_bits}'sd127;\n"
    v += f"    wire signed [{t_bits - 1}:0] c = (y < lo) ? lo : ((y > hi) ? hi : y);\n"
    v += "    always @(posedge clk) begin\n        if (en) out <= c[8:0];\n    end\nendmodule\n"

    def ref(st: dict, i: dict) -> dict:
        acc = _as_signed(i["acc"], acc_bits) + _as_signed(i["bias"], acc_bits)
        t = acc * _as_signed(i["mult"], mult_bits)
        if i["use_res"]:
            t += _as_signed(i["res"], res_bits) * _as_signed(i["res_mult"], mult_bits)
        sh = i["shift"]
        y = (t + ((1 << (sh - 1)) if sh >= 1 else 0)) >> sh  # exact, unbounded integers
        lo, hi = (0, 255) if i["relu"] else (-128, 127)
        return {"out": _wrap(min(max(y, lo), hi), 9)}

    return Datapath("requant", top, v, ins, outs, ref, True,
                    dict(acc_bits=acc_bits, mult_bits=mult_bits, res_bits=res_bits, shift_bits=shift_bits,
                         t_bits=t_bits),
                    "requantization (acc+bias)*mult + res*res_mult, round, shift, clamp (DSP-mapped)")


def packed_reader(pixels: int = 16, banks: int = 3, act_bits: int = 9) -> Datapath:
    """The V-pixel read of a URAM line buffer (hls_src lb_get): `banks` 72-bit words of 8 entries from the
    banks rotated by `rot` (the bank of the first word), then entries s .. s + V - 1 of that window."""
    rot_bits = max(1, (banks - 1).bit_length())
    wbits = 72 * banks
    ins = [Port("din", wbits), Port("rot", rot_bits), Port("s", 3)]
    outs = [Port("dout", pixels * act_bits)]
    top = "packed_reader"
    v = _header(top, [_in(p) for p in ins] + [_out(p) for p in outs])
    v += f"    reg [{wbits - 1}:0] win;\n    always @* begin\n        case (rot)\n"
    for r in range(banks):
        words = [f"din[{((k + r) % banks) * 72 + 71}:{((k + r) % banks) * 72}]" for k in reversed(range(banks))]
        v += f"            {rot_bits}'d{r}: win = {{{', '.join(words)}}};\n"
    v += f"            default: win = {wbits}'d0;\n        endcase\n    end\n"
    # pixel v = window entry s + v: an 8:1 select per pixel (s < 8)
    v += f"    reg [{pixels * act_bits - 1}:0] sel;\n    always @* begin\n        case (s)\n"
    for off in range(8):
        ents = [f"win[{(off + k) * act_bits + act_bits - 1}:{(off + k) * act_bits}]" for k in reversed(range(pixels))]
        v += f"            3'd{off}: sel = {{{', '.join(ents)}}};\n"
    v += f"            default: sel = {pixels * act_bits}'d0;\n        endcase\n    end\n"
    v += "    always @(posedge clk) begin\n        if (en) dout <= sel;\n    end\nendmodule\n"

    def ref(st: dict, i: dict) -> dict:
        words = [(i["din"] >> (72 * k)) & ((1 << 72) - 1) for k in range(banks)]
        if i["rot"] >= banks:
            return {"dout": 0}
        win = 0
        for k in range(banks):
            win |= words[(k + i["rot"]) % banks] << (72 * k)
        return {"dout": (win >> (i["s"] * act_bits)) & ((1 << (pixels * act_bits)) - 1)}

    return Datapath(f"packed_reader{pixels}", top, v, ins, outs, ref, False,
                    dict(pixels=pixels, banks=banks, act_bits=act_bits),
                    f"{pixels}-pixel read of a URAM line buffer ({banks} words of 8 entries)")


def flat_lane_counter(col_bits: int = 8, row_bits: int = 8, step_r_bits: int = 6, pad_bits: int = 2) -> Datapath:
    """One lane of flat mode's fill (hls_src load_flat): the padded (row, column) of the entry this lane of
    the next beat carries, stepped by the fill width, and whether that entry lies inside the map (else the
    lane carries the pad value). While en: load ? (r, c) <= (r0, c0) : c' = c + step_c, wrap = c' >= q,
    c <= wrap ? c' - q : c', r <= r + step_r + wrap; ins <= pad <= r < pad + in_h and pad <= c < pad + in_w
    (of the new r, c). Registered, reset by clr; widths wrap modulo 2^bits like the hardware's."""
    cb, rb = col_bits, row_bits
    ins = [Port("load", 1), Port("c0", cb), Port("r0", rb), Port("q", cb), Port("step_c", cb),
           Port("step_r", step_r_bits), Port("pad", pad_bits), Port("in_w", cb), Port("in_h", rb)]
    outs = [Port("c", cb), Port("r", rb), Port("ins", 1)]
    top = "flat_lane_counter"
    v = _header(top, [_in(p) for p in ins] + [_out(p) for p in outs])
    v += f"    wire [{cb}:0] cs = {{1'b0, c}} + {{1'b0, step_c}};\n"
    v += "    wire wrap = cs >= {1'b0, q};\n"
    v += f"    wire [{cb}:0] cw = wrap ? cs - {{1'b0, q}} : cs;\n"
    v += f"    wire [{cb - 1}:0] cn = load ? c0 : cw[{cb - 1}:0];\n"
    v += f"    wire [{rb - 1}:0] rn = load ? r0 : r + {_ext('step_r', step_r_bits, rb, False)} + {{{{{rb - 1}{{1'b0}}}}, wrap}};\n"
    v += (f"    wire inside = ({{1'b0, rn}} >= {_ext('pad', pad_bits, rb + 1, False)}) && "
          f"({{1'b0, rn}} < {_ext('pad', pad_bits, rb + 1, False)} + {{1'b0, in_h}}) && "
          f"({{1'b0, cn}} >= {_ext('pad', pad_bits, cb + 1, False)}) && "
          f"({{1'b0, cn}} < {_ext('pad', pad_bits, cb + 1, False)} + {{1'b0, in_w}});\n")
    v += "    always @(posedge clk) begin\n        if (clr) begin\n"
    v += f"            c <= {cb}'d0;\n            r <= {rb}'d0;\n            ins <= 1'b0;\n"
    v += "        end else if (en) begin\n"
    v += "            c <= cn;\n            r <= rn;\n            ins <= inside;\n        end\n    end\nendmodule\n"

    def ref(st: dict, i: dict) -> dict:
        if i["load"]:
            cn, rn = i["c0"], i["r0"]
        else:
            cs = st["c"] + i["step_c"]
            wrap = int(cs >= i["q"])
            cn = _wrap(cs - i["q"] if wrap else cs, cb)
            rn = _wrap(st["r"] + i["step_r"] + wrap, rb)
        pad = i["pad"]
        inside = pad <= rn < pad + i["in_h"] and pad <= cn < pad + i["in_w"]
        return {"c": cn, "r": rn, "ins": int(inside)}

    return Datapath("flat_lane_counter", top, v, ins, outs, ref, False,
                    dict(col_bits=cb, row_bits=rb, step_r_bits=step_r_bits, pad_bits=pad_bits),
                    "flat-mode fill: one lane's (row, column) counter and inside flag", accumulating=True)


def flat_expander(lanes: int = 32, act_bits: int = 9) -> Datapath:
    """Flat mode's fill beat (hls_src load_flat): the beat's map bytes are one contiguous run of the channel's
    map (DDR rows are back to back) and the padding lanes sit between them, so lane j takes byte number
    popcount(inside[0 .. j - 1]) of the run, or the pad value. Registered."""
    kb = lanes.bit_length()
    ins = [Port("win", 8 * lanes), Port("inside", lanes), Port("sgn", 1), Port("padv", act_bits)]
    outs = [Port("beat", act_bits * lanes)]
    top = "flat_expander"
    v = _header(top, [_in(p) for p in ins] + [_out(p) for p in outs])
    v += f"    reg [{act_bits * lanes - 1}:0] b;\n    reg [{kb - 1}:0] k;\n    reg [7:0] u;\n    integer j;\n"
    v += "    always @* begin\n        k = 0;\n        b = 0;\n"
    v += f"        for (j = 0; j < {lanes}; j = j + 1) begin\n"
    v += "            u = win[k * 8 +: 8];\n"
    v += (f"            if (inside[j]) begin\n                b[j * {act_bits} +: {act_bits}] = "
          f"sgn ? {{{{{act_bits - 8}{{u[7]}}}}, u}} : {{{act_bits - 8}'d0, u}};\n"
          "                k = k + 1;\n            end else begin\n"
          f"                b[j * {act_bits} +: {act_bits}] = padv;\n            end\n        end\n    end\n")
    v += "    always @(posedge clk) begin\n        if (en) beat <= b;\n    end\nendmodule\n"

    def ref(st: dict, i: dict) -> dict:
        out, k = 0, 0
        for j in range(lanes):
            if (i["inside"] >> j) & 1:
                u = (i["win"] >> (8 * k)) & 0xFF
                val = _wrap(u - 256 if (i["sgn"] and u >= 128) else u, act_bits)
                k += 1
            else:
                val = i["padv"]
            out |= val << (act_bits * j)
        return {"beat": out}

    return Datapath(f"flat_expander{lanes}", top, v, ins, outs, ref, False, dict(lanes=lanes, act_bits=act_bits),
                    f"flat-mode fill: {lanes} lanes of map bytes with the padding inserted")


def rotator(pixels: int = 8, act_bits: int = 9) -> Datapath:
    """The V-pixel read alignment of a banked line buffer: out[v] = in[(v + sel) mod V], registered."""
    sel_bits = max(1, (pixels - 1).bit_length())
    w = pixels * act_bits
    ins = [Port("din", w), Port("sel", sel_bits)]
    outs = [Port("dout", w)]
    top = "rotator"
    v = _header(top, [_in(p) for p in ins] + [_out(p) for p in outs])
    v += f"    reg [{w - 1}:0] dd;\n    always @* begin\n        case (sel)\n"
    for r in range(pixels):
        words = [f"din[{((k + r) % pixels) * act_bits + act_bits - 1}:{((k + r) % pixels) * act_bits}]"
                 for k in reversed(range(pixels))]
        v += f"            {sel_bits}'d{r}: dd = {{{', '.join(words)}}};\n"
    v += f"            default: dd = {w}'d0;\n        endcase\n    end\n"
    v += "    always @(posedge clk) begin\n        if (en) dout <= dd;\n    end\nendmodule\n"
    mask = (1 << act_bits) - 1

    def ref(st: dict, i: dict) -> dict:
        words = [(i["din"] >> (k * act_bits)) & mask for k in range(pixels)]
        sel = i["sel"]
        out = 0
        for k in range(pixels):
            src = k + sel
            out |= words[src % pixels] << (k * act_bits)
        if sel >= pixels:  # not a valid alignment; the RTL outputs zeros
            out = 0
        return {"dout": out}

    return Datapath(f"rotator{pixels}", top, v, ins, outs, ref, False,
                    dict(pixels=pixels, act_bits=act_bits), f"{pixels}-pixel line-buffer read rotator")


# --------------------------------------------------------------------------------------------- catalogue


ENGINE_ACT_BITS = ACT_BITS  # hls_src/fq_types.h act_t = ap_int<9>: int8 or uint8 activations, signed


def int8_acc_bits(max_terms: int) -> int:
    """Signed accumulator width of an int8 x 9-bit MAC over `max_terms` products (|w x| <= 128 * 255)."""
    return (128 * 255 * max_terms).bit_length() + 1


def engine_datapaths(cfg=None) -> list[Datapath]:
    """The PE table of the report, at the widths of the engine configuration `cfg` (default: the ZCU104 fq
    engine; every board's default has the same PE widths): both engines' PEs, the FQ recombiner and the
    paper's comparators. Activations are 9-bit signed (act_t); accumulators as wide as their bounds need
    (HardwareConfig.accq_bits / accm_bits; int8: 128 * 255 * max_nnz_per_lane), one rule for every PE."""
    from ..hw.config import hardware_config

    cfg = cfg or hardware_config("zcu104", "fq")
    a, s = ENGINE_ACT_BITS, True
    acc8 = int8_acc_bits(cfg.max_nnz_per_lane)
    return [
        fq_pe(a, s, exp_bits=cfg.exp_bits, acc_bits=cfg.accq_bits, cacc_bits=cfg.accm_bits,
              delta_bits=cfg.mu_delta_bits),
        shift_pe(a, s, exp_bits=cfg.exp_bits, acc_bits=cfg.accq_bits),
        int8_mac(a, s, acc_bits=acc8, dsp=True),
        int8_mac(a, s, acc_bits=acc8, dsp=False),
        int8_mac2(a, s, acc_bits=acc8),
        fq_dsp_pe(a, s, acc_bits=cfg.accq_bits),
        fq_weight_value(exp_bits=cfg.exp_bits, delta_bits=cfg.mu_delta_bits),
        lqnet_pe(2, a, s, acc_bits=acc8 + 1),
        abcnet_pe(5, a, s, cacc_bits=cfg.accm_bits),
        fq_recombine(acc_bits=cfg.accq_bits, cacc_bits=cfg.accm_bits),
    ]


def random_inputs(dp: Datapath, n: int, seed: int = 0, clr_rate: float = 0.05) -> list[dict[str, int]]:
    """n random input vectors (en and clr included) for simulation against the reference."""
    rng = random.Random(seed)
    vecs = []
    for k in range(n):
        v = {p.name: rng.getrandbits(p.width) for p in dp.inputs}
        for name, (lo, hi) in dp.domain.items():
            width = next(p.width for p in dp.inputs if p.name == name)
            v[name] = rng.choice((lo, hi, rng.randint(lo, hi))) % (1 << width)  # the extremes, often
        v["en"] = int(rng.random() < 0.9)
        v["clr"] = int(k == 0 or rng.random() < clr_rate)
        if k == 0:
            v["en"] = 1
        vecs.append(v)
    return vecs


def reference_trace(dp: Datapath, vecs: list[dict[str, int]]) -> list[dict[str, int]]:
    """The registered outputs after each clock edge."""
    st = dp.initial_state()
    out = []
    for v in vecs:
        if dp.accumulating and v["clr"]:
            st = dp.initial_state()
        elif v["en"]:
            st = dp.reference(st, v)
        out.append(dict(st))
    return out
