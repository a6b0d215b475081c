// Bounded-stream simulation of the engine's DATAFLOW regions (a check that stands in for Vitis co-simulation;
// included by hls_src/fq_stream.h when FQ_BOUNDED_STREAMS is defined, never by Vitis HLS).
//
// fq::stream<T, D> is a FIFO of exactly D entries: write() waits while it is full, read() while it is empty.
// Each FQ_PROCESS of a region runs as a thread; code outside a region is one more process (the caller). When
// every live process waits on a stream the simulation is deadlocked: the run stops, throwing fq::sim::deadlock
// in every process, with a report naming each waiting process, the stream it waits on and why. A region that
// ends with data left in one of its streams, or a stream destroyed non-empty, is reported too (the hardware
// would hand stale entries to the next call).
#ifndef FQ_DATAFLOW_SIM_H
#define FQ_DATAFLOW_SIM_H

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace fq {
namespace sim {

struct deadlock : std::exception {
    const char* what() const noexcept override { return "dataflow deadlock"; }
};

struct proc_t {
    std::string name;
    bool waiting = false;
    std::string why;                // "write to s_out[3] (full, 4 of 4)" while waiting
    std::function<bool()> ready;    // while waiting: whether its stream can now serve it (lock held)
};

struct sched_t {
    std::mutex m;
    std::condition_variable cv;
    int live = 1;     // processes that run or wait (the caller's thread counts as one outside regions)
    int waiting = 0;  // of those, waiting on a stream
    bool dead = false;
    std::string report;
    std::vector<proc_t*> procs;
    proc_t top;
    sched_t() { top.name = "top"; }
};

inline sched_t& sched() {
    static sched_t s;
    return s;
}

inline proc_t*& current() {
    thread_local proc_t* p = nullptr;
    return p;
}

inline proc_t* me() {
    proc_t*& p = current();
    if (!p) p = &sched().top;
    return p;
}

// Called with the lock held whenever a process starts waiting or leaves.
inline void check_deadlock(sched_t& s) {
    if (s.dead || s.live <= 0 || s.waiting < s.live) return;
    // a process whose stream changed since it began to wait has not woken up yet: it is not stuck
    if (s.top.waiting && s.top.ready()) return;
    for (proc_t* p : s.procs)
        if (p->waiting && p->ready()) return;
    s.dead = true;
    std::string r = "deadlock: every process waits on a stream:";
    if (s.top.waiting) r += " [" + s.top.name + ": " + s.top.why + "]";
    for (proc_t* p : s.procs)
        if (p->waiting) r += " [" + p->name + ": " + p->why + "]";
    s.report = r;
    s.cv.notify_all();
}

// Wait (lock held) until ready(); throws deadlock if the simulation deadlocks meanwhile.
template <class Ready>
inline void wait_for(std::unique_lock<std::mutex>& lk, Ready ready, const std::string& why) {
    sched_t& s = sched();
    if (s.dead) throw deadlock();
    if (ready()) return;
    proc_t* p = me();
    p->waiting = true;
    p->why = why;
    p->ready = ready;
    s.waiting++;
    check_deadlock(s);
    while (!ready() && !s.dead) s.cv.wait(lk);
    s.waiting--;
    p->waiting = false;
    if (s.dead) throw deadlock();
}

inline void note_error(const std::string& msg) {
    sched_t& s = sched();
    std::lock_guard<std::mutex> g(s.m);
    if (!s.dead) {
        s.dead = true;
        s.report = msg;
        s.cv.notify_all();
    }
}

// A new run of the engine: forget the last one.
inline void reset() {
    sched_t& s = sched();
    std::lock_guard<std::mutex> g(s.m);
    s.live = 1;
    s.waiting = 0;
    s.dead = false;
    s.report.clear();
    s.procs.clear();
    s.top.waiting = false;
}

// One DATAFLOW region: its processes run as threads, the caller waits for all of them.
class region {
   public:
    explicit region(const char* name) : name_(name) {}
    void add(const char* name, std::function<void()> fn) { procs_.emplace_back(name_ + "/" + name, std::move(fn)); }
    void run() {
        sched_t& s = sched();
        std::vector<proc_t> ps(procs_.size());
        {
            std::lock_guard<std::mutex> g(s.m);
            if (s.dead) throw deadlock();
            s.live += int(procs_.size()) - 1;  // the caller waits for the region, its processes run
            for (size_t i = 0; i < ps.size(); i++) {
                ps[i].name = procs_[i].first;
                s.procs.push_back(&ps[i]);
            }
        }
        std::vector<std::thread> th;
        for (size_t i = 0; i < procs_.size(); i++) {
            th.emplace_back([&, i]() {
                current() = &ps[i];
                try {
                    procs_[i].second();
                } catch (const deadlock&) {
                }
                std::lock_guard<std::mutex> g(s.m);
                s.live--;
                check_deadlock(s);
                s.cv.notify_all();
            });
        }
        for (auto& t : th) t.join();
        std::lock_guard<std::mutex> g(s.m);
        for (size_t i = 0; i < ps.size(); i++)
            for (size_t k = 0; k < s.procs.size(); k++)
                if (s.procs[k] == &ps[i]) {
                    s.procs.erase(s.procs.begin() + k);
                    break;
                }
        s.live++;
        if (s.dead) throw deadlock();
    }

   private:
    std::string name_;
    std::vector<std::pair<std::string, std::function<void()>>> procs_;
};

}  // namespace sim

template <class T, int D>
class stream {
   public:
    static_assert(D >= 1, "a stream's depth is at least 1");
    static const int DEPTH = D;
    stream() : name_("stream") {}
    explicit stream(const char* name) : name_(name) {}
    ~stream() {
        if (!q_.empty() && !sim::sched().dead)
            sim::note_error("stream " + name_ + " destroyed with " + std::to_string(q_.size()) +
                            " entries left (a process wrote more than its consumer read)");
    }
    // arrays of streams: name element i "base[i]"
    void set_name(const char* base, int i) { name_ = std::string(base) + "[" + std::to_string(i) + "]"; }

    void write(const T& v) {
        sim::sched_t& s = sim::sched();
        std::unique_lock<std::mutex> lk(s.m);
        sim::wait_for(lk, [&]() { return int(q_.size()) < D; },
                      "write to " + name_ + " (full, " + std::to_string(D) + " of " + std::to_string(D) + ")");
        q_.push_back(v);
        s.cv.notify_all();
    }
    T read() {
        sim::sched_t& s = sim::sched();
        std::unique_lock<std::mutex> lk(s.m);
        sim::wait_for(lk, [&]() { return !q_.empty(); }, "read from " + name_ + " (empty, depth " + std::to_string(D) + ")");
        T v = q_.front();
        q_.pop_front();
        s.cv.notify_all();
        return v;
    }
    void read(T& v) { v = read(); }
    size_t size_locked() const { return q_.size(); }  // the caller holds the scheduler's lock
    bool empty() {
        std::lock_guard<std::mutex> g(sim::sched().m);
        return q_.empty();
    }
    bool full() {
        std::lock_guard<std::mutex> g(sim::sched().m);
        return int(q_.size()) >= D;
    }

   private:
    stream(const stream&);
    stream& operator=(const stream&);
    std::string name_;
    std::deque<T> q_;
};

// Wait until one of the n streams that still owes data (taken[i] < quota[i]) has some: a process that polls
// them (store_rows' round robin).
namespace sim {
template <class S, class A, class B>
inline void wait_any(S* s, int n, const A* taken, const B* quota, const char* what) {
    sched_t& sc = sched();
    std::unique_lock<std::mutex> lk(sc.m);
    wait_for(lk, [=]() {
        for (int i = 0; i < n; i++)
            if (taken[i] < quota[i] && s[i].size_locked()) return true;
        return false;
    }, std::string("read from any of ") + what + " (those still owing a packet are empty)");
}
}  // namespace sim

}  // namespace fq

#endif
