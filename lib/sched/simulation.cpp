#include "sched/simulation.hpp"

#include "fiber/overflow.hpp"
#include "sched/scheduler.hpp"
#include "sched/wait.hpp"

#include <weft/runtime.hpp>
#include <weft/sim.hpp>

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

namespace weft::detail {

namespace {
std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::string virtual_time(std::chrono::steady_clock::time_point t) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "+%.9f s", std::chrono::duration<double>(t - Simulation::kEpoch).count());
  return buf;
}

// For as long as it runs a simulation, the calling thread poses as whichever worker takes the
// next step (weft_tls_worker), and switches to fibers from its own stack. Restores the thread
// as it was, also when the run ends with a failure.
class DriverThread {
 public:
  explicit DriverThread(Scheduler& s) : saved_(weft_tls_worker) {
    const Endpoint stack = Worker::calling_thread_stack();
    for (auto& w : s.workers()) w->attach_to_calling_thread(stack);
    // The overflow report needs an alternate signal stack; keep one the program installed itself
    // (doctest's, say) and add ours only where there is none.
    stack_t cur{};
    if (sigaltstack(nullptr, &cur) == 0 && (cur.ss_flags & SS_DISABLE)) alt_.emplace(&running_fiber_for_signal);
  }
  ~DriverThread() { weft_tls_worker = saved_; }
  DriverThread(const DriverThread&) = delete;
  DriverThread& operator=(const DriverThread&) = delete;

 private:
  Worker* saved_;
  std::optional<AltStack> alt_;
};
}  // namespace

Simulation::Simulation(std::uint64_t seed, std::uint64_t max_steps) noexcept
    : seed_(seed), rng_(seed), max_steps_(max_steps) {}

std::uint64_t Simulation::next_random() noexcept { return splitmix64(rng_); }

void Simulation::add_timer(SimTimer* t) {
  t->seq = ++timer_seq_;
  timers_.insert(t);
}

void Simulation::remove_timer(SimTimer* t) noexcept { timers_.erase(t); }

Simulation* current_simulation() noexcept {
  Worker* w = current_worker();
  return w ? w->scheduler().sim() : nullptr;
}

void Simulation::run_until(Scheduler& s, const FiberBase* target) {
  if (target) {
    drive(s, Goal{[](const void* f) { return static_cast<const FiberBase*>(f)->finished(); }, target, target, nullptr});
  } else {
    drive(s, Goal{[](const void* sched) { return static_cast<const Scheduler*>(sched)->live_fibers() == 0; }, &s,
                  nullptr, nullptr});
  }
}

void Simulation::run_until(Scheduler& s, bool (*done)(const void*), const void* arg, const char* what) {
  drive(s, Goal{done, arg, nullptr, what});
}

void Simulation::drive(Scheduler& s, const Goal& goal) {
  if (driving_.exchange(true, std::memory_order_acquire)) {
    throw Error("weft: a simulated runtime is run by one thread at a time (the one joining its fibers), "
                "and another thread is running it now; join its fibers from a single thread");
  }
  struct Release {
    std::atomic<bool>& flag;
    ~Release() { flag.store(false, std::memory_order_release); }
  } release{driving_};
  DriverThread driver(s);
  steps_ = 0;  // the budget is per run: a shutdown after a livelock gets its own to unwind
  for (;;) {
    if (goal.done(goal.arg)) return;
    if (steps_ >= max_steps_) fail(s, goal, true);
    // A due timer fires at a random point among the runnable fibers' steps, as a timer on a
    // worker's loop fires between two of its runs.
    if (!timers_.empty() && (*timers_.begin())->when <= now_ && (next_random() & 1)) {
      fire(s, *timers_.begin());
      continue;
    }
    if (step(s)) continue;
    if (timers_.empty()) fail(s, goal, false);
    // Nothing can run: time moves to the next timer.
    SimTimer* t = *timers_.begin();
    now_ = std::max(now_, t->when);
    fire(s, t);
  }
}

bool Simulation::step(Scheduler& s) {
  auto& ws = s.workers();
  // Work in the global queue or in a peer's queue can be taken by any worker (next_local pulls
  // from the global queue, steal_any from both); pinned and LIFO work only by its own worker.
  const bool shared = s.any_work_visible();
  Worker* cand[64];
  std::vector<Worker*> many;
  Worker** c = ws.size() <= 64 ? cand : (many.resize(ws.size()), many.data());
  std::size_t n = 0;
  for (auto& w : ws) {
    if (shared || w->has_local_work()) c[n++] = w.get();
  }
  if (n == 0) return false;
  Worker& w = *c[next_random() % n];
  ++steps_;
  weft_tls_worker = &w;
  FiberBase* f = w.next_local();
  if (!f) f = w.steal_any();
  if (f) {
    w.run(f);
    w.look_before_rerun_ = false;  // a real worker's loop would look around; the next pick is random anyway
  }
  weft_tls_worker = nullptr;
  return true;
}

void Simulation::fire(Scheduler& s, SimTimer* t) noexcept {
  timers_.erase(t);
  // The woken fiber lands on a random worker's LIFO slot, as if that worker's loop had the timer.
  auto& ws = s.workers();
  weft_tls_worker = ws[next_random() % ws.size()].get();
  // The timer fires at t->when: its own deadline (if that is the earlier one) means Timeout, else
  // an enclosing scope's deadline cancels the wait.
  wake(t->fiber, t->epoch, now_ >= t->own ? WakeReason::Timeout : WakeReason::ScopeCancel);
  weft_tls_worker = nullptr;
}

void Simulation::fail(Scheduler& s, const Goal& goal, bool livelock) {
  using sim::FailureKind;
  const FiberBase* target = goal.target;
  const FailureKind kind = livelock                     ? FailureKind::Livelock
                           : (target || goal.what) ? FailureKind::Deadlock
                                                    : FailureKind::Leftover;
  const std::string seed = std::to_string(seed_);
  std::string msg = "weft::sim: seed " + seed + ": ";
  switch (kind) {
    case FailureKind::Livelock:
      msg += "no end after " + std::to_string(steps_) + " fiber runs (virtual time " + virtual_time(now_) +
             "): some fiber keeps running without waiting (polling with yield_now until something "
             "changes keeps virtual time from moving: wait on the thing itself instead)";
      break;
    case FailureKind::Deadlock:
      msg += "deadlock at virtual time " + virtual_time(now_) + ": no fiber can run and no timer is pending, but " +
             (target ? "fiber " + std::to_string(target->id_) +
                           (rec(target)->name_.empty() ? "" : " '" + rec(target)->name_ + "'") + " has not finished"
                     : std::string(goal.what) + " never comes");
      break;
    default:
      msg += "fibers left blocked forever at virtual time " + virtual_time(now_) +
             ": every fiber should have finished, but no fiber can run and no timer is pending";
      break;
  }
  msg += ". Live fibers:\n";
  // Read the fibers as one of the workers would (weft::Clock then reads virtual time).
  weft_tls_worker = s.workers().front().get();
  std::vector<FiberMetrics> fibers = fibers_of(s, FiberQuery{});
  weft_tls_worker = nullptr;
  std::sort(fibers.begin(), fibers.end(), [](const FiberMetrics& a, const FiberMetrics& b) { return a.id < b.id; });
  for (const FiberMetrics& m : fibers) {
    msg += "  fiber " + std::to_string(m.id) + (m.name.empty() ? "" : " '" + m.name + "'") + ": ";
    msg += m.wait.empty() ? (m.status == FiberStatus::Suspended ? "suspended" : "runnable") : m.wait;
    if (!m.waits_for.empty()) {
      msg += " (waits for fiber";
      for (std::uint64_t id : m.waits_for) msg += " " + std::to_string(id);
      msg += ")";
    }
    msg += ", spawned at " + m.spawn_file + ":" + std::to_string(m.spawn_line) + "\n";
  }
  msg += "Replay: WEFT_SIM_SEED=" + seed + " (weft::sim::check), weft::sim::run(" + seed +
         ", ...) or Runtime::Builder().simulated(" + seed + ")";
  throw sim::Failure(kind, seed_, msg);
}

}  // namespace weft::detail

namespace weft::sim::detail {

void run_all(weft::detail::Scheduler& s) { s.sim()->run_until(s, nullptr); }

void report_seed(std::uint64_t seed, const char* what) noexcept {
  std::fprintf(stderr, "weft::sim: seed %llu failed: %s\nReplay: WEFT_SIM_SEED=%llu (weft::sim::check) or "
               "weft::sim::run(%llu, ...)\n", static_cast<unsigned long long>(seed), what,
               static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
}

std::optional<std::uint64_t> env_seed() {
  const char* v = std::getenv("WEFT_SIM_SEED");
  if (!v || !*v) return std::nullopt;
  char* end = nullptr;
  const unsigned long long x = std::strtoull(v, &end, 0);
  if (*end != '\0') throw Error(std::string("WEFT_SIM_SEED='") + v + "' is not a number; set it to the seed a failure printed");
  return x;
}

}  // namespace weft::sim::detail
