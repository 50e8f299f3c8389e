// The stall watchdog (weft/stall.hpp).
#include "platform/fcontext_layout.hpp"
#include "sched/scheduler.hpp"
#include "observe/observe.hpp"
#include "introspect/stall_log.hpp"
#include "introspect/symbolize.hpp"

#include <weft/dump.hpp>
#include <weft/stall.hpp>

#include <execinfo.h>
#include <pthread.h>
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace weft {

namespace {

// One backtrace request at a time (process-wide): the watchdog fills `target`, signals the worker,
// and the handler on that thread records into `frames`.
struct Capture {
  std::mutex mu;  // serialises requesters
  std::atomic<pthread_t> target{};
  std::atomic<int> state{0};  // 0 idle, 1 requested, 2 done
  void* frames[64];
  int n = 0;
  void* interrupted = nullptr;  // the pc the signal interrupted (null: unknown on this platform)
};
Capture g_capture;

void on_capture_signal(int, siginfo_t*, void* uc) {
  if (g_capture.state.load(std::memory_order_acquire) != 1) return;
  if (!pthread_equal(g_capture.target.load(std::memory_order_relaxed), pthread_self())) return;
  g_capture.interrupted = const_cast<void*>(detail::platform::interrupted_pc(uc));
  g_capture.n = backtrace(g_capture.frames, 64);
  g_capture.state.store(2, std::memory_order_release);
}

// The captured frames without the handler's own (this handler, the kernel's signal trampoline):
// from the interrupted pc on, found among the frames; where the platform does not say which pc
// was interrupted, the first two frames are those two.
std::vector<std::string> symbolize_capture() {
  int first = g_capture.n >= 2 ? 2 : g_capture.n;
  for (int i = 0; i < g_capture.n; ++i) {
    if (g_capture.interrupted && g_capture.frames[i] == g_capture.interrupted) {
      first = i;
      break;
    }
  }
  std::vector<std::string> out;
  for (int i = first; i < g_capture.n; ++i) {
    // The interrupted pc is the instruction itself; the others are return addresses (after the call).
    const void* pc = i == first ? g_capture.frames[i] : static_cast<char*>(g_capture.frames[i]) - 1;
    for (auto& frame : detail::symbolize_frames(pc)) out.push_back(std::move(frame));
  }
  return out;
}

// The stall log (stall_log.hpp): per runtime id, process-wide. Small and rarely written (a stall
// report is already rate-limited), so one mutex.
std::mutex g_log_mu;
std::map<std::uint64_t, detail::StallLog> g_logs;

std::mutex g_handler_mu;
int g_handler_users = 0;
struct sigaction g_old_action {};
int g_handler_sig = 0;

}  // namespace

struct StallDetector::State {
  std::shared_ptr<detail::Scheduler> keep;  // the runtime outlives the watchdog
  detail::Scheduler* sched;
  Options opt;
  int sig;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::atomic<std::uint64_t> reports{0};

  void run();
  // Fills r's fiber fields and its backtrace, taken on the worker; false if the fiber is gone.
  bool describe(StallReport& r, detail::Worker& w, detail::FiberBase* f, std::uint64_t runs);
  void deliver(const StallReport& r);
};

StallDetector::StallDetector(const Handle& rt, Options o) : s_(std::make_unique<State>()) {
  if (!rt) throw Error("weft::StallDetector: the handle refers to no runtime (moved-from Runtime)");
  if (o.threshold <= std::chrono::nanoseconds::zero()) {
    throw Error("weft::StallDetector: threshold must be positive (default 100 ms)");
  }
  s_->keep = detail::RuntimeAccess::scheduler(rt).shared_from_this();
  s_->sched = &detail::RuntimeAccess::scheduler(rt);
  s_->sig = o.signal ? o.signal : SIGRTMIN + 5;
  if (!o.on_stall) {
    o.on_stall = [](const StallReport& r) {
      const std::string who = "fiber " + std::to_string(r.fiber_id) + (r.name.empty() ? "" : " '" + r.name + "'");
      const std::string ms = std::to_string(r.running_for.count() / 1000000) + " ms on worker " + std::to_string(r.worker);
      std::string s = r.ended ? "weft: stall ended: " + who + " ran " + ms + " without suspending"
                              : "weft: stall: " + who + " has run for " + ms + " without suspending";
      s += "; spawned at " + r.spawn_site;
      if (r.suppressed) s += " (" + std::to_string(r.suppressed) + " reports suppressed by the rate limit)";
      s += "\n";
      for (std::size_t i = 0; i < r.backtrace.size(); ++i) s += "  #" + std::to_string(i) + " " + r.backtrace[i] + "\n";
      std::fputs(s.c_str(), stderr);
    };
  }
  s_->opt = std::move(o);
  {
    std::lock_guard lk(g_handler_mu);
    if (g_handler_users == 0) {
      void* warm[2];
      backtrace(warm, 2);  // loads libgcc's unwinder now, not inside the signal handler
      struct sigaction sa {};
      sa.sa_sigaction = on_capture_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART | SA_SIGINFO;
      if (sigaction(s_->sig, &sa, &g_old_action) != 0) {
        throw Error("weft::StallDetector: cannot install a handler for signal " + std::to_string(s_->sig));
      }
      g_handler_sig = s_->sig;
    } else if (g_handler_sig != s_->sig) {
      throw Error("weft::StallDetector: another detector uses signal " + std::to_string(g_handler_sig) +
                  "; all detectors of a process must use the same signal");
    }
    ++g_handler_users;
  }
  s_->thread = std::thread([st = s_.get()] { st->run(); });
}

StallDetector::~StallDetector() {
  {
    std::lock_guard lk(s_->mu);
    s_->stop = true;
  }
  s_->cv.notify_all();
  s_->thread.join();
  std::lock_guard lk(g_handler_mu);
  if (--g_handler_users == 0) sigaction(g_handler_sig, &g_old_action, nullptr);
}

std::uint64_t StallDetector::reports() const noexcept { return s_->reports.load(std::memory_order_acquire); }

void StallDetector::State::run() {
  struct Seen {
    std::uint64_t runs = ~std::uint64_t{0};
    std::uint64_t since = 0;      // when this run was first seen
    std::uint64_t before = 0;     // the sample before that: the run began after it
    std::uint64_t last = 0;       // the latest sample
    std::uint64_t next_at = 0;    // report again once it has run this long (threshold, 2x, 4x, ...)
    bool delivered = false;       // a report of this stall was delivered: its end will be too
    StallReport who;              // the stalled fiber's identity, kept for the end report (by then
                                  // the fiber may have finished and its record been reused)
    // Rate limit (per worker, Seastar's rule): reports in the current minute, and those dropped.
    std::uint64_t minute_start = 0;
    unsigned in_minute = 0;
    std::uint64_t suppressed = 0;
  };
  auto& ws = sched->workers();
  std::vector<Seen> seen(ws.size());
  // A run already going when the detector started is measured from here.
  for (Seen& s : seen) s.last = detail::mono_ns();
  const auto period = std::max<std::chrono::nanoseconds>(opt.threshold / 4, std::chrono::milliseconds(1));
  const auto threshold = static_cast<std::uint64_t>(opt.threshold.count());
  std::unique_lock lk(mu);
  while (!stop) {
    cv.wait_for(lk, period);
    if (stop || sched->stopping()) break;
    const std::uint64_t now = detail::mono_ns();
    for (std::size_t i = 0; i < ws.size(); ++i) {
      detail::Worker& w = *ws[i];
      // Order: current, then the run count. A new run bumps the count after setting current, so
      // an unchanged count with a fiber seen both times means one run spanning the interval.
      detail::FiberBase* cur = w.current();
      const std::uint64_t runs = w.metrics.fibers_run.load(std::memory_order_acquire);
      Seen& s = seen[i];
      const std::uint64_t last = std::exchange(s.last, now);
      if (!cur || runs != s.runs) {
        if (s.delivered) {  // a reported stall is over: its final length
          StallReport r = std::move(s.who);
          r.ended = true;
          r.backtrace.clear();
          // Between samples: within about a sampling period of the truth (seen up to 0.3 ms short
          // of a 700 ms loop, not yet explained; the header promises two periods).
          r.running_for = std::chrono::nanoseconds(now - s.before);
          r.suppressed = std::exchange(s.suppressed, 0);
          lk.unlock();
          deliver(r);
          lk.lock();
        }
        s.runs = cur ? runs : ~std::uint64_t{0};
        s.before = last;
        s.since = now;
        s.next_at = threshold;
        s.delivered = false;
        continue;
      }
      const std::uint64_t for_ns = now - s.since;
      if (for_ns < s.next_at) continue;
      while (s.next_at <= for_ns) s.next_at *= 2;  // the next repeat: the following power of two
      if (now - s.minute_start >= 60'000'000'000ull) {
        s.minute_start = now;
        s.in_minute = 0;
      }
      if (opt.reports_per_minute && s.in_minute >= opt.reports_per_minute) {
        ++s.suppressed;
        continue;
      }
      ++s.in_minute;
      StallReport r;
      lk.unlock();
      if (describe(r, w, cur, runs)) {
        r.running_for = std::chrono::nanoseconds(for_ns);
        r.suppressed = std::exchange(s.suppressed, 0);
        s.delivered = true;
        s.who.fiber_id = r.fiber_id;
        s.who.name = r.name;
        s.who.spawn_site = r.spawn_site;
        s.who.worker = r.worker;
        deliver(r);
      }
      lk.lock();
    }
  }
}

bool StallDetector::State::describe(StallReport& r, detail::Worker& w, detail::FiberBase* f, std::uint64_t runs) {
  bool alive = false;
  // Identify it through the registry: under the shard lock it cannot finish and be freed.
  sched->for_each_live([&](detail::FiberBase* x) {
    if (x != f) return;
    alive = true;
    r.fiber_id = x->id_;
    r.name = rec(x)->name_;
    r.spawn_site = std::string(rec(x)->spawn_site_.file_name()) + ":" + std::to_string(rec(x)->spawn_site_.line()) + " (" +
                   rec(x)->spawn_site_.function_name() + ")";
  });
  r.worker = w.index();
  if (!alive) return false;
  std::lock_guard cl(g_capture.mu);
  g_capture.n = 0;
  g_capture.interrupted = nullptr;
  g_capture.target.store(w.native_thread(), std::memory_order_relaxed);
  g_capture.state.store(1, std::memory_order_release);
  // Still the same run? Then the signal lands in it (or shortly after; the frames then show the
  // worker loop, which the report makes visible).
  if (w.current() == f && w.metrics.fibers_run.load(std::memory_order_acquire) == runs &&
      pthread_kill(w.native_thread(), sig) == 0) {
    for (int i = 0; i < 200 && g_capture.state.load(std::memory_order_acquire) != 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  int expected = 1;
  if (!g_capture.state.compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) {
    // state == 2: the handler ran
    r.backtrace = symbolize_capture();
    g_capture.state.store(0, std::memory_order_release);
  }
  return true;
}

void StallDetector::State::deliver(const StallReport& r) {
  reports.fetch_add(1, std::memory_order_acq_rel);
  detail::stall_log_add(sched->runtime_id_, r);
  opt.on_stall(r);
  if (!r.ended) detail::flight_recorder_on_stall();  // what led up to it, from every worker
}

namespace detail {

void stall_log_add(std::uint64_t runtime_id, const StallReport& r) {
  std::lock_guard lk(g_log_mu);
  StallLog& log = g_logs[runtime_id];
  // A stall is reported when it starts, again while it lasts (rate-limited), and once when it
  // ends. Its fiber's latest entry, if not ended, is that same stall: a fiber's next stall can
  // only start after this one ended, and an end is always reported once its start was.
  for (auto it = log.recent.rbegin(); it != log.recent.rend(); ++it) {
    if (it->fiber_id != r.fiber_id) continue;
    if (it->ended) break;
    it->ended = r.ended;
    it->running_for_ns = static_cast<std::uint64_t>(r.running_for.count());
    it->seen_ns = coarse_ns();
    return;
  }
  if (r.ended) return;  // its start has left `recent` already
  ++log.total;
  if (log.recent.size() == kStallLogRecent) log.recent.erase(log.recent.begin());
  log.recent.push_back(StallSeen{r.fiber_id, r.name, r.worker, static_cast<std::uint64_t>(r.running_for.count()), false,
                                 coarse_ns()});
}

StallLog stall_log_of(std::uint64_t runtime_id) {
  std::lock_guard lk(g_log_mu);
  auto it = g_logs.find(runtime_id);
  return it == g_logs.end() ? StallLog{} : it->second;
}

}  // namespace detail

}  // namespace weft
