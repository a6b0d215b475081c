// Load stage: input rows from DDR into the fill stream, and the fill of the ring line buffer (docs/engine.md).
#ifndef FQ_LOAD_H
#define FQ_LOAD_H

#include "fq_buffers.h"

namespace fq {

// an input byte as an activation: int8 or uint8 (the layer's FLAG_IN_SIGNED)
static inline act_t act_of(uint8_t u, bool sgn) { return sgn ? act_t(int8_t(u)) : act_t(u); }

// Flat mode's load: per channel, the padded map's rows back to back (g.flen entries) in g.bpr fill beats.
// Lane j of beat b carries entry b * FILL_BYTES + j: padded row r = entry / q, column c = entry % q, and its
// byte offset r * in_w + c, kept as per-lane counters stepped by FILL_BYTES (no divider or multiplier inside
// the pipelined loop).
static void load_flat(const uint8_t* base, const uint8_t* base2, const layer_t& L, const geom_t& g,
                      act_t pad_value, fill_stream_t& s_in, uint32_t ci0, uint32_t n_ch) {
    const bool sgn = L.flags & FLAG_IN_SIGNED;
    const uint32_t step_r = uint32_t(cfg::FILL_BYTES) / g.q, step_c = uint32_t(cfg::FILL_BYTES) % g.q;
    const int step_off = int(step_r * L.in_w + step_c), wrap_off = int(L.in_w) - int(g.q);
    const int pad_off = int(L.pad * L.in_w + L.pad);  // offset of padded (pad, pad), the map's first byte
    const uint32_t map = L.in_h * L.in_w;
    uint32_t n_beats = 0;
load_flat_ch:
    for (uint32_t ci = 0; ci < n_ch; ci++) {
#pragma HLS LOOP_TRIPCOUNT min = 3 max = 512
        const uint8_t* src1 = base + size_t(ci0 + ci) * map;
        const uint8_t* src2 = base2 + size_t(ci0 + ci) * map;
        uint32_t r[cfg::FILL_BYTES], c[cfg::FILL_BYTES];
        int off[cfg::FILL_BYTES];
#pragma HLS ARRAY_PARTITION variable = r complete
#pragma HLS ARRAY_PARTITION variable = c complete
#pragma HLS ARRAY_PARTITION variable = off complete
        uint32_t r0 = 0, c0 = 0;
        int o0 = 0;
    load_flat_init:
        for (int j = 0; j < cfg::FILL_BYTES; j++) {
            r[j] = r0;
            c[j] = c0;
            off[j] = o0;
            o0++;
            if (++c0 == g.q) {
                c0 = 0;
                r0++;
                o0 += wrap_off;
            }
        }
    load_flat_beat:
        for (uint32_t b = 0; b < g.bpr; b++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 64
            FQ_ITER("load_flat_beat")
            beat_t bt;
        load_flat_lane:
            for (int j = 0; j < cfg::FILL_BYTES; j++) {
#pragma HLS UNROLL
                const int iy = int(r[j]) - int(L.pad), x = int(c[j]) - int(L.pad);
                const uint8_t* src = j < cfg::AXI_BYTES ? src1 : src2;  // port of this lane of the beat
                act_t v = pad_value;
                if (iy >= 0 && iy < int(L.in_h) && x >= 0 && x < int(L.in_w)) {
                    v = act_of(src[off[j] - pad_off], sgn);
                    FQ_PORT(j < cfg::AXI_BYTES ? "gmem_in" : "gmem_in2", 0, 0,
                            (L.in_off + (ci0 + ci) * map + off[j] - pad_off) / cfg::AXI_BYTES, false, AXI_BEAT)
                }
                bt.v[j] = v;
                c[j] += step_c;
                r[j] += step_r;
                off[j] += step_off;
                if (c[j] >= g.q) {
                    c[j] -= g.q;
                    r[j]++;
                    off[j] += wrap_off;
                }
            }
            s_in.write(bt);
            n_beats++;
        }
    }
    // DDR side: one burst per channel and port of its whole map; stream side: one beat per cycle
    FQ_CYCLES(uint64_t dbeats = (uint64_t(n_ch) * map + cfg::FILL_BYTES - 1) / cfg::FILL_BYTES;
              row_load[0] = dbeats > n_beats ? dbeats : n_beats;)
}

// load: input rows (and padding) of channels ci0 .. ci0 + n_ch - 1 into the line-buffer stream, one fill
// beat per cycle: an AXI beat from each input port (IN_PORTS; gmem_in2 points at the same buffer).
// (a DATAFLOW process: the layer and its geometry by value, like every process of a region)
static void load_rows(const uint8_t* act_in, const uint8_t* act_in2, const layer_t L, const geom_t g,
                      act_t pad_value, fill_stream_t& s_in, uint32_t ci0, uint32_t n_ch, bool fill = true) {
    const bool sgn = L.flags & FLAG_IN_SIGNED;
    const uint8_t* base = act_in + L.in_off;
    const uint8_t* base2 = act_in2 + L.in_off;
    if (g.flen) {
        if (fill) {
            load_flat(base, base2, L, g, pad_value, s_in, ci0, n_ch);
        } else {
            FQ_CYCLES(row_load[0] = 0;)
        }
        return;
    }
    int next_iy = -int(L.pad);
load_row:
    for (uint32_t y = 0; y < g.rows; y++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 224
        int last_iy = last_row(L, g, y);
        uint64_t ddr = 0;
        uint32_t n_beats = 0;
    load_iy:
        for (int iy = first_row(L, g, y, next_iy); fill && iy <= last_iy; iy++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 16
            bool inside = iy >= 0 && iy < int(L.in_h);
        load_ch:
            for (uint32_t ci = 0; ci < n_ch; ci++) {
#pragma HLS LOOP_TRIPCOUNT min = 3 max = 512
                const size_t roff = (size_t(ci0 + ci) * L.in_h + (inside ? iy : 0)) * L.in_w;
                const uint8_t* row = base + roff;
                const uint8_t* row2 = base2 + roff;
                if (inside) ddr += L.in_w;
            load_beat:
                for (uint32_t b = 0; b < g.bpr; b++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 16
                    FQ_ITER("load_beat")
                    beat_t bt;
                load_lane:
                    for (int j = 0; j < cfg::FILL_BYTES; j++) {
#pragma HLS UNROLL
                        int x = int(lb_beat_col(g, b, j)) - int(L.pad);
                        act_t v = pad_value;
                        const uint8_t* src = j < cfg::AXI_BYTES ? row : row2;  // port of this lane of the beat
                        if (inside && x >= 0 && x < int(L.in_w)) {
                            v = act_of(src[x], sgn);
                            FQ_PORT(j < cfg::AXI_BYTES ? "gmem_in" : "gmem_in2", 0, 0,
                                    (L.in_off + roff + x) / cfg::AXI_BYTES, false, AXI_BEAT)
                        }
                        bt.v[j] = v;
                    }
                    s_in.write(bt);
                    n_beats++;
                }
            }
        }
        if (last_iy >= next_iy) next_iy = last_iy + 1;
        // DDR side: one burst per channel and port, IN_PORTS AXI beats per cycle; stream side: one beat per cycle
        FQ_CYCLES(uint64_t dbeats = (ddr + cfg::FILL_BYTES - 1) / cfg::FILL_BYTES;
                  row_load[y] = dbeats > n_beats ? dbeats : n_beats;)
    }
}

// Absorb the rows that output row y needs (n_ch channels) into the ring line buffer; returns the number of beats.
static uint32_t absorb_rows(const layer_t& L, const geom_t& g, uint32_t n_ch, int& next_iy, uint32_t y,
                            fill_stream_t& s_in) {
    int last_iy = last_row(L, g, y);
    uint32_t n = 0;
    if (g.flen) {  // each channel's map as one run (load_flat)
    absorb_flat_ch:
        for (uint32_t ci = 0; ci < n_ch; ci++) {
#pragma HLS LOOP_TRIPCOUNT min = 3 max = 512
        absorb_flat_beat:
            for (uint32_t b = 0; b < g.bpr; b++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 64
                FQ_ITER("absorb_flat_beat")
                beat_t bt = s_in.read();
                n++;
                lb_put_beat(lb_row(g, ci, 0), g, b, bt);
            }
        }
        next_iy = last_iy + 1;
        return n;
    }
absorb_iy:
    for (int iy = first_row(L, g, y, next_iy); iy <= last_iy; iy++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 16
        uint32_t slot = ring_slot(L, g, iy);
    absorb_ch:
        for (uint32_t ci = 0; ci < n_ch; ci++) {
#pragma HLS LOOP_TRIPCOUNT min = 3 max = 512
            const size_t row = lb_row(g, ci, slot);
        absorb_beat:
            for (uint32_t b = 0; b < g.bpr; b++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 16
                FQ_ITER("absorb_beat")
                beat_t bt = s_in.read();
                n++;
                lb_put_beat(row, g, b, bt);
            }
        }
    }
    if (last_iy >= next_iy) next_iy = last_iy + 1;
    return n;
}

// Fill beside compute (cfg::FILL_OVERLAP): the rows that output row y + 1 adds to the ring (`stride` rows, in
// the slots row y does not read: the ring has k + stride rows) are absorbed one beat per cycle inside the
// entry loops of row y's tiles (the write port of every line-buffer copy is free there), the rest after them.
struct fill_t {
    int iy, last_iy;  // next input row to absorb, last one
    uint32_t slot;    // its line-buffer row (advanced with iy: no modulo in the entry loop)
    uint32_t ci, b;   // channel and beat of the next beat inside row iy
    uint32_t left;    // beats still to absorb
};

static fill_t fill_begin(const layer_t& L, const geom_t& g, int& next_iy, uint32_t y) {
    fill_t f;
    f.iy = first_row(L, g, y, next_iy);
    f.last_iy = last_row(L, g, y);
    f.slot = ring_slot(L, g, f.iy);
    f.ci = 0;
    f.b = 0;
    const int n_rows = y < g.rows && f.last_iy >= f.iy ? f.last_iy - f.iy + 1 : 0;
    f.left = uint32_t(n_rows) * L.in_ch * g.bpr;
    if (n_rows) next_iy = f.last_iy + 1;
    return f;
}

// one beat of the fill into its ring slot (the same writes as absorb_rows, in the same order)
static void fill_step(const layer_t& L, const geom_t& g, fill_t& f, fill_stream_t& s_in) {
    beat_t bt = s_in.read();
    lb_put_beat(lb_row(g, f.ci, f.slot), g, f.b, bt);
    f.left--;
    if (++f.b == g.bpr) {
        f.b = 0;
        if (++f.ci == L.in_ch) {
            f.ci = 0;
            f.iy++;
            f.slot = f.slot + 1 == g.ring ? 0 : f.slot + 1;
        }
    }
}

}  // namespace fq

#endif
