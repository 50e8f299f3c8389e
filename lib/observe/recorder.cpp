// The trace recorder: per-thread ring buffers of scheduling events, exported as Chrome Trace Event
// JSON (one track per thread, fiber slices, flow arrows for spawns and wake-ups).
//
// Rings are never freed while the process runs (a thread may still hold its ring pointer when a
// new recording starts): trace_start resets them instead. Each ring has its own spin lock, taken
// by its thread for every append (uncontended) and by the exporter while it copies.
#include "observe/json.hpp"
#include "observe/observe.hpp"

#include <weft/detail/spin_lock.hpp>
#include <weft/error.hpp>
#include <weft/trace.hpp>

#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <unordered_map>
#include <vector>

namespace weft::detail {

std::atomic<unsigned> g_observe{[] {
  const char* t = std::getenv("WEFT_FIBER_TIMING");
  return (t && *t && *t != '0') ? kObserveTiming : 0u;
}()};

namespace {

struct Event {
  std::uint64_t ts;
  std::uint64_t fiber;
  std::uint64_t arg;
  const char* text;
  TraceEv ev;
};

struct Ring {
  SpinLock lock;
  std::uint64_t generation = 0;
  std::vector<Event> ev;   // capacity fixed per recording
  std::size_t next = 0;    // total appended this recording (ring index = next % cap)
  std::string thread_name;
  std::vector<std::pair<std::uint64_t, std::string>> names;
};

struct Recorder {
  std::mutex mu;
  std::vector<std::unique_ptr<Ring>> rings;
  std::atomic<std::uint64_t> generation{1};
  std::size_t capacity = 0;
  bool timing_was_on = false;
};

Recorder& recorder() {
  static Recorder* r = new Recorder;  // never destroyed: threads may record during exit
  return *r;
}

thread_local Ring* tls_ring = nullptr;

// The calling thread's ring, reset for the current recording.
__attribute__((noinline)) Ring* ring_for_thread() {
  Recorder& r = recorder();
  const std::uint64_t gen = r.generation.load(std::memory_order_acquire);
  Ring* ring = tls_ring;
  if (!ring) {
    std::lock_guard lk(r.mu);
    r.rings.push_back(std::make_unique<Ring>());
    ring = r.rings.back().get();
    char name[32] = {};
    if (pthread_getname_np(pthread_self(), name, sizeof name) != 0) name[0] = 0;
    ring->thread_name = name;
    tls_ring = ring;
  }
  if (ring->generation != gen) {
    std::size_t cap;
    {
      std::lock_guard lk(r.mu);
      cap = r.capacity;
    }
    std::lock_guard lk(ring->lock);
    ring->generation = gen;
    ring->ev.clear();
    ring->ev.resize(cap ? cap : 1);
    ring->next = 0;
    ring->names.clear();
  }
  return ring;
}

}  // namespace

void trace_emit(TraceEv ev, std::uint64_t fiber, std::uint64_t arg, const char* text, std::uint64_t ts) noexcept {
  if (!(observe_flags() & kObserveTrace)) return;  // stopped (workers see the switch a little late)
  if (ts == 0) ts = mono_ns();
  Ring* ring = tls_ring;
  if (!ring || ring->generation != recorder().generation.load(std::memory_order_relaxed)) {
    try {
      ring = ring_for_thread();
    } catch (...) {
      return;  // out of memory: drop the event
    }
  }
  std::lock_guard lk(ring->lock);
  ring->ev[ring->next % ring->ev.size()] = Event{ts, fiber, arg, text, ev};
  ++ring->next;
}

void trace_name(std::uint64_t fiber, const std::string& name) noexcept {
  Ring* ring = tls_ring;
  try {
    if (!ring || ring->generation != recorder().generation.load(std::memory_order_relaxed)) ring = ring_for_thread();
    std::lock_guard lk(ring->lock);
    ring->names.emplace_back(fiber, name);
  } catch (...) {
  }
}

}  // namespace weft::detail

namespace weft {

using namespace weft::detail;

void set_fiber_timing(bool on) noexcept {
  if (on) g_observe.fetch_or(kObserveTiming, std::memory_order_relaxed);
  else g_observe.fetch_and(~kObserveTiming, std::memory_order_relaxed);
}
bool fiber_timing() noexcept { return (g_observe.load(std::memory_order_relaxed) & kObserveTiming) != 0; }

void trace_start(std::size_t events_per_thread) {
  if (events_per_thread < 16) {
    throw Error("weft::trace_start: events_per_thread " + std::to_string(events_per_thread) +
                " is too small; use at least 16 (the default keeps 131072 per thread)");
  }
  Recorder& r = recorder();
  {
    std::lock_guard lk(r.mu);
    r.capacity = events_per_thread;
    r.generation.fetch_add(1, std::memory_order_acq_rel);
  }
  g_observe.fetch_or(kObserveTrace, std::memory_order_seq_cst);
}

void trace_stop() { g_observe.fetch_and(~kObserveTrace, std::memory_order_seq_cst); }

bool tracing() noexcept { return (g_observe.load(std::memory_order_relaxed) & kObserveTrace) != 0; }

namespace {

using detail::json_string;

struct Copied {
  unsigned tid;
  std::string thread_name;
  std::vector<Event> ev;  // in time order
};

const char* stop_reason(std::uint64_t a) {
  switch (a) {
    case 0: return "yield";
    case 1: return "park";
    case 2: return "finish";
  }
  return "?";
}

}  // namespace

// How flows are written so that viewers draw them (each rule is what an importer requires):
// - Perfetto (trace_processor's JSON importer): a flow start "s" binds to the slice open on its
//   track at its timestamp, a flow end "f" with "bp":"e" to the slice open at its timestamp;
//   events are taken in timestamp order, ties in file order. So every flow event lies at a slice's
//   start and is written after every slice ("X" events come first in the file).
// - Chrome's trace engine (DevTools, @paulirish/trace_engine): a flow event binds to the slice of
//   the same category, pid, tid and timestamp; start and end are grouped by category, name and id.
//   So flow events carry category "fiber" and the exact timestamp of the slice they bind to.
// A flow starts at the waker's slice: the fiber slice that encloses the spawn/wake-up on the
// waker's track, or, when no fiber ran there (a timer, an fd, a plain thread, the block_on
// caller), a 1 ns "waker" slice written for it (category "fiber", args without "fiber"). It ends
// at the woken fiber's first slice that starts no earlier.
void trace_write_json(std::ostream& os) {
  Recorder& r = recorder();
  const std::uint64_t gen = r.generation.load(std::memory_order_acquire);
  std::vector<Copied> tracks;
  std::unordered_map<std::uint64_t, std::string> names;
  {
    std::lock_guard lk(r.mu);
    for (auto& up : r.rings) {
      Ring& ring = *up;
      std::lock_guard rl(ring.lock);
      if (ring.generation != gen || ring.next == 0) continue;
      Copied c;
      c.tid = static_cast<unsigned>(tracks.size() + 1);
      c.thread_name = ring.thread_name.empty() ? "thread" : ring.thread_name;
      const std::size_t cap = ring.ev.size();
      const std::size_t n = std::min(ring.next, cap);
      for (std::size_t i = ring.next - n; i < ring.next; ++i) c.ev.push_back(ring.ev[i % cap]);
      for (auto& [id, nm] : ring.names) names[id] = nm;
      tracks.push_back(std::move(c));
    }
  }
  // Tracks in name order (worker 0, 1, ... together), numbered from 1.
  std::stable_sort(tracks.begin(), tracks.end(), [](const Copied& a, const Copied& b) { return a.thread_name < b.thread_name; });
  for (std::size_t i = 0; i < tracks.size(); ++i) tracks[i].tid = static_cast<unsigned>(i + 1);
  for (auto& t : tracks) {
    std::stable_sort(t.ev.begin(), t.ev.end(), [](const Event& a, const Event& b) { return a.ts < b.ts; });
  }
  std::uint64_t t0 = UINT64_MAX;
  for (auto& t : tracks) {
    if (!t.ev.empty()) t0 = std::min(t0, t.ev.front().ts);
  }
  if (t0 == UINT64_MAX) t0 = 0;
  auto us = [&](std::uint64_t ts) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", static_cast<double>(ts - t0) / 1000.0);
    return std::string(b);
  };
  auto dur_us = [&](std::uint64_t from, std::uint64_t to) {  // at least 1 ns: a slice has an inside
    return us(t0 + std::max<std::uint64_t>(to > from ? to - from : 0, 1));
  };
  auto fiber_name = [&](std::uint64_t id) {
    auto it = names.find(id);
    return it != names.end() ? it->second + " #" + std::to_string(id) : "fiber " + std::to_string(id);
  };

  // Pass 1: each track's fiber slices (a RunStart and its RunStop), in time order.
  struct Slice {
    std::uint64_t ts, end;
    const Event* stop;
  };
  std::vector<std::vector<Slice>> slices(tracks.size());
  struct Start {
    std::uint64_t ts;
    unsigned tid;
  };
  std::unordered_map<std::uint64_t, std::vector<Start>> starts;  // fiber -> its slices' starts
  for (std::size_t k = 0; k < tracks.size(); ++k) {
    const Event* open = nullptr;
    for (const Event& e : tracks[k].ev) {
      if (e.ev == TraceEv::RunStart) open = &e;
      if (e.ev == TraceEv::RunStop) {
        if (open && open->fiber == e.fiber) {  // else its start was overwritten
          slices[k].push_back(Slice{open->ts, std::max(e.ts, open->ts + 1), &e});
          starts[e.fiber].push_back(Start{open->ts, tracks[k].tid});
        }
        open = nullptr;
      }
    }
  }
  for (auto& [id, v] : starts) {
    std::sort(v.begin(), v.end(), [](const Start& a, const Start& b) { return a.ts < b.ts; });
  }
  auto next_start = [&](std::uint64_t fiber, std::uint64_t ts) -> const Start* {
    auto it = starts.find(fiber);
    if (it == starts.end()) return nullptr;
    auto& v = it->second;
    auto pos = std::lower_bound(v.begin(), v.end(), ts, [](const Start& s, std::uint64_t t) { return s.ts < t; });
    return pos == v.end() ? nullptr : &*pos;
  };
  // The fiber slice of track k that contains ts, if any.
  auto enclosing = [&](std::size_t k, std::uint64_t ts) -> const Slice* {
    auto& v = slices[k];
    auto pos = std::upper_bound(v.begin(), v.end(), ts, [](std::uint64_t t, const Slice& s) { return t < s.ts; });
    if (pos == v.begin()) return nullptr;
    --pos;
    return ts < pos->end ? &*pos : nullptr;
  };

  // Pass 2: the flows, each from its waker's slice (or a waker slice made for it) to the woken slice.
  struct Flow {
    const char* what;
    unsigned from_tid;
    std::uint64_t from_ts;
    unsigned to_tid;
    std::uint64_t to_ts;
  };
  std::vector<Flow> flows;
  struct WakerSlice {
    unsigned tid;
    std::uint64_t ts;
    bool worker;
  };
  std::vector<WakerSlice> waker_slices;
  for (std::size_t k = 0; k < tracks.size(); ++k) {
    const Copied& t = tracks[k];
    for (const Event& e : t.ev) {
      if (e.ev != TraceEv::Spawn && e.ev != TraceEv::Wake) continue;
      const Start* to = next_start(e.fiber, e.ts);
      if (!to) continue;  // the woken fiber did not run (to completion of a slice) while recording
      std::uint64_t from_ts = e.ts;
      if (const Slice* s = enclosing(k, e.ts)) {
        from_ts = s->ts;
      } else if (waker_slices.empty() || waker_slices.back().tid != t.tid || waker_slices.back().ts != e.ts) {
        waker_slices.push_back(WakerSlice{t.tid, e.ts, t.thread_name.rfind("weft-w", 0) == 0});
      }
      flows.push_back(Flow{e.ev == TraceEv::Spawn ? "spawn" : "wake", t.tid, from_ts, to->tid, to->ts});
    }
  }

  bool first = true;
  auto begin = [&]() -> std::ostream& {
    if (!first) os << ",\n";
    first = false;
    return os;
  };
  os << "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"weft\"},\"traceEvents\":[\n";
  begin() << R"({"ph":"M","pid":1,"tid":0,"name":"process_name","args":{"name":"weft"}})";
  // Slices first (see above), then instants, then flows.
  for (std::size_t k = 0; k < tracks.size(); ++k) {
    const Copied& t = tracks[k];
    begin() << R"({"ph":"M","pid":1,"tid":)" << t.tid << R"(,"name":"thread_name","args":{"name":)";
    json_string(os, t.thread_name);
    os << "}}";
    begin() << R"({"ph":"M","pid":1,"tid":)" << t.tid << R"(,"name":"thread_sort_index","args":{"sort_index":)"
            << t.tid << "}}";
    for (const Slice& s : slices[k]) {
      const Event& e = *s.stop;
      begin() << R"({"ph":"X","cat":"fiber","pid":1,"tid":)" << t.tid << R"(,"ts":)" << us(s.ts) << R"(,"dur":)"
              << dur_us(s.ts, s.end) << R"(,"name":)";
      json_string(os, fiber_name(e.fiber));
      os << R"(,"args":{"fiber":)" << e.fiber << R"(,"end":")" << stop_reason(e.arg) << '"';
      if (e.text) {
        os << ",\"waits on\":";
        json_string(os, e.text);
      }
      os << "}}";
    }
    const Event* parked = nullptr;
    for (const Event& e : t.ev) {
      if (e.ev == TraceEv::Park) parked = &e;
      if (e.ev == TraceEv::Unpark) {
        if (parked) {
          begin() << R"({"ph":"X","cat":"idle","pid":1,"tid":)" << t.tid << R"(,"ts":)" << us(parked->ts)
                  << R"(,"dur":)" << dur_us(parked->ts, e.ts) << R"(,"name":"parked"})";
        }
        parked = nullptr;
      }
    }
  }
  for (const WakerSlice& w : waker_slices) {
    begin() << R"({"ph":"X","cat":"fiber","pid":1,"tid":)" << w.tid << R"(,"ts":)" << us(w.ts) << R"(,"dur":)"
            << dur_us(w.ts, w.ts) << R"(,"name":)" << (w.worker ? R"("event loop")" : R"("thread")")
            << R"(,"args":{"waker":)"
            << (w.worker ? R"("a timer, fd or wake-up handled by this worker outside any fiber")"
                         : R"("a thread that is not running a fiber")")
            << "}}";
  }
  for (const Copied& t : tracks) {
    for (const Event& e : t.ev) {
      switch (e.ev) {
        case TraceEv::Spawn:
        case TraceEv::Wake: {
          const bool spawn = e.ev == TraceEv::Spawn;
          const char* what = spawn ? "spawn" : "wake";
          begin() << R"({"ph":"i","s":"t","cat":")" << what << R"(","pid":1,"tid":)" << t.tid << R"(,"ts":)"
                  << us(e.ts) << R"(,"name":)";
          json_string(os, std::string(what) + " " + fiber_name(e.fiber));
          os << R"(,"args":{"fiber":)" << e.fiber << (spawn ? R"(,"parent":)" : R"(,"waker":)") << e.arg << "}}";
          break;
        }
        case TraceEv::Steal:
          begin() << R"({"ph":"i","s":"t","cat":"steal","pid":1,"tid":)" << t.tid << R"(,"ts":)" << us(e.ts)
                  << R"(,"name":"steal","args":{"victim":)" << e.fiber << R"(,"fibers":)" << e.arg << "}}";
          break;
        case TraceEv::Cancel:
          begin() << R"({"ph":"i","s":"t","cat":"cancel","pid":1,"tid":)" << t.tid << R"(,"ts":)" << us(e.ts)
                  << R"(,"name":)";
          json_string(os, "cancel " + fiber_name(e.fiber));
          os << R"(,"args":{"fiber":)" << e.fiber << R"(,"reason":)" << e.arg << "}}";
          break;
        default: break;
      }
    }
  }
  std::uint64_t flow_id = 0;
  for (const Flow& f : flows) {
    ++flow_id;
    begin() << R"({"ph":"s","cat":"fiber","name":")" << f.what << R"(","id":)" << flow_id << R"(,"pid":1,"tid":)"
            << f.from_tid << R"(,"ts":)" << us(f.from_ts) << "}";
    begin() << R"({"ph":"f","bp":"e","cat":"fiber","name":")" << f.what << R"(","id":)" << flow_id
            << R"(,"pid":1,"tid":)" << f.to_tid << R"(,"ts":)" << us(f.to_ts) << "}";
  }
  os << "\n]}\n";
}

void trace_write_json(const std::string& path) {
  std::ofstream f(path);
  if (!f) throw Error("weft::trace_write_json: cannot open '" + path + "' for writing");
  trace_write_json(f);
  f.flush();
  if (!f) throw Error("weft::trace_write_json: writing '" + path + "' failed");
}

namespace detail {

namespace {
std::mutex g_env_mu;
const void* g_env_owner = nullptr;
std::string g_env_path;
}  // namespace

// WEFT_TRACE=file.json: the first runtime created starts recording; its shutdown writes the file.
void trace_env_attach(const void* runtime) {
  const char* p = std::getenv("WEFT_TRACE");
  if (!p || !*p) return;
  std::lock_guard lk(g_env_mu);
  if (g_env_owner || tracing()) return;
  g_env_owner = runtime;
  g_env_path = p;
  trace_start();
}

void trace_env_detach(const void* runtime) noexcept {
  std::lock_guard lk(g_env_mu);
  if (g_env_owner != runtime) return;
  g_env_owner = nullptr;
  trace_stop();
  try {
    trace_write_json(g_env_path);
    std::fprintf(stderr, "weft: trace written to %s (WEFT_TRACE)\n", g_env_path.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft: %s\n", e.what());
  }
}

}  // namespace detail
}  // namespace weft
