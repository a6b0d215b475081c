// Streams with their depth in the type, and DATAFLOW processes written so that three builds agree:
//
//   Vitis HLS (__SYNTHESIS__)       fq::stream<T, D> is hls::stream<T, D> (a FIFO of depth D); FQ_PROCESS(name, call)
//                                   is the call itself, inside a function with #pragma HLS DATAFLOW.
//   fast C-simulation               unbounded hls::stream, processes called in order (a producer runs to its end
//                                   before its consumer starts: fine for a correct schedule, blind to deadlocks).
//   bounded check (FQ_BOUNDED_STREAMS, fq_hls/csim/include/fq_dataflow_sim.h)
//                                   every stream a FIFO of its declared depth, every process of a region a thread;
//                                   when every live process waits on a stream the run stops with a report naming
//                                   the processes and the streams (the deadlock Vitis co-simulation would hang on).
//
// Every stream the engine declares goes through here, so its depth is written once, next to its reason.
#ifndef FQ_STREAM_H
#define FQ_STREAM_H

#include "hls_stream.h"

#if defined(FQ_BOUNDED_STREAMS) && !defined(__SYNTHESIS__)
#include "fq_dataflow_sim.h"
#define FQ_DATAFLOW_BEGIN(name) ::fq::sim::region fq_region_(name);
#define FQ_PROCESS(name, ...) fq_region_.add(name, [&]() { __VA_ARGS__; });
#define FQ_DATAFLOW_END() fq_region_.run();
#define FQ_WAIT_ANY(streams, n, taken, quota) ::fq::sim::wait_any(streams, n, taken, quota, #streams);
#else
#define FQ_DATAFLOW_BEGIN(name)
#define FQ_PROCESS(name, ...) __VA_ARGS__;
#define FQ_DATAFLOW_END()
// A process that polls several streams (store_rows) waits here, in the bounded check only, until a stream i
// with taken[i] < quota[i] has data; the hardware polls every cycle.
#define FQ_WAIT_ANY(streams, n, taken, quota)
namespace fq {
#ifdef __SYNTHESIS__
template <class T, int D>
using stream = hls::stream<T, D>;
#else
template <class T, int D>
class stream : public hls::stream<T> {
   public:
    static_assert(D >= 1, "a stream's depth is at least 1");
    static const int DEPTH = D;
    stream() {}
    explicit stream(const char* name) : hls::stream<T>(name) {}
    void set_name(const char*, int) {}
};
#endif
}  // namespace fq
#endif

#endif
