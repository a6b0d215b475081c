// Testbench of the max-pool stage (hls_src/fq_pool.h: maxpool_layer, through load_rows and the line buffer),
// tests/test_hls_stages.py: small maps (3x3 stride 2 with padding, 2x2 stride 2, 3x3 stride 1, a map of
// several tiles) against the window maximum of the input pixels computed here; padding never wins. With a
// small line buffer (HardwareConfig.lb_words) the channels run in groups. Everything in the activation
// memory outside the output map must be left as it was.
//
// Usage: tb_pool unsigned|signed [corrupt]. `signed`: int8 maps, one channel all negative (windows whose
// maximum is below zero). `corrupt` changes one expected output: the run must fail. Prints
// "PASS checks=N grouped=G" (G: cases that ran in more than one channel group) and exits 0; otherwise the
// first mismatches and exits 1.
#include <stdio.h>
#include <string.h>

#include <vector>

#include "fq_pool.h"

using namespace fq;

static long n_checks = 0, n_fail = 0;
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return uint32_t(rng >> 16) % n;
}

static void check(int ci, const char* what, long a, long b, long got, long want) {
    n_checks++;
    if (got != want && ++n_fail <= 10)
        printf("FAIL case %d %s (%ld, %ld): got %ld, want %ld\n", ci, what, a, b, got, want);
}

struct pool_case {
    uint32_t in_ch, in_h, in_w, k, s, p;
};

static int run_case(int idx, const pool_case& c, bool sgn, bool corrupt) {
    layer_t L;
    memset(&L, 0, sizeof(L));
    L.op = OP_MAXPOOL;
    L.flags = sgn ? uint32_t(FLAG_IN_SIGNED) : 0u;
    L.in_ch = L.out_ch = c.in_ch;
    L.in_h = c.in_h;
    L.in_w = c.in_w;
    L.kernel = c.k;
    L.stride = c.s;
    L.pad = c.p;
    L.out_h = (c.in_h + 2 * c.p - c.k) / c.s + 1;
    L.out_w = (c.in_w + 2 * c.p - c.k) / c.s + 1;
    const size_t in_bytes = size_t(c.in_ch) * c.in_h * c.in_w, out_bytes = size_t(c.in_ch) * L.out_h * L.out_w;
    L.in_off = 16;
    L.out_off = uint32_t((L.in_off + in_bytes + 32 + 63) / 64 * 64);
    std::vector<uint8_t> mem(L.out_off + out_bytes + 64);
    for (size_t i = 0; i < mem.size(); i++) mem[i] = uint8_t(rnd(256));
    if (sgn)  // channel 1 all negative: its maxima are below zero
        for (size_t i = 0; i < size_t(c.in_h) * c.in_w; i++) mem[L.in_off + c.in_h * c.in_w + i] = uint8_t(-1 - int(rnd(128)));
    const std::vector<uint8_t> before = mem;
    uint64_t cycles = 0;
    const int st = maxpool_layer<EnginePolicy>(mem.data(), mem.data(), mem.data(), L, cycles);
    check(idx, "status", 0, 0, st, ST_OK);
    if (st != ST_OK) return 0;
    for (uint32_t ch = 0; ch < c.in_ch; ch++)
        for (uint32_t y = 0; y < L.out_h; y++)
            for (uint32_t x = 0; x < L.out_w; x++) {
                int m = -1000;
                for (uint32_t ky = 0; ky < c.k; ky++)
                    for (uint32_t kx = 0; kx < c.k; kx++) {
                        const int iy = int(y * c.s + ky) - int(c.p), ix = int(x * c.s + kx) - int(c.p);
                        if (iy < 0 || iy >= int(c.in_h) || ix < 0 || ix >= int(c.in_w)) continue;
                        const uint8_t b = before[L.in_off + (size_t(ch) * c.in_h + iy) * c.in_w + ix];
                        const int v = sgn ? int(int8_t(b)) : int(b);
                        if (v > m) m = v;
                    }
                int want = m & 0xff;
                if (corrupt && ch == 0 && y == 0 && x == 0) want ^= 1;
                const size_t o = L.out_off + (size_t(ch) * L.out_h + y) * L.out_w + x;
                check(idx, sgn ? "int8 max at channel, pixel" : "max at channel, pixel", long(ch),
                      long(y * L.out_w + x), sgn ? long(int8_t(mem[o])) : long(mem[o]), sgn ? long(int8_t(want)) : want);
                mem[o] = before[o];  // compared: the byte check below covers the rest
            }
    size_t changed = 0;
    for (size_t i = 0; i < mem.size(); i++) changed += mem[i] != before[i];
    check(idx, "bytes written outside the output map", 0, 0, long(changed), 0);
    const uint32_t per_group = uint32_t(cfg::LB_DEPTH) / geometry(L).cstride;
    return per_group < c.in_ch ? 1 : 0;
}

int main(int argc, char** argv) {
    const bool sgn = argc > 1 && !strcmp(argv[1], "signed");
    const bool corrupt = argc > 2 && !strcmp(argv[2], "corrupt");
    const pool_case cases[] = {
        {7, 9, 9, 3, 2, 1},    // ResNet's 3x3 stride-2 pool, padded
        {5, 8, 10, 2, 2, 0},   // 2x2 stride 2
        {3, 6, 7, 3, 1, 1},    // stride 1
        {4, 16, 15, 3, 2, 1},  // several tiles and rows
    };
    int grouped = 0;
    for (int i = 0; i < int(sizeof(cases) / sizeof(cases[0])); i++) grouped += run_case(i, cases[i], sgn, corrupt);
    if (n_fail) {
        printf("FAILED %ld of %ld checks\n", n_fail, n_checks);
        return 1;
    }
    printf("PASS checks=%ld grouped=%d\n", n_checks, grouped);
    return 0;
}
