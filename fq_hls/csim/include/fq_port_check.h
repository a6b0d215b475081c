// Port-budget check of the synthesized path (included by hls_src/fq_ports.h when FQ_PORT_CHECK is defined).
//
// Every pipelined loop of the engine opens an `iteration` per trip (FQ_ITER) and every access to a physical
// memory bank inside it is recorded (FQ_PORT: memory, copy, bank, address, read/write, port kind). When the
// iteration ends, each bank's accesses are compared with its ports; a bank that needs more is a loop that
// cannot run at II = 1 as the source is written. Accesses outside any pipelined iteration are not counted
// (sequential code has no II to keep). fq_port_check_report() (fq_accel.cpp) returns the summary.
#ifndef FQ_PORT_CHECK_H
#define FQ_PORT_CHECK_H

#include <stdint.h>

#include <map>
#include <set>
#include <string>
#include <tuple>

namespace fq {
namespace ports {

enum kind_t {
    ram_s2p = 0,  // simple dual port: one read port + one write port (fq::RAM_S2P)
    ram_t2p = 1,  // true dual port: two ports, each a read or a write (fq::RAM_T2P)
    m_axi = 2,    // an m_axi bundle: the address is the AXI beat; measured, not a violation (fq::AXI_BEAT)
};

struct bank_use {
    std::set<uint64_t> reads;   // distinct addresses read
    std::set<uint64_t> wbeats;  // m_axi: distinct beats written
    int writes = 0;
    kind_t kind = ram_s2p;
};

// m_axi beats one iteration of a loop touched on one bundle: iterations with 1, 2, 3+ beats, per direction
struct axi_use {
    uint64_t read[4] = {0, 0, 0, 0};
    uint64_t write[4] = {0, 0, 0, 0};
};

struct state_t {
    std::map<std::string, uint64_t> iterations;   // loop -> iterations checked
    std::map<std::string, uint64_t> violations;   // "loop: memory ..." -> iterations over budget
    std::map<std::string, std::string> example;   // the same key -> one offending iteration, in words
    std::map<std::string, axi_use> axi;           // "loop: bundle" -> beats per iteration
};

inline state_t& state() {
    static state_t s;
    return s;
}

class iteration;
inline iteration*& current() {
    static iteration* it = nullptr;
    return it;
}

class iteration {
   public:
    explicit iteration(const char* loop) : loop_(loop), outer_(current()) { current() = this; }
    ~iteration() {
        current() = outer_;
        state_t& s = state();
        s.iterations[loop_]++;
        for (auto& kv : use_) {
            const bank_use& u = kv.second;
            if (u.kind == m_axi) {
                axi_use& a = s.axi[loop_ + ": " + std::get<0>(kv.first)];
                const size_t r = u.reads.size(), w = u.wbeats.size();
                if (r) a.read[r < 3 ? r : 3]++;
                if (w) a.write[w < 3 ? w : 3]++;
                continue;
            }
            const int r = int(u.reads.size()), w = u.writes;
            const bool over = u.kind == ram_s2p ? (r > 1 || w > 1) : (r + w > 2);
            if (!over) continue;
            const std::string mem = std::get<0>(kv.first);
            const std::string key = loop_ + ": " + mem + " (" + (u.kind == ram_s2p ? "ram_s2p" : "ram_t2p") + ")";
            if (!s.violations[key]++)
                s.example[key] = "copy " + std::to_string(std::get<1>(kv.first)) + " bank " +
                                 std::to_string(std::get<2>(kv.first)) + ": " + std::to_string(r) + " reads + " +
                                 std::to_string(w) + " writes in one iteration";
        }
    }
    void add(const char* mem, int copy, int bank, uint64_t addr, bool write, kind_t kind) {
        bank_use& u = use_[std::make_tuple(std::string(mem), copy, bank)];
        u.kind = kind;
        if (write) {
            u.writes++;
            u.wbeats.insert(addr);
        } else {
            u.reads.insert(addr);
        }
    }

   private:
    std::string loop_;
    iteration* outer_;
    std::map<std::tuple<std::string, int, int>, bank_use> use_;
};

inline void access(const char* mem, int copy, int bank, uint64_t addr, bool write, int kind) {
    if (current()) current()->add(mem, copy, bank, addr, write, kind_t(kind));
}

inline std::string report() {
    std::string r;
    for (auto& kv : state().iterations) r += "iterations " + kv.first + " " + std::to_string(kv.second) + "\n";
    for (auto& kv : state().axi) {
        const axi_use& a = kv.second;
        r += "axi " + kv.first + " read";
        for (int i = 1; i < 4; i++) r += " " + std::to_string(a.read[i]);
        r += " write";
        for (int i = 1; i < 4; i++) r += " " + std::to_string(a.write[i]);
        r += "\n";
    }
    for (auto& kv : state().violations)
        r += "violation " + kv.first + ": " + std::to_string(kv.second) + " iterations, e.g. " +
             state().example[kv.first] + "\n";
    return r;
}

inline void reset() { state() = state_t(); }

}  // namespace ports
}  // namespace fq

#endif
