// Max pool (through the line buffer) and global average pool layers (docs/engine.md).
#ifndef FQ_POOL_H
#define FQ_POOL_H

#include "fq_load.h"

namespace fq {

// max pool: the line buffer again (padded with the smallest value), in groups of as many channels as it holds
// (one pass over the rows each), k*k cycles per tile and group of Pol::POOL_LANES channels: each lane of the FQ
// engine has its own line-buffer reader, so its P lanes pool P channels at once; the int8 engine's lanes share
// one broadcast reader and pool one channel at a time.

// The pool process of pool_rows: per output row, absorb its input rows, then the window maxima of every tile
// and channel group, written to DDR. FQ_CYCLES: row_comp[y] (absorb + windows), row_store[y] (write beats).
template <class Pol>
static void pool_compute(uint8_t* act_out, const layer_t L, const geom_t g, uint32_t c0, uint32_t n_ch,
                         fill_stream_t& s_in) {
    const uint32_t NL = Pol::POOL_LANES;
    const uint32_t plane = L.out_h * L.out_w;
    const uint32_t groups = (n_ch + NL - 1) / NL;
    int next_iy = -int(L.pad);
pool_row:
    for (uint32_t y = 0; y < L.out_h; y++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 112
        uint32_t absorbed = absorb_rows(L, g, n_ch, next_iy, y, s_in);
        uint32_t slot0 = ring_slot(L, g, int(y * L.stride) - int(L.pad));  // kernel row 0's ring slot
        uint64_t out_beats = 0;
    pool_tile:
        for (uint32_t t = 0; t < g.tiles; t++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 56
            const uint32_t x0 = t * cfg::V;
            const uint32_t nv = L.out_w - x0 < uint32_t(cfg::V) ? L.out_w - x0 : uint32_t(cfg::V);
        pool_group:
            for (uint32_t cg = 0; cg < groups; cg++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 512
                act_t m[Pol::POOL_LANES][cfg::V];
#pragma HLS ARRAY_PARTITION variable = m complete dim = 0
            pool_init:
                for (uint32_t l = 0; l < NL; l++) {
#pragma HLS UNROLL
                    for (int v = 0; v < cfg::V; v++) m[l][v] = act_t(ACT_BELOW);
                }
                // window position (ky, kx) as counters: no divider in the pipelined loop
                uint32_t ky = 0, kx = 0, slot = slot0;
            pool_win:
                for (uint32_t kk = 0; kk < L.kernel * L.kernel; kk++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 9
                FQ_ITER("pool_win")
                pool_lane:
                    for (uint32_t l = 0; l < NL; l++) {
#pragma HLS UNROLL
                        const uint32_t ci = cg * NL + l;
                        if (ci < n_ch) {
                            act_t x[cfg::V];
                            lb_get(l, uint32_t(lb_row(g, ci, slot)) + kx_off(g, kx) + x0, x);
                            for (int v = 0; v < cfg::V; v++) {
#pragma HLS UNROLL
                                act_t xv = x[v];
                                if (xv > m[l][v]) m[l][v] = xv;
                            }
                        }
                    }
                    if (++kx == L.kernel) {
                        kx = 0;
                        ky++;
                        slot = slot + 1 == g.ring ? 0 : slot + 1;
                    }
                }
            pool_write:
                for (uint32_t l = 0; l < NL; l++) {
                    const uint32_t ci = cg * NL + l;
                    if (ci >= n_ch) break;
                    for (uint32_t v = 0; v < nv; v++)
                        act_out[L.out_off + (c0 + ci) * plane + y * L.out_w + x0 + v] = uint8_t(int(m[l][v]) & 0xff);
                    out_beats += beats(nv);  // one write burst per channel and tile
                }
            }
        }
        FQ_CYCLES(row_comp[y] = absorbed + uint64_t(g.tiles) * groups * (L.kernel * L.kernel) + cfg::DEPTH_COMPUTE;
                  row_store[y] = out_beats;)
        (void)absorbed;
        (void)out_beats;
    }
}

// One channel group's rows: load and pool as the processes of a DATAFLOW region (the load fills s_in while the
// pool process absorbs it row by row; sequential, the load would fill the stream and wait forever).
template <class Pol>
static void pool_rows(const uint8_t* act_in, const uint8_t* act_in2, uint8_t* act_out, const layer_t& L,
                      const geom_t& g, uint32_t c0, uint32_t n_ch) {
#pragma HLS DATAFLOW
    fill_stream_t s_in("s_in_pool");
#pragma HLS BIND_STORAGE variable = s_in type = fifo impl = srl
    FQ_DATAFLOW_BEGIN("pool_rows")
    FQ_PROCESS("load_rows", load_rows(act_in, act_in2, L, g, act_t(ACT_BELOW), s_in, c0, n_ch))
    FQ_PROCESS("pool_compute", pool_compute<Pol>(act_out, L, g, c0, n_ch, s_in))
    FQ_DATAFLOW_END()
}

template <class Pol>
static int maxpool_layer(const uint8_t* act_in, const uint8_t* act_in2, uint8_t* act_out, const layer_t& L,
                         uint64_t& cycles) {
    const geom_t g = geometry(L);
    const uint32_t per_ch = g.cstride;
    if (per_ch > uint32_t(cfg::LB_DEPTH)) return ST_LINE_BUFFER;
    const uint32_t G = uint32_t(cfg::LB_DEPTH) / per_ch < L.in_ch ? uint32_t(cfg::LB_DEPTH) / per_ch : L.in_ch;
pool_chgroup:
    for (uint32_t c0 = 0; c0 < L.in_ch; c0 += G) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4
        const uint32_t n_ch = L.in_ch - c0 < G ? L.in_ch - c0 : G;
        pool_rows<Pol>(act_in, act_in2, act_out, L, g, c0, n_ch);
        // a row costs its slowest stage: load (row_load), absorb + windows (row_comp), writes (row_store)
        FQ_CYCLES({
            uint64_t c = cfg::DEPTH_DATAFLOW;
            for (uint32_t y = 0; y < L.out_h; y++) {
                uint64_t m = row_load[y] > row_comp[y] ? row_load[y] : row_comp[y];
                if (row_store[y] > m) m = row_store[y];
                c += m;
            }
            cycles += c;
        })
    }
    return ST_OK;
}

// global average pool: sum of H*W values per channel, V per cycle, then requantize.
static int avgpool_layer(const uint8_t* act_in, uint8_t* act_out, const layer_t& L, uint64_t& cycles) {
    const bool sgn = L.flags & FLAG_IN_SIGNED;
    const uint32_t hw = L.in_h * L.in_w;
    if (L.pool_shift < 1 || L.pool_shift > 62) return ST_BAD_SHAPE;
avg_ch:
    for (uint32_t c = 0; c < L.in_ch; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1024
        wide_t s = 0;
        const uint8_t* p = act_in + L.in_off + size_t(c) * hw;
    avg_sum:
        for (uint32_t i = 0; i < hw; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 49
            FQ_ITER("avg_sum")
            s += sgn ? wide_t(int8_t(p[i])) : wide_t(p[i]);
        }
        wide_t q = (s * wide_t(L.pool_mult) + (wide_t(1) << (L.pool_shift - 1))) >> L.pool_shift;
        if (q < 0) q = 0;
        if (q > 255) q = 255;
        act_out[L.out_off + c] = uint8_t(q);
    }
    FQ_CYCLES({
        uint64_t comp = uint64_t(L.in_ch) * ((hw + cfg::V - 1) / cfg::V);
        uint64_t ddr = beats(L.in_ch * hw);
        cycles += (comp > ddr ? comp : ddr) + beats(L.in_ch) + cfg::DEPTH_COMPUTE + cfg::DEPTH_DATAFLOW;
    })
    return ST_OK;
}

}  // namespace fq

#endif
