// m_axi depths for C/RTL co-simulation: the HLS project passes the testbench's sizes as -D flags
// (fq_hls.build.testbench m_axi_depths); these defaults serve builds without them. The top's INTERFACE pragmas
// and the testbench's buffers use the same values.
#ifndef FQ_DEPTHS_H
#define FQ_DEPTHS_H

#ifndef FQ_DEPTH_WEIGHTS
#define FQ_DEPTH_WEIGHTS 65536
#endif
#ifndef FQ_DEPTH_ACT
#define FQ_DEPTH_ACT 65536
#endif
#ifndef FQ_DEPTH_DESC
#define FQ_DEPTH_DESC 4096
#endif

#endif
