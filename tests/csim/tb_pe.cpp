// Testbench of the processing elements (hls_src/fq_pe.h), tests/test_hls_stages.py: the policy of this build
// (EnginePolicy) decodes a lane's weight entries and applies them to a patch of input pixels.
//
// The input file (written by the test from real weight streams, fq_hls.hw.streams) gives, per layer, its
// constants, a patch x[ci][ky][kx][v] of input pixels, and lanes: each a sequence of raw entries (several
// output channels back to back, then lane padding) with what every entry means (ok, no-weight, last,
// ci, ky, kx, sign, exp, comp, w) and the exact sum of weight * x of every output channel and pixel. Checked:
//   decode    every field against the expectation (FQ: the kernel position outright, the channel through the
//             lane's running position; int8: the dense walk, padding lanes included, which the broadcast
//             read relies on), and entries that must be refused (`chk` lines: ok = false);
//   apply     V pixels (apply<V>) and one pixel (apply<1>, the others untouched), accumulators running over
//             a lane's channels as in compute_tile, recombined per channel against the previous packet
//             (recombine) = the exact sums; the C-simulation kernel (sw_acc) gives the same packets. Odd lanes
//             run as DSP lanes (FQ: the whole weight on a multiplier; int8: packed pairs), even ones as LUT
//             lanes (FQ shift PEs; int8 LUT multipliers in builds with lut_lanes).
// Usage: tb_pe FILE. Prints "PASS checks=N" and exits 0; otherwise the first mismatches and exits 1
// (2: malformed input).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "fq_pe.h"
#include "tb_input.h"

using namespace fq;
typedef EnginePolicy Pol;
static const bool FQ = cfg::ENGINE_FQ != 0;
static const bool SPARSE = cfg::ENGINE_SPARSE != 0;  // fq and int8_sparse: positions in the entries
static const char* const ENGINE = FQ ? "fq" : (SPARSE ? "int8_sparse" : "int8");

static void check(const char* field, long long got, long long want) {
    n_checks++;
    if (got != want && ++n_fail <= 10) printf("FAIL %s %s: got %lld, want %lld\n", where, field, got, want);
}

struct expect_t {
    long long raw;
    int ok, nop, last, ci, ky, kx, sign, exp, comp, w;
};

#if !FQ_HLS_PATH
static bool same_packet(const pkt_t& a, const pkt_t& b) {
    for (int v = 0; v < cfg::V; v++)
        if ((long long)a.q[v] != (long long)b.q[v]) return false;
    for (int v = 0; v < PKT_MV; v++)
        if ((long long)a.m[v] != (long long)b.m[v]) return false;
    return true;
}
#endif

static typename Pol::entry_t entry_of(long long raw) {
    return Pol::ENTRY_BYTES == 2 ? typename Pol::entry_t(uint16_t(raw)) : typename Pol::entry_t(int8_t(raw));
}

static void run_lane(const layer_t& L, uint32_t kb, const std::vector<int>& patch, const std::vector<expect_t>& ex,
                     const std::vector<std::vector<long long> >& sums, int li, int ln) {
    const uint32_t n_ch = uint32_t(sums.size()), K = L.kernel;
    lane_pos_t s;
    lane_pos_reset(s);
    typename Pol::acc_v acc, acc1;
    Pol::clear(acc);
    Pol::clear(acc1);
#if !FQ_HLS_PATH
    typename Pol::template sw_acc<cfg::V> sw;
    sw.clear();
#endif
    pkt_t prev, prev1;
    zero_packet(prev);
    zero_packet(prev1);
    uint32_t ch = 0;
    // odd lanes: FQ lanes on DSPs (the whole weight on a multiplier), int8 lanes that multiply on DSPs (packed
    // pairs); even lanes: FQ shift PEs, int8 LUT multipliers where the build has LUT lanes
    const bool dsp = ln % 2 == 1;
    for (size_t e = 0; e < ex.size(); e++) {
        const expect_t& E = ex[e];
        snprintf(where, sizeof(where), "layer %d lane %d entry %zu (raw %lld)", li, ln, e, E.raw);
        dec_t d;
        memset(&d, 0x5a, sizeof(d));  // no field may keep a value from before the call
        kpos_t k;
        const bool ok = Pol::decode(entry_of(E.raw), s, n_ch, kb, L, d, k);
        check("ok", ok, E.ok);
        check("nop", (d.flags & DEC_NOP) != 0, E.nop);
        check("last", (d.flags & DEC_LAST) != 0, E.last);
        const uint32_t ci = uint32_t(k.ci), ky = d.ky, kx = uint32_t(k.kx);
        if (!E.nop || !SPARSE) {  // dense int8 padding keeps walking: the lanes share lane 0's read
            check("ci", ci, E.ci);
            check("ky", ky, E.ky);
            check("kx", kx, E.kx);
        }
        if (!E.nop && FQ) {
            check("sign", d.sign, E.sign);
            check("exp", d.exp, E.exp);
            check("msign", d.msign, E.comp ? L.mu_sign_pos : L.mu_sign_neg);
            check("mshift", d.mshift, E.comp ? L.d_pos : L.d_neg);
        }
        if (!E.nop && !FQ) check("w", d.w, E.w);
        if (!(d.flags & DEC_NOP)) {
            if (ci >= L.in_ch || ky >= K || kx >= K) {
                check("position inside the patch", 0, 1);
                continue;
            }
            act_t x[cfg::V];
            for (int v = 0; v < cfg::V; v++) x[v] = act_t(patch[((ci * K + ky) * K + kx) * cfg::V + v]);
            Pol::template apply<cfg::V>(acc, d, x, dsp);
            Pol::template apply<1>(acc1, d, x, dsp);
#if !FQ_HLS_PATH
            if (dsp) sw.apply_dsp(d, x);
            else sw.apply(d, x);
#endif
        }
        if (!(d.flags & DEC_LAST)) continue;
        if (ch >= n_ch) {
            check("channels ended", ch + 1, n_ch);
            continue;
        }
        snprintf(where, sizeof(where), "layer %d lane %d channel %u (entry %zu)", li, ln, ch, e);
        pkt_t p, p1;
        Pol::emit(acc, p);
        Pol::emit(acc1, p1);
        for (int v = 0; v < cfg::V; v++) check("sum pixel", (long long)Pol::recombine(p, prev, v, L, dsp), sums[ch][v]);
        check("sum apply<1>", (long long)Pol::recombine(p1, prev1, 0, L, dsp), sums[ch][0]);
        for (int v = 1; v < cfg::V; v++) check("apply<1> untouched pixel q", (long long)p1.q[v], 0);
        for (int v = 1; v < PKT_MV; v++) check("apply<1> untouched pixel m", (long long)p1.m[v], 0);
#if !FQ_HLS_PATH
        pkt_t ps;
        sw.emit(ps);
        check("sw_acc packet == apply packet", same_packet(ps, p), 1);
#endif
        prev = p;
        prev1 = p1;
        ch++;
    }
    snprintf(where, sizeof(where), "layer %d lane %d", li, ln);
    check("channels ended", ch, n_ch);
}

int main(int argc, char** argv) {
    if (argc < 2 || !(in = fopen(argv[1], "r"))) {
        printf("usage: tb_pe FILE\n");
        return 2;
    }
    snprintf(where, sizeof(where), "the header");
    char eng[16] = "";
    if (fscanf(in, "engine %15s", eng) != 1 || strcmp(eng, ENGINE) || num() != cfg::V) {
        printf("FAIL input: written for engine '%s', this build is %s with V = %d\n", eng, ENGINE, cfg::V);
        return 2;
    }
    const int n_layers = int(num());
    for (int li = 0; li < n_layers; li++) {
        snprintf(where, sizeof(where), "layer %d", li);
        word("layer");
        layer_t L;
        memset(&L, 0, sizeof(L));
        L.op = OP_CONV;
        L.in_ch = uint32_t(num());
        L.kernel = uint32_t(num());
        const uint32_t kb_want = uint32_t(num());
        L.q_shift = uint32_t(num());
        L.mu_shift_neg = uint32_t(num());
        L.mu_shift_pos = uint32_t(num());
        L.mu_sign_neg = int32_t(num());
        L.mu_sign_pos = int32_t(num());
        // the descriptor's derived constants, as parse_desc forms them
        layer_derive(L);
        const int n_lanes = int(num()), n_chk = int(num());
        const uint32_t kb = kpos_bits(L.kernel);
        check("kpos_bits", kb, kb_want);
        word("patch");
        const size_t n_patch = size_t(num());
        std::vector<int> patch(n_patch);
        if (patch.size() != size_t(L.in_ch) * L.kernel * L.kernel * cfg::V) {
            printf("FAIL input: patch of %zu values for layer %d\n", patch.size(), li);
            return 2;
        }
        for (size_t i = 0; i < patch.size(); i++) patch[i] = int(num());
        for (int ln = 0; ln < n_lanes; ln++) {
            snprintf(where, sizeof(where), "layer %d lane %d", li, ln);
            word("lane");
            const size_t n_ent = size_t(num()), n_ch = size_t(num());
            std::vector<expect_t> ex(n_ent);
            std::vector<std::vector<long long> > sums(n_ch, std::vector<long long>(cfg::V));
            for (size_t e = 0; e < ex.size(); e++) {
                expect_t& E = ex[e];
                E.raw = num();
                int* f[] = {&E.ok, &E.nop, &E.last, &E.ci, &E.ky, &E.kx, &E.sign, &E.exp, &E.comp, &E.w};
                for (int i = 0; i < 10; i++) *f[i] = int(num());
            }
            for (size_t c = 0; c < sums.size(); c++)
                for (int v = 0; v < cfg::V; v++) sums[c][v] = num();
            run_lane(L, kb, patch, ex, sums, li, ln);
        }
        // entries that must be refused (and controls that must not): decoded from a lane at channel ci0
        for (int i = 0; i < n_chk; i++) {
            word("chk");
            const uint32_t ci0 = uint32_t(num());
            const long long raw = num();
            const int want = int(num());
            snprintf(where, sizeof(where), "layer %d check %d (raw %lld at channel %u)", li, i, raw, ci0);
            lane_pos_t s;
            lane_pos_reset(s);
            s.ci = ci0;
            dec_t d;
            kpos_t k;
            check("ok", Pol::decode(entry_of(raw), s, 1, kb, L, d, k), want);
        }
    }
    snprintf(where, sizeof(where), "the end");
    word("end");
    return tb_finish();
}
