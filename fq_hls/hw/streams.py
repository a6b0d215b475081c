"""Weight streams: lane assignment and packing of a ConvLayer into the engine's entry stream.

Layout and bit fields: docs/weight_stream.md. numpy only.

fq engine  : 16-bit entries, bit 15 `last` (final entry of its output channel), bits 14..8 the position
             field, bits 7..0 code (bit 7 component, bits 6..5 sign: 00 zero, 01 +1, 11 -1, 10 no weight;
             bits 4..0 exponent). The position field of a k x k layer is (channel step << 2 KB) | (ky << KB) | kx
             with KB = bits of k - 1 (kpos_bits): the input channel advances by the step (0 .. 2^(7 - 2 KB) - 1)
             and the kernel row and column are given outright, so the decoder beside each PE is an adder and
             bit selects (no divider, no multiplier). A larger channel step is bridged by escape entries (the
             largest step, no weight); a weight whose level is not one shift term (int8 layers) is streamed as
             its canonical signed-digit terms, step 0 and the same (ky, kx) after the first, so the shift PEs
             run any layer without multipliers.
int8 engine: dense, one int8 byte per weight; the position is implicit.
int8_sparse: the fq engine's 16-bit entries with the int8 weight in bits 7..0 (two's complement); weight 0 is
             "no weight" (escapes, empty channels), so every non-zero weight is one entry.

Output channels are spread over P lanes and passes by greedy LPT on their entry counts (a pass costs as
many cycles as its longest lane); the plan minimises the sum of the pass maxima (assign_lanes), and the
cycle model picks the fastest of plan_candidates (fq_hls.hw.cycles.conv_passes), which the program packs.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import InputError
from ..ir import ConvLayer
from .config import HardwareConfig

IDX_MAX = 127  # the 7-bit position field
LAST = 1 << 15
SIGN_ZERO, SIGN_POS, SIGN_NOP, SIGN_NEG = 0, 1, 2, 3
NOP_CODE = SIGN_NOP << 5
EXP_MAX = 31
NO_CHANNEL = 0xFFFF
PARAM_BYTES = 16  # bias, mult, res_mult (int32 each), shift | res_shift << 8 (uint32)
FQ_ENTRY_BITS, INT8_ENTRY_BITS = 16, 8  # hls_src FqPolicy::entry_t, Int8Policy::entry_t
ACC_LIMIT = 1 << 31  # int8 engine accumulator (32 bits)


def kpos_bits(k: int) -> int:
    """Bits of the kernel row and of the kernel column in an FQ entry's position field (KB): bits of k - 1."""
    return (k - 1).bit_length()


def step_max(k: int) -> int:
    """The largest input-channel step one FQ entry of a k x k layer holds: 2^(7 - 2 KB) - 1 (1x1: 127,
    3x3: 7, 5x5 and 7x7: 1)."""
    return (1 << (7 - 2 * kpos_bits(k))) - 1


def channel_steps(o_idx: np.ndarray, ci: np.ndarray) -> np.ndarray:
    """Input-channel step of every non-zero weight (row-major by output channel) from the previous one of its
    output channel (the first one: from channel 0)."""
    prev = np.zeros(o_idx.size, np.int64)
    if o_idx.size:
        prev[1:] = ci[:-1]
        first = np.ones(o_idx.size, bool)
        first[1:] = o_idx[1:] != o_idx[:-1]
        prev[first] = 0
    return ci - prev


def max_channels_per_lane(cfg: HardwareConfig) -> int:
    """Channel-table depth per lane and pass (MAX_J in fq_config.h)."""
    return max(4, 2 * -(-cfg.max_out_ch // cfg.lanes))


# The fill stream (load -> compute) absorbs DDR latency: two 32-beat bursts in flight.
S_IN_DEPTH = 64


# s_out[l]: lane l's packets from compute to store. Compute writes all lanes in the same cycles; store takes one
# packet per cycle from whichever lane has one (round robin, hls_src/fq_store.h), so any depth >= 1 is free of
# deadlock (the bounded-stream check runs it); 2 lets a lane hand over a packet while store takes its previous
# one. (Store reading lane after lane needed a depth of MAX_J per lane: it deadlocked at 4.)
S_OUT_DEPTH = 2


def stream_depths(cfg: HardwareConfig) -> dict[str, int]:
    """Depth of each stream of the conv rows region (fq_config.h S_IN_DEPTH, S_OUT_DEPTH)."""
    return {"s_in": S_IN_DEPTH, "s_out": S_OUT_DEPTH}


def align(n: int, a: int) -> int:
    return -(-n // a) * a


@dataclass
class ShiftCoding:
    """How the fq engine sees a layer: per-layer recombination constants + per-weight shift terms."""

    q_shift: int
    mu_shift: tuple[int, int]
    mu_sign: tuple[int, int]
    from_fields: bool  # False: canonical signed-digit terms of the integer weight (no mu)
    why: str = ""  # why the layer is streamed as signed-digit terms (empty when from_fields)


def csd_terms(n: int) -> list[tuple[int, int]]:
    """Canonical signed-digit (non-adjacent form) terms (sign, exp) of a non-zero integer, low digits first."""
    terms = []
    e = 0
    while n != 0:
        if n & 1:
            d = 2 - (n & 3)  # +1 or -1
            terms.append((d, e))
            n -= d
        n >>= 1
        e += 1
    return terms


def _csd_coding(layer: ConvLayer, why: str) -> ShiftCoding:
    """Signed-digit coding; q_shift = the smallest digit exponent, so the PE's exponents start at 0."""
    w = np.asarray(layer.weights, dtype=np.int64)
    nz = w[w != 0]
    q = int(np.min(_trailing_zeros(nz))) if nz.size else 0
    return ShiftCoding(q, (0, 0), (0, 0), False, why)


def _trailing_zeros(v: np.ndarray) -> np.ndarray:
    v = np.abs(np.asarray(v, dtype=np.int64))
    return np.log2(v & -v).astype(np.int64)


def shift_coding(layer: ConvLayer, cfg: HardwareConfig | None = None) -> ShiftCoding:
    """Use the layer's own (comp, sign, exp) fields when they reproduce its weights exactly and the means fit
    the PE's mean accumulator (`cfg.mu_delta_bits`), else signed-digit terms (docs/weight_stream.md)."""
    wf = layer.wformat
    delta_max = (1 << (cfg.mu_delta_bits if cfg is not None else HardwareConfig.mu_delta_bits)) - 1
    if not (
        wf.kind in ("fq", "shift")
        and layer.wsign is not None
        and layer.wexp is not None
        and wf.q_shift >= 0
        and all(0 <= s <= 30 for s in wf.mu_shift)
    ):
        return _csd_coding(layer, f"{wf.kind} weights")
    w = np.asarray(layer.weights, dtype=np.int64)
    nz = w != 0
    sign = np.asarray(layer.wsign, dtype=np.int64)[nz]
    exp = np.asarray(layer.wexp, dtype=np.int64)[nz]
    comp = np.zeros_like(sign) if layer.wcomp is None else np.asarray(layer.wcomp, dtype=np.int64)[nz]
    mu_sign = tuple(int(v) for v in wf.mu_sign) if wf.kind == "fq" else (0, 0)
    mu_shift = tuple(int(v) for v in wf.mu_shift) if wf.kind == "fq" else (0, 0)
    mu = np.array([mu_sign[c] * (1 << mu_shift[c]) for c in range(2)], dtype=np.int64)
    ok = exp.size == 0 or (
        exp.min() >= 0
        and exp.max() <= EXP_MAX
        and comp.min() >= 0
        and comp.max() <= 1
        and np.abs(sign).max() <= 1
    )
    if not ok or not np.array_equal(sign * (np.int64(1) << (exp + wf.q_shift)) + mu[comp], w[nz]):
        return _csd_coding(layer, "fields do not reproduce the weights")
    if any(mu_sign):
        used = [c for c in range(2) if np.any(comp == c)]
        if any(mu_sign[c] == 0 for c in used):
            return _csd_coding(layer, "a used component has a zero mean")
        # an unused component takes the other's shift and sign (it never reaches the mean accumulator)
        if len(used) == 1:
            c = used[0]
            mu_shift, mu_sign = (mu_shift[c], mu_shift[c]), (mu_sign[c], mu_sign[c])
        if abs(mu_shift[0] - mu_shift[1]) > delta_max:
            return _csd_coding(
                layer, f"mean shifts {mu_shift} differ by more than the PE's {delta_max} (mu_delta_bits)"
            )
    return ShiftCoding(wf.q_shift, mu_shift, mu_sign, True)


def _weights4(layer: ConvLayer) -> np.ndarray:
    w = np.asarray(layer.weights)
    if w.ndim == 2:
        w = w.reshape(w.shape[0], w.shape[1], 1, 1)
    return w.astype(np.int64)


def naf_digits(values: np.ndarray) -> np.ndarray:
    """Signed digits (-1, 0, +1) of the non-adjacent form, shape values.shape + (bits,), low digit first."""
    n = np.asarray(values, dtype=np.int64).copy()
    digits = []
    while np.any(n != 0):
        d = np.where(n & 1, 2 - (n & 3), 0)
        digits.append(d)
        n = (n - d) >> 1
    if not digits:
        return np.zeros(n.shape + (1,), np.int64)
    return np.stack(digits, axis=-1)


def _terms(layer: ConvLayer, coding: ShiftCoding, flat: np.ndarray, o_idx, p_idx):
    """Shift terms of the non-zero weights (row-major order): (weight index, sign, exp, comp) per term."""
    if coding.from_fields:
        shape = flat.shape
        sign = np.asarray(layer.wsign, dtype=np.int64).reshape(shape)[o_idx, p_idx]
        exp = np.asarray(layer.wexp, dtype=np.int64).reshape(shape)[o_idx, p_idx]
        comp = (
            np.zeros_like(sign)
            if layer.wcomp is None
            else np.asarray(layer.wcomp, np.int64).reshape(shape)[o_idx, p_idx]
        )
        return np.arange(sign.size), sign, exp, comp
    dig = naf_digits(flat[o_idx, p_idx] >> coding.q_shift)  # exact: q_shift = the least digit exponent
    widx, exp = np.nonzero(dig)  # row-major: by weight, then exponent
    return widx, dig[widx, exp], exp, np.zeros_like(exp)


V_EXP_MAX = 15  # hls_src/fq_types.h: either term of a DSP lane's weight v is at most 2^15 (18-bit operand)


def dsp_weight_units(coding: ShiftCoding) -> tuple[int, int, int]:
    """(v_b, v_eq, v_em) of hls_src/fq_types.h layer_derive: an FQ lane on a DSP multiplies by the whole weight
    v = sign 2^(exp + v_eq) + mu_sign[c] 2^(d_c + v_em) and the store shifts its sum by v_b."""
    means = any(coding.mu_sign)
    m_shift = min(coding.mu_shift)
    v_b = m_shift if means and m_shift < coding.q_shift else coding.q_shift
    return v_b, coding.q_shift - v_b, (m_shift - v_b) if means else 0


def _check_dsp_lanes(layer: ConvLayer, coding: ShiftCoding, cfg: HardwareConfig, o_term: np.ndarray,
                     sign: np.ndarray, exp: np.ndarray, comp: np.ndarray, n_out: int) -> None:
    """An engine with DSP lanes (cfg.dsp_lanes) runs every channel on any lane: each term's weight v must fit
    the DSP operand, and each channel's worst case the q-accumulator, else the layer is refused by name."""
    _, v_eq, v_em = dsp_weight_units(coding)
    means = any(coding.mu_sign)
    d = (np.asarray(coding.mu_shift) - min(coding.mu_shift))[comp] if means else np.zeros_like(exp)
    top = max(int(exp.max()) + v_eq if exp.size else 0, int(d.max()) + v_em if (means and d.size) else 0)
    if top > V_EXP_MAX:
        raise InputError(
            f"layer {layer.name}: a weight needs 2^{top} on the engine's DSP lanes (operand terms up to "
            f"2^{V_EXP_MAX}); build the engine with dsp_lanes=0"
        )
    v = np.where(sign != 0, 2.0 ** (exp + v_eq), 0.0) + (2.0 ** (d + v_em) if means else 0.0)
    bound = np.bincount(o_term, weights=v, minlength=n_out)
    if n_out and 255 * bound.max() >= 1 << (cfg.accq_bits - 1):
        o = int(np.argmax(bound))
        raise InputError(f"layer {layer.name}: output channel {o} may overflow the accumulator of the DSP lanes")


def channel_entries_fq(
    layer: ConvLayer, coding: ShiftCoding | None = None, cfg: HardwareConfig | None = None
) -> list[np.ndarray]:
    """uint16 entry list of every output channel (fq engine)."""
    coding = coding or shift_coding(layer, cfg)
    exp_bits = cfg.exp_bits if cfg is not None else HardwareConfig.exp_bits
    w = _weights4(layer)
    n_out = w.shape[0]
    flat = w.reshape(n_out, -1)
    o_idx, p_idx = np.nonzero(flat)
    widx, sign, exp, comp = _terms(layer, coding, flat, o_idx, p_idx)
    if exp.size and exp.max() >= 1 << exp_bits:
        how = "its own shift codes" if coding.from_fields else f"signed-digit terms ({coding.why})"
        raise InputError(
            f"layer {layer.name}: weight exponent {int(exp.max())} (streamed as {how}, q_shift "
            f"{coding.q_shift}) does not fit the PE's {exp_bits}-bit shifter; build the engine with "
            f"exp_bits >= {int(exp.max()).bit_length()}"
        )
    # per-channel worst case of the q-accumulator: sum over terms of 255 * 2^exp. The hardware width
    # (cfg.accq_bits) is capped at acc_bits, so this check is what makes the cap safe.
    acc_limit = 1 << ((cfg.accq_bits if cfg is not None else 32) - 1)
    bound = np.bincount(o_idx[widx], weights=np.where(sign != 0, 2.0**exp, 0.0), minlength=n_out)
    if n_out and 255 * bound.max() >= acc_limit:
        o = int(np.argmax(bound))
        raise InputError(
            f"layer {layer.name}: output channel {o} may overflow the q-accumulator of the shift PEs"
        )
    if cfg is not None and cfg.dsp_lanes:
        _check_dsp_lanes(layer, coding, cfg, o_idx[widx], sign, exp, comp, n_out)
    nw = o_idx.size
    k = int(w.shape[2])
    kb, dmax = kpos_bits(k), step_max(k)
    kk = k * k
    ci, r = p_idx // kk, p_idx % kk
    ky, kx = r // k, r % k
    # input-channel step of every weight from the previous weight of its channel; steps over dmax take escapes
    step = channel_steps(o_idx, ci)
    n_esc = np.maximum(0, (step - 1) // dmax)
    step_left = step - dmax * n_esc
    n_terms = np.bincount(widx, minlength=nw)
    blk = n_esc + n_terms
    ends = np.cumsum(blk)
    starts = ends - blk
    ent = np.full(int(ends[-1]) if nw else 0, ((dmax << (2 * kb)) << 8) | NOP_CODE, dtype=np.int64)
    if widx.size:
        tfirst = np.ones(widx.size, bool)
        tfirst[1:] = widx[1:] != widx[:-1]
        tstart = np.flatnonzero(tfirst)
        rank = np.arange(widx.size) - np.repeat(tstart, n_terms[n_terms > 0])
        sb = np.where(sign > 0, SIGN_POS, np.where(sign < 0, SIGN_NEG, SIGN_ZERO))
        code = (comp << 7) | (sb << 5) | exp
        field = (np.where(rank == 0, step_left[widx], 0) << (2 * kb)) | (ky[widx] << kb) | kx[widx]
        ent[starts[widx] + n_esc[widx] + rank] = (field << 8) | code
    per_ch = np.bincount(o_idx, weights=blk, minlength=n_out).astype(np.int64)
    out = []
    cut = np.concatenate([[0], np.cumsum(per_ch)])
    for o in range(n_out):
        seg = ent[cut[o] : cut[o + 1]]
        seg = seg.copy() if seg.size else np.array([NOP_CODE], np.int64)
        seg[-1] |= LAST
        out.append(seg.astype(np.uint16))
    return out


def _int8_weights(layer: ConvLayer) -> np.ndarray:
    """The layer's integer weights (n_out, I, k, k), checked against the int8 MAC engines' widths."""
    w = _weights4(layer)
    if w.size and (w.min() < -128 or w.max() > 127):
        raise InputError(
            f"layer {layer.name}: integer weights in [{w.min()}, {w.max()}] do not fit the int8 engines; use --engine fq"
        )
    lim = np.abs(w).reshape(w.shape[0], -1).sum(axis=1) * 255
    if w.size and lim.max() >= ACC_LIMIT:
        raise InputError(f"layer {layer.name}: sum |w| * 255 overflows the 32-bit accumulator")
    return w


def channel_entries_int8(layer: ConvLayer) -> list[np.ndarray]:
    """Dense int8 weights of every output channel (int8 engine)."""
    w = _int8_weights(layer)
    return [row.astype(np.int8) for row in w.reshape(w.shape[0], -1)]


def channel_entries_int8_sparse(layer: ConvLayer) -> list[np.ndarray]:
    """uint16 entry list of every output channel (int8_sparse engine): the fq engine's position fields and
    escapes, the int8 weight in the low byte."""
    w = _int8_weights(layer)
    n_out, k = w.shape[0], int(w.shape[2])
    flat = w.reshape(n_out, -1)
    o_idx, p_idx = np.nonzero(flat)
    kb, dmax = kpos_bits(k), step_max(k)
    ci, r = p_idx // (k * k), p_idx % (k * k)
    step = channel_steps(o_idx, ci)
    n_esc = np.maximum(0, (step - 1) // dmax)
    blk = n_esc + 1
    ends = np.cumsum(blk)
    ent = np.full(int(ends[-1]) if o_idx.size else 0, (dmax << (2 * kb)) << 8, dtype=np.int64)  # escapes
    field = ((step - dmax * n_esc) << (2 * kb)) | ((r // k) << kb) | (r % k)
    ent[ends - 1] = (field << 8) | (flat[o_idx, p_idx] & 0xFF)
    per_ch = np.bincount(o_idx, weights=blk, minlength=n_out).astype(np.int64)
    cut = np.concatenate([[0], np.cumsum(per_ch)])
    out = []
    for o in range(n_out):
        seg = ent[cut[o] : cut[o + 1]]
        seg = seg.copy() if seg.size else np.zeros(1, np.int64)  # an empty channel: one "no weight" entry
        seg[-1] |= LAST
        out.append(seg.astype(np.uint16))
    return out


def assign_lanes(
    lengths, lanes: int, capacity: int, max_j: int, name: str = "layer"
) -> list[list[list[int]]]:
    """Channels -> passes -> lanes -> channel lists, balanced on `lengths` (entries per channel).

    A pass costs as many entry cycles as its longest lane, so the plan minimises the sum of the pass maxima
    (ties: fewer passes). Two families of plans, each pass filled by greedy LPT (every channel on its least
    loaded lane that still has room: capacity entries, max_j channels):
    dealt: channels sorted by length (longest first) dealt round-robin over the fewest passes that fit;
    layered: consecutive runs of P * r channels of that order, one run per pass (r channels per lane), so
    that no pass carries a lane with one channel more than the others because of the remainder
    (docs/engine.md "Efficiency"). Passes run shortest first: pass 0's weights load in the layer's head,
    where nothing hides them.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size and lengths.max() > capacity:
        o = int(np.argmax(lengths))
        raise InputError(
            f"{name}: output channel {o} needs {int(lengths[o])} weight entries, the lane buffer holds {capacity}"
        )
    return [[list(lane) for lane in p] for p in _plan(lengths.tobytes(), lanes, capacity, max_j)]


def plan_candidates(
    lengths, lanes: int, capacity: int, max_j: int, name: str = "layer"
) -> list[list[list[list[int]]]]:
    """Pass plans worth timing (fq_hls.hw.cycles picks the fastest): assign_lanes's plan, and the same with
    the P shortest channels split off into a first pass of their own, whose weights alone load in the
    layer's head (the later passes load while the rows of the one before run)."""
    best = assign_lanes(lengths, lanes, capacity, max_j, name)
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) <= lanes:
        return [best]
    order = np.argsort(-lengths, kind="stable")
    short, rest = [int(c) for c in order[-lanes:]], order[:-lanes]
    tail = assign_lanes(lengths[rest], lanes, capacity, max_j, name)
    split = [[[c] for c in short]] + [[[int(rest[c]) for c in lane] for lane in p] for p in tail]
    return [best, split]


def _pass_max(lane_ch: list[list[int]], lengths: np.ndarray) -> int:
    return max(1, max(int(lengths[chs].sum()) if chs else 0 for chs in lane_ch))


@lru_cache(maxsize=1024)
def _plan(key: bytes, lanes: int, capacity: int, max_j: int) -> tuple[tuple[tuple[int, ...], ...], ...]:
    lengths = np.frombuffer(key, dtype=np.int64)
    n = len(lengths)
    order = [int(c) for c in np.argsort(-lengths, kind="stable")]
    n_pass = max(1, -(-int(lengths.sum()) // (lanes * capacity)), -(-n // (lanes * max_j)))
    while True:
        dealt = [
            _lpt([(c, int(lengths[c])) for c in order[g::n_pass]], lanes, capacity, max_j)
            for g in range(n_pass)
        ]
        if all(p is not None for p in dealt):
            break
        n_pass += 1
    plans = [dealt]
    for r in range(1, min(max_j, -(-n // lanes)) + 1):
        run = lanes * r
        layered = [_lpt([(c, int(lengths[c])) for c in order[i:i + run]], lanes, capacity, max_j)
                   for i in range(0, n, run)]
        if all(p is not None for p in layered):
            plans.append(layered)
    best = min(plans, key=lambda ps: (sum(_pass_max(p, lengths) for p in ps), len(ps)))
    best = sorted(best, key=lambda p: _pass_max(p, lengths))
    return tuple(tuple(tuple(lane) for lane in p) for p in best)


def _lpt(jobs: list[tuple[int, int]], lanes: int, capacity: int, max_j: int) -> list[list[int]] | None:
    heap = [(0, ln) for ln in range(lanes)]  # (load, lane): the least loaded lane first, ties by index
    lane_ch: list[list[int]] = [[] for _ in range(lanes)]
    for c, n in jobs:
        held = []
        while heap and len(lane_ch[heap[0][1]]) >= max_j:
            held.append(heapq.heappop(heap))  # lanes whose channel table is full take no more
        if not heap or heap[0][0] + n > capacity:
            return None
        load, ln = heapq.heappop(heap)
        lane_ch[ln].append(c)
        heapq.heappush(heap, (load + n, ln))
        for h in held:
            heapq.heappush(heap, h)
    return lane_ch


def entry_bytes(engine: str) -> int:
    """Bytes of one weight-stream entry of `engine` (fq_hls.hw.config.ENGINES)."""
    return (INT8_ENTRY_BITS if engine == "int8" else FQ_ENTRY_BITS) // 8


@dataclass
class PackedLayer:
    data: np.ndarray  # uint8, AXI aligned: parameter table, then the passes
    passes: list[list[list[int]]]  # pass -> lane -> output channels
    pass_entries: list[int]  # entries per lane (the longest lane) of every pass
    entry_bytes: int
    coding: ShiftCoding | None  # fq engine only


def _params(layer: ConvLayer) -> np.ndarray:
    n_out = layer.out_ch
    p = np.zeros((n_out, 4), dtype=np.int32)
    p[:, 0] = np.asarray(layer.bias, dtype=np.int64).astype(np.int32)
    if layer.out_bits != 32:
        p[:, 1] = np.asarray(layer.mult, dtype=np.int64)
        sh = np.asarray(layer.shift, dtype=np.int64)
        if layer.residual is not None:
            p[:, 2] = np.asarray(layer.res_mult, dtype=np.int64)
            if layer.res_shift is not None:
                sh = sh | (np.asarray(layer.res_shift, dtype=np.int64) << 8)
        p[:, 3] = sh
    else:
        p[:, 3] = 1
    return p


def pack_layer(
    layer: ConvLayer, cfg: HardwareConfig, passes: list[list[list[int]]] | None = None
) -> PackedLayer:
    """The weight stream of one conv/fc layer for `cfg` (docs/weight_stream.md). `passes` (pass -> lane ->
    channels): the plan the cycle model chose (fq_hls.hw.cycles.conv_passes); None: assign_lanes's."""
    A = cfg.axi_bits // 8
    P = cfg.lanes
    if cfg.engine == "fq":
        coding = shift_coding(layer, cfg)
        chans = channel_entries_fq(layer, coding, cfg)
        dt, pad = np.uint16, NOP_CODE
    elif cfg.engine == "int8_sparse":
        coding = None
        chans = channel_entries_int8_sparse(layer)
        dt, pad = np.uint16, 0
    else:
        coding = None
        chans = channel_entries_int8(layer)
        dt, pad = np.int8, 0
    eb = entry_bytes(cfg.engine)
    lengths = [len(c) for c in chans]
    if passes is None:
        passes = assign_lanes(lengths, P, cfg.max_nnz_per_lane, max_channels_per_lane(cfg), layer.name)
    blobs = [_params(layer).view(np.uint8).reshape(-1)]
    blobs.append(np.zeros(align(blobs[0].size, A) - blobs[0].size, np.uint8))
    pass_entries = []
    for lane_ch in passes:
        n_j = max(1, max(len(c) for c in lane_ch))
        L = max(sum(lengths[c] for c in chs) for chs in lane_ch)
        L = max(L, 1)
        pass_entries.append(L)
        head = np.zeros(A, np.uint8)
        head[:8] = np.array([L, n_j], dtype="<u4").view(np.uint8)
        tab = np.full((P, n_j), NO_CHANNEL, dtype="<u2")
        ent = np.full((L, P), pad, dtype=dt)
        for ln, chs in enumerate(lane_ch):
            tab[ln, : len(chs)] = chs
            if chs:
                seq = np.concatenate([chans[c] for c in chs])
                ent[: seq.size, ln] = seq
        tb = tab.view(np.uint8).reshape(-1)
        eb_ = ent.astype("<u2" if eb == 2 else np.int8).view(np.uint8).reshape(-1)
        blobs += [
            head,
            tb,
            np.zeros(align(tb.size, A) - tb.size, np.uint8),
            eb_,
            np.zeros(align(eb_.size, A) - eb_.size, np.uint8),
        ]
    data = np.concatenate(blobs).astype(np.uint8)
    return PackedLayer(data, passes, pass_entries, eb, coding)


def unpack_layer(
    packed: PackedLayer, layer_shape: tuple[int, int, int, int], cfg: HardwareConfig
) -> np.ndarray:
    """Integer weights (n_out, I, k, k) back from a packed stream: the inverse of pack_layer (for tests/tools)."""
    n_out, n_in, k, _ = layer_shape
    A = cfg.axi_bits // 8
    P = cfg.lanes
    kvol = n_in * k * k
    d = packed.data
    w = np.zeros((n_out, kvol), dtype=np.int64)
    off = align(n_out * PARAM_BYTES, A)
    cod = packed.coding
    for _ in packed.passes:
        L, n_j = (int(v) for v in d[off : off + 8].view("<u4"))
        off += A
        tab = d[off : off + P * n_j * 2].view("<u2").reshape(P, n_j)
        off += align(P * n_j * 2, A)
        nbytes = L * P * packed.entry_bytes
        if packed.entry_bytes == 2:
            ent = d[off : off + nbytes].view("<u2").reshape(L, P)
        else:
            ent = d[off : off + nbytes].view(np.int8).reshape(L, P)
        off += align(nbytes, A)
        for ln in range(P):
            chs = [int(c) for c in tab[ln] if c != NO_CHANNEL]
            j, pos, ci = 0, 0, 0
            kb = kpos_bits(k)
            for e in range(L):
                if j >= len(chs):
                    break
                if packed.entry_bytes == 1:
                    w[chs[j], pos] = int(ent[e, ln])
                    pos += 1
                    if pos == kvol:
                        pos, j = 0, j + 1
                    continue
                raw = int(ent[e, ln])
                field = (raw >> 8) & IDX_MAX
                ci += field >> (2 * kb)
                pos = ci * k * k + ((field >> kb) & ((1 << kb) - 1)) * k + (field & ((1 << kb) - 1))
                code = raw & 0xFF
                if cod is None:  # int8_sparse: the low byte is the weight (0: none)
                    w[chs[j], pos] += code - 256 if code >= 128 else code
                    if raw & LAST:
                        ci, j = 0, j + 1
                    continue
                sb, comp, ex = (code >> 5) & 3, code >> 7, code & EXP_MAX
                if sb != SIGN_NOP:
                    s = 1 if sb == SIGN_POS else (-1 if sb == SIGN_NEG else 0)
                    val = s * (1 << (ex + cod.q_shift)) if s else 0
                    w[chs[j], pos] += val
                    # the component mean is added once per weight: the first term carries the component
                    if cod.from_fields:
                        w[chs[j], pos] += cod.mu_sign[comp] * (1 << cod.mu_shift[comp])
                if raw & LAST:
                    ci, j = 0, j + 1
    return w.reshape(n_out, n_in, k, k)
