// Reading fibers from outside: registry snapshots (Runtime::fibers(), weft/metrics.hpp),
// saved-stack backtraces, stack high-water marks. The dump that prints them: dump.cpp.
//
// Walking a fiber that may be resumed concurrently: take its run count (FiberBase::runs_), check
// that it is not running, read its saved context and walk, then read the run count again; if it
// changed, the walk raced with a run and is thrown away. The walk only dereferences addresses
// inside the fiber's stack bounds (stacks are never unmapped), so a racing walk reads stale words,
// never unmapped memory. Those reads are deliberately unsynchronised, hence no_sanitize below.
#include "platform/fcontext_layout.hpp"
#include "sched/scheduler.hpp"
#include "observe/observe.hpp"
#include "introspect/fiber_json.hpp"
#include "introspect/fiber_snapshot.hpp"
#include "introspect/wait_graph.hpp"
#include "observe/json.hpp"
#include "introspect/symbolize.hpp"

#include <weft/blocking.hpp>
#include <weft/dump.hpp>
#include <weft/mutex.hpp>
#include <weft/runtime.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <sstream>
#include <optional>
#include <unordered_map>
#include <utility>

namespace weft {

const char* to_string(FiberStatus s) noexcept {
  switch (s) {
    case FiberStatus::Created: return "created";
    case FiberStatus::Runnable: return "runnable";
    case FiberStatus::Running: return "running";
    case FiberStatus::Suspended: return "suspended";
    case FiberStatus::Finished: return "finished";
  }
  return "?";
}

namespace detail {

// ---------------------------------------------------------------- saved contexts (fcontext)
// The layout (which offsets hold fp and pc) is platform knowledge: platform/fcontext_layout.hpp.
using platform::kCtxFp;
using platform::kCtxPc;
using platform::kCtxSize;

// Walks frame pointers from a saved context on stack [lo, hi). Returns the number of pcs stored.
__attribute__((no_sanitize("address", "thread"))) std::size_t walk_saved_context(
    const void* ctx, const char* lo, const char* hi, const void** pcs, std::size_t max) noexcept {
  std::size_t n = 0;
  const char* c = static_cast<const char*>(ctx);
  if (!c || c < lo || c + kCtxSize > hi || max == 0) return 0;
  pcs[n++] = *reinterpret_cast<const void* const*>(c + kCtxPc);
  const char* fp = *reinterpret_cast<const char* const*>(c + kCtxFp);
  const char* prev = c;
  while (n < max && fp >= prev && fp >= lo && fp + 16 <= hi && (reinterpret_cast<std::uintptr_t>(fp) & 7) == 0) {
    const void* ret = *reinterpret_cast<const void* const*>(fp + 8);
    if (!ret) break;
    pcs[n++] = ret;
    prev = fp + 16;
    fp = *reinterpret_cast<const char* const*>(fp);
  }
  return n;
}

// Deepest use of a stack: the lowest word that is not zero (fresh mmap pages are zero).
__attribute__((no_sanitize("address", "thread"))) std::size_t stack_high_water(const Stack& s) noexcept {
  if (!s.lo || s.size == 0) return 0;
  const auto* p = reinterpret_cast<const std::uint64_t*>(s.lo);
  const std::size_t words = s.size / 8;
  std::size_t i = 0;
  while (i < words && p[i] == 0) ++i;
  return (words - i) * 8;
}

// The fiber's stack_ is written by the worker that runs it: read racily, like the dump's snapshot.
__attribute__((no_sanitize("thread"))) std::size_t stack_use_of(const FiberBase* f) noexcept {
  const Stack st = rec(f)->stack_;
  return stack_high_water(st);
}

namespace {

// "59m59.9s", "12.0 ms", "3h05m": a span of time for people; empty past a year.
std::string fmt_span(std::uint64_t ns) {
  char b[64];
  const double a = static_cast<double>(ns);
  // Truncated, never rounded up: 59m59.97s is "59m59.9s", not "59m60.0s".
  const auto tenths = static_cast<std::uint64_t>(a / 1e8);
  if (a < 1e6) std::snprintf(b, sizeof b, "%.0f us", a / 1e3);
  else if (a < 1e9) std::snprintf(b, sizeof b, "%.1f ms", a / 1e6);
  else if (a < 60e9) std::snprintf(b, sizeof b, "%llu.%llus", static_cast<unsigned long long>(tenths / 10), static_cast<unsigned long long>(tenths % 10));
  else if (a < 3600e9) {
    std::snprintf(b, sizeof b, "%llum%llu.%llus", static_cast<unsigned long long>(tenths / 600),
                  static_cast<unsigned long long>(tenths % 600 / 10), static_cast<unsigned long long>(tenths % 10));
  } else if (a < 86400e9 * 365) {
    const auto minutes = static_cast<std::uint64_t>(a / 60e9);
    std::snprintf(b, sizeof b, "%lluh%02llum", static_cast<unsigned long long>(minutes / 60), static_cast<unsigned long long>(minutes % 60));
  } else {
    return "";
  }
  return b;
}

// "in 59m59.9s", "in 12.0 ms", "overdue 3.0 ms": a deadline relative to now.
std::string fmt_until(std::int64_t ns) {
  const bool overdue = ns < 0;
  const std::uint64_t a = overdue ? static_cast<std::uint64_t>(-(ns + 1)) + 1 : static_cast<std::uint64_t>(ns);
  const std::string span = fmt_span(a);
  if (span.empty()) return overdue ? "overdue by over a year" : "never (no deadline)";
  return (overdue ? "overdue " : "in ") + span;
}
}  // namespace

// "blocking task 12 'fetch' (running on a pool thread for 1.2s)": what a join of a spawn_blocking
// task waits for. Empty if the pool no longer holds that task (it just finished).
std::string describe_blocking(const std::vector<BlockingTaskInfo>& tasks, std::uint64_t id) {
  for (const BlockingTaskInfo& t : tasks) {
    if (t.id != id) continue;
    std::string s = "blocking task " + std::to_string(t.id);
    if (!t.name.empty()) s += " '" + t.name + "'";
    const std::string age = fmt_span(static_cast<std::uint64_t>(t.age.count()));
    s += t.running ? " (running on a pool thread" : " (queued: every pool thread is busy";
    return s + (age.empty() ? ")" : " for " + age + ")");
  }
  return "";
}

namespace {

std::string format_wait(const WaitDesc* d, std::uint64_t arg, std::uint64_t now_mono) {
  if (!d) return "(not recorded)";
  std::string s = d->what;
  char buf[96];
  switch (d->arg) {
    case WaitDesc::None: break;
    case WaitDesc::Deadline:
      s += ", wakes " + fmt_until(static_cast<std::int64_t>(arg - now_mono));
      break;
    case WaitDesc::Fiber: s += " " + std::to_string(arg); break;
    case WaitDesc::Address:
      std::snprintf(buf, sizeof buf, " at 0x%llx", static_cast<unsigned long long>(arg));
      s += buf;
      break;
    case WaitDesc::Fd: s.insert(s.find(' '), " " + std::to_string(arg)); break;  // "fd 7 readable"
    case WaitDesc::Count: s += " " + std::to_string(arg) + " operations"; break;
  }
  return s;
}

int worker_index_of(Scheduler& s, const Worker* w) {
  if (!w) return -1;
  for (auto& x : s.workers()) {
    if (x.get() == w) return static_cast<int>(x->index());
  }
  return -1;
}

// Called under the fiber's registry shard lock: the fiber cannot finish (be freed) meanwhile.
// `*edge`: who can end its wait (fibers_of names them once it has seen every fiber); the Mutex or
// RwLock it names outlives the wait (destroying one with waiters is fatal), and the run count is
// re-checked below before the answer is trusted.
__attribute__((no_sanitize("thread"))) FiberMetrics snapshot(Scheduler& s, FiberBase* f, const FiberQuery& q,
                                                             std::uint64_t now_coarse, std::uint64_t now_mono,
                                                             WaitEdge* edge, std::vector<const void*>* pcs_out) {
  FiberMetrics m;
  m.id = f->id_;
  m.name = rec(f)->name_;
  m.spawn_file = rec(f)->spawn_site_.file_name();
  m.spawn_line = rec(f)->spawn_site_.line();
  m.spawn_function = rec(f)->spawn_site_.function_name();
  m.age_ns = now_coarse > rec(f)->created_ns_ ? now_coarse - rec(f)->created_ns_ : 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const std::uint64_t runs = __atomic_load_n(&rec(f)->runs_, __ATOMIC_ACQUIRE);
    const FiberState st = rec(f)->state_.load(std::memory_order_acquire);
    m.status = static_cast<FiberStatus>(st);
    m.runs = runs;
    m.worker = worker_index_of(s, rec(f)->worker_);
    const WaitDesc* what = rec(f)->wait_what_;
    const std::uint64_t arg = rec(f)->wait_arg_;
    const Stack stack = rec(f)->stack_;
    const void* ctx = rec(f)->ctx_;
    m.timed_runs = rec(f)->timed_runs_;
    m.run_ns = rec(f)->run_ns_;
    m.max_slice_ns = rec(f)->max_slice_ns_;
    m.delay_ns = rec(f)->delay_ns_;
    m.max_delay_ns = rec(f)->max_delay_ns_;
    m.stack_size = stack.size;
    m.wait = st == FiberState::Suspended ? format_wait(what, arg, now_mono) : std::string();
    m.wait_kind = st == FiberState::Suspended && what ? what->what : "";
    *edge = st == FiberState::Suspended ? read_wait_edge(what, arg) : WaitEdge{};
    m.backtrace.clear();
    pcs_out->clear();
    const bool walkable = (st == FiberState::Suspended || st == FiberState::Runnable) && ctx;
    if (q.backtraces && walkable && platform::fcontext_layout_known()) {
      const void* pcs[64];
      const std::size_t n = walk_saved_context(ctx, stack.lo, stack.hi(), pcs, 64);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (__atomic_load_n(&rec(f)->runs_, __ATOMIC_ACQUIRE) != runs) continue;  // it ran meanwhile: retry
      for (std::size_t i = 0; i < n; ++i) {
        // Return addresses point after the call: symbolize the call itself (later, outside the
        // registry lock: the first lookup in a module reads its debug info, which takes a while).
        pcs_out->push_back(i == 0 ? pcs[i] : static_cast<const char*>(pcs[i]) - 1);
      }
    } else if (q.backtraces && walkable) {
      m.backtrace.push_back("(no backtrace: unknown Boost.Context fcontext layout; Boost 1.74 on x86-64 and arm64 is known)");
    }
    if (q.stack_usage) m.stack_high_water = stack_high_water(stack);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (__atomic_load_n(&rec(f)->runs_, __ATOMIC_ACQUIRE) != runs) continue;  // its wait may be over: retry
    break;
  }
  return m;
}

}  // namespace

FiberMetrics describe_fiber(Scheduler& s, FiberBase* f, const FiberQuery& q) {
  WaitEdge edge;
  std::vector<const void*> pcs;
  FiberMetrics m = snapshot(s, f, q, coarse_ns(), mono_ns(), &edge, &pcs);
  // Symbolized here, under the caller's registry lock: deadlock reports describe a few fibers.
  for (const void* pc : pcs) {
    for (auto& frame : symbolize_frames(pc)) m.backtrace.push_back(std::move(frame));
  }
  return m;
}

std::vector<FiberMetrics> fibers_of(Scheduler& s, const FiberQuery& q) {
  std::vector<FiberMetrics> out;
  const std::uint64_t now_coarse = coarse_ns();
  // Sleep deadlines are on weft's clock: virtual in a simulation.
  const std::uint64_t now_mono =
      s.sim() ? static_cast<std::uint64_t>(std::chrono::nanoseconds(s.sim()->now().time_since_epoch()).count())
              : mono_ns();
  std::unordered_map<const void*, std::size_t> index_of;            // fiber record -> its entry in out
  std::unordered_map<const void*, std::vector<std::size_t>> set_of;  // JoinSet -> its children's entries
  std::vector<std::pair<WaitEdge, std::size_t>> edges;               // (edge, waiter's entry)
  std::vector<std::vector<const void*>> pcs;                          // per entry: its frames' addresses
  s.for_each_live([&](FiberBase* f) {
    WaitEdge edge;
    index_of.emplace(f, out.size());
    pcs.emplace_back();
    out.push_back(snapshot(s, f, q, now_coarse, now_mono, &edge, &pcs.back()));
    if (const void* j = joiner_address(f)) set_of[j].push_back(out.size() - 1);
    if (edge.kind != WaitEdge::None) edges.emplace_back(edge, out.size() - 1);
  });
  // Each frame's function and line, outside the registry lock; a frame's inlined calls come
  // first, one entry each. Fibers blocked in the same place share their frames: each address is
  // symbolized once (a 100,000-fiber dump otherwise spends seconds here).
  std::unordered_map<const void*, std::vector<std::string>> symbols;
  for (std::size_t i = 0; i < out.size(); ++i) {
    for (const void* pc : pcs[i]) {
      auto [it, fresh] = symbols.try_emplace(pc);
      if (fresh) it->second = symbolize_frames(pc);
      out[i].backtrace.insert(out[i].backtrace.end(), it->second.begin(), it->second.end());
    }
  }
  std::unordered_map<std::uint64_t, std::size_t> by_id;
  if (!edges.empty()) {
    for (std::size_t i = 0; i < out.size(); ++i) by_id.emplace(out[i].id, i);
  }
  auto label = [&](std::size_t i) {
    const FiberMetrics& h = out[i];
    return "fiber " + std::to_string(h.id) + (h.name.empty() ? "" : " '" + h.name + "'");
  };
  std::optional<std::vector<BlockingTaskInfo>> blocking;  // the pool's tasks, read on first need
  // Compared as addresses only: a holder that is not a live fiber here is never dereferenced.
  for (const auto& [edge, i] : edges) {
    switch (edge.kind) {
      case WaitEdge::None: break;
      case WaitEdge::Lock: {
        if (!edge.holder) {
          out[i].wait += " (free: its waiter is being woken)";
          break;
        }
        const auto it = index_of.find(edge.holder);
        if (it == index_of.end()) {
          out[i].wait += " (held by a plain thread, a fiber of another runtime, or a fiber that ended holding it)";
          break;
        }
        out[i].held_by = out[it->second].id;
        out[i].waits_for.push_back(out[it->second].id);
        out[i].wait += " (held by " + label(it->second) + ")";
        break;
      }
      case WaitEdge::Readers: {
        std::string s;
        std::size_t others = edge.unrecorded;
        for (std::size_t k = 0; k < edge.nreaders; ++k) {
          const auto it = index_of.find(edge.readers[k]);
          if (it == index_of.end()) {
            ++others;  // a plain thread, or a fiber of another runtime
            continue;
          }
          out[i].waits_for.push_back(out[it->second].id);
          s += (s.empty() ? "" : ", ") + label(it->second);
        }
        if (others) s += (s.empty() ? "" : " and ") + std::to_string(others) + (others == 1 ? " other reader" : " other readers");
        out[i].wait += " (held shared by " + s + ")";
        break;
      }
      case WaitEdge::Join: {
        const auto it = by_id.find(edge.target);
        if (it == by_id.end()) {
          if (!blocking) blocking = blocking_tasks();
          const std::string b = describe_blocking(*blocking, edge.target);
          out[i].wait += b.empty() ? " (not a live fiber of this runtime: it just finished, or it belongs to another runtime)"
                                   : ": " + b;
          break;
        }
        out[i].waits_for.push_back(edge.target);
        if (!out[it->second].name.empty()) out[i].wait += " '" + out[it->second].name + "'";
        break;
      }
      case WaitEdge::Set: {
        const auto it = set_of.find(edge.set);
        if (it == set_of.end()) {
          out[i].wait += " (no child left running: its result is being delivered)";
          break;
        }
        std::string s = " (joining any of ";
        for (std::size_t k = 0; k < it->second.size(); ++k) {
          out[i].waits_for.push_back(out[it->second[k]].id);
          if (k < 4) s += (k ? ", " : "") + label(it->second[k]);
        }
        if (it->second.size() > 4) s += ", ... " + std::to_string(it->second.size()) + " fibers in all";
        out[i].wait += s + ")";
        break;
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const FiberMetrics& a, const FiberMetrics& b) { return a.id < b.id; });
  return out;
}

}  // namespace detail

}  // namespace weft
