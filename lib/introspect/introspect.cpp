// Reading fibers from outside: registry snapshots, saved-stack backtraces, stack high-water
// marks, and the dump built from them.
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

namespace {
std::string fmt_ns(std::uint64_t ns) {
  char b[32];
  if (ns >= 1'000'000'000) std::snprintf(b, sizeof b, "%.2f s", static_cast<double>(ns) / 1e9);
  else if (ns >= 1'000'000) std::snprintf(b, sizeof b, "%.2f ms", static_cast<double>(ns) / 1e6);
  else std::snprintf(b, sizeof b, "%.1f us", static_cast<double>(ns) / 1e3);
  return b;
}
}  // namespace

// Readable names for the standard templates that fill backtraces.
std::string shorten_names(std::string s) {
  static const std::pair<const char*, const char*> kAliases[] = {
      {"std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string"},
      {"std::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string"},
      {"std::basic_string_view<char, std::char_traits<char> >", "std::string_view"},
      {"std::chrono::duration<long, std::ratio<1l, 1000000000l> >", "std::chrono::nanoseconds"},
      {"std::chrono::duration<long, std::ratio<1l, 1000000l> >", "std::chrono::microseconds"},
      {"std::chrono::duration<long, std::ratio<1l, 1000l> >", "std::chrono::milliseconds"},
      {"std::chrono::duration<long, std::ratio<1l, 1l> >", "std::chrono::seconds"},
      {"std::chrono::duration<long, std::ratio<1, 1000000000> >", "std::chrono::nanoseconds"},
      {"std::chrono::duration<long, std::ratio<1, 1000000> >", "std::chrono::microseconds"},
      {"std::chrono::duration<long, std::ratio<1, 1000> >", "std::chrono::milliseconds"},
      {"std::chrono::duration<long, std::ratio<1, 1> >", "std::chrono::seconds"},
      {"std::chrono::time_point<std::chrono::_V2::steady_clock, std::chrono::nanoseconds >", "steady_clock::time_point"},
      {"std::chrono::time_point<std::chrono::_V2::system_clock, std::chrono::nanoseconds >", "system_clock::time_point"},
      {"std::chrono::_V2::", "std::chrono::"},
      {"std::__cxx11::", "std::"},
  };
  for (const auto& [from, to] : kAliases) {
    const std::size_t n = std::strlen(from);
    for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + std::strlen(to))) {
      s.replace(at, n, to);
    }
  }
  // Still long: elide template arguments nested two deep ("f<a<...>>").
  if (s.size() <= 160) return s;
  std::string r;
  int depth = 0;
  for (char c : s) {
    if (c == '<') {
      if (++depth == 2) r += "<...";
      if (depth >= 2) continue;
    } else if (c == '>') {
      if (depth-- >= 2) {
        if (depth == 1) r += '>';
        continue;
      }
    } else if (depth >= 2) {
      continue;
    }
    r += c;
  }
  return r;
}

namespace {
bool selected(const FiberMetrics& f, const DumpOptions& o) {
  if (!o.name.empty() && f.name.find(o.name) == std::string::npos) return false;
  if (o.status && f.status != *o.status) return false;
  if (!o.wait.empty() && f.wait.find(o.wait) == std::string::npos) return false;
  return true;
}

// Fibers that print the same: state, kind of wait, spawn site, stack.
std::string group_key(const FiberMetrics& f) {
  std::string k = std::to_string(static_cast<int>(f.status)) + '|' + f.wait_kind + '|' + f.spawn_file + ':' +
                  std::to_string(f.spawn_line) + '|';
  for (const auto& b : f.backtrace) k += b + '|';
  return k;
}

void print_fiber(std::ostream& os, const FiberMetrics& f, const DumpOptions& o, std::size_t like) {
  os << "  ";
  if (like > 1) os << like << " fibers like this one: ";
  os << "fiber " << f.id;
  if (!f.name.empty()) os << " '" << f.name << "'";
  os << " [" << to_string(f.status) << "]";
  if (!f.wait.empty()) os << " waiting on: " << f.wait;
  os << "\n    spawned at " << f.spawn_file << ":" << f.spawn_line << " ("
     << (o.full_names ? f.spawn_function : shorten_names(f.spawn_function)) << "), age " << fmt_ns(f.age_ns)
     << ", worker " << f.worker << ", runs " << f.runs;
  if (f.timed_runs) {
    os << ", run " << fmt_ns(f.run_ns) << ", longest slice " << fmt_ns(f.max_slice_ns) << ", mean delay "
       << fmt_ns(f.delay_ns / f.timed_runs);
  }
  os << "\n    stack: " << f.stack_high_water << " of " << f.stack_size << " bytes used (high-water mark)\n";
  for (std::size_t i = 0; i < f.backtrace.size(); ++i) {
    os << "      #" << i << " " << (o.full_names ? f.backtrace[i] : shorten_names(f.backtrace[i])) << "\n";
  }
}
}  // namespace

namespace {
// Fills stack_high_water for fs[i], i in `which`: only for fibers a dump writes, since measuring
// costs a read of each untouched stack page (seconds, and page faults, for 100,000 fibers).
void measure_stacks(Scheduler& s, std::vector<FiberMetrics>& fs, const std::vector<std::size_t>& which) {
  std::unordered_map<std::uint64_t, std::size_t> index_of;  // fiber id -> index in fs
  for (std::size_t i : which) index_of.emplace(fs[i].id, i);
  s.for_each_live([&](FiberBase* f) {
    auto it = index_of.find(f->id_);
    if (it != index_of.end()) fs[it->second].stack_high_water = stack_use_of(f);
  });
}

// The process-wide spawn_blocking pool, after the fibers: one line per task it holds. Nothing when
// it holds none (most dumps), so a dump stays about fibers unless blocking work is in flight.
void dump_blocking_pool(std::ostream& os) {
  const std::vector<BlockingTaskInfo> tasks = blocking_tasks();
  if (tasks.empty()) return;
  const BlockingPoolStats st = blocking_pool_stats();
  os << "blocking pool: " << st.threads << " threads (" << st.idle_threads << " idle, at most " << st.max_threads
     << "), " << st.queue_depth << " tasks queued, " << st.completed << " completed\n";
  for (const BlockingTaskInfo& t : tasks) {
    os << "  " << describe_blocking(tasks, t.id) << ", spawned at " << t.spawn_file << ":" << t.spawn_line << "\n";
  }
}
}  // namespace

// One runtime's object of dump_json. Stack use is measured for the fibers written only.
void dump_runtime_json(Scheduler& s, std::ostream& os, const DumpOptions& o) {
  const RuntimeMetrics m = metrics_of(s);
  std::vector<FiberMetrics> fs = fibers_of(s, FiberQuery{.backtraces = true, .stack_usage = false});
  std::vector<std::size_t> chosen;
  std::size_t shown = 0;
  for (std::size_t i = 0; i < fs.size(); ++i) {
    if (!selected(fs[i], o)) continue;
    ++shown;
    if (!o.limit || chosen.size() < o.limit) chosen.push_back(i);
  }
  measure_stacks(s, fs, chosen);
  os << "{\"runtime\":" << s.runtime_id_ << ",\"workers\":" << m.workers.size() << ",\"live_fibers\":" << fs.size()
     << ",\"spawned_total\":" << m.spawned_total << ",\"shown\":" << shown << ",\"fibers\":[";
  for (std::size_t k = 0; k < chosen.size(); ++k) {
    if (k) os << ",";
    write_fiber_json(os, fs[chosen[k]]);
  }
  os << "],\"deadlocks\":";
  if (o.deadlocks) write_deadlocks_json(os, s);
  else os << "[]";
  os << "}";
}

void dump_runtime(Scheduler& s, std::ostream& os, const DumpOptions& o) {
  if (o.deadlocks) {
    std::vector<Deadlock> dl;
    find_deadlocks_in(s, DeadlockQuery{.backtraces = false}, dl);
    for (auto& d : dl) {
      // Members are listed with their stacks below; the summary names the cycle. (Edited in place:
      // a copy would instantiate std::vector<FiberMetrics>'s copy in the library, which the
      // export map would then export.)
      for (auto& f : d.fibers) f.spawn_file.clear();
      os << d.to_string();
    }
  }
  RuntimeMetrics m = metrics_of(s);
  // Stack use is measured below for the fibers printed only (measure_stacks says why).
  std::vector<FiberMetrics> fs = fibers_of(s, FiberQuery{.backtraces = true, .stack_usage = false});
  os << "weft runtime " << s.runtime_id_ << ": " << m.workers.size() << " workers, " << fs.size()
     << " live fibers, " << m.spawned_total << " spawned, " << m.live_stacks << " stacks in use\n";
  for (auto& w : m.workers) {
    char busy[16];
    std::snprintf(busy, sizeof busy, "%.1f",
                  w.uptime_ns ? 100.0 * static_cast<double>(w.busy_ns) / static_cast<double>(w.uptime_ns) : 0.0);
    os << "  worker " << w.index << ": ran " << w.fibers_run << " fibers, busy " << busy << " %, steals " << w.steals << " (" << w.stolen << " fibers), parks " << w.parks << ", inject pulls "
       << w.inject_pulls << ", queue " << w.queue_depth << ", watchers " << w.reactor_watchers << "\n";
  }
  // Groups in order of their first (lowest-id) fiber.
  std::vector<std::pair<std::size_t, std::size_t>> groups;  // (first fiber's index, count)
  std::unordered_map<std::string, std::size_t> group_of;
  std::size_t shown = 0;
  for (std::size_t i = 0; i < fs.size(); ++i) {
    if (!selected(fs[i], o)) continue;
    ++shown;
    if (!o.group) {
      groups.emplace_back(i, 1);
      continue;
    }
    auto [it, fresh] = group_of.emplace(group_key(fs[i]), groups.size());
    if (fresh) groups.emplace_back(i, 1);
    else ++groups[it->second].second;
  }
  if (shown != fs.size()) os << "  (" << shown << " of " << fs.size() << " fibers match the filter)\n";
  const std::size_t to_print = o.limit ? std::min(o.limit, groups.size()) : groups.size();
  std::vector<std::size_t> printed_fibers;  // the first fiber of each group printed
  for (std::size_t g = 0; g < to_print; ++g) printed_fibers.push_back(groups[g].first);
  measure_stacks(s, fs, printed_fibers);
  std::size_t printed = 0;
  for (const auto& [i, n] : groups) {
    if (o.limit && printed == o.limit) {
      os << "  ... " << groups.size() - printed << " more " << (o.group ? "groups" : "fibers")
         << " not shown (DumpOptions::limit " << o.limit << ")\n";
      break;
    }
    print_fiber(os, fs[i], o, n);
    ++printed;
  }
}

}  // namespace detail

void dump(std::ostream& os) { dump(os, DumpOptions{}); }

void dump(std::ostream& os, const DumpOptions& o) {
  struct Ctx {
    std::ostream* os;
    const DumpOptions* o;
  } ctx{&os, &o};
  detail::Scheduler::for_each_runtime(
      [](detail::Scheduler& s, void* p) {
        auto* c = static_cast<Ctx*>(p);
        detail::dump_runtime(s, *c->os, *c->o);
      },
      &ctx);
  detail::dump_blocking_pool(os);
}

void dump_json(std::ostream& os, const DumpOptions& o) {
  struct Ctx {
    std::ostream* os;
    const DumpOptions* o;
    bool first = true;
  } ctx{&os, &o};
  os << "{\"runtimes\":[";
  detail::Scheduler::for_each_runtime(
      [](detail::Scheduler& s, void* p) {
        auto* c = static_cast<Ctx*>(p);
        if (!c->first) *c->os << ",";
        c->first = false;
        detail::dump_runtime_json(s, *c->os, *c->o);
      },
      &ctx);
  os << "],\"blocking_tasks\":[";
  const std::vector<BlockingTaskInfo> tasks = blocking_tasks();
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const BlockingTaskInfo& t = tasks[i];
    os << (i ? "," : "") << "{\"id\":" << t.id << ",\"name\":";
    detail::json_string(os, t.name);
    os << ",\"spawn_file\":";
    detail::json_string(os, t.spawn_file);
    os << ",\"spawn_line\":" << t.spawn_line << ",\"running\":" << (t.running ? "true" : "false")
       << ",\"age_ns\":" << t.age.count() << "}";
  }
  os << "]}\n";
}

namespace detail {
void dump_runtime(Scheduler& s, std::ostream& os) {
  dump_runtime(s, os, DumpOptions{});
  dump_blocking_pool(os);
}
std::uint64_t runtime_id_of(const Scheduler& s) noexcept { return s.runtime_id_; }
}  // namespace detail

}  // namespace weft
