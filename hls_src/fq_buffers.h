// On-chip buffers of the engine and the line-buffer access functions (docs/engine.md).
#ifndef FQ_BUFFERS_H
#define FQ_BUFFERS_H

#include "fq_geometry.h"

namespace fq {

// On-chip buffers (one engine instance; static so that the C-simulation does not put them on the stack).

// Weight buffers and channel tables are the pass loop's PIPO channels (fq_conv.h conv_layer: locals of its
// DATAFLOW body, double-buffered by Vitis): the load of pass p + 1 fills one buffer while the rows of pass p
// read the other. The synthesized path keeps each entry as it arrives (16 bits FQ, 8 bits int8) and decodes
// it beside the PEs (compute_tile); the C-simulation kernels keep decoded records (dec_t) for speed.
#if FQ_HLS_PATH
typedef EnginePolicy::entry_t wslot_t;
#else
typedef dec_t wslot_t;
#endif
// per-channel parameters of the running conv layer (loaded at its start, read by the store stage)
static chparam_t prm[cfg::MAX_OUT_CH];

// The line buffer. The synthesized path declares LB_COPIES copies (lane l reads copy l / LB_LANES_PER_COPY;
// the fill writes every copy), each split into banks indexed by constants: a read of V consecutive entries
// touches each bank once at an address computed from the start, and a rotator puts the bank outputs in pixel
// order (the "rotator" of the resource model). BRAM: LB_BANKS banks of single 9-bit entries. URAM: LB_UBANKS
// banks of 72-bit words of 8 entries (entry i: 9-bit lane i % 8 of word i / 8, word w in bank w % LB_UBANKS).
// The C-simulation kernels keep one flat copy (every copy holds the same entries).
#ifndef FQ_LB_COPIES
#define FQ_LB_COPIES cfg::LB_COPIES
#endif
static const int LB_COPIES = FQ_LB_COPIES;
static const int LB_LANES_PER_COPY = (cfg::P + LB_COPIES - 1) / LB_COPIES;
// two FQ lanes on a copy read through both ports (true dual port); otherwise one reader and the fill's writes
static const int LB_RAM = cfg::ENGINE_SPARSE && LB_LANES_PER_COPY > 1 ? RAM_T2P : RAM_S2P;
#if FQ_HLS_PATH && FQ_LB_URAM
typedef ap_uint<72> lbword_t;
static lbword_t lbu[LB_COPIES][cfg::LB_UBANKS][cfg::LB_UWORDS];
#elif FQ_HLS_PATH
static act_t lbb[LB_COPIES][cfg::LB_BANKS][cfg::LB_BANK_DEPTH];
#else
static act_t lbuf[cfg::LB_DEPTH + cfg::LB_SLACK];
#endif
// fused 3x3 stride-2 max pool (FLAG_POOL, store_rows): per channel and pooled column, the running max of the
// pooled row being built; per channel, the last pixel of the previous tile of the conv row
// A packet updates V / 2 consecutive pooled columns: V / 2 banks (constant bank index, computed address).
static const int POOL_BANKS = cfg::V / 2 > 0 ? cfg::V / 2 : 1;
static act_t pool_acc[POOL_BANKS][(cfg::POOL_WORDS + POOL_BANKS - 1) / POOL_BANKS];
static act_t pool_last[cfg::MAX_OUT_CH];

#ifndef __SYNTHESIS__
static uint64_t row_load[cfg::MAX_ROWS], row_comp[cfg::MAX_ROWS], row_store[cfg::MAX_ROWS];
static uint64_t row_res[cfg::MAX_ROWS];  // residual beats of output row y (gmem_in, shared with load_rows)
#endif

// Line-buffer access: reader `lane` gets the V entries i0 .. i0 + V - 1 (from its copy), and a fill beat writes
// the FILL_BYTES entries of beat b of the line-buffer row starting at entry `row` (into every copy).
static inline void lb_get(int lane, uint32_t i0, act_t x[cfg::V]) {
#if FQ_HLS_PATH
    const int c = lane / LB_LANES_PER_COPY;
#endif
#if FQ_HLS_PATH && FQ_LB_URAM
    const int UB = cfg::LB_UBANKS;
    const uint32_t w0 = i0 >> 3, s = i0 & 7, r0 = w0 % UB, a0 = w0 / UB;
    lbword_t bank[cfg::LB_UBANKS];
lb_get_bank:
    for (int k = 0; k < UB; k++) {
#pragma HLS UNROLL
        const uint32_t a = uint32_t(k) < r0 ? a0 + 1 : a0;  // bank k holds window word (k - r0) mod UB
        bank[k] = lbu[c][k][a];
        FQ_PORT("lbu", c, k, a, false, LB_RAM)
    }
    ap_uint<72 * cfg::LB_UBANKS> win = 0;  // words w0 .. w0 + UB - 1, lowest first: the word rotator
lb_get_rot:
    for (int k = 0; k < UB; k++) {
#pragma HLS UNROLL
        win.range(72 * k + 71, 72 * k) = bank[(r0 + k) % UB];
    }
lb_get_v:
    for (int v = 0; v < cfg::V; v++) {
#pragma HLS UNROLL
        const uint32_t e = s + v;
        x[v] = act_t(win.range(9 * e + 8, 9 * e));
    }
#elif FQ_HLS_PATH
    const int B = cfg::LB_BANKS;
    const uint32_t r0 = i0 % B, a0 = i0 / B;  // B is a power of two: bit selects
    act_t bank[cfg::LB_BANKS];
lb_get_bank:
    for (int k = 0; k < B; k++) {
#pragma HLS UNROLL
        // bank k holds entry i0 + ((k - r0) mod B); a bank that feeds no pixel (B > V) reads row a0, which
        // is always inside the bank (its row a0 + 1 may not be)
        const uint32_t j = (uint32_t(k) + B - r0) % B;
        const uint32_t a = uint32_t(k) < r0 && j < uint32_t(cfg::V) ? a0 + 1 : a0;
        bank[k] = lbb[c][k][a];
        FQ_PORT("lbb", c, k, a, false, LB_RAM)
    }
lb_get_rot:
    for (int v = 0; v < cfg::V; v++) {
#pragma HLS UNROLL
        x[v] = bank[(r0 + v) % B];
    }
#else
    (void)lane;
    for (int v = 0; v < cfg::V; v++) x[v] = lbuf[i0 + v];
#endif
}

static inline void lb_put_beat(size_t row, const geom_t& g, uint32_t b, const beat_t& bt) {
#if FQ_HLS_PATH && FQ_LB_URAM
    // rows and beats are whole words (LB_ALIGN = FILL_BYTES): FILL_BYTES / 8 consecutive words
    const int UB = cfg::LB_UBANKS, NW = cfg::FILL_BYTES / 8;
    const uint32_t w0 = uint32_t((row + lb_beat_pos(g, b, 0)) >> 3), r0 = w0 % UB, a0 = w0 / UB;
    lbword_t word[NW];
lb_put_pack:
    for (int k = 0; k < NW; k++) {
#pragma HLS UNROLL
        for (int j = 0; j < 8; j++) word[k].range(9 * j + 8, 9 * j) = ap_uint<9>(bt.v[8 * k + j].range(8, 0));
    }
lb_put_copy:
    for (int c = 0; c < LB_COPIES; c++) {
#pragma HLS UNROLL
    lb_put_bank:
        for (int k = 0; k < UB; k++) {
#pragma HLS UNROLL
            // bank k takes beat word (k - r0) mod UB, if the beat has one there (NW <= UB: each bank once)
            for (int n = 0; n < NW; n++) {
                if (uint32_t((r0 + n) % UB) != uint32_t(k)) continue;
                const uint32_t a = uint32_t(k) < r0 ? a0 + 1 : a0;
                lbu[c][k][a] = word[n];
                FQ_PORT("lbu", c, k, a, true, LB_RAM)
            }
        }
    }
#elif FQ_HLS_PATH
    const int B = cfg::LB_BANKS;
    const uint32_t p0 = uint32_t(row + lb_beat_pos(g, b, 0)), r0 = p0 % B, a0 = p0 / B;
lb_put_copy:
    for (int c = 0; c < LB_COPIES; c++) {
#pragma HLS UNROLL
    lb_put_bank:
        for (int k = 0; k < B; k++) {
#pragma HLS UNROLL
            const uint32_t j = (uint32_t(k) + B - r0) % B;  // beat entry that lands in bank k
            if (j < uint32_t(cfg::FILL_BYTES) && lb_beat_ok(g, b, int(j))) {
                const uint32_t a = uint32_t(k) < r0 ? a0 + 1 : a0;
                lbb[c][k][a] = bt.v[j];
                FQ_PORT("lbb", c, k, a, true, LB_RAM)
            }
        }
    }
#else
    for (int j = 0; j < cfg::FILL_BYTES; j++) {
        if (lb_beat_ok(g, b, j)) lbuf[row + lb_beat_pos(g, b, j)] = bt.v[j];
    }
#endif
}

}  // namespace fq

#endif
