// The layer engine: load -> decode -> compute -> store, one descriptor per IR layer (docs/engine.md).
//
// Tiling. A conv layer runs as passes; a pass holds, per lane, a sequence of output channels whose sparse
// weight entries fit the lane's weight buffer (the compiler balances the lanes, fq_hls/hw/streams.py).
// Per pass (the pass loop is a DATAFLOW region: pass p + 1's weights load beside pass p's rows): the pass's
// entries into the weight buffers (P lanes x L entries), then the output rows through a dataflow region: load (input rows into a ring line buffer of k + stride rows x all input channels) ->
// compute (per tile of V output pixels: L cycles, every lane applies its entry to V pixels) -> store
// (recombine, requantize, residual, ReLU clamp, write). Everything is sized by fq_config.h.
//
// Cycle accounting (C-simulation only, FQ_CYCLES): every pipelined loop adds trip count x II + depth;
// a loop moving more bytes than one AXI beat per cycle is charged beats instead. The stages of a dataflow
// region overlap per output row: a row costs the slowest stage. fq_hls/hw/cycles.py mirrors this.
#ifndef FQ_ENGINE_H
#define FQ_ENGINE_H

#include "fq_conv.h"
#include "fq_pool.h"

namespace fq {

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
    layer_derive(L);
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

// Run one layer; returns a status code (ST_OK on success).
static int run_layer(const uint8_t* weights, const uint8_t* act_in, const uint8_t* act_in2, uint8_t* act_out,
                     const uint32_t* d, uint64_t& cycles) {
    layer_t L = parse_desc(d);
    cycles = 0;
    if (L.op == OP_FUSED) return ST_OK;  // done by the layer before (FLAG_POOL)
    cycles = cfg::DEPTH_LAYER;
    int st = L.op == OP_AVGPOOL ? int(ST_OK) : check_shape(L);
    if (st != ST_OK) return st;
    if (L.op == OP_CONV) return conv_layer<EnginePolicy>(weights, act_in, act_in2, act_out, L, cycles);
    if (L.op == OP_MAXPOOL) return maxpool_layer<EnginePolicy>(act_in, act_in2, act_out, L, cycles);
    if (L.op == OP_AVGPOOL) return avgpool_layer(act_in, act_out, L, cycles);
    return ST_BAD_OP;
}

}  // namespace fq

#endif
