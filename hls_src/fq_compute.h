// Compute stage: per tile of V output pixels, every lane applies one weight entry per cycle (docs/engine.md).
#ifndef FQ_COMPUTE_H
#define FQ_COMPUTE_H

#include "fq_load.h"

namespace fq {

// compute: per output row and tile of V pixels, L cycles; lane l decodes wbuf[l][e] beside its PEs (position:
// an adder and bit selects, fq_pe.h decode) and applies it to its V accumulators. The line-buffer address of
// an entry is ci * cstride (one multiplier per lane) + the kernel column's offset + the kernel row's slot.
template <class Pol, int NV>
static void compute_tile(const layer_t& L, const wslot_t wbuf[cfg::P][cfg::MAX_ENTRIES],
                         const uint16_t chlive[cfg::P], uint32_t n_entries, const uint32_t rowoff[cfg::MAX_KERNEL],
                         uint32_t xoff, pkt_stream_t s_out[cfg::P], const geom_t& g, fill_t& f,
                         fill_stream_t& s_in) {
    typename Pol::acc_v acc[cfg::P];
    lane_pos_t pos[cfg::P];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 1
#pragma HLS ARRAY_PARTITION variable = pos complete dim = 1
    const uint32_t kb = kpos_bits(L.kernel);
comp_clear:
    for (int l = 0; l < cfg::P; l++) {
#pragma HLS UNROLL
        Pol::clear(acc[l]);
        lane_pos_reset(pos[l]);
    }
comp_entry:
    for (uint32_t e = 0; e < n_entries; e++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4608
// the fill writes ring slots that this row's reads never touch (fill_t)
#if FQ_LB_URAM
#pragma HLS DEPENDENCE variable = lbu inter false
#pragma HLS DEPENDENCE variable = lbu intra false
#else
#pragma HLS DEPENDENCE variable = lbb inter false
#pragma HLS DEPENDENCE variable = lbb intra false
#endif
        FQ_ITER("comp_entry")
        if (cfg::FILL_OVERLAP && f.left) fill_step(L, g, f, s_in);
        dec_t d[cfg::P];
        kpos_t k[cfg::P];
#pragma HLS ARRAY_PARTITION variable = d complete
#pragma HLS ARRAY_PARTITION variable = k complete
    comp_decode:
        for (int l = 0; l < cfg::P; l++) {
#pragma HLS UNROLL
            FQ_PORT("wbuf", l, 0, e, false, RAM_S2P)
            Pol::decode(wbuf[l][e], pos[l], chlive[l], kb, L, d[l], k[l]);  // checked by load_pass
        }
        // lanes that run in lockstep (Int8Policy: the same (ci, ky, kx) in every lane) share one read
        act_t xs[cfg::V];
#pragma HLS ARRAY_PARTITION variable = xs complete
        if (Pol::BROADCAST_READ) lb_get(0, k[0].ci * g.cstride + kx_off(g, k[0].kx) + rowoff[d[0].ky] + xoff, xs);
    comp_lane:
        for (int l = 0; l < cfg::P; l++) {
#pragma HLS UNROLL
            act_t xw[cfg::V];
#pragma HLS ARRAY_PARTITION variable = xw complete
            if (Pol::BROADCAST_READ) {
                for (int v = 0; v < cfg::V; v++) xw[v] = xs[v];
            } else {
                lb_get(l, k[l].ci * g.cstride + kx_off(g, k[l].kx) + rowoff[d[l].ky] + xoff, xw);
            }
            if (!(d[l].flags & DEC_NOP)) Pol::template apply<NV>(acc[l], d[l], xw, l < cfg::DSP_LANES);
            // the accumulators run on (cleared once per tile, above): the store stage takes differences of a
            // lane's consecutive packets, so the PE needs no clear-and-add multiplexer per output
            if (d[l].flags & DEC_LAST) {
                pkt_t p;
                Pol::emit(acc[l], p);
                s_out[l].write(p);
            }
        }
    }
}

#if !FQ_HLS_PATH

// C-simulation of compute_tile: the same arithmetic lane after lane (each lane's list streams through the
// cache once; the lanes are independent and each has its own output stream, so the results are the same).
// Inlined into compute_rows: as a separate function g++ 12 stopped vectorizing the int8 pixel loop (3x
// slower C-simulation of the int8 engine).
template <class Pol, int NV>
static inline __attribute__((always_inline)) void compute_tile_sw(const layer_t& L, const wslot_t wbuf[cfg::P][cfg::MAX_ENTRIES],
                            const uint32_t lane_len[cfg::P], const uint32_t rowoff[cfg::MAX_KERNEL], uint32_t xoff,
                            uint32_t y, uint32_t x0, pkt_stream_t s_out[cfg::P]) {
    // A lane's packets of this tile are written after its entry loop: with no call inside the loop, g++
    // keeps the accumulators in vector registers (a call clobbers them all, and they went to memory).
    static pkt_t pk[cfg::MAX_J];
    for (int l = 0; l < cfg::P; l++) {
        typename Pol::template sw_acc<NV> acc;
        acc.clear();
        const dec_t* wl = wbuf[l];
        const uint32_t n = lane_len[l];
        uint32_t np = 0;
        if (l < cfg::DSP_LANES && cfg::ENGINE_FQ) {  // FQ lanes on DSPs: the whole weight, one accumulator
            for (uint32_t e = 0; e < n; e++) {
                const dec_t& d = wl[e];
                if (!(d.flags & DEC_NOP)) acc.apply_dsp(d, lbuf + d.base + rowoff[d.ky] + xoff);
                if ((d.flags & DEC_LAST) && np < uint32_t(cfg::MAX_J)) acc.emit(pk[np++]);
            }
        } else {
            for (uint32_t e = 0; e < n; e++) {
                const dec_t& d = wl[e];
                if (!(d.flags & DEC_NOP)) acc.apply(d, lbuf + d.base + rowoff[d.ky] + xoff);
                if ((d.flags & DEC_LAST) && np < uint32_t(cfg::MAX_J)) acc.emit(pk[np++]);  // running sums
            }
        }
        for (uint32_t i = 0; i < np; i++) s_out[l].write(pk[i]);
    }
}

// the live pixel count as a template constant (vectorizable loops)
template <class Pol>
static inline __attribute__((always_inline)) void compute_tile_csim(const layer_t& L, const wslot_t wbuf[cfg::P][cfg::MAX_ENTRIES],
                              const uint32_t lane_len[cfg::P], uint32_t n_entries,
                              const uint32_t rowoff[cfg::MAX_KERNEL], uint32_t xoff, uint32_t y, uint32_t x0,
                              uint32_t nv, pkt_stream_t s_out[cfg::P]) {
    const int V = cfg::V;
    (void)n_entries;
    if (V % 8 == 0 && nv <= uint32_t(V / 8))
        compute_tile_sw<Pol, (V % 8 == 0 ? V / 8 : V)>(L, wbuf, lane_len, rowoff, xoff, y, x0, s_out);
    else if (V % 4 == 0 && nv <= uint32_t(V / 4))
        compute_tile_sw<Pol, (V % 4 == 0 ? V / 4 : V)>(L, wbuf, lane_len, rowoff, xoff, y, x0, s_out);
    else if (V % 2 == 0 && nv <= uint32_t(V / 2))
        compute_tile_sw<Pol, (V % 2 == 0 ? V / 2 : V)>(L, wbuf, lane_len, rowoff, xoff, y, x0, s_out);
    else
        compute_tile_sw<Pol, V>(L, wbuf, lane_len, rowoff, xoff, y, x0, s_out);
}
#endif

template <class Pol>
static void compute_rows(const layer_t L, const geom_t g, const wslot_t wbuf[cfg::P][cfg::MAX_ENTRIES],
                         const uint32_t* lane_len, const uint16_t chlive[cfg::P], uint32_t n_entries,
                         fill_stream_t& s_in,
                         pkt_stream_t s_out[cfg::P], bool fill) {
    int next_iy = -int(L.pad);
    // overlapped: the rows of output row 0 before the first row (the prologue, charged to the load stage)
    if (cfg::FILL_OVERLAP && fill) absorb_rows(L, g, L.in_ch, next_iy, 0, s_in);
comp_row:
    for (uint32_t y = 0; y < g.rows; y++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 224
        // not overlapped: this row's new input rows first
        uint32_t absorbed = cfg::FILL_OVERLAP || !fill ? 0u : absorb_rows(L, g, L.in_ch, next_iy, y, s_in);
        // overlapped: the next row's new input rows, into the slots this row does not read
#if FQ_HLS_PATH
        fill_t f = fill_begin(L, g, next_iy, cfg::FILL_OVERLAP && fill ? y + 1 : g.rows);
        const uint32_t fill = f.left;
#else
        // C-simulation: the same beats into the same slots, absorbed after the tiles in absorb_rows' tight
        // loop (the slots are disjoint from the ones this row reads, so no value changes)
        const bool fill_next = cfg::FILL_OVERLAP && fill && y + 1 < g.rows;
#endif
        uint32_t rowoff[cfg::MAX_KERNEL];  // ring slot of kernel row ky, times the pitch
#pragma HLS ARRAY_PARTITION variable = rowoff complete
    comp_slots:
        for (uint32_t ky = 0; ky < L.kernel; ky++) {
            int iy = int(y * L.stride) - int(L.pad) + int(ky);
            rowoff[ky] = ring_slot(L, g, iy) * g.pitch;
        }
    comp_tile:
        for (uint32_t t = 0; t < g.tiles; t++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 14
            const uint32_t x0 = t * cfg::V;
            const uint32_t xoff = x0;  // stride 2: the row is phase-split (geom_t)
#if FQ_HLS_PATH
            compute_tile<Pol, cfg::V>(L, wbuf, chlive, n_entries, rowoff, xoff, s_out, g, f, s_in);
            (void)lane_len;
#else
            const uint32_t nv = g.vw - x0 < uint32_t(cfg::V) ? g.vw - x0 : uint32_t(cfg::V);
            compute_tile_csim<Pol>(L, wbuf, lane_len, n_entries, rowoff, xoff, y, x0, nv, s_out);
            (void)chlive;
#endif
        }
        // the fill beats the entry loops did not absorb
#if FQ_HLS_PATH
    comp_fill_rest:
        while (f.left) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 3584
            FQ_ITER("comp_fill_rest")
            fill_step(L, g, f, s_in);
        }
#else
        const uint32_t fill = fill_next ? absorb_rows(L, g, L.in_ch, next_iy, y + 1, s_in) : 0u;
#endif
        FQ_CYCLES({
            const uint64_t busy = uint64_t(g.tiles) * n_entries;  // entry-loop cycles that absorb a beat
            row_comp[y] = absorbed + uint64_t(g.tiles) * (n_entries + cfg::DEPTH_COMPUTE) +
                          (fill > busy ? fill - busy : 0);
        })
        (void)absorbed;
        (void)fill;
    }
}

}  // namespace fq

#endif
