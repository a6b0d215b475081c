// The two deadlocks the bounded-stream check must catch, in the engine's own idioms (fq::stream, FQ_PROCESS),
// reduced to their schedule (tests/test_hls_checks.py builds this against fq_hls/csim/include).
//   sequential: a producer fills a stream outside any DATAFLOW region before its consumer runs (the old
//               maxpool_layer: load_rows then the pool loop, one after the other).
//   lanes:      a producer writes P lane FIFOs in parallel while the consumer drains them lane after lane, and
//               a lane ends more outputs than its FIFO holds (the old s_out at depth 4).
//   fixed:      the same lanes drained round robin (store_rows now): completes.
#include <stdio.h>
#include <string.h>

#include "fq_stream.h"

static const int P = 4, PER_LANE = 6;

static void produce(fq::stream<int, 2>& s, int n) {
    for (int i = 0; i < n; i++) s.write(i);
}
static void consume(fq::stream<int, 2>& s, int n, int& sum) {
    for (int i = 0; i < n; i++) sum += s.read();
}

static void lanes_writer(fq::stream<int, 4> s[P]) {
    for (int i = 0; i < PER_LANE; i++)
        for (int l = 0; l < P; l++) s[l].write(l * 100 + i);  // every lane in the same "cycle"
}
static void lane_after_lane(fq::stream<int, 4> s[P], int& sum) {
    for (int l = 0; l < P; l++)
        for (int i = 0; i < PER_LANE; i++) sum += s[l].read();
}
static void round_robin(fq::stream<int, 4> s[P], int& sum) {
    int taken[P] = {0, 0, 0, 0}, quota[P] = {PER_LANE, PER_LANE, PER_LANE, PER_LANE}, n = 0, rr = 0;
    while (n < P * PER_LANE) {
        FQ_WAIT_ANY(s, P, taken, quota)
        for (int i = 0; i < P; i++) {
            const int c = (rr + i) % P;
            if (taken[c] < quota[c] && !s[c].empty()) {
                sum += s[c].read();
                taken[c]++;
                n++;
                rr = c + 1;
                break;
            }
        }
    }
}

static int run(const char* which) {
    int sum = 0;
    if (!strcmp(which, "sequential")) {
        fq::stream<int, 2> s("s_seq");
        produce(s, 8);  // outside a region: nobody reads while it writes
        consume(s, 8, sum);
    } else if (!strcmp(which, "sequential_fixed")) {
        fq::stream<int, 2> s("s_seq");
        FQ_DATAFLOW_BEGIN("pool_rows")
        FQ_PROCESS("load", produce(s, 8))
        FQ_PROCESS("pool", consume(s, 8, sum))
        FQ_DATAFLOW_END()
    } else {
        fq::stream<int, 4> s[P];
        for (int l = 0; l < P; l++) s[l].set_name("s_out", l);
        FQ_DATAFLOW_BEGIN("conv_rows")
        FQ_PROCESS("compute", lanes_writer(s))
        if (!strcmp(which, "lanes")) {
            FQ_PROCESS("store", lane_after_lane(s, sum))
        } else {
            FQ_PROCESS("store", round_robin(s, sum))
        }
        FQ_DATAFLOW_END()
    }
    return sum;
}

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    try {
        int sum = run(argv[1]);
        printf("completed %d\n", sum);
    } catch (const fq::sim::deadlock&) {
        printf("%s\n", fq::sim::sched().report.c_str());
        return 1;
    }
    return 0;
}
