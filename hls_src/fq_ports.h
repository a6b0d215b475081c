// Hooks of the port-budget check (fq_hls/csim/include/fq_port_check.h, built with FQ_PORT_CHECK; empty in
// Vitis HLS and in the C-simulation). FQ_ITER(loop) opens one iteration of a pipelined loop; FQ_PORT(memory,
// copy, bank, address, write, kind) records an access to one physical bank during it. At the end of the
// iteration every bank must have served no more accesses than its ports (II = 1): kind RAM_S2P is a simple
// dual-port RAM (1 read + 1 write), RAM_T2P a true dual-port RAM (2 accesses, reads or writes); AXI_BEAT an
// m_axi bundle, whose beats per iteration are measured (Kernel.port_report().axi).
// Reads of the same address in one iteration count once (Vitis HLS shares them).
#ifndef FQ_PORTS_H
#define FQ_PORTS_H

namespace fq {
// AXI_BEAT: an access to an m_axi bundle at beat `address`; the check measures how many beats one iteration
// touches per bundle (one a cycle is what a pipelined loop gets) instead of flagging it
enum { RAM_S2P = 0, RAM_T2P = 1, AXI_BEAT = 2 };
}

#if defined(FQ_PORT_CHECK) && !defined(__SYNTHESIS__)
#include "fq_port_check.h"
#define FQ_ITER(loop) ::fq::ports::iteration fq_iter_(loop);
#define FQ_PORT(mem, copy, bank, addr, write, kind) ::fq::ports::access(mem, copy, bank, addr, write, kind);
#else
#define FQ_ITER(loop)
#define FQ_PORT(mem, copy, bank, addr, write, kind) do {} while (0);
#endif

#endif
