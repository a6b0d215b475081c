// Testbench of the line-buffer stage (hls_src/fq_buffers.h: lb_put_beat, lb_get), tests/test_hls_stages.py.
//
// For layers of every geometry kind (row mode at stride 1, phase-split rows at stride 2 with one and two
// phases, a 7x7 kernel, a flat map, and one that fills the line buffer to its top) it writes fill beats of
// random 9-bit values at the rows and beat indices that geometry() allows, keeps a flat reference of every
// entry, and reads the whole used region back through lb_get from every lane (so every copy of the
// synthesized path is read), then random offsets over the whole array. The reference's entry positions are
// written out here from the layout geom_t documents, not taken from fq_geometry.h's beat helpers.
//
// Usage: tb_buffers [corrupt]. `corrupt` flips one written entry of the reference: the run must then fail.
// Prints "PASS checks=N" and exits 0, or the first mismatches and exits 1.
#include <stdio.h>
#include <string.h>

#include <vector>

#include "fq_buffers.h"

using namespace fq;

static const size_t LB_SIZE = size_t(cfg::LB_DEPTH) + cfg::LB_SLACK;
static std::vector<int> ref(LB_SIZE, 0);  // the line buffer's statics start zeroed, so does the reference
static long n_checks = 0, n_fail = 0;

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(uint32_t n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return uint32_t(rng >> 16) % n;
}

static void fail(const char* what, long a, long b, long got, long want) {
    n_fail++;
    if (n_fail <= 10) printf("FAIL %s (%ld, %ld): got %ld, want %ld\n", what, a, b, got, want);
}

static layer_t make_layer(uint32_t in_ch, uint32_t in_h, uint32_t in_w, uint32_t k, uint32_t s, uint32_t p,
                          bool flat) {
    layer_t L;
    memset(&L, 0, sizeof(L));
    L.op = OP_CONV;
    L.flags = flat ? uint32_t(FLAG_FLAT) : 0u;
    L.in_ch = in_ch;
    L.in_h = in_h;
    L.in_w = in_w;
    L.out_ch = 1;
    L.kernel = k;
    L.stride = s;
    L.pad = p;
    L.out_h = (in_h + 2 * p - k) / s + 1;
    L.out_w = (in_w + 2 * p - k) / s + 1;
    return L;
}

// Entry (within its line-buffer row) of lane j of fill beat b, and whether the fill keeps it: a plain row
// streams its pitch in beats; a phase-split row streams each phase it reads in whole beats (the even phase's
// beat, then the odd one's); a flat run streams flen entries.
static bool ref_pos(const geom_t& g, uint32_t b, uint32_t j, uint32_t& pos) {
    if (g.flen) {
        pos = b * cfg::FILL_BYTES + j;
        return pos < g.flen;
    }
    if (g.half) {
        const uint32_t phase = g.phases == 2 ? b % 2 : 0, beat = g.phases == 2 ? b / 2 : b;
        const uint32_t idx = beat * cfg::FILL_BYTES + j;
        pos = phase * g.half + idx;
        return idx < g.half;
    }
    pos = b * cfg::FILL_BYTES + j;
    return pos < g.pitch;
}

// One random beat into row `row` of channel ci, into the line buffer and the reference.
static void put(const geom_t& g, uint32_t ci, size_t row, uint32_t b) {
    beat_t bt;
    int val[cfg::FILL_BYTES];
    for (int j = 0; j < cfg::FILL_BYTES; j++) {
        val[j] = int(rnd(512)) - 256;  // the full 9-bit entry: URAM packing must sign-extend it back
        bt.v[j] = act_t(val[j]);
    }
    lb_put_beat(row, g, b, bt);
    for (int j = 0; j < cfg::FILL_BYTES; j++) {
        uint32_t pos;
        bool keep = ref_pos(g, b, uint32_t(j), pos);
#if FQ_HLS_PATH && FQ_LB_URAM
        keep = true;  // URAM: whole 8-entry words (a flat run's last beat fills its region's rounding)
#endif
        if (!keep) continue;
        const size_t e = row + pos;
        // a beat stays inside its channel's region (the next channel's rows are live)
        if (e < size_t(ci) * g.cstride || e >= size_t(ci + 1) * g.cstride) fail("region", long(ci), long(pos), long(e), 0);
        ref[e] = val[j];
    }
}

static void read_check(int lane, uint32_t i0) {
    act_t x[cfg::V];
    lb_get(lane, i0, x);
    for (int v = 0; v < cfg::V; v++) {
        n_checks++;
        if (int(x[v]) != ref[i0 + v]) fail("lb_get lane/entry", lane, long(i0 + v), int(x[v]), ref[i0 + v]);
    }
}

static void run_layer(const layer_t& L, bool corrupt) {
    const geom_t g = geometry(L);
    const size_t used = size_t(L.in_ch) * g.cstride;
    if (used > size_t(cfg::LB_DEPTH)) {
        fail("layer does not fit the line buffer", long(L.in_ch), long(g.cstride), long(used), cfg::LB_DEPTH);
        return;
    }
    // every beat of every row the fill can write, in order, then random rewrites
    const uint32_t slots = g.flen ? 1 : g.ring;
    for (uint32_t ci = 0; ci < L.in_ch; ci++)
        for (uint32_t s = 0; s < slots; s++)
            for (uint32_t b = 0; b < g.bpr; b++) put(g, ci, size_t(ci) * g.cstride + size_t(s) * g.pitch, b);
    const uint32_t n_rand = 2 * L.in_ch * slots * g.bpr;
    for (uint32_t i = 0; i < n_rand; i++) {
        const uint32_t ci = rnd(L.in_ch), s = rnd(slots), b = rnd(g.bpr);
        put(g, ci, size_t(ci) * g.cstride + size_t(s) * g.pitch, b);
    }
    if (corrupt) ref[used / 2] ^= 1;
    // the whole region from every lane, then random offsets anywhere (other layers' leftovers included)
    for (uint32_t i0 = 0; i0 + cfg::V <= used; i0++)
        for (int l = 0; l < cfg::P; l++) read_check(l, i0);
    for (int i = 0; i < 4000; i++) read_check(int(rnd(cfg::P)), rnd(uint32_t(LB_SIZE - cfg::V + 1)));
    // the top of the array, where the last row's over-read of dropped pixels ends (LB_SLACK)
    for (uint32_t i = 0; i < 2u * cfg::LB_BANKS; i++) read_check(int(i % cfg::P), uint32_t(LB_SIZE - cfg::V) - i);
}

int main(int argc, char** argv) {
    const bool corrupt = argc > 1 && !strcmp(argv[1], "corrupt");
    std::vector<layer_t> layers;
    layers.push_back(make_layer(5, 9, 13, 3, 1, 1, false));  // row mode
    layers.push_back(make_layer(3, 9, 17, 3, 2, 1, false));  // phase-split rows, two phases
    layers.push_back(make_layer(4, 8, 9, 1, 2, 0, false));   // phase-split rows, the even phase only
    layers.push_back(make_layer(2, 11, 20, 7, 2, 3, false)); // 7x7 stride 2
    layers.push_back(make_layer(4, 6, 6, 3, 1, 1, true));    // flat map (URAM: one run per channel)
    layers.push_back(make_layer(3, 5, 5, 3, 1, 1, true));    // flat run that ends inside a beat (URAM)
    layers.push_back(make_layer(3, 12, 40, 3, 1, 0, false)); // rows of several beats
    // a layer that fills the line buffer up to its last channel region
    layer_t big = make_layer(1, 12, 30, 3, 1, 1, false);
    big.in_ch = uint32_t(cfg::LB_DEPTH) / geometry(big).cstride;
    layers.push_back(big);
    for (size_t i = 0; i < layers.size(); i++) run_layer(layers[i], corrupt && i == 0);
    if (n_fail) {
        printf("FAILED %ld of %ld checks\n", n_fail, n_checks);
        return 1;
    }
    printf("PASS checks=%ld copies=%d\n", n_checks, LB_COPIES);
    return 0;
}
