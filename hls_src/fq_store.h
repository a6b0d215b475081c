// Store stage: recombination, requantization, residual, clamp, fused max pool, DDR writes (docs/engine.md).
#ifndef FQ_STORE_H
#define FQ_STORE_H

#include "fq_buffers.h"

namespace fq {

// store: accumulators -> difference with the lane's previous packet of the tile (the lanes' accumulators run
// on between outputs) and recombination (policy), bias, requantization, residual, clamp -> DDR (int8/uint8 or
// int32). One packet per cycle: V difference units, recombiners and requantizers serve all lanes, which hand
// their packets over through FIFOs of stream_depths(cfg)["s_out"] (fq_hls/hw/streams.py).
template <class Pol>
static void store_rows(const uint8_t* act_in, uint8_t* act_out, const layer_t L, const geom_t g,
                       const uint16_t chtab[cfg::P][cfg::MAX_J], const uint16_t chcnt[cfg::P],
                       const chparam_t prm[cfg::MAX_OUT_CH], pkt_stream_t s_out[cfg::P]) {
    const bool out32 = L.flags & FLAG_OUT32;
    const bool relu = L.flags & FLAG_RELU;
    const bool res = L.flags & FLAG_RESIDUAL;
    const bool res_sgn = L.flags & FLAG_RES_SIGNED;
    const bool fpool = L.flags & FLAG_POOL;
    const int lo = relu ? 0 : -128, hi = relu ? 255 : 127;
    const uint32_t plane = L.out_h * L.out_w;
    // fused max pool (3x3, stride 2, pad 1): pooled map ph x pw, written instead of the conv's output
    const uint32_t pw = (L.out_w + 1) / 2, ph = (L.out_h + 1) / 2;
    uint32_t fy = 0, fx = 0;  // flat mode: output (row, column) of the tile's first virtual pixel
    pkt_t prev_pkt[cfg::P];   // per lane, its previous packet of the tile (running sums: store takes differences)
#pragma HLS ARRAY_PARTITION variable = prev_pkt complete dim = 1
store_row:
    for (uint32_t y = 0; y < g.rows; y++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 224
        uint64_t cyc = 0, in_beats = 0;
        // fused pool: an odd conv row (or the last one) completes pooled row y / 2
        const bool pool_out = (y & 1) || y + 1 == L.out_h;
    store_tile:
        for (uint32_t t = 0; t < g.tiles; t++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 14
            const uint32_t x0 = t * cfg::V;
            // output pixel (index in the plane) of each of the V pixels, and whether it is one
            uint32_t opix[cfg::V];
            bool oval[cfg::V];
#pragma HLS ARRAY_PARTITION variable = opix complete
#pragma HLS ARRAY_PARTITION variable = oval complete
            uint32_t nv = 0, yy = fy, xx = fx;
        store_map:
            for (int v = 0; v < cfg::V; v++) {
#pragma HLS UNROLL
                if (g.flat) {
                    opix[v] = yy * L.out_w + xx;
                    oval[v] = xx < L.out_w && x0 + v < g.vw;
                    if (++xx == g.q) {
                        xx = 0;
                        yy++;
                    }
                } else {
                    opix[v] = y * L.out_w + x0 + v;
                    oval[v] = x0 + v < L.out_w;
                }
                nv += oval[v] ? 1 : 0;
            }
            fy = yy;
            fx = xx;
            // fused pool: pooled columns x0 / 2 .. x0 / 2 + V / 2 - 1 of this tile that exist
            const uint32_t xp0 = x0 / 2;
            const uint32_t nvp = !pool_out || xp0 >= pw ? 0u : (pw - xp0 < uint32_t(cfg::V / 2) ? pw - xp0 : cfg::V / 2);
            // This tile's packets, taken from whichever lane has one, round robin from the lane after the last
            // one served: compute writes all lanes in the same cycles, so store must never wait on one lane while
            // another lane's FIFO is full (lane after lane, a FIFO shallower than a lane's channel count
            // deadlocks). Per lane: the next channel number, and the previous packet of the tile (registers).
            uint32_t total = 0, rr = 0, n = 0;
            uint16_t jn[cfg::P];
            bool pv[cfg::P];
#pragma HLS ARRAY_PARTITION variable = jn complete
#pragma HLS ARRAY_PARTITION variable = pv complete
        store_init:
            for (int l = 0; l < cfg::P; l++) {
#pragma HLS UNROLL
                total += chcnt[l];
                jn[l] = 0;
                pv[l] = false;
            }
        store_pkt:
            while (n < total) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1024
                FQ_ITER("store_pkt")
                FQ_WAIT_ANY(s_out, cfg::P, jn, chcnt)
                int l = -1;
            store_pick:
                for (int i = 0; i < cfg::P; i++) {
#pragma HLS UNROLL
                    const int c = int(rr) + i < cfg::P ? int(rr) + i : int(rr) + i - cfg::P;
                    // a lane whose channels of this tile are all taken may already hold the next tile's packets
                    if (l < 0 && jn[c] < chcnt[c] && !s_out[c].empty()) l = c;
                }
                if (l < 0) continue;  // no packet this cycle
                rr = l + 1 == cfg::P ? 0u : uint32_t(l + 1);
                n++;
                {
                    const pkt_t p = s_out[l].read();
                    pkt_t prev;
                    if (pv[l]) {
                        prev = prev_pkt[l];
                    } else {
                        zero_packet(prev);
                    }
                    const uint32_t j = jn[l];
                    jn[l] = uint16_t(j + 1);
                    const uint32_t ch = chtab[l][j];
                    const chparam_t cp = prm[ch];
                    FQ_PORT("chtab", 0, 0, l * cfg::MAX_J + j, false, RAM_S2P)
                    FQ_PORT("prm", 0, 0, ch, false, RAM_S2P)
                    const uint32_t pix0 = ch * plane;
                    int val[cfg::V];  // requantized outputs (fused pool: the smallest value where none)
#pragma HLS ARRAY_PARTITION variable = val complete
                store_v:
                    for (int v = 0; v < cfg::V; v++) {
#pragma HLS UNROLL
                        val[v] = -512;
                        if (!oval[v]) continue;
                        const uint32_t pix = pix0 + opix[v];
                        wide_t a = Pol::recombine(p, prev, v, L, l < cfg::DSP_LANES) + wide_t(cp.bias);
                        if (out32) {
                            uint32_t u = uint32_t(int32_t(a));
                            uint8_t* o = act_out + L.out_off + size_t(pix) * 4;
                            FQ_PORT("gmem_out", 0, 0, (L.out_off + pix * 4) / cfg::AXI_BYTES, true, AXI_BEAT)
                            FQ_PORT("gmem_out", 0, 0, (L.out_off + pix * 4 + 3) / cfg::AXI_BYTES, true, AXI_BEAT)
                            o[0] = u & 0xff;
                            o[1] = (u >> 8) & 0xff;
                            o[2] = (u >> 16) & 0xff;
                            o[3] = (u >> 24) & 0xff;
                        } else {
                            wide_t tq = a * wide_t(cp.mult);
                            if (res) {
                                uint8_t rb = act_in[L.res_off + pix];
                                FQ_PORT("gmem_in", 0, 0, (L.res_off + pix) / cfg::AXI_BYTES, false, AXI_BEAT)
                                wide_t r = res_sgn ? wide_t(int8_t(rb)) : wide_t(rb);
#if FQ_HLS_PATH
                                tq += (r * wide_t(cp.res_mult)) << cp.res_shift;
#else
                                tq += (r * wide_t(cp.res_mult)) * (wide_t(1) << cp.res_shift);
#endif
                            }
                            wide_t q = (tq + (wide_t(1) << (cp.shift - 1))) >> cp.shift;
                            if (q < lo) q = lo;
                            if (q > hi) q = hi;
                            val[v] = int(q);
                            if (!fpool) {
                                act_out[L.out_off + pix] = uint8_t(int(q) & 0xff);
                                FQ_PORT("gmem_out", 0, 0, (L.out_off + pix) / cfg::AXI_BYTES, true, AXI_BEAT)
                            }
                        }
                    }
                    if (fpool) {
                        // horizontal 3-max of pooled column xp0 + k: conv columns 2 (xp0 + k) - 1 .. + 1 (the
                        // first one's left neighbour ends the previous tile), then the vertical running max
                    store_pool:
                        for (int kb = 0; kb < POOL_BANKS; kb++) {
#pragma HLS UNROLL
                            // bank kb (a constant) holds pooled column xp0 + k of this packet's channel
                            const uint32_t b0 = ch * pw + xp0, r0 = b0 % POOL_BANKS, a0 = b0 / POOL_BANKS;
                            const uint32_t k = (uint32_t(kb) + POOL_BANKS - r0) % POOL_BANKS;
                            const uint32_t xp = xp0 + k;
                            if (xp >= pw || k >= uint32_t(cfg::V / 2)) continue;
                            const uint32_t a = uint32_t(kb) < r0 ? a0 + 1 : a0;
                            int h = k ? val[2 * k - 1] : (x0 ? int(pool_last[ch]) : -512);
                            if (val[2 * k] > h) h = val[2 * k];
                            if (val[2 * k + 1] > h) h = val[2 * k + 1];
                            const int prev_max = int(pool_acc[kb][a]);
                            FQ_PORT("pool_acc", 0, kb, a, false, RAM_S2P)
                            int m = h;
                            if (!(y & 1) && y > 0 && prev_max > m) m = prev_max;  // rows 2yp - 1, 2yp
                            if ((y & 1) && prev_max > m) m = prev_max;            // ..., 2yp + 1
                            if (pool_out) {
                                const uint32_t po = L.out_off + ch * ph * pw + (y / 2) * pw + xp;
                                act_out[po] = uint8_t(m & 0xff);
                                FQ_PORT("gmem_out", 0, 0, po / cfg::AXI_BYTES, true, AXI_BEAT)
                            }
                            pool_acc[kb][a] = act_t((y & 1) ? h : m);  // odd row: it also opens pooled row y / 2 + 1
                            FQ_PORT("pool_acc", 0, kb, a, true, RAM_S2P)
                        }
                        FQ_PORT("pool_last", 0, 0, ch, false, RAM_S2P)
                        pool_last[ch] = act_t(val[cfg::V - 1]);
                        FQ_PORT("pool_last", 0, 0, ch, true, RAM_S2P)
                    }
                    prev_pkt[l] = p;
                    pv[l] = true;
                    FQ_CYCLES(uint64_t ob = fpool ? beats(nvp) : beats(nv * (out32 ? 4 : 1)); cyc += ob > 1 ? ob : 1;
                              if (res) in_beats += beats(nv);)
                }
            }
        }
        FQ_CYCLES(row_store[y] = cyc; row_res[y] = in_beats;)  // the residual shares gmem_in with load
    }
}

}  // namespace fq

#endif
