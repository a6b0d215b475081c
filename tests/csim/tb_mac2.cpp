// Testbench of the packed int8 multiplier (hls_src/fq_pe.h mac2, the synthesized path): two int8 x int9 products
// on one DSP multiplier against the plain products w * x0 and w * x1. Every weight against every x0 with the
// extreme x1 values, every x1 with the extreme x0 values, and random triples; the packed operand must fit the
// DSP's A port of this build (DSP48E1: 25 bits, DSP48E2: 27).
// Usage: tb_mac2 [BREAK]. BREAK = 1 drops the sign correction (the test of the testbench: must fail).
// Prints "PASS checks=N" and exits 0, else the first mismatches and exits 1.
#include <stdio.h>
#include <stdlib.h>

#include "fq_pe.h"

using namespace fq;

static long long n_checks = 0, n_fail = 0;
static int broken = 0;

static void one(int w, int x0, int x1) {
    prod16_t p0, p1;
    mac2(ap_int<8>(w), act_t(x0), act_t(x1), p0, p1);
    if (broken) {  // without the borrow correction
        const ap_int<PACK_OPND_BITS> xp = (ap_int<PACK_OPND_BITS>(x1) << PACK_SHIFT) + ap_int<PACK_OPND_BITS>(x0);
        const ap_int<PACK_OPND_BITS + 8> p = xp * ap_int<8>(w);
        p1 = prod16_t(p >> PACK_SHIFT);
    }
    const long long xp = (long long)x1 * 65536 + x0;
    n_checks++;
    const bool fits = xp >= -(1LL << (cfg::DSP_A_BITS - 1)) && xp < (1LL << (cfg::DSP_A_BITS - 1)) &&
                      xp >= -(1LL << (PACK_OPND_BITS - 1)) && xp < (1LL << (PACK_OPND_BITS - 1));
    if ((p0.to_int() != w * x0 || p1.to_int() != w * x1 || !fits) && ++n_fail <= 10)
        printf("FAIL w=%d x0=%d x1=%d: got %d %d, want %d %d (operand %lld fits: %d)\n", w, x0, x1, p0.to_int(),
               p1.to_int(), w * x0, w * x1, xp, int(fits));
}

int main(int argc, char** argv) {
    broken = argc > 1 ? atoi(argv[1]) : 0;
    static const int EXT[] = {-128, -127, -1, 0, 1, 127, 128, 254, 255};
    const int n_ext = int(sizeof(EXT) / sizeof(EXT[0]));
    for (int w = -128; w < 128; w++)
        for (int x = -128; x < 256; x++)
            for (int i = 0; i < n_ext; i++) {
                one(w, x, EXT[i]);
                one(w, EXT[i], x);
            }
    unsigned s = 12345;
    for (int i = 0; i < 200000; i++) {
        s = s * 1103515245u + 12345u;
        const int w = int((s >> 8) & 255) - 128;
        s = s * 1103515245u + 12345u;
        const int x0 = int((s >> 8) % 384) - 128;
        s = s * 1103515245u + 12345u;
        const int x1 = int((s >> 8) % 384) - 128;
        one(w, x0, x1);
    }
    if (n_fail) {
        printf("FAILED %lld of %lld checks\n", n_fail, n_checks);
        return 1;
    }
    printf("PASS checks=%lld\n", n_checks);
    return 0;
}
