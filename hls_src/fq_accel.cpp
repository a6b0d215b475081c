// fq_accel: the HLS top function of the focused-quantization overlay (docs/accel_abi.md, docs/engine.md).
//
// Arguments, in this order, give the s_axilite register map of fq_hls/hw/abi.py (0x10 weights, 0x1c act_in,
// 0x28 act_out, 0x34 desc, 0x40 n_layers, 0x48 act_in2). The driver passes one buffer as act_in, act_in2 and
// act_out: act_in2 is a second read port on it (gmem_in2, its own HP port), so that the line-buffer fill
// takes two AXI beats per cycle (cfg::IN_PORTS).
#include "fq_engine.h"
#include "fq_depths.h"

#ifndef __SYNTHESIS__
#include <stdio.h>
#include <string.h>
namespace fq {
static uint64_t* csim_cycles = 0;  // per-layer cycle counts of the last call (C-simulation only)
static int csim_status = 0;
static char csim_message[512];
static uint32_t csim_layer = 0;  // the layer running (the bounded-stream check reports a deadlock against it)
}  // namespace fq
#endif

void fq_accel(const uint8_t* weights, const uint8_t* act_in, uint8_t* act_out, const uint32_t* desc,
              uint32_t n_layers, const uint8_t* act_in2) {
#pragma HLS INTERFACE m_axi port = weights bundle = gmem_w offset = slave depth = FQ_DEPTH_WEIGHTS max_widen_bitwidth = FQ_AXI_BITS
#pragma HLS INTERFACE m_axi port = desc bundle = gmem_w offset = slave depth = FQ_DEPTH_DESC
#pragma HLS INTERFACE m_axi port = act_in bundle = gmem_in offset = slave depth = FQ_DEPTH_ACT max_widen_bitwidth = FQ_AXI_BITS
#pragma HLS INTERFACE m_axi port = act_out bundle = gmem_out offset = slave depth = FQ_DEPTH_ACT max_widen_bitwidth = FQ_AXI_BITS
#pragma HLS INTERFACE m_axi port = act_in2 bundle = gmem_in2 offset = slave depth = FQ_DEPTH_ACT max_widen_bitwidth = FQ_AXI_BITS
#pragma HLS INTERFACE s_axilite port = weights bundle = control
#pragma HLS INTERFACE s_axilite port = act_in bundle = control
#pragma HLS INTERFACE s_axilite port = act_out bundle = control
#pragma HLS INTERFACE s_axilite port = desc bundle = control
#pragma HLS INTERFACE s_axilite port = n_layers bundle = control
#pragma HLS INTERFACE s_axilite port = act_in2 bundle = control
#pragma HLS INTERFACE s_axilite port = return bundle = control
    FQ_MEMORY_PRAGMAS
#ifndef __SYNTHESIS__
    fq::csim_status = 0;
#endif
layers:
    for (uint32_t i = 0; i < n_layers; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 32
        uint32_t d[fq::cfg::DESC_WORDS];
    read_desc:
        for (int k = 0; k < fq::cfg::DESC_WORDS; k++) {
#pragma HLS PIPELINE II = 1
            d[k] = desc[i * fq::cfg::DESC_WORDS + k];
        }
        uint64_t cyc = 0;
#ifndef __SYNTHESIS__
        fq::csim_layer = i;
#endif
        int st = fq::run_layer(weights, act_in, act_in2, act_out, d, cyc);
#ifndef __SYNTHESIS__
        if (fq::csim_cycles) fq::csim_cycles[i] = cyc;
        if (st != fq::ST_OK) {
            fq::csim_status = int(i) + 1;
            snprintf(fq::csim_message, sizeof(fq::csim_message), "layer %u (descriptor word 0 = %u): status %d",
                     i, d[fq::desc::OP], st);
            return;
        }
#else
        (void)st;  // the hardware skips a layer whose descriptor does not fit the engine
#endif
    }
}

#ifndef __SYNTHESIS__
// C-simulation entry point (ctypes, fq_hls/csim/kernel.py): 0 on success, else 1 + the failing layer index.
extern "C" int fq_accel_csim(const uint8_t* weights, uint8_t* act, const uint32_t* desc, uint32_t n_layers,
                             uint64_t* cycles_per_layer) {
    fq::csim_cycles = cycles_per_layer;
    fq::csim_message[0] = 0;
#ifdef FQ_BOUNDED_STREAMS
    fq::sim::reset();
    try {
        fq_accel(weights, act, act, desc, n_layers, act);
    } catch (const fq::sim::deadlock&) {
        fq::csim_status = int(fq::csim_layer) + 1;
        snprintf(fq::csim_message, sizeof(fq::csim_message), "layer %u: %s: status %d", fq::csim_layer,
                 fq::sim::sched().report.c_str(), int(fq::ST_DEADLOCK));
    }
    if (!fq::csim_status && fq::sim::sched().dead) {  // a stream left non-empty after the last layer
        fq::csim_status = int(n_layers);
        snprintf(fq::csim_message, sizeof(fq::csim_message), "layer %u: %s: status %d", n_layers - 1,
                 fq::sim::sched().report.c_str(), int(fq::ST_DEADLOCK));
    }
#else
    fq_accel(weights, act, act, desc, n_layers, act);
#endif
    fq::csim_cycles = 0;
    return fq::csim_status;
}

// Status code of the failing layer of the last call (see fq_types.h ST_*), and a message.
extern "C" const char* fq_accel_csim_message() { return fq::csim_message; }

#if FQ_HLS_PATH
// The memories the synthesized path declares, one line each: name, physical memories, words, bits per word
// (tests compare this with fq_hls.hw.memories.manifest).
namespace fq {
template <class T>
struct bits_of;
template <int W>
struct bits_of<ap_int<W> > {
    enum { value = W };
};
template <int W>
struct bits_of<ap_uint<W> > {
    enum { value = W };
};
template <>
struct bits_of<uint16_t> {
    enum { value = 16 };
};
template <>
struct bits_of<uint32_t> {
    enum { value = 32 };
};
template <>
struct bits_of<chparam_t> {
    enum { value = 32 + 16 + 16 + 6 + 6 };
};
template <>
struct bits_of<pkt_t> {
    enum { value = cfg::V * bits_of<pktq_t>::value + PKT_MV * bits_of<accm_t>::value };
};
template <>
struct bits_of<beat_t> {
    enum { value = cfg::FILL_BYTES * bits_of<act_t>::value };
};
}  // namespace fq

#define FQ_MEM_LINE(name, count, depth, T) \
    n += snprintf(buf + n, sizeof(buf) - n, "%s %d %d %d\n", name, int(count), int(depth), int(fq::bits_of<T>::value));
extern "C" const char* fq_accel_memory_report() {
    static char buf[4096];
    int n = 0;
#if FQ_LB_URAM
    FQ_MEM_LINE("lbu", fq::LB_COPIES * fq::cfg::LB_UBANKS, fq::cfg::LB_UWORDS, fq::lbword_t)
#else
    FQ_MEM_LINE("lbb", fq::LB_COPIES * fq::cfg::LB_BANKS, fq::cfg::LB_BANK_DEPTH, fq::act_t)
#endif
    FQ_MEM_LINE("wbuf", fq::cfg::P, fq::cfg::MAX_ENTRIES, fq::wslot_t)
    FQ_MEM_LINE("chtab", 1, fq::cfg::P * fq::cfg::MAX_J, uint16_t)
    FQ_MEM_LINE("chcnt", fq::cfg::P, 1, uint16_t)
    FQ_MEM_LINE("chlive", fq::cfg::P, 1, uint16_t)
    FQ_MEM_LINE("lane_len", fq::cfg::P, 1, uint32_t)
    FQ_MEM_LINE("prm", 1, fq::cfg::MAX_OUT_CH, fq::chparam_t)
    FQ_MEM_LINE("pool_acc", fq::POOL_BANKS, sizeof(fq::pool_acc[0]) / sizeof(fq::pool_acc[0][0]), fq::act_t)
    FQ_MEM_LINE("pool_last", 1, fq::cfg::MAX_OUT_CH, fq::act_t)
    FQ_MEM_LINE("s_in", 1, fq::fill_stream_t::DEPTH, fq::beat_t)
    FQ_MEM_LINE("s_in_pool", 1, fq::fill_stream_t::DEPTH, fq::beat_t)
    FQ_MEM_LINE("s_out", fq::cfg::P, fq::pkt_stream_t::DEPTH, fq::pkt_t)
    FQ_MEM_LINE("prev_pkt", fq::cfg::P, 1, fq::pkt_t)
    return buf;
}
#undef FQ_MEM_LINE
#endif

#ifdef FQ_PORT_CHECK
// Port-budget check build: the accesses per bank and pipelined iteration of every call since the last reset.
extern "C" const char* fq_port_check_report(int reset) {
    static std::string r;
    r = fq::ports::report();
    if (reset) fq::ports::reset();
    return r.c_str();
}
#endif
#endif
