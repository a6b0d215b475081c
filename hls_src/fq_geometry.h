// Geometry of a layer in the line buffer, shared by the load, compute, store and pool stages
// (derived from the descriptor exactly as fq_hls/hw/geometry.py does; docs/engine.md).
#ifndef FQ_GEOMETRY_H
#define FQ_GEOMETRY_H

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

}  // namespace fq

#endif
