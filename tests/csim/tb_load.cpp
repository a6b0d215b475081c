// Testbench of the load stage (hls_src/fq_load.h), tests/test_hls_stages.py: load_rows streams a layer's input
// rows (or, flat with a URAM line buffer, each channel's map as one run: load_flat) and absorb_rows, or
// fill_begin/fill_step, write them into the ring line buffer. After each output row's fill, every read the
// compute stage makes for that row (every channel, kernel position and tile, through lb_get) must return the
// padded input map: input pixel (oy * s + ky - p, ox * s + kx - p), or the pad value outside the map.
// The read addresses are formed here from the layout that fq_hls/hw/geometry.py documents (channel region
// ci * cstride, ring slot (input row + pad) mod ring, row pitch, stride-2 rows phase-split at `half`; flat:
// one virtual row of q-wide rows), and geometry() must agree with the Python geometry the file gives.
//
// Input file: "config V FILL_BYTES n", then per layer
//   layer op in_ch in_h in_w kernel stride pad flat signed pad_value ci0 n_ch overlap
//   geom tiles pitch ring rows vw q half phases cstride flen bpr
// overlap 0: absorb_rows before each row (no fill overlap, the max pool: channels ci0 .. ci0 + n_ch - 1);
// overlap 1: as compute_rows with FILL_OVERLAP: row 0's rows first, then row y + 1's beats by fill_step, one
// after each read of row y (the fill must only write slots that row y does not read).
// Usage: tb_load FILE [corrupt]. `corrupt` changes one input byte after the load: the run must fail.
// Prints "PASS checks=N" and exits 0; otherwise the first mismatches and exits 1 (2: malformed input).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "fq_load.h"
#include "tb_input.h"

using namespace fq;

static bool check(const char* field, long got, long want) {
    n_checks++;
    if (got == want) return true;
    if (++n_fail <= 10) printf("FAIL %s %s: got %ld, want %ld\n", where, field, got, want);
    return false;
}

struct read_t {
    uint32_t c, ky, kx, x0;  // line-buffer channel, kernel position, first pixel of the tile
};

struct layer_case {
    layer_t L;
    geom_t g;
    int pad_value;
    uint32_t ci0, n_ch;
    std::vector<uint8_t> act;  // the activation memory: the input map at L.in_off
};

// the value lb_get must return for pixel `pix` of (virtual) output row y at kernel position (ky, kx)
static int padded(const layer_case& T, uint32_t c, uint32_t y, uint32_t pix, uint32_t ky, uint32_t kx) {
    const layer_t& L = T.L;
    uint32_t oy = y, ox = pix;
    if (T.g.flat) {
        oy = pix / T.g.q;
        ox = pix % T.g.q;
    }
    const int iy = int(oy * L.stride + ky) - int(L.pad), ix = int(ox * L.stride + kx) - int(L.pad);
    if (iy < 0 || iy >= int(L.in_h) || ix < 0 || ix >= int(L.in_w)) return int(act_t(T.pad_value));
    const uint8_t b = T.act[L.in_off + (size_t(T.ci0 + c) * L.in_h + iy) * L.in_w + ix];
    return (L.flags & FLAG_IN_SIGNED) ? int(int8_t(b)) : int(b);
}

static uint32_t address(const layer_case& T, uint32_t y, const read_t& r) {
    const layer_t& L = T.L;
    const geom_t& g = T.g;
    if (g.flat) return r.c * g.cstride + r.ky * g.pitch + r.kx + r.x0;  // rows back to back, stride 1
    const uint32_t slot = (y * L.stride + r.ky) % g.ring;  // padded input row mod ring
    const uint32_t col = g.half ? (r.kx % 2) * g.half + r.kx / 2 : r.kx;
    return r.c * g.cstride + slot * g.pitch + col + r.x0;
}

static void check_read(const layer_case& T, uint32_t y, const read_t& r, int lane) {
    act_t x[cfg::V];
    lb_get(lane, address(T, y, r), x);
    for (int v = 0; v < cfg::V; v++) {
        const uint32_t pix = r.x0 + v;
        if (pix >= T.g.vw || (T.g.flat && pix % T.g.q >= T.L.out_w)) continue;  // a dropped pixel
        char field[96];
        snprintf(field, sizeof(field), "row %u channel %u k(%u,%u) pixel %u", y, r.c, r.ky, r.kx, pix);
        check(field, int(x[v]), padded(T, r.c, y, pix, r.ky, r.kx));
    }
}

static std::vector<read_t> row_reads(const layer_case& T, uint32_t n_ch) {
    std::vector<read_t> rs;
    for (uint32_t c = 0; c < n_ch; c++)
        for (uint32_t ky = 0; ky < T.L.kernel; ky++)
            for (uint32_t kx = 0; kx < T.L.kernel; kx++)
                for (uint32_t t = 0; t < T.g.tiles; t++) rs.push_back(read_t{c, ky, kx, t * uint32_t(cfg::V)});
    return rs;
}

static void run_case(layer_case& T, bool overlap, bool corrupt) {
    const layer_t& L = T.L;
    const geom_t& g = T.g;
    std::vector<uint8_t> act2 = T.act;  // gmem_in2: a second port on the same data
    fill_stream_t s_in("s_in");
    load_rows(T.act.data(), act2.data(), L, g, act_t(T.pad_value), s_in, T.ci0, T.n_ch);
    const long written = long(s_in.size());
    if (corrupt) T.act[L.in_off + size_t(T.ci0) * L.in_h * L.in_w] ^= 0x5a;  // input (ci0, 0, 0)
    long absorbed = 0;
    int next_iy = -int(L.pad);
    int lane = 0;
    if (overlap) absorbed += absorb_rows(L, g, L.in_ch, next_iy, 0, s_in);
    for (uint32_t y = 0; y < g.rows; y++) {
        const std::vector<read_t> rs = row_reads(T, T.n_ch);
        if (!overlap) {
            absorbed += absorb_rows(L, g, T.n_ch, next_iy, y, s_in);
            for (size_t i = 0; i < rs.size(); i++) check_read(T, y, rs[i], (lane++) % cfg::P);
            continue;
        }
        fill_t f = fill_begin(L, g, next_iy, y + 1);
        absorbed += f.left;
        for (size_t i = 0; i < rs.size(); i++) {
            check_read(T, y, rs[i], (lane++) % cfg::P);
            if (f.left) fill_step(L, g, f, s_in);
        }
        while (f.left) fill_step(L, g, f, s_in);
    }
    check("beats absorbed", absorbed, written);
    check("beats left in the stream", long(s_in.size()), 0);
}

int main(int argc, char** argv) {
    if (argc < 2 || !(in = fopen(argv[1], "r"))) {
        printf("usage: tb_load FILE [corrupt]\n");
        return 2;
    }
    const bool corrupt = argc > 2 && !strcmp(argv[2], "corrupt");
    snprintf(where, sizeof(where), "the header");
    word("config");
    if (num() != cfg::V || num() != cfg::FILL_BYTES) {
        printf("FAIL input: written for another V or fill width\n");
        return 2;
    }
    const int n_layers = int(num());
    uint64_t seed = 88172645463325252ull;
    for (int li = 0; li < n_layers; li++) {
        snprintf(where, sizeof(where), "layer %d", li);
        word("layer");
        layer_case T;
        layer_t& L = T.L;
        memset(&L, 0, sizeof(L));
        L.op = uint32_t(num());
        L.in_ch = uint32_t(num());
        L.in_h = uint32_t(num());
        L.in_w = uint32_t(num());
        L.kernel = uint32_t(num());
        L.stride = uint32_t(num());
        L.pad = uint32_t(num());
        if (num()) L.flags |= FLAG_FLAT;
        if (num()) L.flags |= FLAG_IN_SIGNED;
        T.pad_value = int(num());
        T.ci0 = uint32_t(num());
        T.n_ch = uint32_t(num());
        const bool overlap = num() != 0;
        L.out_ch = 1;
        L.out_h = (L.in_h + 2 * L.pad - L.kernel) / L.stride + 1;
        L.out_w = (L.in_w + 2 * L.pad - L.kernel) / L.stride + 1;
        L.in_off = 40;  // not at the start of the memory
        T.g = geometry(L);
        word("geom");
        const geom_t& g = T.g;
        const long got[] = {long(g.tiles), long(g.pitch), long(g.ring), long(g.rows), long(g.vw), long(g.q),
                            long(g.half), long(g.phases), long(g.cstride), long(g.flen), long(g.bpr)};
        const char* names[] = {"tiles", "pitch", "ring", "rows", "vw", "q", "half", "phases", "cstride", "flen", "bpr"};
        bool geom_ok = true;
        for (int i = 0; i < 11; i++) {
            const long want = num();
            if (i == 7 && !g.half) continue;  // phases: only split rows have them
            geom_ok &= check(names[i], got[i], want);
        }
        if (!geom_ok) continue;
        T.act.assign(L.in_off + size_t(L.in_ch) * L.in_h * L.in_w + 64, 0);
        for (size_t i = L.in_off; i < T.act.size(); i++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            T.act[i] = uint8_t(seed >> 32);
        }
        run_case(T, overlap, corrupt);
    }
    snprintf(where, sizeof(where), "the end");
    word("end");
    return tb_finish();
}
