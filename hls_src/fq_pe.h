// Processing-element policies of the one engine template (docs/engine.md, docs/weight_stream.md).
//
//   FqPolicy   : sparse stream of 16-bit entries (relative index + code), shift PEs. Each lane keeps, per
//                pixel, a q-accumulator q += +-(x << exp) and ONE mean accumulator m += mu_sign[c] (x << d_c)
//                with d_c = mu_shift[c] - m_shift, m_shift = min(mu_shift) (per-layer constants). Since the
//                means are signed powers of two, sum_c mu_c S_c = (sum of mu_sign[c] (x << d_c)) << m_shift
//                exactly; the store stage recombines once per output: acc = (q << q_shift) + (m << m_shift).
//   Int8Policy : dense stream of int8 weights, int8 multiply-accumulate; two pixels of a lane share one DSP
//                multiplier (mac2: the weight times (x1 << 16) + x0) unless INT8_PACK is 0.
//   Int8SparsePolicy : the FQ engine's sparse stream and per-lane reads with Int8Policy's MACs (int8_sparse).
//   Lanes below DSP_LANES multiply on DSPs: FQ lanes run the q-path shift as x * +-2^exp instead of a LUT
//   shifter; int8 lanes from DSP_LANES on multiply in LUTs.
#ifndef FQ_PE_H
#define FQ_PE_H

#include <string.h>

#include "fq_types.h"

namespace fq {

// Bits of the kernel row and of the kernel column in an FQ entry's position field (fq_hls/hw/streams.py
// kpos_bits): bits of k - 1, k <= 8.
static inline uint32_t kpos_bits(uint32_t k) { return k <= 1 ? 0u : (k <= 2 ? 1u : (k <= 4 ? 2u : 3u)); }

// The position a lane's decoder keeps between entries (one per lane; reset where a channel ends).
struct lane_pos_t {
    uint32_t ci;  // input channel
    uint32_t ky, kx;  // int8 policy: the dense position's kernel row and column (FQ: in the entry)
    uint32_t j;  // int8 policy: the lane's channel number in the pass (padding lanes emit nothing)
};

static inline void lane_pos_reset(lane_pos_t& s) {
    s.ci = 0;
    s.ky = 0;
    s.kx = 0;
    s.j = 0;
}

#if !FQ_HLS_PATH
// Software kernels of the C-simulation (same arithmetic as apply()). A lane's NV accumulators are GCC vector
// values, so that g++ keeps them in registers across the entry loop: as an array they went through memory,
// a store-to-load round trip per entry (2.5x slower int8 C-simulation). NV is rounded up to a power of two
// for the vector width; the extra elements read zeros and are never emitted.
template <int N>
struct pow2_up {
    enum { value = 2 * pow2_up<(N + 1) / 2>::value };
};
template <>
struct pow2_up<1> {
    enum { value = 1 };
};
// (g++ ignores a vector_size that depends on a template parameter: one specialization per width)
template <int W>
struct swv_types;
#define FQ_SWV_TYPES(W)                                                \
    template <>                                                        \
    struct swv_types<W> {                                              \
        typedef int32_t i32 __attribute__((vector_size(4 * W)));       \
        typedef uint32_t u32 __attribute__((vector_size(4 * W)));      \
        typedef int16_t i16 __attribute__((vector_size(2 * W)));       \
    };
FQ_SWV_TYPES(2)
FQ_SWV_TYPES(4)
FQ_SWV_TYPES(8)
FQ_SWV_TYPES(16)
FQ_SWV_TYPES(32)
FQ_SWV_TYPES(64)
#undef FQ_SWV_TYPES
template <int NV>
struct swv {
    enum { W = NV < 2 ? 2 : pow2_up<NV>::value };  // a one-element vector type would be a plain scalar
    typedef typename swv_types<W>::i32 i32;
    typedef typename swv_types<W>::u32 u32;
    typedef typename swv_types<W>::i16 i16;
    static inline i16 load(const int16_t* x) {
        i16 v = {};
        memcpy(&v, x, sizeof(int16_t) * NV);
        return v;
    }
    template <class T>
    static inline void store(const i32& a, T* out) {
        for (int v = 0; v < cfg::V; v++) out[v] = v < NV ? T(a[v]) : T(0);
    }
};
#endif

// The store stage's "previous packet" of a lane at the start of a tile (its accumulators start at 0).
static inline void zero_packet(pkt_t& p) {
zero_v:
    for (int v = 0; v < cfg::V; v++) {
#pragma HLS UNROLL
        p.q[v] = 0;
    }
zero_m:
    for (int v = 0; v < PKT_MV; v++) {
#pragma HLS UNROLL
        p.m[v] = 0;
    }
}

// The position part of a sparse entry (FqPolicy, Int8SparsePolicy; docs/weight_stream.md): bit 15 `last`, bits
// 14..8 the input-channel step, the kernel row and the kernel column (kb bits each). Adders and bit selects
// only. An entry without a weight (`nop`: escapes, padding) reads nothing: a harmless address. Returns false
// where a weight points outside the layer.
template <class entry_t>
static inline bool sparse_position(entry_t raw, bool nop, uint32_t kb, const layer_t& L, lane_pos_t& s, dec_t& d,
                                   kpos_t& k) {
    const uint32_t field = uint32_t(raw >> 8) & 0x7f, kmask = (1u << kb) - 1;
    s.ci += field >> (2 * kb);
    k.ci = s.ci;
    d.ky = (field >> kb) & kmask;
    k.kx = field & kmask;
    bool ok = true;
    if (nop) {
        d.flags |= DEC_NOP;
        k.ci = 0;
        d.ky = 0;
        k.kx = 0;
    } else if (s.ci >= L.in_ch || d.ky >= L.kernel || k.kx >= L.kernel) {
        ok = false;
    }
    if (raw >> 15) s.ci = 0;
    return ok;
}

#if FQ_HLS_PATH
// Two int8 x int9 products on one DSP multiplier: pixels x0 and x1 of a lane share its weight w. The operand
// (x1 << 16) + x0 has 25 bits (the A port of a DSP48E1 takes 25, a DSP48E2's 27); the product is
// w x1 2^16 + w x0. Its low 16 bits are w x0 exactly (|w x0| <= 128 * 255 < 2^15); a negative w x0 borrowed
// one from the upper field, which bit 15 gives back.
typedef ap_int<16> prod16_t;
static const int PACK_SHIFT = 16, PACK_OPND_BITS = 25;

static inline void mac2(ap_int<8> w, act_t x0, act_t x1, prod16_t& p0, prod16_t& p1) {
    static_assert(PACK_OPND_BITS <= cfg::DSP_A_BITS, "packed operand wider than the DSP's A port");
    const ap_int<PACK_OPND_BITS> xp = (ap_int<PACK_OPND_BITS>(x1) << PACK_SHIFT) + ap_int<PACK_OPND_BITS>(x0);
    const ap_int<PACK_OPND_BITS + 8> p = xp * w;
#pragma HLS BIND_OP variable = p op = mul impl = dsp
    p0 = prod16_t(p(PACK_SHIFT - 1, 0));
    p1 = prod16_t((p >> PACK_SHIFT) + ap_int<2>(p[PACK_SHIFT - 1] ? 1 : 0));
}
#endif

struct FqPolicy {
    static const int ENTRY_BYTES = 2;
    static const int POOL_LANES = cfg::P;  // every lane has its own line-buffer reader
    static const bool BROADCAST_READ = false;

    struct acc_v {
        accq_t q[cfg::V];
        accm_t m[cfg::V];
    };

    static void clear(acc_v& a) {
    clear_v:
        for (int v = 0; v < cfg::V; v++) {
#pragma HLS UNROLL
            a.q[v] = 0;
            a.m[v] = 0;
        }
    }

    typedef ap_uint<16> entry_t;

    // Decode one entry of a lane (docs/weight_stream.md): the position field is the input-channel step, the
    // kernel row and the kernel column (kb bits each); the code is component, sign and exponent. Adders and bit
    // selects only. Returns false when the entry points outside the layer (a weight, not an escape) or uses an
    // exponent beyond the PE's shifter (EXP_BITS).
    static bool decode(entry_t raw, lane_pos_t& s, uint32_t /*ch_count*/, uint32_t kb, const layer_t& L, dec_t& d,
                       kpos_t& k) {
        const uint32_t code = uint32_t(raw) & 0xff, sbits = (code >> 5) & 3;
        const bool comp = (code >> 7) & 1;  // 0 = negative component, 1 = positive component
        d.flags = (raw >> 15) ? DEC_LAST : 0;
        d.exp = code & 0x1f;
        d.sign = sbits == 1 ? 1 : (sbits == 3 ? -1 : 0);
        d.w = 0;
        d.msign = int8_t(comp ? L.mu_sign_pos : L.mu_sign_neg);
        d.mshift = uint8_t(comp ? L.d_pos : L.d_neg);
        bool ok = d.exp < (1u << cfg::EXP_BITS);
        // the whole weight for the DSP lanes (fq_types.h layer_derive): in range for every lane's entries
        const uint32_t ev = d.exp + L.v_eq, mv = uint32_t(d.mshift) + L.v_em;
        if (cfg::DSP_LANES > 0 && (ev > V_EXP_MAX || mv > V_EXP_MAX)) ok = false;
        d.v = (d.sign == 0 ? 0 : (d.sign > 0 ? 1 : -1) * int32_t(1u << (ev & 31))) +
              (d.msign == 0 ? 0 : (d.msign > 0 ? 1 : -1) * int32_t(1u << (mv & 31)));
        return sparse_position(raw, sbits == 2, kb, L, s, d, k) && ok;
    }

    // Apply one decoded weight to the first NV of the V output pixels x (the V consecutive line-buffer entries
    // the tile reads, at stride 2 too: such rows are stored phase-split, fq_engine.h geom_t). `dsp`: the lane is
    // one of the first DSP_LANES, which multiplies x by the whole weight d.v on a DSP (one accumulator, no
    // shifters; the store scales its sums by 2^v_b: recombine).
    template <int NV>
    static void apply(acc_v& a, const dec_t& d, const act_t x[cfg::V], bool dsp = false) {
        if (cfg::DSP_LANES > 0 && dsp) {
#if FQ_HLS_PATH
            const ap_int<18> w = d.v;  // |v| <= 2^15 + 2^15 (V_EXP_MAX)
        apply_dsp:
            for (int v = 0; v < NV; v++) {
#pragma HLS UNROLL
                const accq_t t = accq_t(x[v] * w);
#pragma HLS BIND_OP variable = t op = mul impl = dsp
                a.q[v] += t;
            }
#else
            for (int v = 0; v < NV; v++) a.q[v] += accq_t(x[v]) * accq_t(d.v);
#endif
            return;
        }
    apply_v:
        for (int v = 0; v < NV; v++) {
#pragma HLS UNROLL
            act_t xv = x[v];
#if FQ_HLS_PATH
            accq_t t = accq_t(xv) << ap_uint<cfg::EXP_BITS>(d.exp);
            if (d.sign > 0) a.q[v] += t;
            else if (d.sign < 0) a.q[v] -= t;
            accm_t u = cfg::MU_DELTA_BITS ? accm_t(accm_t(xv) << d.mshift) : accm_t(xv);
            if (d.msign < 0) a.m[v] -= u;
            else a.m[v] += u;
#else
            a.q[v] += accq_t(d.sign) * (accq_t(xv) * (accq_t(1) << d.exp));
            a.m[v] += accm_t(d.msign < 0 ? -1 : 1) * (accm_t(xv) * (accm_t(1) << d.mshift));
#endif
        }
    }

#if !FQ_HLS_PATH
    template <int NV>
    struct sw_acc {
        typedef swv<NV> S;
        typename S::i32 q, m;
        void clear() { q = m = typename S::i32{}; }
        void apply(const dec_t& d, const act_t* x) {
            const typename S::u32 xv = __builtin_convertvector(S::load(x), typename S::u32);  // sign-extended bits
            const int32_t nz = d.sign != 0 ? -1 : 0, neg = d.sign < 0 ? -1 : 0, mneg = d.msign < 0 ? -1 : 0;
            const typename S::i32 t = (typename S::i32)(xv << uint32_t(d.exp)) & nz;  // x << exp, or 0 (sign 0)
            q += (t ^ neg) - neg;                                                   // conditional negate
            const typename S::i32 u = (typename S::i32)(xv << uint32_t(d.mshift));
            m += (u ^ mneg) - mneg;
        }
        // a DSP lane: the whole weight, one accumulator (m stays 0)
        void apply_dsp(const dec_t& d, const act_t* x) {
            q += __builtin_convertvector(S::load(x), typename S::i32) * d.v;
        }
        void emit(pkt_t& p) const {
            S::store(q, p.q);
            if (PKT_MV == cfg::V) {
                S::store(m, p.m);
            } else {
                p.m[0] = 0;
            }
        }
    };
#endif

    // the lane's V accumulator pairs into the packet for the store stage (the mean sums where packets carry them)
    static void emit(const acc_v& a, pkt_t& p) {
    emit_v:
        for (int v = 0; v < cfg::V; v++) {
#pragma HLS UNROLL
            p.q[v] = a.q[v];
        }
    emit_m:
        for (int v = 0; v < PKT_MV; v++) {
#pragma HLS UNROLL
            p.m[v] = PKT_MV == cfg::V ? a.m[v] : accm_t(0);
        }
    }

    // Pixel v of one output in the store stage (one unit per store pixel): the difference of the lane's
    // running sums (modulo the accumulator widths: exact, every output's own sums fit them), recombined.
    // Shift layers (mu_sign 0, 0) have no means: the mean accumulator is ignored.
    // A DSP lane's packet holds the whole sum in units of 2^v_b (apply).
    static wide_t recombine(const pkt_t& p, const pkt_t& prev, int v, const layer_t& L, bool dsp = false) {
        const accq_t q = accq_t(p.q[v]) - accq_t(prev.q[v]);
        const int mv = PKT_MV == cfg::V ? v : 0;  // (all lanes on DSPs: no mean sums, and no shift lanes)
        const accm_t m = accm_t(p.m[mv]) - accm_t(prev.m[mv]);
#if FQ_HLS_PATH
        if (cfg::DSP_LANES > 0 && dsp) return wide_t(q) << L.v_b;
        wide_t t = wide_t(q) << L.q_shift;  // shifters, not multipliers (ap_int: defined for negative values)
        if (L.mu_sign_pos != 0 || L.mu_sign_neg != 0) t += wide_t(m) << L.m_shift;
#else
        if (cfg::DSP_LANES > 0 && dsp) return wide_t(q) * (wide_t(1) << L.v_b);
        wide_t t = wide_t(q) * (wide_t(1) << L.q_shift);
        if (L.mu_sign_pos != 0 || L.mu_sign_neg != 0) t += wide_t(m) * (wide_t(1) << L.m_shift);
#endif
        return t;
    }
};

struct Int8Policy {
    static const int ENTRY_BYTES = 1;
    static const int POOL_LANES = 1;  // lanes in lockstep behind one broadcast line-buffer reader
    static const bool BROADCAST_READ = true;

    struct acc_v {
        acc_t a[cfg::V];
    };

    static void clear(acc_v& a) {
    clear_v:
        for (int v = 0; v < cfg::V; v++) {
#pragma HLS UNROLL
            a.a[v] = 0;
        }
    }

    typedef ap_int<8> entry_t;

    // Dense: the lane's entries walk (ci, ky, kx) in order with counters (no divider); lanes with fewer channels
    // than the pass's longest lane are padded with zeros that emit no output.
    static bool decode(entry_t raw, lane_pos_t& s, uint32_t ch_count, uint32_t /*kb*/, const layer_t& L, dec_t& d,
                       kpos_t& k) {
        k.ci = s.ci;
        d.ky = s.ky;
        k.kx = s.kx;
        d.w = int8_t(raw);
        d.v = 0;
        d.sign = 0;
        d.exp = 0;
        d.msign = 0;
        d.mshift = 0;
        const bool live = s.j < ch_count;
        d.flags = live ? 0 : DEC_NOP;
        if (++s.kx == L.kernel) {
            s.kx = 0;
            if (++s.ky == L.kernel) {
                s.ky = 0;
                if (++s.ci == L.in_ch) {
                    s.ci = 0;
                    if (live) d.flags |= DEC_LAST;
                    s.j++;
                }
            }
        }
        return true;
    }

    template <int NV>
    static void apply(acc_v& a, const dec_t& d, const act_t x[cfg::V], bool dsp = true) {
#if FQ_HLS_PATH
        if (cfg::DSP_LANES < cfg::P && !dsp) {  // a LUT lane: one fabric multiplier per pixel
        apply_lut:
            for (int v = 0; v < NV; v++) {
#pragma HLS UNROLL
                const ap_int<17> t = ap_int<8>(d.w) * x[v];
#pragma HLS BIND_OP variable = t op = mul impl = fabric
                a.a[v] += t;
            }
            return;
        }
        if (cfg::INT8_PACK) {
        apply_pair:
            for (int v = 0; v + 1 < NV; v += 2) {
#pragma HLS UNROLL
                prod16_t p0, p1;
                mac2(ap_int<8>(d.w), x[v], x[v + 1], p0, p1);
                a.a[v] += p0;
                a.a[v + 1] += p1;
            }
            if (NV % 2) a.a[NV - 1] += acc_t(d.w) * acc_t(x[NV - 1]);
            return;
        }
#endif
    apply_v:
        for (int v = 0; v < NV; v++) {
#pragma HLS UNROLL
            a.a[v] += acc_t(d.w) * acc_t(x[v]);
        }
    }

#if !FQ_HLS_PATH
    template <int NV>
    struct sw_acc {
        typedef swv<NV> S;
        typename S::i32 a;
        void clear() { a = typename S::i32{}; }
        // |w x| <= 128 * 255 fits 16 bits: a 16-bit multiply, widened for the sum
        void apply(const dec_t& d, const act_t* x) {
            a += __builtin_convertvector(S::load(x) * int16_t(d.w), typename S::i32);
        }
        void apply_dsp(const dec_t& d, const act_t* x) { apply(d, x); }
        void emit(pkt_t& p) const {
            S::store(a, p.q);
            p.m[0] = 0;
        }
    };
#endif

    static void emit(const acc_v& a, pkt_t& p) {
    emit_v:
        for (int v = 0; v < cfg::V; v++) {
#pragma HLS UNROLL
            p.q[v] = a.a[v];
        }
        p.m[0] = 0;
    }

    // the difference of the lane's running sums (modulo ACC_BITS: exact, see FqPolicy::recombine)
    static wide_t recombine(const pkt_t& p, const pkt_t& prev, int v, const layer_t& /*L*/, bool /*dsp*/ = true) {
        return wide_t(acc_t(p.q[v] - prev.q[v]));
    }
};

// int8 MACs on the sparse stream: FqPolicy's entry layout (position field, escapes, per-lane reads) with the int8
// weight in the low byte (0: no weight), Int8Policy's accumulators and (packed) multipliers.
struct Int8SparsePolicy : Int8Policy {
    static const int ENTRY_BYTES = 2;
    static const int POOL_LANES = cfg::P;
    static const bool BROADCAST_READ = false;

    typedef ap_uint<16> entry_t;

    static bool decode(entry_t raw, lane_pos_t& s, uint32_t /*ch_count*/, uint32_t kb, const layer_t& L, dec_t& d,
                       kpos_t& k) {
        d.flags = (raw >> 15) ? DEC_LAST : 0;
        d.w = int8_t(uint8_t(uint32_t(raw) & 0xff));
        d.v = 0;
        d.sign = 0;
        d.exp = 0;
        d.msign = 0;
        d.mshift = 0;
        return sparse_position(raw, d.w == 0, kb, L, s, d, k);
    }
};

// The policy of this build: fq_config.h says which engine the hardware configuration asks for.
template <bool FQ, bool SPARSE>
struct select_policy {
    typedef FqPolicy type;
};
template <>
struct select_policy<false, false> {
    typedef Int8Policy type;
};
template <>
struct select_policy<false, true> {
    typedef Int8SparsePolicy type;
};
typedef select_policy<cfg::ENGINE_FQ != 0, cfg::ENGINE_SPARSE != 0>::type EnginePolicy;

}  // namespace fq

#endif
