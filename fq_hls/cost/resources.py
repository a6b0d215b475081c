"""Accelerator resource model per board: synthesized datapath numbers (yosys) + the memory manifest + overheads.

    engine = lanes x pixels PEs + per-lane units + store + every declared memory + control + AXI

Per-PE, per-lane-recombiner, requantization and read-rotator costs are Yosys netlists of the RTL in
fq_hls.cost.rtl for the board's family (label "yosys"); weight decode, the store's lane selection, control and
AXI are constants (label "model"); memories (line buffers, weight buffers, tables, FIFOs, registers) are
counted from fq_hls.hw.memories.manifest, the list of what the HLS source declares and codegen binds (label
"model"). The engine totals are therefore labelled "model" (an analytic model built on yosys numbers). Every
constant is in docs/cost_model.md.

FQ engine (sparse): each lane decodes its own weight stream and reads its own activations, so the input
line buffer is replicated: with the fill beside compute (HardwareConfig.fill_overlap, hls_src compute_rows)
one copy per lane (simple dual port: the lane's read port + the fill's write port), without it one copy per
two lanes (both ports read; the fill stalls compute). 8-bit engine (dense): lanes run in
lockstep on the same (ci, ky, kx), so one line-buffer copy is broadcast to all lanes (its second port is
the fill's write port either way). Both: lb_banks(cfg) = max(V, fill bytes) cyclic banks of 9-bit words per
copy (every read is V consecutive entries, stride-2 rows being stored phase-split; every fill beat
fill-bytes consecutive entries), one V-pixel rotator per reader.

DSPs of the int8 engines (int8 dense, int8_sparse): two pixels of a lane share its weight on one DSP
multiplier (hls_src/fq_pe.h mac2: w * ((x1 << 16) + x0), a 25-bit operand that fits DSP48E1 and DSP48E2), the
low product's borrow given back in LUTs and both accumulators in fabric (rtl.int8_mac2, yosys); lanes past
P - lut_lanes multiply in LUTs (rtl.int8_mac -nodsp). FQ: lanes below dsp_lanes multiply by the entry's whole
weight on DSPs (rtl.fq_weight_value per lane, rtl.fq_dsp_pe per pixel) instead of the shift PEs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from ..hw import memories
from ..hw.config import BOARDS, SPARSE_ENGINES, BoardInfo, HardwareConfig, hardware_config
from ..hw.geometry import (
    fill_bytes,
    lb_depth,
    lb_depth_choices,
    lb_ubanks,
)
from . import rtl
from .yosys import SynthResult, synthesize

FAMILY_FLOW = {"zynq7": "xc7", "zynqmp": "xcup"}


# --- model constants (label "model"), documented in docs/cost_model.md
DECODE_LUT, DECODE_FF = 80, 64  # FQ lane: entry unpack, channel step adder, (ky, kx) bit selects
INT8_LANE_LUT, INT8_LANE_FF = 16, 24  # int8 lane: weight word select + valid pipeline
READER_LUT_PER_PIXEL, READER_FF_PER_PIXEL = 6, 4  # per line-buffer reader: bank address of every pixel
CONTROL_LUT, CONTROL_FF = 2500, 3000  # layer FSM, descriptor registers, loop counters, tiling
AXI_PORTS = 5  # m_axi adapters: weights, desc, act_in, act_out, act_in2 (docs/accel_abi.md)
AXI_LUT, AXI_FF, AXI_BRAM18 = 1000, 1500, 2  # per m_axi port: HLS adapter with burst FIFOs
AXILITE_LUT, AXILITE_FF = 200, 300
# fused max pool (store stage, HardwareConfig.fuse_pool): per pooled column of a packet (V / 2) a 3-input max
# of 9-bit values, the compare with the running row max and its select (4 x 9-bit comparators and muxes)
POOL_UNIT_LUT, POOL_UNIT_FF = 40, 10
BAND_ROWS_EXTRA = 1  # line buffer holds k + 1 rows (one being refilled)
# Packet differences, recombination and requantization run in the store stage (hls_src/fq_engine.h
# store_rows): one packet (one output channel, V pixels) per cycle for all lanes, the V pixels unrolled: V of
# each per engine, whatever P. (The lanes' accumulators run on between a tile's outputs: rtl.packet_delta.)

# --- fit limits (the sizing rule)
LUT_LIMIT, BRAM_LIMIT, DSP_LIMIT, URAM_LIMIT, FF_LIMIT = 0.80, 0.90, 1.00, 1.00, 1.00

IN_PORT_CHOICES = (2, 1)  # HardwareConfig.in_ports sized by candidates()
LANE_CHOICES = (4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 128, 192, 256, 384, 512)
PIXEL_CHOICES = (2, 4, 8, 16, 32)

ENGINE_ACT_BITS = memories.ACT_BITS  # hls_src/fq_types.h act_t = ap_int<9>


bram18_for = memories.bram18_for
uram_for = memories.uram_for


def band_bytes(shapes) -> int:
    """Line-buffer band: the largest in_ch * (k + 1) * padded width over the conv layers."""
    best = 0
    for s in shapes:
        if s.kind == "conv":
            pad = s.k // 2
            best = max(best, s.in_ch * (s.k + BAND_ROWS_EXTRA) * (s.in_w + 2 * pad))
    return best


@dataclass
class Resources:
    lut: float = 0
    ff: float = 0
    carry: float = 0
    dsp: float = 0
    bram18: float = 0
    uram: float = 0

    def __add__(self, o: Resources) -> Resources:
        return Resources(*(a + b for a, b in zip(astuple_(self), astuple_(o), strict=True)))

    def scale(self, k: float) -> Resources:
        return Resources(*(a * k for a in astuple_(self)))

    @property
    def bram36(self) -> float:
        return math.ceil(self.bram18 / 2)


def astuple_(r: Resources) -> tuple:
    return (r.lut, r.ff, r.carry, r.dsp, r.bram18, r.uram)


def _from_synth(r: SynthResult) -> Resources:
    return Resources(lut=r.lut, ff=r.ff, carry=r.carry, dsp=r.dsp)


@dataclass
class EngineEstimate:
    board: str
    engine: str
    lanes: int
    pixels: int
    clock_mhz: float
    total: Resources
    parts: dict[str, tuple[Resources, str]]  # component -> (resources, evidence)
    evidence: dict[str, str] = field(default_factory=dict)  # field -> label
    fill_overlap: bool = True  # HardwareConfig.fill_overlap of the estimated engine
    lb_words: int = 0  # HardwareConfig.lb_words of the estimated engine (0: the default depth)
    in_ports: int = 2  # HardwareConfig.in_ports of the estimated engine
    lb_uram: bool = False  # HardwareConfig.lb_uram of the estimated engine
    lb_depth: int = 0  # line-buffer entries per copy that this engine instantiates (LB_DEPTH)
    dsp_lanes: int = 0  # HardwareConfig.dsp_lanes (FQ lanes whose shift runs on a DSP)
    lut_lanes: int = 0  # HardwareConfig.lut_lanes (int8 lanes that multiply in LUTs)
    macs_per_dsp: float = 0.0  # HardwareConfig.macs_per_dsp of the PEs

    def utilisation(self, info: BoardInfo) -> dict[str, float]:
        t = self.total
        return {
            "lut": t.lut / info.luts,
            "ff": t.ff / info.ffs,
            "dsp": t.dsp / info.dsps if info.dsps else 0.0,
            "bram36": t.bram36 / info.bram36,
            "uram": (t.uram / info.uram) if info.uram else (0.0 if t.uram == 0 else math.inf),
        }

    def fits(self, info: BoardInfo) -> bool:
        u = self.utilisation(info)
        return (u["lut"] <= LUT_LIMIT and u["bram36"] <= BRAM_LIMIT and u["dsp"] <= DSP_LIMIT
                and u["uram"] <= URAM_LIMIT and u["ff"] <= FF_LIMIT)

    def to_dict(self) -> dict:
        t = self.total
        return {
            "lut": int(round(t.lut)), "ff": int(round(t.ff)), "carry": int(round(t.carry)), "dsp": int(t.dsp),
            "bram18": int(t.bram18), "bram36": int(t.bram36), "uram": int(t.uram),
            "lanes": self.lanes, "pixels": self.pixels, "clock_mhz": self.clock_mhz,
            "fill_overlap": self.fill_overlap, "lb_depth": self.lb_depth, "in_ports": self.in_ports,
            "lb_uram": self.lb_uram, "dsp_lanes": self.dsp_lanes, "lut_lanes": self.lut_lanes,
            "macs_per_dsp": self.macs_per_dsp,
            "parts": {k: {**{f: round(v, 1) for f, v in asdict(r).items()}, "evidence": ev}
                      for k, (r, ev) in self.parts.items()},
            "evidence": dict(self.evidence),
        }


class UnitCosts:
    """Synthesized per-unit costs of one family, memoised (each is a cached Yosys run)."""

    def __init__(self, family: str):
        self.flow = FAMILY_FLOW[family]
        self._memo: dict[str, SynthResult] = {}

    def get(self, dp: rtl.Datapath) -> Resources:
        key = dp.verilog + str(dp.dsp)
        if key not in self._memo:
            self._memo[key] = synthesize(dp.verilog, dp.top, self.flow, dsp=dp.dsp)
        return _from_synth(self._memo[key])

    def fq_pe(self, cfg: HardwareConfig) -> Resources:
        return self.get(rtl.fq_pe(act_bits=ENGINE_ACT_BITS, act_signed=True, exp_bits=cfg.exp_bits,
                                  acc_bits=cfg.accq_bits, cacc_bits=cfg.accm_bits, delta_bits=cfg.mu_delta_bits))

    def recombine(self, cfg: HardwareConfig) -> Resources:
        return self.get(rtl.fq_recombine(acc_bits=cfg.accq_bits, cacc_bits=cfg.accm_bits, shift_bits=5))

    def fq_dsp_lane(self, cfg: HardwareConfig) -> Resources:
        """One FQ lane on DSPs: the weight-value unit and V DSP MACs (hls_src FqPolicy::apply, dsp)."""
        pe = self.get(rtl.fq_dsp_pe(act_bits=ENGINE_ACT_BITS, act_signed=True, acc_bits=cfg.accq_bits))
        return pe.scale(cfg.pixels) + self.get(rtl.fq_weight_value(exp_bits=cfg.exp_bits,
                                                                   delta_bits=cfg.mu_delta_bits))

    def int8_mac(self, cfg: HardwareConfig, dsp: bool = True) -> Resources:
        return self.get(rtl.int8_mac(act_bits=ENGINE_ACT_BITS, act_signed=True, acc_bits=cfg.acc_bits, dsp=dsp))

    def int8_mac2(self, cfg: HardwareConfig) -> Resources:
        return self.get(rtl.int8_mac2(act_bits=ENGINE_ACT_BITS, act_signed=True, acc_bits=cfg.acc_bits))

    def int8_lane(self, cfg: HardwareConfig, dsp: bool) -> Resources:
        """The V MACs of one int8 lane: packed pairs on DSPs (and a plain DSP MAC for an odd V), or LUT MACs."""
        V = cfg.pixels
        if not dsp:
            return self.int8_mac(cfg, dsp=False).scale(V)
        if cfg.int8_pack and V >= 2:
            return self.int8_mac2(cfg).scale(V // 2) + (self.int8_mac(cfg) if V % 2 else Resources())
        return self.int8_mac(cfg).scale(V)

    def delta(self, widths: tuple[int, ...]) -> Resources:
        """A store pixel's packet difference (the lanes' previous packets are registers of the manifest)."""
        return self.get(rtl.packet_delta(widths))

    def requant(self) -> Resources:
        return self.get(rtl.requant())

    def rotator(self, pixels: int) -> Resources:
        return self.get(rtl.rotator(pixels, ENGINE_ACT_BITS))

    def packed_reader(self, cfg: HardwareConfig) -> Resources:
        return self.get(rtl.packed_reader(cfg.pixels, lb_ubanks(cfg), ENGINE_ACT_BITS))

    def flat_fill(self, cfg: HardwareConfig) -> Resources:
        """Flat mode's fill (hls_src load_flat): a lane counter per fill lane and the padding expander."""
        lanes = fill_bytes(cfg)
        return self.get(rtl.flat_expander(lanes, ENGINE_ACT_BITS)) + self.get(rtl.flat_lane_counter()).scale(lanes)


def _int8_pes(cfg: HardwareConfig, units: UnitCosts) -> Resources:
    """Every int8 lane's MACs: P - lut_lanes lanes on DSPs, lut_lanes in LUTs."""
    r = units.int8_lane(cfg, True).scale(cfg.lanes - cfg.lut_lanes)
    return r + units.int8_lane(cfg, False).scale(cfg.lut_lanes) if cfg.lut_lanes else r


def estimate(cfg: HardwareConfig, units: UnitCosts) -> EngineEstimate:
    """Resources of `cfg` (engine, lanes P, pixels V) on its board. Memories come from the manifest of what
    the source declares (fq_hls.hw.memories); a layer whose band exceeds the declared line buffer is refused
    by name, so the workload does not size them."""
    P, V = cfg.lanes, cfg.pixels
    parts: dict[str, tuple[Resources, str]] = {}
    rot = units.rotator(V) if V > 1 else Resources()
    reader = Resources(lut=READER_LUT_PER_PIXEL * V, ff=READER_FF_PER_PIXEL * V)
    if cfg.shift_pe:
        parts["pe"] = (units.fq_pe(cfg).scale((P - cfg.dsp_lanes) * V), "yosys")
        if cfg.dsp_lanes:
            parts["pe_dsp"] = (units.fq_dsp_lane(cfg).scale(cfg.dsp_lanes), "yosys")
        parts["recombine"] = (units.recombine(cfg).scale(V), "yosys")
        means = cfg.dsp_lanes < P  # shift lanes send mean sums; DSP lanes one sum
        parts["delta"] = (units.delta((cfg.accq_bits, cfg.accm_bits) if means else (cfg.accq_bits,)).scale(V),
                          "yosys")
        # per lane: the entry's channel step, kernel row and column (adder, bit selects), and the line-buffer
        # address ci * cstride: one DSP multiply per lane (hls_src compute_tile)
        parts["decode"] = (Resources(lut=DECODE_LUT, ff=DECODE_FF, dsp=1).scale(P), "model")
        # a URAM line buffer's reader takes whole words (packed_reader) instead of V single-entry banks
        parts["rotator"] = ((units.packed_reader(cfg) if cfg.lb_uram else rot).scale(P), "yosys")
        parts["reader"] = (reader.scale(P), "model")
    elif cfg.sparse:  # int8_sparse: FQ's per-lane decode and readers, int8 MACs
        parts["pe"] = (_int8_pes(cfg, units), "yosys")
        parts["delta"] = (units.delta((cfg.acc_bits,)).scale(V), "yosys")
        parts["decode"] = (Resources(lut=DECODE_LUT, ff=DECODE_FF, dsp=1).scale(P), "model")
        parts["rotator"] = ((units.packed_reader(cfg) if cfg.lb_uram else rot).scale(P), "yosys")
        parts["reader"] = (reader.scale(P), "model")
    else:
        parts["pe"] = (_int8_pes(cfg, units), "yosys")
        parts["lane"] = (Resources(lut=INT8_LANE_LUT, ff=INT8_LANE_FF).scale(P), "model")
        # the lanes' shared dense position: one address multiply ci * cstride, read once and broadcast
        parts["decode"] = (Resources(lut=DECODE_LUT, ff=DECODE_FF, dsp=1), "model")
        parts["delta"] = (units.delta((cfg.acc_bits,)).scale(V), "yosys")
        parts["rotator"] = (rot, "yosys")
        parts["reader"] = (reader, "model")
    parts["requant"] = (units.requant().scale(V), "yosys")
    if cfg.lb_uram:  # flat maps stream as one run per channel: one padding expander, in the load stage
        parts["flat_fill"] = (units.flat_fill(cfg), "yosys")
    # store: each cycle it picks a lane with a packet (round robin) and that lane's previous packet: two P:1
    # multiplexers as wide as a packet
    pkt = memories.packet_bits(cfg)
    parts["store_select"] = (Resources(lut=2 * pkt * math.ceil((P - 1) / 3)), "model")
    if cfg.fuse_pool:  # per pooled column of a packet: the 3-max, the compare with the running row max
        hv = max(1, V // 2)
        parts["fused_pool"] = (Resources(lut=POOL_UNIT_LUT * hv, ff=POOL_UNIT_FF * hv), "model")
    # every array and stream the source declares (fq_hls.hw.memories: the manifest codegen binds)
    for m in memories.manifest(cfg):
        c = memories.cost(m)
        r = Resources(lut=c.lut, ff=c.ff, bram18=c.bram18, uram=c.uram)
        old = parts.get(m.part, (Resources(), "model"))[0]
        parts[m.part] = (old + r, "model")
    parts["control"] = (Resources(lut=CONTROL_LUT + AXILITE_LUT, ff=CONTROL_FF + AXILITE_FF), "model")
    parts["axi"] = (Resources(lut=AXI_LUT, ff=AXI_FF, bram18=AXI_BRAM18).scale(AXI_PORTS), "model")
    total = Resources()
    for r, _ in parts.values():
        total = total + r
    ev = {f: "model" for f in ("lut", "ff", "dsp", "bram36", "uram")}
    return EngineEstimate(cfg.board, cfg.engine, P, V, cfg.clock_mhz, total, parts, ev, fill_overlap=cfg.fill_overlap,
                          lb_words=cfg.lb_words, lb_depth=lb_depth(cfg), in_ports=cfg.in_ports, lb_uram=cfg.lb_uram,
                          dsp_lanes=cfg.dsp_lanes, lut_lanes=cfg.lut_lanes, macs_per_dsp=cfg.macs_per_dsp)


def _dsp_per_lane(cfg: HardwareConfig) -> int:
    """DSPs of one lane whose PEs multiply on DSPs."""
    if cfg.shift_pe or not (cfg.int8_pack and cfg.pixels >= 2):
        return cfg.pixels
    return cfg.pixels // 2 + cfg.pixels % 2


def balance_units(cfg: HardwareConfig, units: UnitCosts, fixed: bool = False) -> EngineEstimate:
    """The estimate of `cfg` with its PE lanes split between DSPs and LUTs to use what the board has: the FQ
    engine moves as many lanes' shifts onto the DSPs it leaves idle as fit (dsp_lanes); the int8 engines move
    the lanes that do not fit the DSPs into LUT multipliers (lut_lanes). `fixed`: keep cfg's split."""
    if fixed:
        return estimate(cfg, units)
    info = cfg.info
    budget = math.floor(DSP_LIMIT * info.dsps)
    if cfg.shift_pe:
        base = estimate(replace(cfg, dsp_lanes=0), units)
        if units.fq_dsp_lane(cfg).lut >= units.fq_pe(cfg).scale(cfg.pixels).lut:  # saves no logic (yosys)
            return base
        n = max(0, min(cfg.lanes, int(budget - base.total.dsp) // _dsp_per_lane(cfg)))
        return estimate(replace(cfg, dsp_lanes=n), units) if n else base
    base = estimate(replace(cfg, lut_lanes=0), units)
    if base.total.dsp <= budget:
        return base
    per = _dsp_per_lane(cfg)
    over = math.ceil((base.total.dsp - budget) / per)
    return estimate(replace(cfg, lut_lanes=min(cfg.lanes, over)), units)


def fill_variants(engine: str) -> tuple[bool, ...]:
    """HardwareConfig.fill_overlap values worth sizing: the FQ engine pays for the overlap in line-buffer copies
    (so both are candidates); the int8 engine's broadcast copy has a free write port (overlap only)."""
    return (True, False) if engine in SPARSE_ENGINES else (True,)


def candidates(board: str, engine: str, units: UnitCosts, **cfg_overrides) -> list[EngineEstimate]:
    """Every (P, V) of LANE_CHOICES x PIXEL_CHOICES that fits the board, by decreasing P * V, for each
    line-buffer variant: `fill_overlap` (an override, or each of fill_variants(engine)) x `in_ports` (an
    override, or 2 and 1: a second input port doubles the fill rate and the line buffer's banks) x `lb_words`
    (an override, or each of geometry.lb_depth_choices at that V)."""
    info = BOARDS[board]
    out = []
    variants = (cfg_overrides.pop("fill_overlap"),) if "fill_overlap" in cfg_overrides else fill_variants(engine)
    ports = (cfg_overrides.pop("in_ports"),) if "in_ports" in cfg_overrides else IN_PORT_CHOICES
    fixed_lb = cfg_overrides.pop("lb_words", None)
    fixed_split = "dsp_lanes" in cfg_overrides or "lut_lanes" in cfg_overrides
    if "lb_uram" in cfg_overrides:
        urams = (cfg_overrides.pop("lb_uram"),)
    else:  # the FQ engine's per-lane copies may live in URAM where the board has it
        urams = (False, True) if engine in SPARSE_ENGINES and info.uram else (False,)
    for ov in variants:
        for ip in ports:
            for ur in urams:
                for V in PIXEL_CHOICES:
                    base = hardware_config(board, engine, lanes=LANE_CHOICES[0], pixels=V, fill_overlap=ov,
                                           in_ports=ip, lb_uram=ur, **cfg_overrides)
                    for lbw in (fixed_lb,) if fixed_lb is not None else lb_depth_choices(base):
                        for P in LANE_CHOICES:  # every P: memories are not monotone in P (see the test)
                            cfg = replace(base, lanes=P, lb_words=lbw)
                            est = balance_units(cfg, units, fixed_split)
                            if est.fits(info):
                                out.append(est)
                            elif est.total.lut > LUT_LIMIT * info.luts or est.total.dsp > DSP_LIMIT * info.dsps:
                                break  # logic grows with P (tested): no larger P fits
    out.sort(key=lambda e: (-(e.lanes * e.pixels), -e.pixels, not e.fill_overlap, -e.in_ports, e.lb_uram,
                            e.lb_words))
    return out


def variant(est: EngineEstimate) -> tuple[bool, int, bool, bool]:
    """The line-buffer variant of an estimate: (fill beside compute, input ports, in URAM, deeper than the
    default)."""
    return est.fill_overlap, est.in_ports, est.lb_uram, est.lb_words > 0


def config_of(est: EngineEstimate, **cfg_overrides) -> HardwareConfig:
    return replace(hardware_config(est.board, est.engine, **cfg_overrides), lanes=est.lanes, pixels=est.pixels,
                   fill_overlap=est.fill_overlap, lb_words=est.lb_words, in_ports=est.in_ports,
                   lb_uram=est.lb_uram, dsp_lanes=est.dsp_lanes, lut_lanes=est.lut_lanes)
