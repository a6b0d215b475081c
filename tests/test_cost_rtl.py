"""Datapath RTL (fq_hls.cost.rtl) against its Python reference, in Icarus Verilog (marker `sim`)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from fq_hls.cost import rtl, rtlsim, table4
from fq_hls.ir import WeightFormat
from fq_hls.lower.weights import levels_from_fields


def _all_datapaths() -> list[rtl.Datapath]:
    dps = rtl.engine_datapaths()
    dps += [
        rtl.fq_pe(act_bits=9, act_signed=True, exp_bits=5, acc_bits=32, cacc_bits=22),
        rtl.fq_pe(act_bits=9, act_signed=True, exp_bits=3, acc_bits=29, cacc_bits=24, delta_bits=2),
        rtl.fq_pe(act_bits=8, exp_bits=2, acc_bits=22, cacc_bits=0),  # q path alone (bench/gate_breakdown.py)
        rtl.shift_pe(act_bits=9, act_signed=True, exp_bits=5),
        rtl.int8_mac(act_bits=9, act_signed=True, dsp=True),
        rtl.fq_recombine(acc_bits=29, cacc_bits=22),
        rtl.requant(),
        rtl.rotator(8),
        rtl.rotator(6),
        rtl.packed_reader(16, 3),
        rtl.packed_reader(4, 2),
        rtl.packet_delta((32, 23)),
        rtl.flat_lane_counter(),
        rtl.flat_expander(16),
        rtl.flat_expander(32),
        rtl.lqnet_pe(3, acc_bits=24),
    ]
    dps += [dp for _, dp in table4.datapaths().values()]
    return dps


DATAPATHS = _all_datapaths()


@pytest.mark.sim
@pytest.mark.parametrize("dp", DATAPATHS, ids=[f"{d.name}-{i}" for i, d in enumerate(DATAPATHS)])
def test_rtl_matches_reference(dp):
    if rtlsim.simulator() is None:
        pytest.skip("iverilog/vvp not on PATH")
    r = rtlsim.simulate(dp, n=300, seed=11)
    assert r.ok, "\n".join(r.mismatches)


@pytest.mark.sim
def test_broken_rtl_is_caught():
    if rtlsim.simulator() is None:
        pytest.skip("iverilog/vvp not on PATH")
    dp = rtl.shift_pe(exp_bits=3, acc_bits=16)
    bad = replace(dp, verilog=dp.verilog.replace("<< e;", "<< (e + 1);"))
    assert bad.verilog != dp.verilog
    assert not rtlsim.simulate(bad, n=100, seed=1).ok


@pytest.mark.parametrize("mu_shift,mu_sign,delta_bits", [((5, 4), (-1, 1), 1), ((4, 4), (-1, 1), 0),
                                                          ((3, 6), (1, -1), 2), ((6, 6), (1, 1), 0)])
def test_fq_pe_and_recombine_compute_the_ir_weight_levels(mu_shift, mu_sign, delta_bits):
    """sum_k level_k * x_k (levels per fq_hls.lower.weights) == recombine(fq_pe accumulators), exactly: one
    mean accumulator of mu_sign[c] (x << (mu_shift[c] - m)) recombined as << m, m = min(mu_shift)."""
    rng = random.Random(5)
    pe = rtl.fq_pe(act_bits=9, act_signed=True, exp_bits=3, acc_bits=29, cacc_bits=25, delta_bits=delta_bits)
    rec = rtl.fq_recombine(acc_bits=29, cacc_bits=25)
    fmt = WeightFormat("fq", exp_bits=3, q_shift=2, mu_shift=mu_shift, mu_sign=mu_sign)
    m = min(mu_shift)
    layer = {"neg_n": int(mu_sign[0] < 0), "neg_p": int(mu_sign[1] < 0)}
    if delta_bits:
        layer.update(d_n=mu_shift[0] - m, d_p=mu_shift[1] - m)
    for _ in range(20):
        st = pe.initial_state()
        expect = 0
        for k in range(rng.randint(1, 60)):
            x = rng.randint(-128, 255)
            comp, sign, e = rng.randint(0, 1), rng.choice((-1, 0, 1)), rng.randint(0, 7)
            level = int(levels_from_fields(fmt, [comp], [sign], [e])[0])
            expect += level * x
            st = pe.reference(st, {"x": x & 0x1FF, "comp": comp, "nz": int(sign != 0), "sign": int(sign < 0),
                                   "e": e, "clr": int(k == 0), "en": 1, **layer})
        out = rec.reference({"acc": 0}, {**st, "q_shift": 2, "m_shift": m, "use_m": 1, "clr": 0, "en": 1})
        assert rtl._as_signed(out["acc"], 32) == expect


def test_requant_reference_follows_the_ir():
    dp = rtl.requant()
    # (acc + bias) * mult + res * res_mult = (100 + 28) * 3 + (-5) * 2 = 374; (374 + 4) >> 3 = 47
    out = dp.reference({}, {"acc": 100, "bias": 28, "mult": 3, "res": (-5) & 0x1FF, "res_mult": 2, "shift": 3,
                            "relu": 1, "use_res": 1})
    assert out["out"] == 47
    out = dp.reference({}, {"acc": (-(10**6)) & 0xFFFFFFFF, "bias": 0, "mult": 1, "res": 0, "res_mult": 0,
                            "shift": 1, "relu": 1, "use_res": 0})
    assert out["out"] == 0  # clamped at the ReLU floor
