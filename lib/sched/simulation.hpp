// A simulated runtime's engine: the thread that joins one of its fibers runs every fiber itself,
// under virtual time, with every scheduling choice drawn from one seeded generator (weft/sim.hpp).
//
// How a run goes (Simulation::run_until):
//   - each step picks one of the runtime's workers at random among those that could find work (its
//     own queue, LIFO slot, pinned list or inbox; any worker when the global queue or a peer's
//     queue has stealable work) and lets it take the next fiber as its own loop would (next_local,
//     then steal_any) and run it until it suspends — so LIFO, migration and stealing still happen;
//   - a due timer (deadline <= now) fires at a random point between steps; when nothing can run,
//     virtual time jumps to the earliest pending timer;
//   - nothing runnable and no timer pending while the awaited fiber is unfinished: a deadlock,
//     reported with every blocked fiber and what it waits on; more than Config::sim_max_steps runs:
//     a livelock (a fiber polling in a loop), reported the same way.
// Same seed, same program => same sequence of choices => same run, bit for bit, as long as the
// program itself is deterministic (no plain threads feeding it, no real time, no real fds).
//
// Threading: one thread at a time drives a simulation (the one joining; a second one gets a
// weft::Error); everything here is owned by that thread. The virtual clock is read by fibers of this runtime through weft::Clock::now().
#pragma once

#include <weft/detail/fiber.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <set>

namespace weft::detail {

class Scheduler;
class Worker;

// A timed wait's pending timer (on the waiting fiber's stack while it waits; loop_wait.cpp).
struct SimTimer {
  std::chrono::steady_clock::time_point when;  // min(own, scope)
  std::chrono::steady_clock::time_point own;   // the operation's deadline (max: none)
  std::chrono::steady_clock::time_point scope;  // the admitted scopes' earliest deadline
  FiberBase* fiber;
  std::uint64_t epoch;
  std::uint64_t seq = 0;  // tie-break: equal deadlines fire in arming order
};

class Simulation {
 public:
  // Every simulation starts its clock here: a fixed instant, so that replays see the same times.
  static constexpr std::chrono::steady_clock::time_point kEpoch{std::chrono::hours(24)};

  Simulation(std::uint64_t seed, std::uint64_t max_steps) noexcept;
  std::uint64_t seed() const noexcept { return seed_; }
  std::chrono::steady_clock::time_point now() const noexcept { return now_; }
  std::uint64_t next_random() noexcept;
  // Fiber ids count from 1 per simulation, so a replay prints the same ids.
  std::uint64_t next_fiber_id() noexcept { return ++ids_; }

  void add_timer(SimTimer* t);
  void remove_timer(SimTimer* t) noexcept;  // no-op once fired

  // Runs fibers on the calling thread until `target` has finished (null: until no fiber is
  // alive). Throws weft::sim::Failure on a deadlock, or a livelock: more than max_steps fiber runs
  // in this one call.
  void run_until(Scheduler& s, const FiberBase* target);
  // The same until `done(arg)` holds (checked between steps); `what` names it in a deadlock report
  // ("a JoinSet's next child").
  void run_until(Scheduler& s, bool (*done)(const void*), const void* arg, const char* what);

 private:
  struct ByDeadline {
    bool operator()(const SimTimer* a, const SimTimer* b) const noexcept {
      return a->when != b->when ? a->when < b->when : a->seq < b->seq;
    }
  };
  // Picks a worker that could find a fiber and runs one; false if no worker could.
  bool step(Scheduler& s);
  void fire(Scheduler& s, SimTimer* t) noexcept;
  // What one run_until waits for: `done(arg)`, described by `target` or `what` (both null: every
  // fiber to finish).
  struct Goal {
    bool (*done)(const void*);
    const void* arg;
    const FiberBase* target;
    const char* what;
  };
  void drive(Scheduler& s, const Goal& goal);
  [[noreturn]] void fail(Scheduler& s, const Goal& goal, bool livelock);

  std::atomic<bool> driving_{false};  // a thread is in run_until (one at a time)
  std::uint64_t seed_;
  std::uint64_t rng_;
  std::uint64_t max_steps_;
  std::uint64_t steps_ = 0;
  std::uint64_t ids_ = 0;
  std::uint64_t timer_seq_ = 0;
  std::chrono::steady_clock::time_point now_ = kEpoch;
  std::set<SimTimer*, ByDeadline> timers_;
};

// The simulation the calling fiber runs in, or null (on the real runtime, or a plain thread).
Simulation* current_simulation() noexcept;

}  // namespace weft::detail
