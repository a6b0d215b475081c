// The layer engine: load -> decode -> compute -> store, one descriptor per IR layer (docs/engine.md).
//
// Tiling. A conv layer runs as passes; a pass holds, per lane, a sequence of output channels whose sparse
// weight entries fit the lane's weight buffer (the compiler balances the lanes, fq_hls/hw/streams.py).
// Per pass: decode the pass's entries into one half of the ping-pong weight buffers (P lanes x L entries;
// the next pass loads into the other half while this one runs), then stream the output rows through
// a dataflow region: load (input rows into a ring line buffer of k + stride rows x all input channels) ->
// compute (per tile of V output pixels: L cycles, every lane applies its entry to V pixels) -> store
// (recombine, requantize, residual, ReLU clamp, write). Everything is sized by fq_config.h.
//
// Cycle accounting (C-simulation only, FQ_CYCLES): every pipelined loop adds trip count x II + depth;
// a loop moving more bytes than one AXI beat per cycle is charged beats instead. The stages of a dataflow
// region overlap per output row: a row costs the slowest stage. fq_hls/hw/cycles.py mirrors this.
#ifndef FQ_ENGINE_H
#define FQ_ENGINE_H

#include "fq_pe.h"

namespace fq {

#ifndef __SYNTHESIS__
#define FQ_CYCLES(stmt) stmt
#else
#define FQ_CYCLES(stmt)
#endif

static inline uint32_t beats(uint32_t bytes) { return (bytes + cfg::AXI_BYTES - 1) / cfg::AXI_BYTES; }
static inline uint32_t align_axi(uint32_t bytes) { return beats(bytes) * cfg::AXI_BYTES; }
static inline uint32_t rd32(const uint8_t* p) {
    return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

// Geometry shared by the stages (derived from the descriptor exactly as fq_hls/hw/geometry.py does).
// Row mode: tiles of V consecutive pixels of one output row, a ring of k + stride input rows of the padded
// width. At stride 2 a row is stored phase-split (its even columns, then its odd ones, `half` entries each), so
// that the V pixels of a tile, columns 2x + kx, are V consecutive entries: every read is V consecutive entries
// and LB_BANKS cyclic banks serve it in one cycle. The last tile's reads past a row end feed dropped pixels
// only (LB_SLACK keeps the last row's inside the array). Flat mode (stride-1 conv with FLAG_FLAT, small maps):
// the whole padded map in the line buffer, rows back to back (pitch = q = padded width, not rounded), the
// output map run as ONE virtual row of vw = (out_h - 1) * q + out_w pixels; virtual pixel i reads at i like a
// row-mode pixel and is output (i / q, i % q), dropped when i % q >= out_w. Its fill streams row by row,
// except with a URAM line buffer: there a channel's padded map is one run of flen entries (load_flat),
// cstride entries per channel rounded to whole fill beats, so that the fill writes whole words.
struct geom_t {
    uint32_t tiles;  // ceil(vw / V)
    uint32_t pitch;  // line buffer row pitch: the padded input width (stride 2: 2 * half)
    uint32_t ring;   // rows per input channel in the line buffer: kernel + stride (flat: the map and reach)
    uint32_t rows;   // (virtual) output rows: out_h, flat 1
    uint32_t vw;     // (virtual) output row width: out_w, flat (out_h - 1) * q + out_w
    uint32_t q;      // flat: virtual pixels per output row
    uint32_t half;   // stride-2 row mode: entries per column phase; 0: row not split
    uint32_t phases; // split rows: column phases streamed (2; a 1x1 kernel reads the even phase only: 1)
    uint32_t bpr;    // stream beats per line-buffer row (a split row streams each phase in whole beats;
                     // a flat run: per channel, the whole map)
    uint32_t cstride; // line-buffer entries per input channel (ring * pitch; a flat run: rounded up to beats)
    uint32_t flen;   // flat, URAM line buffer: entries streamed per channel as one run (0: row by row)
    bool flat;
};

static geom_t geometry(const layer_t& L) {
    geom_t g;
    g.flat = L.op == OP_CONV && (L.flags & FLAG_FLAT) && L.out_h > 1;
    const uint32_t raw = L.in_w + 2 * L.pad;
    const uint32_t A = cfg::LB_ALIGN;
    const uint32_t padded = (raw + A - 1) / A * A;  // row pitch: whole fill beats for a URAM line buffer
    g.half = 0;
    g.phases = 2;
    g.flen = 0;
    if (g.flat) {
        g.q = raw;  // output row y + 1 starts stride input rows = stride * pitch entries further
        g.pitch = raw;
        g.vw = (L.out_h - 1) * g.q + L.out_w;
        g.tiles = (g.vw + cfg::V - 1) / cfg::V;
        g.rows = 1;
        const uint32_t reach = (g.tiles * cfg::V - 1) * L.stride + (L.kernel - 1) * g.pitch + L.kernel;
        const uint32_t need = (L.out_h - 1) * L.stride + L.kernel, rr = (reach + g.pitch - 1) / g.pitch;
        g.ring = need > rr ? need : rr;
        if (FQ_LB_URAM) {  // one run per channel, regions on whole fill beats (whole URAM words)
            g.cstride = (g.ring * g.pitch + A - 1) / A * A;
            g.flen = need * g.pitch;
            g.bpr = (g.flen + cfg::FILL_BYTES - 1) / cfg::FILL_BYTES;
        } else {
            g.cstride = g.ring * g.pitch;
            g.bpr = (g.pitch + cfg::FILL_BYTES - 1) / cfg::FILL_BYTES;
        }
        return g;
    }
    g.tiles = (L.out_w + cfg::V - 1) / cfg::V;
    if (L.stride == 2) {
        g.half = ((raw + 1) / 2 + A - 1) / A * A;
        g.pitch = 2 * g.half;
        g.phases = L.kernel == 1 ? 1 : 2;
        g.bpr = g.phases * ((g.half + cfg::FILL_BYTES - 1) / cfg::FILL_BYTES);
    } else {
        g.pitch = padded;
        g.bpr = (padded + cfg::FILL_BYTES - 1) / cfg::FILL_BYTES;
    }
    g.ring = L.kernel + L.stride;
    g.cstride = g.ring * g.pitch;
    g.rows = L.out_h;
    g.vw = L.out_w;
    g.q = L.out_w;
    return g;
}

// last input row (virtual) output row y reads
static inline int last_row(const layer_t& L, const geom_t& g, uint32_t y) {
    return int((g.flat ? L.out_h - 1 : y) * L.stride) - int(L.pad) + int(L.kernel) - 1;
}
// first input row to stream for (virtual) output row y: the next one not yet streamed, but never one below
// the first row y reads (a 1x1 stride-2 kernel never reads every other row: fq_hls/hw/geometry.py first_row)
static inline int first_row(const layer_t& L, const geom_t& g, uint32_t y, int next_iy) {
    const int f = int((g.flat ? 0 : y) * L.stride) - int(L.pad);
    return next_iy > f ? next_iy : f;
}
// line-buffer row of input row iy (>= -pad): consecutive rows in consecutive slots (flat mode reads across them)
static inline uint32_t ring_slot(const layer_t& L, const geom_t& g, int iy) {
    return uint32_t(iy + int(L.pad)) % g.ring;
}
// first entry of ring slot `slot` of input channel ci
static inline size_t lb_row(const geom_t& g, uint32_t ci, uint32_t slot) {
    return size_t(ci) * g.cstride + size_t(slot) * g.pitch;
}
// entry offset of kernel column kx inside a line-buffer row (split rows: its phase, then kx / 2); output pixel
// x0 + v of a row reads entry row + kx_off + x0 + v at either stride
static inline uint32_t kx_off(const geom_t& g, uint32_t kx) { return g.half ? (kx & 1) * g.half + (kx >> 1) : kx; }
// Beat b of a line-buffer row, lane j: the padded input column it carries, and its entry inside the row
// (valid while lb_beat_ok). A split row streams the even phase's beat b / 2, then the odd phase's (one phase:
// the even phase's beat b).
static inline uint32_t lb_beat_phase(const geom_t& g, uint32_t b) { return g.phases == 2 ? b & 1 : 0; }
static inline uint32_t lb_beat_idx(const geom_t& g, uint32_t b, int j) {
    return (g.phases == 2 ? b >> 1 : b) * cfg::FILL_BYTES + j;
}
static inline uint32_t lb_beat_col(const geom_t& g, uint32_t b, int j) {
    return g.half ? 2 * lb_beat_idx(g, b, j) + lb_beat_phase(g, b) : b * cfg::FILL_BYTES + j;
}
static inline uint32_t lb_beat_pos(const geom_t& g, uint32_t b, int j) {
    return g.half ? lb_beat_phase(g, b) * g.half + lb_beat_idx(g, b, j) : b * cfg::FILL_BYTES + j;
}
static inline bool lb_beat_ok(const geom_t& g, uint32_t b, int j) {
    if (g.flen) return b * cfg::FILL_BYTES + j < g.flen;
    return g.half ? lb_beat_idx(g, b, j) < g.half : b * cfg::FILL_BYTES + j < g.pitch;
}

// ---------------------------------------------------------------------------------------------------------
// On-chip buffers (one engine instance; static so that the C-simulation does not put them on the stack).
static int check_shape(const layer_t& L);

// Weight buffers and channel tables are ping-pong pairs: pass p + 1 is loaded and decoded into one half
// while the rows of pass p run from the other (docs/engine.md "Tiling and dataflow").
static dec_t wbuf0[cfg::P][cfg::MAX_ENTRIES], wbuf1[cfg::P][cfg::MAX_ENTRIES];
static uint16_t chtab0[cfg::P][cfg::MAX_J], chtab1[cfg::P][cfg::MAX_J];
static uint16_t chcnt0[cfg::P], chcnt1[cfg::P];
// entries up to a lane's final `last`, per half (the C-simulation skips a lane's padding)
static uint32_t lane_len0[cfg::P], lane_len1[cfg::P];
// per-channel parameters, ping-pong by layer: the next conv layer's table loads while this layer stores
static chparam_t prm0[cfg::MAX_OUT_CH], prm1[cfg::MAX_OUT_CH];

// Cross-layer prefetch: while the last pass of layer i runs (or a pool layer), the head of the next conv layer
// (its parameter table and pass 0) loads into the free halves. `pre` hands it to that layer.
struct prefetch_t {
    bool valid;
    int status;           // status of the prefetch, reported by the layer it belongs to
    uint32_t half, psel;  // weight-buffer half holding pass 0, parameter table half
    uint32_t n_entries;   // entries per lane of pass 0
    uint32_t off;         // stream offset after pass 0
};
static prefetch_t pre;
#if FQ_HLS_PATH && FQ_LB_URAM
// URAM line buffer: entry i is 9-bit lane i % 8 of word i / 8, word w in bank w % LB_UBANKS at w / LB_UBANKS;
// the LB_UBANKS words a V-entry read spans are in distinct banks, one port each per cycle
typedef ap_uint<72> lbword_t;
static lbword_t lbu[cfg::LB_UBANKS][cfg::LB_UWORDS];
#else
static act_t lbuf[cfg::LB_DEPTH + cfg::LB_SLACK];
#endif
// fused 3x3 stride-2 max pool (FLAG_POOL, store_rows): per channel and pooled column, the running max of the
// pooled row being built; per channel, the last pixel of the previous tile of the conv row
static act_t pool_acc[cfg::POOL_WORDS];
static act_t pool_last[cfg::MAX_OUT_CH];

#ifndef __SYNTHESIS__
static uint64_t row_load[cfg::MAX_ROWS], row_comp[cfg::MAX_ROWS], row_store[cfg::MAX_ROWS];
static uint64_t row_res[cfg::MAX_ROWS];  // residual beats of output row y (gmem_in, shared with load_rows)
#endif

// Line-buffer access: the V entries i0 .. i0 + V - 1 of a read, and the FILL_BYTES entries of a fill beat
// (beat b of the line-buffer row starting at entry `row`).
static inline void lb_get(uint32_t i0, act_t x[cfg::V]) {
#if FQ_HLS_PATH && FQ_LB_URAM
    const uint32_t w0 = i0 >> 3, s = i0 & 7, r0 = w0 % cfg::LB_UBANKS, a0 = w0 / cfg::LB_UBANKS;
    ap_uint<72 * cfg::LB_UBANKS> win = 0;  // words w0 .. w0 + LB_UBANKS - 1, lowest first
lb_get_bank:
    for (int k = 0; k < cfg::LB_UBANKS; k++) {
#pragma HLS UNROLL
        const uint32_t b = r0 + k < uint32_t(cfg::LB_UBANKS) ? r0 + k : r0 + k - cfg::LB_UBANKS;
        const uint32_t a = r0 + k < uint32_t(cfg::LB_UBANKS) ? a0 : a0 + 1;
        win.range(72 * k + 71, 72 * k) = lbu[b][a];
    }
lb_get_v:
    for (int v = 0; v < cfg::V; v++) {
#pragma HLS UNROLL
        const uint32_t e = s + v;
        x[v] = act_t(win.range(9 * e + 8, 9 * e));
    }
#else
    for (int v = 0; v < cfg::V; v++) {
#pragma HLS UNROLL
        x[v] = lbuf[i0 + v];
    }
#endif
}

static inline void lb_put_beat(size_t row, const geom_t& g, uint32_t b, const beat_t& bt) {
#if FQ_HLS_PATH && FQ_LB_URAM
    // rows and beats are whole words (LB_ALIGN = FILL_BYTES): FILL_BYTES / 8 words, distinct banks
    const uint32_t w0 = uint32_t((row + lb_beat_pos(g, b, 0)) >> 3);
lb_put_word:
    for (int k = 0; k < cfg::FILL_BYTES / 8; k++) {
#pragma HLS UNROLL
        lbword_t word;
        for (int j = 0; j < 8; j++) word.range(9 * j + 8, 9 * j) = ap_uint<9>(bt.v[8 * k + j].range(8, 0));
        const uint32_t w = w0 + k;
        lbu[w % cfg::LB_UBANKS][w / cfg::LB_UBANKS] = word;
    }
#else
    for (int j = 0; j < cfg::FILL_BYTES; j++) {
#pragma HLS UNROLL
        if (lb_beat_ok(g, b, j)) lbuf[row + lb_beat_pos(g, b, j)] = bt.v[j];
    }
#endif
}

// ---------------------------------------------------------------------------------------------------------
// an input byte as an activation: int8 or uint8 (the layer's FLAG_IN_SIGNED)
static inline act_t act_of(uint8_t u, bool sgn) { return sgn ? act_t(int8_t(u)) : act_t(u); }

// Flat mode's load: per channel, the padded map's rows back to back (g.flen entries) in g.bpr fill beats.
// Lane j of beat b carries entry b * FILL_BYTES + j: padded row r = entry / q, column c = entry % q, and its
// byte offset r * in_w + c, kept as per-lane counters stepped by FILL_BYTES (no divider or multiplier inside
// the pipelined loop).
static void load_flat(const uint8_t* base, const uint8_t* base2, const layer_t& L, const geom_t& g,
                      act_t pad_value, hls::stream<beat_t>& s_in, uint32_t ci0, uint32_t n_ch) {
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
            beat_t bt;
        load_flat_lane:
            for (int j = 0; j < cfg::FILL_BYTES; j++) {
#pragma HLS UNROLL
                const int iy = int(r[j]) - int(L.pad), x = int(c[j]) - int(L.pad);
                const uint8_t* src = j < cfg::AXI_BYTES ? src1 : src2;  // port of this lane of the beat
                act_t v = pad_value;
                if (iy >= 0 && iy < int(L.in_h) && x >= 0 && x < int(L.in_w)) {
                    v = act_of(src[off[j] - pad_off], sgn);
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
static void load_rows(const uint8_t* act_in, const uint8_t* act_in2, const layer_t& L, const geom_t& g,
                      act_t pad_value, hls::stream<beat_t>& s_in, uint32_t ci0, uint32_t n_ch, bool fill = true) {
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
                    beat_t bt;
                load_lane:
                    for (int j = 0; j < cfg::FILL_BYTES; j++) {
#pragma HLS UNROLL
                        int x = int(lb_beat_col(g, b, j)) - int(L.pad);
                        act_t v = pad_value;
                        const uint8_t* src = j < cfg::AXI_BYTES ? row : row2;  // port of this lane of the beat
                        if (inside && x >= 0 && x < int(L.in_w)) v = act_of(src[x], sgn);
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
                            hls::stream<beat_t>& s_in) {
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
static void fill_step(const layer_t& L, const geom_t& g, fill_t& f, hls::stream<beat_t>& s_in) {
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

// ---------------------------------------------------------------------------------------------------------
// compute: per output row and tile of V pixels, L cycles; lane l applies wbuf[l][e] to its V accumulators.
template <class Pol, int NV>
static void compute_tile(const layer_t& L, const dec_t wbuf[cfg::P][cfg::MAX_ENTRIES], uint32_t n_entries,
                         const uint32_t rowoff[cfg::MAX_KERNEL], uint32_t xoff, uint32_t y, uint32_t x0,
                         hls::stream<pkt_t> s_out[cfg::P], const geom_t& g, fill_t& f, hls::stream<beat_t>& s_in) {
    typename Pol::acc_v acc[cfg::P];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 1
comp_clear:
    for (int l = 0; l < cfg::P; l++) {
#pragma HLS UNROLL
        Pol::clear(acc[l]);
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
#pragma HLS DEPENDENCE variable = lbuf inter false
#pragma HLS DEPENDENCE variable = lbuf intra false
#endif
        if (cfg::FILL_OVERLAP && f.left) fill_step(L, g, f, s_in);
    comp_lane:
        for (int l = 0; l < cfg::P; l++) {
#pragma HLS UNROLL
            const dec_t& d = wbuf[l][e];
            act_t xw[cfg::V];
#pragma HLS ARRAY_PARTITION variable = xw complete
            lb_get(d.base + rowoff[d.ky] + xoff, xw);
            if (!(d.flags & DEC_NOP)) Pol::template apply<NV>(acc[l], d, xw);
            // the accumulators run on (cleared once per tile, above): the store stage takes differences of a
            // lane's consecutive packets, so the PE needs no clear-and-add multiplexer per output
            if (d.flags & DEC_LAST) {
                pkt_t p;
                p.y = y;
                p.x0 = x0;
                p.ch = 0;
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
static inline __attribute__((always_inline)) void compute_tile_sw(const layer_t& L, const dec_t wbuf[cfg::P][cfg::MAX_ENTRIES],
                            const uint32_t lane_len[cfg::P], const uint32_t rowoff[cfg::MAX_KERNEL], uint32_t xoff,
                            uint32_t y, uint32_t x0, hls::stream<pkt_t> s_out[cfg::P]) {
    // A lane's packets of this tile are written after its entry loop: with no call inside the loop, g++
    // keeps the accumulators in vector registers (a call clobbers them all, and they went to memory).
    static pkt_t pk[cfg::MAX_J];
    for (int l = 0; l < cfg::P; l++) {
        typename Pol::template sw_acc<NV> acc;
        acc.clear();
        const dec_t* wl = wbuf[l];
        const uint32_t n = lane_len[l];
        uint32_t np = 0;
        for (uint32_t e = 0; e < n; e++) {
            const dec_t& d = wl[e];
            if (!(d.flags & DEC_NOP)) acc.apply(d, lbuf + d.base + rowoff[d.ky] + xoff);
            if ((d.flags & DEC_LAST) && np < uint32_t(cfg::MAX_J)) acc.emit(pk[np++]);  // running sums
        }
        for (uint32_t i = 0; i < np; i++) {
            pk[i].y = y;
            pk[i].x0 = x0;
            pk[i].ch = 0;
            s_out[l].write(pk[i]);
        }
    }
}

// the live pixel count as a template constant (vectorizable loops)
template <class Pol>
static inline __attribute__((always_inline)) void compute_tile_csim(const layer_t& L, const dec_t wbuf[cfg::P][cfg::MAX_ENTRIES],
                              const uint32_t lane_len[cfg::P], uint32_t n_entries,
                              const uint32_t rowoff[cfg::MAX_KERNEL], uint32_t xoff, uint32_t y, uint32_t x0,
                              uint32_t nv, hls::stream<pkt_t> s_out[cfg::P]) {
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
static void compute_rows(const layer_t& L, const geom_t& g, const dec_t wbuf[cfg::P][cfg::MAX_ENTRIES],
                         const uint32_t* lane_len, uint32_t n_entries, hls::stream<beat_t>& s_in,
                         hls::stream<pkt_t> s_out[cfg::P], bool fill) {
    // every read is V consecutive entries and every fill beat FILL_BYTES consecutive entries (geom_t):
    // LB_BANKS = max(V, FILL_BYTES) cyclic banks serve each in one cycle; one port reads, the other is the
    // fill's write port (FILL_OVERLAP)
#if FQ_LB_URAM
#pragma HLS ARRAY_PARTITION variable = lbu complete dim = 1
#pragma HLS BIND_STORAGE variable = lbu type = ram_s2p impl = uram
#else
#pragma HLS ARRAY_PARTITION variable = lbuf cyclic factor = cfg::LB_BANKS dim = 1
#pragma HLS BIND_STORAGE variable = lbuf type = ram_s2p impl = bram
#endif
#pragma HLS ARRAY_PARTITION variable = wbuf complete dim = 1
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
            compute_tile<Pol, cfg::V>(L, wbuf, n_entries, rowoff, xoff, y, x0, s_out, g, f, s_in);
            (void)lane_len;
#else
            const uint32_t nv = g.vw - x0 < uint32_t(cfg::V) ? g.vw - x0 : uint32_t(cfg::V);
            compute_tile_csim<Pol>(L, wbuf, lane_len, n_entries, rowoff, xoff, y, x0, nv, s_out);
#endif
        }
        // the fill beats the entry loops did not absorb
#if FQ_HLS_PATH
    comp_fill_rest:
        while (f.left) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 3584
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

// store: accumulators -> difference with the lane's previous packet of the tile (the lanes' accumulators run
// on between outputs) and recombination (policy), bias, requantization, residual, clamp -> DDR (int8/uint8 or
// int32). One packet per cycle: V difference units, recombiners and requantizers serve all lanes.
template <class Pol>
static void store_rows(const uint8_t* act_in, uint8_t* act_out, const layer_t& L, const geom_t& g,
                       const uint16_t chtab[cfg::P][cfg::MAX_J], const uint16_t chcnt[cfg::P],
                       const chparam_t prm[cfg::MAX_OUT_CH], hls::stream<pkt_t> s_out[cfg::P]) {
    const bool out32 = L.flags & FLAG_OUT32;
    const bool relu = L.flags & FLAG_RELU;
    const bool res = L.flags & FLAG_RESIDUAL;
    const bool res_sgn = L.flags & FLAG_RES_SIGNED;
    const bool fpool = L.flags & FLAG_POOL;
    // a packet updates V / 2 consecutive pooled columns: V / 2 banks, each a few hundred words (LUTRAM)
#pragma HLS ARRAY_PARTITION variable = pool_acc cyclic factor = cfg::V / 2 dim = 1
#pragma HLS BIND_STORAGE variable = pool_acc type = ram_2p impl = lutram
    const int lo = relu ? 0 : -128, hi = relu ? 255 : 127;
    const uint32_t plane = L.out_h * L.out_w;
    // fused max pool (3x3, stride 2, pad 1): pooled map ph x pw, written instead of the conv's output
    const uint32_t pw = (L.out_w + 1) / 2, ph = (L.out_h + 1) / 2;
    uint32_t fy = 0, fx = 0;  // flat mode: output (row, column) of the tile's first virtual pixel
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
        store_lane:
            for (int l = 0; l < cfg::P; l++) {
                pkt_t prev;  // the lane's previous packet in this tile (its accumulators start at 0)
                zero_packet(prev);
            store_ch:
                for (uint32_t j = 0; j < chcnt[l]; j++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 16
                    pkt_t p = s_out[l].read();
                    const uint32_t ch = chtab[l][j];
                    const chparam_t cp = prm[ch];
                    const uint32_t pix0 = ch * plane;
                    int val[cfg::V];  // requantized outputs (fused pool: the smallest value where none)
#pragma HLS ARRAY_PARTITION variable = val complete
                store_v:
                    for (int v = 0; v < cfg::V; v++) {
#pragma HLS UNROLL
                        val[v] = -512;
                        if (!oval[v]) continue;
                        const uint32_t pix = pix0 + opix[v];
                        wide_t a = Pol::recombine(p, prev, v, L) + wide_t(cp.bias);
                        if (out32) {
                            uint32_t u = uint32_t(int32_t(a));
                            uint8_t* o = act_out + L.out_off + size_t(pix) * 4;
                            o[0] = u & 0xff;
                            o[1] = (u >> 8) & 0xff;
                            o[2] = (u >> 16) & 0xff;
                            o[3] = (u >> 24) & 0xff;
                        } else {
                            wide_t tq = a * wide_t(cp.mult);
                            if (res) {
                                uint8_t rb = act_in[L.res_off + pix];
                                wide_t r = res_sgn ? wide_t(int8_t(rb)) : wide_t(rb);
                                tq += (r * wide_t(cp.res_mult)) * (wide_t(1) << cp.res_shift);
                            }
                            wide_t q = (tq + (wide_t(1) << (cp.shift - 1))) >> cp.shift;
                            if (q < lo) q = lo;
                            if (q > hi) q = hi;
                            val[v] = int(q);
                            if (!fpool) act_out[L.out_off + pix] = uint8_t(int(q) & 0xff);
                        }
                    }
                    if (fpool) {
                        // horizontal 3-max of pooled column xp0 + k: conv columns 2 (xp0 + k) - 1 .. + 1 (the
                        // first one's left neighbour ends the previous tile), then the vertical running max
                    store_pool:
                        for (int k = 0; k < cfg::V / 2; k++) {
#pragma HLS UNROLL
                            const uint32_t xp = xp0 + k;
                            if (xp >= pw) continue;
                            int h = k ? val[2 * k - 1] : (x0 ? int(pool_last[ch]) : -512);
                            if (val[2 * k] > h) h = val[2 * k];
                            if (val[2 * k + 1] > h) h = val[2 * k + 1];
                            act_t& acc = pool_acc[ch * pw + xp];
                            int m = h;
                            if (!(y & 1) && y > 0 && int(acc) > m) m = int(acc);  // rows 2yp - 1, 2yp
                            if ((y & 1) && int(acc) > m) m = int(acc);            // ..., 2yp + 1
                            if (pool_out) act_out[L.out_off + ch * ph * pw + (y / 2) * pw + xp] = uint8_t(m & 0xff);
                            acc = act_t((y & 1) ? h : m);  // odd row: it also opens pooled row y / 2 + 1
                        }
                        pool_last[ch] = act_t(val[cfg::V - 1]);
                    }
                    prev = p;
                    FQ_CYCLES(uint64_t ob = fpool ? beats(nvp) : beats(nv * (out32 ? 4 : 1)); cyc += ob > 1 ? ob : 1;
                              if (res) in_beats += beats(nv);)
                }
            }
        }
        FQ_CYCLES(row_store[y] = cyc; row_res[y] = in_beats;)  // the residual shares gmem_in with load
    }
}

template <class Pol>
static void conv_rows(const uint8_t* act_in, const uint8_t* act_in2, uint8_t* act_out, const layer_t& L,
                      const geom_t& g,
                      const dec_t wbuf[cfg::P][cfg::MAX_ENTRIES], const uint32_t* lane_len,
                      const uint16_t chtab[cfg::P][cfg::MAX_J], const uint16_t chcnt[cfg::P],
                      const chparam_t prm[cfg::MAX_OUT_CH], uint32_t n_entries, bool fill) {
#pragma HLS DATAFLOW
    hls::stream<beat_t> s_in("s_in");
    hls::stream<pkt_t> s_out[cfg::P];
#pragma HLS STREAM variable = s_in depth = 64
#pragma HLS STREAM variable = s_out depth = 4
    load_rows(act_in, act_in2, L, g, 0, s_in, 0, L.in_ch, fill);
    compute_rows<Pol>(L, g, wbuf, lane_len, n_entries, s_in, s_out, fill);
    store_rows<Pol>(act_in, act_out, L, g, chtab, chcnt, prm, s_out);
}

// ---------------------------------------------------------------------------------------------------------
// Load one pass of the weight stream at `off` (header, channel table, entries) and decode it into one half of
// the ping-pong buffers: one row of P entries per cycle. `cyc` gets the pass's load cycles (csim).
template <class Pol>
static int load_pass(const uint8_t* w, uint32_t& off, const layer_t& L, const geom_t& g, const kgeom_t& kg,
                     dec_t wbuf[cfg::P][cfg::MAX_ENTRIES], uint16_t chtab[cfg::P][cfg::MAX_J],
                     uint16_t chcnt[cfg::P], uint32_t lane_len[cfg::P], uint32_t& n_entries, uint64_t& cyc) {
    n_entries = rd32(w + off);
    const uint32_t nj = rd32(w + off + 4);
    if (n_entries > uint32_t(cfg::MAX_ENTRIES) || nj > uint32_t(cfg::MAX_J) || off > L.w_bytes)
        return ST_WEIGHT_BUFFER;
    off += cfg::AXI_BYTES;
    bool ch_ok = true;
load_chtab:
    for (int l = 0; l < cfg::P; l++) {
        chcnt[l] = 0;
    load_chtab_j:
        for (uint32_t j = 0; j < nj; j++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 16
            const uint8_t* p = w + off + (l * nj + j) * 2;
            uint16_t ch = uint16_t(p[0] | (p[1] << 8));
            chtab[l][j] = ch;
            if (ch != 0xffff) {
                ch_ok &= ch < L.out_ch;
                chcnt[l] = j + 1;
            }
        }
    }
    if (!ch_ok) return ST_BAD_CHANNEL;
    const uint32_t tab_bytes = align_axi(cfg::P * nj * 2);
    off += tab_bytes;
    const uint32_t ent_bytes = align_axi(n_entries * cfg::P * Pol::ENTRY_BYTES);
    if (off + ent_bytes > L.w_bytes) return ST_BAD_STREAM;

    uint32_t pos[cfg::P], lane_ch[cfg::P];
    bool ok = true;
#pragma HLS ARRAY_PARTITION variable = pos complete
#pragma HLS ARRAY_PARTITION variable = lane_ch complete
    for (int l = 0; l < cfg::P; l++) {
#pragma HLS UNROLL
        pos[l] = 0;
        lane_ch[l] = 0;
        lane_len[l] = 0;
    }
decode_entry:
    for (uint32_t e = 0; e < n_entries; e++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4608
    decode_lane:
        for (int l = 0; l < cfg::P; l++) {
#pragma HLS UNROLL
            dec_t d;
            kpos_t k;
            const uint8_t* ep = w + off + (e * cfg::P + l) * Pol::ENTRY_BYTES;
            ok &= Pol::decode(ep, pos[l], lane_ch[l], chcnt[l], kg, L, d, k);
            d.base = uint32_t(lb_row(g, k.ci, 0)) + kx_off(g, k.kx);  // address of (ci, kx), once per pass
            if (d.flags & DEC_LAST) {
                ok &= lane_ch[l] < chcnt[l];
                lane_ch[l]++;
                lane_len[l] = e + 1;
            }
            wbuf[l][e] = d;
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
    const kgeom_t kg = make_kgeom(L.in_ch, L.kernel);
    const uint8_t* w = wmem + L.w_off;
    if (L.out_ch * 16 > L.w_bytes) return ST_BAD_STREAM;
    chparam_t* prm = psel ? prm1 : prm0;
    // per-channel constants: bias, mult, res_mult (int32), shift | res_shift << 8
load_params:
    for (uint32_t c = 0; c < L.out_ch; c++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1024
        const uint8_t* p = w + c * 16;
        prm[c].bias = int32_t(rd32(p));
        prm[c].mult = int32_t(rd32(p + 4));
        prm[c].res_mult = int32_t(rd32(p + 8));
        const uint32_t sh = rd32(p + 12);
        prm[c].shift = int32_t(sh & 0xff);
        prm[c].res_shift = int32_t((sh >> 8) & 0xff);
        if (prm[c].shift < 1 || prm[c].shift > 62 || prm[c].res_shift > 62) return ST_BAD_STREAM;
    }
    off = align_axi(L.out_ch * 16);
    uint64_t wl = 0;
    int st = h ? load_pass<Pol>(w, off, L, g, kg, wbuf1, chtab1, chcnt1, lane_len1, n_entries, wl)
               : load_pass<Pol>(w, off, L, g, kg, wbuf0, chtab0, chcnt0, lane_len0, n_entries, wl);
    FQ_CYCLES(cyc = beats(L.out_ch * 16) + cfg::DEPTH_LOAD + wl;)
    return st;
}

// Prefetch the head of layer `N` (if it is a conv layer that passes the shape check) into halves (h, psel).
template <class Pol>
static void prefetch_head(const uint8_t* wmem, const layer_t* N, uint32_t h, uint32_t psel, uint64_t& cyc) {
    pre.valid = false;
    if (N == 0 || N->op != OP_CONV || check_shape(*N) != ST_OK) return;
    pre.valid = true;
    pre.half = h;
    pre.psel = psel;
    pre.status = load_head<Pol>(wmem, *N, h, psel, pre.n_entries, pre.off, cyc);
}

template <class Pol>
static int conv_layer(const uint8_t* wmem, const uint8_t* act_in, const uint8_t* act_in2, uint8_t* act_out,
                      const layer_t& L, const layer_t* N, uint64_t& cycles) {
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
    const kgeom_t kg = make_kgeom(L.in_ch, L.kernel);
    const uint8_t* w = wmem + L.w_off;
    const chparam_t* prm = psel ? prm1 : prm0;
    // pass p + 1 loads into the other half of the ping-pong buffers while the rows of pass p run (gmem_w
    // against gmem_in/gmem_out: no shared port); during the last pass, the next conv layer's head does
pass:
    for (uint32_t ps = 0; ps < L.n_passes; ps++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 16
        uint32_t n_next = 0;
        uint64_t wl = 0;
        if (ps + 1 < L.n_passes) {
            int st = h ? load_pass<Pol>(w, off, L, g, kg, wbuf0, chtab0, chcnt0, lane_len0, n_next, wl)
                       : load_pass<Pol>(w, off, L, g, kg, wbuf1, chtab1, chcnt1, lane_len1, n_next, wl);
            if (st != ST_OK) return st;
        } else {
            prefetch_head<Pol>(wmem, N, 1 - h, 1 - psel, wl);
        }
        // flat mode: the whole map stays in the line buffer after pass 0, later passes stream nothing
        const bool fill = !g.flat || ps == 0;
        if (h)
            conv_rows<Pol>(act_in, act_in2, act_out, L, g, wbuf1, lane_len1, chtab1, chcnt1, prm, n_cur, fill);
        else
            conv_rows<Pol>(act_in, act_in2, act_out, L, g, wbuf0, lane_len0, chtab0, chcnt0, prm, n_cur, fill);
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
            cycles += c > wl ? c : wl;  // the next load hides behind the rows (or the reverse)
        })
        h = 1 - h;
        n_cur = n_next;
    }
    return ST_OK;
}

// ---------------------------------------------------------------------------------------------------------
// max pool: the line buffer again (padded with the smallest value), in groups of as many channels as it holds
// (one pass over the rows each), k*k cycles per tile and group of Pol::POOL_LANES channels: each lane of the FQ
// engine has its own line-buffer reader, so its P lanes pool P channels at once; the int8 engine's lanes share
// one broadcast reader and pool one channel at a time.
template <class Pol>
static int maxpool_layer(const uint8_t* act_in, const uint8_t* act_in2, uint8_t* act_out, const layer_t& L,
                         uint64_t& cycles) {
    const geom_t g = geometry(L);
    const uint32_t per_ch = g.cstride;
    if (per_ch > uint32_t(cfg::LB_DEPTH)) return ST_LINE_BUFFER;
    const uint32_t G = uint32_t(cfg::LB_DEPTH) / per_ch < L.in_ch ? uint32_t(cfg::LB_DEPTH) / per_ch : L.in_ch;
    const uint32_t NL = Pol::POOL_LANES;
    const uint32_t plane = L.out_h * L.out_w;
    uint64_t c = 0;
pool_chgroup:
    for (uint32_t c0 = 0; c0 < L.in_ch; c0 += G) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4
        const uint32_t n_ch = L.in_ch - c0 < G ? L.in_ch - c0 : G;
        hls::stream<beat_t> s_in("s_in_pool");
        // sequential in C-simulation; in hardware load and pool overlap like the conv stages
        load_rows(act_in, act_in2, L, g, act_t(-512), s_in, c0, n_ch);
        int next_iy = -int(L.pad);
        const uint32_t groups = (n_ch + NL - 1) / NL;
        c += cfg::DEPTH_DATAFLOW;
    pool_row:
        for (uint32_t y = 0; y < L.out_h; y++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 112
            uint32_t absorbed = absorb_rows(L, g, n_ch, next_iy, y, s_in);
            uint64_t out_beats = 0;
        pool_tile:
            for (uint32_t t = 0; t < g.tiles; t++) {
                const uint32_t x0 = t * cfg::V;
                const uint32_t nv = L.out_w - x0 < uint32_t(cfg::V) ? L.out_w - x0 : uint32_t(cfg::V);
            pool_group:
                for (uint32_t cg = 0; cg < groups; cg++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 512
                    act_t m[Pol::POOL_LANES][cfg::V];
#pragma HLS ARRAY_PARTITION variable = m complete dim = 0
                    for (uint32_t l = 0; l < NL; l++)
                        for (int v = 0; v < cfg::V; v++) m[l][v] = act_t(-512);
                pool_win:
                    for (uint32_t kk = 0; kk < L.kernel * L.kernel; kk++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 9
                        uint32_t ky = kk / L.kernel, kx = kk % L.kernel;
                        int iy = int(y * L.stride) - int(L.pad) + int(ky);
                        uint32_t slot = ring_slot(L, g, iy);
                    pool_lane:
                        for (uint32_t l = 0; l < NL; l++) {
#pragma HLS UNROLL
                            const uint32_t ci = cg * NL + l;
                            if (ci < n_ch) {
                                act_t x[cfg::V];
                                lb_get(uint32_t(lb_row(g, ci, slot)) + kx_off(g, kx) + x0, x);
                                for (int v = 0; v < cfg::V; v++) {
#pragma HLS UNROLL
                                    act_t xv = x[v];
                                    if (xv > m[l][v]) m[l][v] = xv;
                                }
                            }
                        }
                    }
                    for (uint32_t l = 0; l < NL; l++) {
                        const uint32_t ci = cg * NL + l;
                        if (ci >= n_ch) break;
                        for (uint32_t v = 0; v < nv; v++)
                            act_out[L.out_off + (c0 + ci) * plane + y * L.out_w + x0 + v] = uint8_t(int(m[l][v]) & 0xff);
                        out_beats += beats(nv);  // one write burst per channel and tile
                    }
                }
            }
            FQ_CYCLES({
                uint64_t comp = absorbed + uint64_t(g.tiles) * groups * (L.kernel * L.kernel) + cfg::DEPTH_COMPUTE;
                uint64_t m = row_load[y] > comp ? row_load[y] : comp;
                if (out_beats > m) m = out_beats;
                c += m;
            })
            (void)absorbed;
        }
    }
    FQ_CYCLES(cycles += c;)
    (void)c;
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

// ---------------------------------------------------------------------------------------------------------
static layer_t parse_desc(const uint32_t* d) {
    layer_t L;
    L.op = d[desc::OP];
    L.flags = d[desc::FLAGS];
    L.in_ch = d[desc::IN_CH];
    L.in_h = d[desc::IN_H];
    L.in_w = d[desc::IN_W];
    L.out_ch = d[desc::OUT_CH];
    L.out_h = d[desc::OUT_H];
    L.out_w = d[desc::OUT_W];
    L.kernel = d[desc::KERNEL];
    L.stride = d[desc::STRIDE];
    L.pad = d[desc::PAD];
    L.in_off = d[desc::IN_OFF];
    L.out_off = d[desc::OUT_OFF];
    L.res_off = d[desc::RES_OFF];
    L.w_off = d[desc::W_OFF];
    L.w_bytes = d[desc::W_BYTES];
    L.n_passes = d[desc::N_PASSES];
    L.q_shift = d[desc::Q_SHIFT];
    L.mu_shift_neg = d[desc::MU_SHIFT_NEG];
    L.mu_shift_pos = d[desc::MU_SHIFT_POS];
    L.mu_sign_neg = int32_t(d[desc::MU_SIGN_NEG]);
    L.mu_sign_pos = int32_t(d[desc::MU_SIGN_POS]);
    L.m_shift = L.mu_shift_neg < L.mu_shift_pos ? L.mu_shift_neg : L.mu_shift_pos;
    L.d_neg = L.mu_shift_neg - L.m_shift;
    L.d_pos = L.mu_shift_pos - L.m_shift;
    L.pool_mult = int32_t(d[desc::POOL_MULT]);
    L.pool_shift = int32_t(d[desc::POOL_SHIFT]);
    L.entry_bytes = d[desc::ENTRY_BYTES];
    L.max_entries = d[desc::MAX_ENTRIES];
    return L;
}

static int check_shape(const layer_t& L) {
    if (L.kernel < 1 || L.kernel > uint32_t(cfg::MAX_KERNEL) || L.stride < 1 || L.stride > 2) return ST_BAD_SHAPE;
    if ((L.flags & FLAG_FLAT) && L.stride != 1) return ST_BAD_SHAPE;  // flat mode is stride 1 (geom_t)
    if ((L.flags & FLAG_POOL) && (L.op != OP_CONV || (L.flags & (FLAG_FLAT | FLAG_OUT32 | FLAG_RESIDUAL)) ||
                                  L.out_ch * ((L.out_w + 1) / 2) > uint32_t(cfg::POOL_WORDS)))
        return ST_BAD_SHAPE;
    if (L.in_ch < 1 || L.in_ch > uint32_t(cfg::MAX_IN_CH) || L.out_ch < 1 || L.out_ch > uint32_t(cfg::MAX_OUT_CH))
        return ST_BAD_SHAPE;
    if (L.in_w < 1 || L.in_h < 1 || L.out_h < 1 || L.out_w < 1 || L.out_h > uint32_t(cfg::MAX_ROWS)) return ST_BAD_SHAPE;
    if (L.in_w + 2 * L.pad > uint32_t(cfg::MAX_WIDTH) + 2 * cfg::MAX_KERNEL) return ST_BAD_SHAPE;
    if ((L.in_h + 2 * L.pad - L.kernel) / L.stride + 1 != L.out_h) return ST_BAD_SHAPE;
    if ((L.in_w + 2 * L.pad - L.kernel) / L.stride + 1 != L.out_w) return ST_BAD_SHAPE;
    return ST_OK;
}

// Run one layer; returns a status code (ST_OK on success). `next` is the following layer's descriptor (0 for
// the last layer): its head is prefetched while this layer finishes.
static int run_layer(const uint8_t* weights, const uint8_t* act_in, const uint8_t* act_in2, uint8_t* act_out,
                     const uint32_t* d, const uint32_t* next, uint64_t& cycles) {
    layer_t L = parse_desc(d);
    cycles = 0;
    if (L.op == OP_FUSED) return ST_OK;  // done by the layer before (FLAG_POOL); its prefetch stays valid
    layer_t N;
    if (next) N = parse_desc(next);
    const layer_t* np = next ? &N : 0;
    cycles = cfg::DEPTH_LAYER;
    int st = L.op == OP_AVGPOOL ? int(ST_OK) : check_shape(L);
    if (st != ST_OK) return st;
    if (L.op == OP_CONV) return conv_layer<EnginePolicy>(weights, act_in, act_in2, act_out, L, np, cycles);
    if (L.op != OP_MAXPOOL && L.op != OP_AVGPOOL) return ST_BAD_OP;
    // pools use no weight buffer: the next conv layer's head loads beside them
    pre.valid = false;
    uint64_t pc = 0, wl = 0;
    st = L.op == OP_AVGPOOL ? avgpool_layer(act_in, act_out, L, pc)
                            : maxpool_layer<EnginePolicy>(act_in, act_in2, act_out, L, pc);
    if (st != ST_OK) return st;
    prefetch_head<EnginePolicy>(weights, np, 0, 0, wl);
    cycles += pc > wl ? pc : wl;
    return ST_OK;
}

}  // namespace fq

#endif
