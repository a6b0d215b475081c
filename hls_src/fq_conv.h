// Conv layer: the rows dataflow region, the weight-stream passes and the cross-layer prefetch (docs/engine.md).
#ifndef FQ_CONV_H
#define FQ_CONV_H

#include "fq_compute.h"
#include "fq_store.h"

namespace fq {

static int check_shape(const layer_t& L);

template <class Pol>
static void conv_rows(const uint8_t* act_in, const uint8_t* act_in2, uint8_t* act_out, const layer_t& L,
                      const geom_t& g,
                      const wslot_t wbuf[cfg::P][cfg::MAX_ENTRIES], const uint32_t* lane_len,
                      const uint16_t chtab[cfg::P][cfg::MAX_J], const uint16_t chcnt[cfg::P],
                      const uint16_t chlive[cfg::P],
                      const chparam_t prm[cfg::MAX_OUT_CH], uint32_t n_entries, bool fill) {
#pragma HLS DATAFLOW
    fill_stream_t s_in("s_in");
    pkt_stream_t s_out[cfg::P];
#pragma HLS BIND_STORAGE variable = s_in type = fifo impl = srl
#pragma HLS BIND_STORAGE variable = s_out type = fifo impl = srl
#ifndef __SYNTHESIS__
    for (int l = 0; l < cfg::P; l++) s_out[l].set_name("s_out", l);
#endif
    FQ_DATAFLOW_BEGIN("conv_rows")
    FQ_PROCESS("load_rows", load_rows(act_in, act_in2, L, g, 0, s_in, 0, L.in_ch, fill))
    FQ_PROCESS("compute_rows", compute_rows<Pol>(L, g, wbuf, lane_len, chlive, n_entries, s_in, s_out, fill))
    FQ_PROCESS("store_rows", store_rows<Pol>(act_in, act_out, L, g, chtab, chcnt, prm, s_out))
    FQ_DATAFLOW_END()
}

// ---------------------------------------------------------------------------------------------------------
// Load one pass of the weight stream at `off` (header, channel table, entries) and decode it into one half of
// the ping-pong buffers: one row of P entries per cycle. `cyc` gets the pass's load cycles (csim).
template <class Pol>
static int load_pass(const uint8_t* w, uint32_t& off, const layer_t& L, const geom_t& g,
                     wslot_t wbuf[cfg::P][cfg::MAX_ENTRIES], uint16_t chtab[cfg::P][cfg::MAX_J],
                     uint16_t chcnt[cfg::P], uint16_t chlive[cfg::P], uint32_t lane_len[cfg::P], uint32_t& n_entries,
                     uint64_t& cyc) {
    n_entries = rd32(w + off);
    const uint32_t nj = rd32(w + off + 4);
    if (n_entries > uint32_t(cfg::MAX_ENTRIES) || nj > uint32_t(cfg::MAX_J) || off > L.w_bytes)
        return ST_WEIGHT_BUFFER;
    off += cfg::AXI_BYTES;
    bool ch_ok = true;
load_chtab:
    for (int l = 0; l < cfg::P; l++) {
        chcnt[l] = 0;
        chlive[l] = 0;
    load_chtab_j:
        for (uint32_t j = 0; j < nj; j++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 16
            FQ_ITER("load_chtab_j")
            const uint8_t* p = w + off + (l * nj + j) * 2;
            uint16_t ch = uint16_t(p[0] | (p[1] << 8));
            chtab[l][j] = ch;
            FQ_PORT("chtab", l, 0, j, true, RAM_S2P)
            if (ch != 0xffff) {
                ch_ok &= ch < L.out_ch;
                chcnt[l] = j + 1;
                chlive[l] = j + 1;
            }
        }
    }
    if (!ch_ok) return ST_BAD_CHANNEL;
    const uint32_t tab_bytes = align_axi(cfg::P * nj * 2);
    off += tab_bytes;
    const uint32_t ent_bytes = align_axi(n_entries * cfg::P * Pol::ENTRY_BYTES);
    if (off + ent_bytes > L.w_bytes) return ST_BAD_STREAM;

    // the decoders of compute_tile run here too, to check the pass before it runs (and, in the C-simulation,
    // to keep decoded records)
    lane_pos_t pos[cfg::P];
    uint32_t lane_ch[cfg::P];
    bool ok = true;
    const uint32_t kb = kpos_bits(L.kernel);
#pragma HLS ARRAY_PARTITION variable = pos complete
#pragma HLS ARRAY_PARTITION variable = lane_ch complete
    for (int l = 0; l < cfg::P; l++) {
#pragma HLS UNROLL
        lane_pos_reset(pos[l]);
        lane_ch[l] = 0;
        lane_len[l] = 0;
    }
decode_entry:
    for (uint32_t e = 0; e < n_entries; e++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4608
        FQ_ITER("decode_entry")
    decode_lane:
        for (int l = 0; l < cfg::P; l++) {
#pragma HLS UNROLL
            dec_t d;
            kpos_t k;
            const uint8_t* ep = w + off + (e * cfg::P + l) * Pol::ENTRY_BYTES;
            const typename Pol::entry_t raw = Pol::ENTRY_BYTES == 2 ? typename Pol::entry_t(ep[0] | (ep[1] << 8))
                                                                     : typename Pol::entry_t(int8_t(ep[0]));
            ok &= Pol::decode(raw, pos[l], chcnt[l], kb, L, d, k);
            if (d.flags & DEC_LAST) {
                ok &= lane_ch[l] < chcnt[l];
                lane_ch[l]++;
                lane_len[l] = e + 1;
            }
#if FQ_HLS_PATH
            wbuf[l][e] = raw;
#else
            d.base = uint32_t(lb_row(g, k.ci, 0)) + kx_off(g, k.kx);  // address of (ci, kx), once per pass
            wbuf[l][e] = d;
#endif
            FQ_PORT("wbuf", l, 0, e, true, RAM_S2P)
        }
    }
decode_check:
    for (int l = 0; l < cfg::P; l++) {
#pragma HLS UNROLL
        ok &= lane_ch[l] == chcnt[l];  // every channel of every lane must end inside the pass
    }
    if (!ok) return ST_BAD_STREAM;
    off += ent_bytes;
    FQ_CYCLES({
        uint64_t wb = beats(tab_bytes + ent_bytes) + 1;
        uint64_t dec = n_entries;
        cyc = (wb > dec ? wb : dec) + cfg::DEPTH_LOAD + cfg::DEPTH_DECODE;
    })
    return ST_OK;
}

// The head of a conv layer: its parameter table into prm half `psel`, its pass 0 into weight-buffer half `h`.
// `cyc` gets the load cycles (csim); `off` the stream offset after pass 0.
template <class Pol>
static int load_head(const uint8_t* wmem, const layer_t& L, uint32_t h, uint32_t psel, uint32_t& n_entries,
                     uint32_t& off, uint64_t& cyc) {
    if (L.entry_bytes != uint32_t(Pol::ENTRY_BYTES)) return ST_BAD_STREAM;
    if (L.d_neg >= (1u << cfg::MU_DELTA_BITS) || L.d_pos >= (1u << cfg::MU_DELTA_BITS)) return ST_BAD_STREAM;
    const geom_t g = geometry(L);
    if (L.in_ch * g.cstride > uint32_t(cfg::LB_DEPTH)) return ST_LINE_BUFFER;
    const uint8_t* w = wmem + L.w_off;
    if (L.out_ch * 16 > L.w_bytes) return ST_BAD_STREAM;
    chparam_t* prm = psel ? prm1 : prm0;
    // per-channel constants: bias, mult, res_mult (int32), shift | res_shift << 8
    bool prm_ok = true;
load_params:
    for (uint32_t c = 0; c < L.out_ch; c++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1024
        FQ_ITER("load_params")
        const uint8_t* p = w + c * 16;
        const int32_t mult = int32_t(rd32(p + 4)), res_mult = int32_t(rd32(p + 8));
        const uint32_t sh = rd32(p + 12), shift = sh & 0xff, res_shift = (sh >> 8) & 0xff;
        // the fields' hardware widths (chparam_t): checked before they are narrowed
        prm_ok &= shift >= 1 && shift <= 62 && res_shift <= 62;
        prm_ok &= mult >= -32768 && mult <= 32767 && res_mult >= -32768 && res_mult <= 32767;
        chparam_t cp;
        cp.bias = int32_t(rd32(p));
        cp.mult = mult;
        cp.res_mult = res_mult;
        cp.shift = shift;
        cp.res_shift = res_shift;
        prm[c] = cp;
        FQ_PORT("prm", 0, 0, c, true, RAM_S2P)
    }
    if (!prm_ok) return ST_BAD_STREAM;
    off = align_axi(L.out_ch * 16);
    uint64_t wl = 0;
    int st = h ? load_pass<Pol>(w, off, L, g, wbuf1, chtab1, chcnt1, chlive1, lane_len1, n_entries, wl)
               : load_pass<Pol>(w, off, L, g, wbuf0, chtab0, chcnt0, chlive0, lane_len0, n_entries, wl);
    FQ_CYCLES(cyc = beats(L.out_ch * 16) + cfg::DEPTH_LOAD + wl;)
    return st;
}

// Prefetch the head of layer `N` (if it is a conv layer that passes the shape check) into halves (h, psel).
template <class Pol>
static void prefetch_head(const uint8_t* wmem, const layer_t& N, bool has_next, uint32_t h, uint32_t psel,
                          uint64_t& cyc) {
    pre.valid = false;
    if (!has_next || N.op != OP_CONV || check_shape(N) != ST_OK) return;
    pre.valid = true;
    pre.half = h;
    pre.psel = psel;
    pre.status = load_head<Pol>(wmem, N, h, psel, pre.n_entries, pre.off, cyc);
}

template <class Pol>
static int conv_layer(const uint8_t* wmem, const uint8_t* act_in, const uint8_t* act_in2, uint8_t* act_out,
                      const layer_t& L, const layer_t& N, bool has_next, uint64_t& cycles) {
    // the head (parameters, pass 0): prefetched by the previous layer, else loaded now
    uint32_t h = 0, psel = 0, n_cur = 0, off = 0;
    if (pre.valid) {
        pre.valid = false;
        if (pre.status != ST_OK) return pre.status;
        h = pre.half;
        psel = pre.psel;
        n_cur = pre.n_entries;
        off = pre.off;
    } else {
        uint64_t hc = 0;
        int st = load_head<Pol>(wmem, L, h, psel, n_cur, off, hc);
        if (st != ST_OK) return st;
        FQ_CYCLES(cycles += hc;)
    }
    const geom_t g = geometry(L);
    const uint8_t* w = wmem + L.w_off;
    const chparam_t* prm = psel ? prm1 : prm0;
    // pass p + 1 loads into the other half of the ping-pong buffers, then the rows of pass p run; after the last
    // pass, the next conv layer's head loads. (Sequential: overlapping them needs the load and the rows as
    // processes of one DATAFLOW region, docs/engine.md "Known limits".)
pass:
    for (uint32_t ps = 0; ps < L.n_passes; ps++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 16
        uint32_t n_next = 0;
        uint64_t wl = 0;
        if (ps + 1 < L.n_passes) {
            int st = h ? load_pass<Pol>(w, off, L, g, wbuf0, chtab0, chcnt0, chlive0, lane_len0, n_next, wl)
                       : load_pass<Pol>(w, off, L, g, wbuf1, chtab1, chcnt1, chlive1, lane_len1, n_next, wl);
            if (st != ST_OK) return st;
        } else {
            prefetch_head<Pol>(wmem, N, has_next, 1 - h, 1 - psel, wl);
        }
        // flat mode: the whole map stays in the line buffer after pass 0, later passes stream nothing
        const bool fill = !g.flat || ps == 0;
        if (h)
            conv_rows<Pol>(act_in, act_in2, act_out, L, g, wbuf1, lane_len1, chtab1, chcnt1, chlive1, prm, n_cur, fill);
        else
            conv_rows<Pol>(act_in, act_in2, act_out, L, g, wbuf0, lane_len0, chtab0, chcnt0, chlive0, prm, n_cur, fill);
        FQ_CYCLES({
            // overlapped fill: row y computes while load fetches (and compute absorbs) row y + 1's input
            // rows; row 0's input is the prologue. Not overlapped: row y's input, then row y.
            uint64_t c = cfg::DEPTH_DATAFLOW + (cfg::FILL_OVERLAP ? row_load[0] : 0);
            for (uint32_t y = 0; y < g.rows; y++) {
                const uint32_t ly = cfg::FILL_OVERLAP ? y + 1 : y;
                uint64_t m = (ly < g.rows ? row_load[ly] : 0) + row_res[y];
                if (row_comp[y] > m) m = row_comp[y];
                if (row_store[y] > m) m = row_store[y];
                c += m;
            }
            cycles += c + wl;  // the next load runs before the rows (not one DATAFLOW region): both count
        })
        h = 1 - h;
        n_cur = n_next;
    }
    return ST_OK;
}

}  // namespace fq

#endif
