// Reading fibers from outside: registry snapshots, saved-stack backtraces, stack high-water
// marks, and the dump built from them.
//
// Walking a fiber that may be resumed concurrently: take its run count (FiberBase::runs_), check
// that it is not running, read its saved context and walk, then read the run count again; if it
// changed, the walk raced with a run and is thrown away. The walk only dereferences addresses
// inside the fiber's stack bounds (stacks are never unmapped), so a racing walk reads stale words,
// never unmapped memory. Those reads are deliberately unsynchronised, hence no_sanitize below.
#include "sched/scheduler.hpp"
#include "trace/observe.hpp"
#include "trace/symbolize.hpp"

#include <weft/dump.hpp>
#include <weft/mutex.hpp>
#include <weft/runtime.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <sstream>
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

// ---------------------------------------------------------------- saved contexts (x86-64 fcontext)
//
// Boost.Context 1.74's jump_fcontext (x86_64 SysV ELF) saves, below the caller's return address:
//   ctx+0x00 mxcsr/x87 cw, +0x08 r12, +0x10 r13, +0x18 r14, +0x20 r15, +0x28 rbx, +0x30 rbp,
//   ctx+0x38 return address (the pc to resume at), and the resumed stack pointer is ctx+0x40.
// fcontext_layout_known() checks the instructions that establish this before anything trusts it.
namespace {
constexpr std::size_t kCtxRbp = 0x30;
constexpr std::size_t kCtxPc = 0x38;
constexpr std::size_t kCtxSize = 0x40;

bool check_layout() noexcept {
#if defined(__x86_64__) && defined(__linux__)
  const auto* code = reinterpret_cast<const unsigned char*>(&fctx::jump_fcontext);
  static const unsigned char lea[] = {0x48, 0x8d, 0x64, 0x24, 0xc8};           // lea -0x38(%rsp),%rsp
  static const unsigned char save_rbp[] = {0x48, 0x89, 0x6c, 0x24, 0x30};      // mov %rbp,0x30(%rsp)
  static const unsigned char load_pc[] = {0x4c, 0x8b, 0x44, 0x24, 0x38};       // mov 0x38(%rsp),%r8
  // Follow a PLT-style indirect jump (jmp *disp(%rip)) if the address is a stub.
  if (code[0] == 0xff && code[1] == 0x25) {
    std::int32_t disp;
    std::memcpy(&disp, code + 2, 4);
    code = *reinterpret_cast<const unsigned char* const*>(code + 6 + disp);
  }
  if (code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e && code[3] == 0xfa) code += 4;  // endbr64
  return std::memcmp(code, lea, 5) == 0 && std::memcmp(code + 38, save_rbp, 5) == 0 &&
         std::memcmp(code + 49, load_pc, 5) == 0;
#else
  return false;
#endif
}
}  // namespace

bool fcontext_layout_known() noexcept {
  static const bool known = check_layout();
  return known;
}

// Walks frame pointers from a saved context on stack [lo, hi). Returns the number of pcs stored.
__attribute__((no_sanitize("address", "thread"))) std::size_t walk_saved_context(
    const void* ctx, const char* lo, const char* hi, const void** pcs, std::size_t max) noexcept {
  std::size_t n = 0;
  const char* c = static_cast<const char*>(ctx);
  if (!c || c < lo || c + kCtxSize > hi || max == 0) return 0;
  pcs[n++] = *reinterpret_cast<const void* const*>(c + kCtxPc);
  const char* fp = *reinterpret_cast<const char* const*>(c + kCtxRbp);
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

namespace {

std::string format_wait(const WaitDesc* d, std::uint64_t arg, std::uint64_t now_mono) {
  if (!d) return "(not recorded)";
  std::string s = d->what;
  char buf[96];
  switch (d->arg) {
    case WaitDesc::None: break;
    case WaitDesc::Deadline: {
      const double ms = (static_cast<double>(arg) - static_cast<double>(now_mono)) / 1e6;
      std::snprintf(buf, sizeof buf, " %+.1f ms", ms);
      s += buf;
      break;
    }
    case WaitDesc::Fiber: s += " " + std::to_string(arg); break;
    case WaitDesc::Address:
      std::snprintf(buf, sizeof buf, " at 0x%llx", static_cast<unsigned long long>(arg));
      s += buf;
      break;
    case WaitDesc::Fd: s = "fd " + std::to_string(arg) + (d == &kWaitFdReadable ? " readable" : " writable"); break;
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

// Who holds the weft::Mutex a suspended fiber waits on (its lock_owner_token(): a fiber record or
// a plain thread's tag), or null. The mutex outlives the wait (destroying a mutex with waiters is
// fatal); the caller re-checks that the fiber did not run meanwhile before trusting the answer.
const void* mutex_holder(const WaitDesc* what, std::uint64_t arg) noexcept {
  if (what != &kWaitMutex || arg == 0) return nullptr;
  return reinterpret_cast<const Mutex*>(static_cast<std::uintptr_t>(arg))->holder();
}

// Called under the fiber's registry shard lock: the fiber cannot finish (be freed) meanwhile.
// `*holder`: see mutex_holder (fibers_of names it once it has seen every fiber).
__attribute__((no_sanitize("thread"))) FiberMetrics snapshot(Scheduler& s, FiberBase* f, const FiberQuery& q,
                                                             std::uint64_t now_coarse, std::uint64_t now_mono,
                                                             const void** holder, std::vector<const void*>* pcs_out) {
  FiberMetrics m;
  m.id = f->id_;
  m.name = f->name_;
  m.spawn_file = f->spawn_site_.file_name();
  m.spawn_line = f->spawn_site_.line();
  m.spawn_function = f->spawn_site_.function_name();
  m.age_ns = now_coarse > f->created_ns_ ? now_coarse - f->created_ns_ : 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const std::uint64_t runs = __atomic_load_n(&f->runs_, __ATOMIC_ACQUIRE);
    const FiberState st = f->state_.load(std::memory_order_acquire);
    m.status = static_cast<FiberStatus>(st);
    m.runs = runs;
    m.worker = worker_index_of(s, f->worker_);
    const WaitDesc* what = f->wait_what_;
    const std::uint64_t arg = f->wait_arg_;
    const Stack stack = f->stack_;
    const void* ctx = f->ctx_;
    m.timed_runs = f->timed_runs_;
    m.run_ns = f->run_ns_;
    m.max_slice_ns = f->max_slice_ns_;
    m.delay_ns = f->delay_ns_;
    m.max_delay_ns = f->max_delay_ns_;
    m.stack_size = stack.size;
    m.wait = st == FiberState::Suspended ? format_wait(what, arg, now_mono) : std::string();
    *holder = st == FiberState::Suspended ? mutex_holder(what, arg) : nullptr;
    m.backtrace.clear();
    pcs_out->clear();
    const bool walkable = (st == FiberState::Suspended || st == FiberState::Runnable) && ctx;
    if (q.backtraces && walkable && fcontext_layout_known()) {
      const void* pcs[64];
      const std::size_t n = walk_saved_context(ctx, stack.lo, stack.hi(), pcs, 64);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (__atomic_load_n(&f->runs_, __ATOMIC_ACQUIRE) != runs) continue;  // it ran meanwhile: retry
      for (std::size_t i = 0; i < n; ++i) {
        // Return addresses point after the call: symbolize the call itself (later, outside the
        // registry lock: the first lookup in a module reads its debug info, which takes a while).
        pcs_out->push_back(i == 0 ? pcs[i] : static_cast<const char*>(pcs[i]) - 1);
      }
    } else if (q.backtraces && walkable) {
      m.backtrace.push_back("(no backtrace: unknown Boost.Context fcontext layout; x86-64 Boost 1.74 is known)");
    }
    if (q.stack_usage) m.stack_high_water = stack_high_water(stack);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (__atomic_load_n(&f->runs_, __ATOMIC_ACQUIRE) != runs) continue;  // its wait may be over: retry
    break;
  }
  return m;
}

}  // namespace

std::vector<FiberMetrics> fibers_of(Scheduler& s, const FiberQuery& q) {
  std::vector<FiberMetrics> out;
  const std::uint64_t now_coarse = coarse_ns(), now_mono = mono_ns();
  std::unordered_map<const void*, std::size_t> index_of;          // fiber record -> its entry in out
  std::vector<std::pair<const void*, std::size_t>> waits_on_held;  // (mutex holder, waiter's entry)
  std::vector<std::vector<const void*>> pcs;                        // per entry: its frames' addresses
  s.for_each_live([&](FiberBase* f) {
    const void* holder = nullptr;
    index_of.emplace(f, out.size());
    pcs.emplace_back();
    out.push_back(snapshot(s, f, q, now_coarse, now_mono, &holder, &pcs.back()));
    if (holder) waits_on_held.emplace_back(holder, out.size() - 1);
  });
  // Each frame's function and line; a frame's inlined calls come first, one entry each.
  for (std::size_t i = 0; i < out.size(); ++i) {
    for (const void* pc : pcs[i]) {
      for (auto& frame : symbolize_frames(pc)) out[i].backtrace.push_back(std::move(frame));
    }
  }
  // Compared as addresses only: a holder that is not a live fiber here is never dereferenced.
  for (const auto& [holder, i] : waits_on_held) {
    const auto it = index_of.find(holder);
    if (it == index_of.end()) {
      out[i].wait += " (held by a plain thread, a fiber of another runtime, or a fiber that ended holding it)";
      continue;
    }
    const FiberMetrics& h = out[it->second];
    out[i].held_by = h.id;
    out[i].wait += " (held by fiber " + std::to_string(h.id) + (h.name.empty() ? "" : " '" + h.name + "'") + ")";
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

void dump_runtime(Scheduler& s, std::ostream& os) {
  RuntimeMetrics m = metrics_of(s);
  std::vector<FiberMetrics> fs = fibers_of(s, FiberQuery{.backtraces = true, .stack_usage = true});
  os << "weft runtime " << s.runtime_id_ << ": " << m.workers.size() << " workers, " << fs.size()
     << " live fibers, " << m.spawned_total << " spawned, " << m.live_stacks << " stacks in use\n";
  for (auto& w : m.workers) {
    char busy[16];
    std::snprintf(busy, sizeof busy, "%.1f",
                  w.uptime_ns ? 100.0 * static_cast<double>(w.busy_ns) / static_cast<double>(w.uptime_ns) : 0.0);
    os << "  worker " << w.index << ": ran " << w.fibers_run << " fibers, busy " << busy << " %, steals " << w.steals << " (" << w.stolen << " fibers), parks " << w.parks << ", inject pulls "
       << w.inject_pulls << ", queue " << w.queue_depth << ", watchers " << w.reactor_watchers << "\n";
  }
  for (auto& f : fs) {
    os << "  fiber " << f.id;
    if (!f.name.empty()) os << " '" << f.name << "'";
    os << " [" << to_string(f.status) << "]";
    if (!f.wait.empty()) os << " waiting on: " << f.wait;
    os << "\n    spawned at " << f.spawn_file << ":" << f.spawn_line << " (" << f.spawn_function << "), age "
       << fmt_ns(f.age_ns) << ", worker " << f.worker << ", runs " << f.runs;
    if (f.timed_runs) {
      os << ", run " << fmt_ns(f.run_ns) << ", longest slice " << fmt_ns(f.max_slice_ns) << ", mean delay "
         << fmt_ns(f.delay_ns / f.timed_runs);
    }
    os << "\n    stack: " << f.stack_high_water << " of " << f.stack_size << " bytes used (high-water mark)\n";
    for (std::size_t i = 0; i < f.backtrace.size(); ++i) os << "      #" << i << " " << f.backtrace[i] << "\n";
  }
}

}  // namespace detail

void dump(std::ostream& os) {
  detail::Scheduler::for_each_runtime(
      [](detail::Scheduler& s, void* p) { detail::dump_runtime(s, *static_cast<std::ostream*>(p)); }, &os);
}

}  // namespace weft
