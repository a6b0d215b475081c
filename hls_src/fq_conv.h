// Conv layer: the parameter table, the pass loop (weight load beside the rows) and the rows region (docs/engine.md).
#ifndef FQ_CONV_H
#define FQ_CONV_H

#include "fq_compute.h"
#include "fq_store.h"

namespace fq {

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
            FQ_PORT("chtab", 0, 0, l * cfg::MAX_J + j, true, RAM_S2P)
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
            FQ_PORT("gmem_w", 0, 0, (L.w_off + off + (e * cfg::P + l) * Pol::ENTRY_BYTES) / cfg::AXI_BYTES, false,
                    AXI_BEAT)
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

// The per-channel parameter table of a conv layer (bias, mult, res_mult, shifts) into prm, at the layer's start.
template <class Pol>
static int load_params(const uint8_t* w, const layer_t& L, uint64_t& cyc) {
    if (L.out_ch * 16 > L.w_bytes) return ST_BAD_STREAM;
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
    FQ_CYCLES(cyc = beats(L.out_ch * 16) + cfg::DEPTH_LOAD;)
    return prm_ok ? int(ST_OK) : int(ST_BAD_STREAM);
}

// The pass loop's weight process: pass ps of the stream into this iteration's buffers (its PIPO channel to
// conv_rows). The stream offset is the process's own state across the passes of a layer.
template <class Pol>
static void load_pass_at(const uint8_t* w, const layer_t L, const geom_t g, uint32_t ps,
                         wslot_t wbuf[cfg::P][cfg::MAX_ENTRIES], uint16_t chtab[cfg::P][cfg::MAX_J],
                         uint16_t chcnt[cfg::P], uint16_t chlive[cfg::P], uint32_t lane_len[cfg::P],
                         uint32_t& n_entries, int& st, uint64_t& cyc) {
    static uint32_t off;
    if (ps == 0) off = align_axi(L.out_ch * 16);  // the passes follow the parameter table
    st = load_pass<Pol>(w, off, L, g, wbuf, chtab, chcnt, chlive, lane_len, n_entries, cyc);
}

// The pass loop's rows process: the rows of a pass whose weights loaded correctly.
template <class Pol>
static void rows_if_loaded(const uint8_t* act_in, const uint8_t* act_in2, uint8_t* act_out, const layer_t L,
                           const geom_t g, uint32_t ps, const wslot_t wbuf[cfg::P][cfg::MAX_ENTRIES],
                           const uint32_t lane_len[cfg::P], const uint16_t chtab[cfg::P][cfg::MAX_J],
                           const uint16_t chcnt[cfg::P], const uint16_t chlive[cfg::P],
                           const chparam_t prm_in[cfg::MAX_OUT_CH], uint32_t n_entries, int st) {
    if (st != ST_OK) return;
    // flat mode: the whole map stays in the line buffer after pass 0, later passes stream nothing
    const bool fill = !g.flat || ps == 0;
    conv_rows<Pol>(act_in, act_in2, act_out, L, g, wbuf, lane_len, chtab, chcnt, chlive, prm_in, n_entries, fill);
}

#ifdef __SYNTHESIS__
#define FQ_PIPO
#else
#define FQ_PIPO static  // the C-simulation keeps the pass buffers off the stack
#endif

// A conv layer: its parameter table, then the passes. The pass loop is a DATAFLOW region whose processes are
// the weight load of a pass and the rows of that pass; their buffers (wbuf, the channel tables) are the
// region's PIPO channels, so Vitis double-buffers them and the load of pass p + 1 runs beside the rows of
// pass p. Pass 0's load (after the parameter table) is exposed at the layer's start.
template <class Pol>
static int conv_layer(const uint8_t* wmem, const uint8_t* act_in, const uint8_t* act_in2, uint8_t* act_out,
                      const layer_t& L, uint64_t& cycles) {
    if (L.entry_bytes != uint32_t(Pol::ENTRY_BYTES)) return ST_BAD_STREAM;
    if (L.d_neg >= (1u << cfg::MU_DELTA_BITS) || L.d_pos >= (1u << cfg::MU_DELTA_BITS)) return ST_BAD_STREAM;
    const geom_t g = geometry(L);
    if (L.in_ch * g.cstride > uint32_t(cfg::LB_DEPTH)) return ST_LINE_BUFFER;
    const uint8_t* w = wmem + L.w_off;
    uint64_t pc = 0;
    int st = load_params<Pol>(w, L, pc);
    if (st != ST_OK) return st;
    FQ_CYCLES(cycles += pc;)
    int bad = ST_OK;
    uint64_t prev_rows = 0;
pass:
    for (uint32_t ps = 0; ps < L.n_passes; ps++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 16
#pragma HLS DATAFLOW
        FQ_PIPO wslot_t wbuf[cfg::P][cfg::MAX_ENTRIES];
        FQ_PIPO uint16_t chtab[cfg::P][cfg::MAX_J];
        FQ_PIPO uint16_t chcnt[cfg::P], chlive[cfg::P];
        FQ_PIPO uint32_t lane_len[cfg::P];
        FQ_PASS_PRAGMAS
        uint32_t n_entries = 0;
        int pst = ST_OK;
        uint64_t wl = 0;
        load_pass_at<Pol>(w, L, g, ps, wbuf, chtab, chcnt, chlive, lane_len, n_entries, pst, wl);
        rows_if_loaded<Pol>(act_in, act_in2, act_out, L, g, ps, wbuf, lane_len, chtab, chcnt, chlive, prm, n_entries,
                            pst);
#ifndef __SYNTHESIS__
        if (pst != ST_OK) {
            bad = pst;
            break;  // the C-simulation reports the pass; the hardware's rows process skipped it
        }
#endif
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
            // pass 0's load is exposed; pass p's load runs beside pass p - 1's rows
            cycles += ps == 0 ? wl : (prev_rows > wl ? prev_rows : wl);
            prev_rows = c;
        })
    }
    FQ_CYCLES(cycles += prev_rows;)
    (void)prev_rows;
    return bad;
}

}  // namespace fq

#endif
