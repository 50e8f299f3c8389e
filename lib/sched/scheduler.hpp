// The scheduler: the workers of one runtime, the global queue, the idle throttle, the registry of
// live fibers and shutdown (doc/design.md §4). A Worker (sched/worker.hpp) runs fibers; this ties
// the workers together and is what a Handle points at.
#pragma once

#include "sched/idle.hpp"
#include "sched/inject_queue.hpp"
#include "sched/simulation.hpp"
#include "sched/wait.hpp"
#include "sched/worker.hpp"

#include <weft/detail/fiber.hpp>
#include <weft/runtime.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <source_location>
#include <string>
#include <vector>

namespace weft::detail {

class Scheduler : public std::enable_shared_from_this<Scheduler> {
 public:
  explicit Scheduler(const Config& cfg);
  ~Scheduler();
  void start();
  void shutdown();

  // Makes `f` runnable, from any thread.
  void schedule(FiberBase* f, bool is_wake) noexcept;
  // `joiner`: installed before the fiber can run (JoinSet). `local`: pinned to the calling fiber's
  // worker and LocalSet (spawn_local).
  void spawn(FiberBase* f, Options&& o, const std::source_location& loc, JoinWaiter* joiner = nullptr,
             bool local = false);
  // Wakes a parked worker if nobody is searching (after work became visible). The _local form is
  // for a worker pushing to its own queue: it skips the fence when no worker is parked, because
  // missing a worker that parks concurrently only costs parallelism (the pusher runs the work
  // itself, and its next push notifies again), never progress.
  void notify_parked() noexcept;
  void notify_parked_local() noexcept {
    if (idle_.anyone_parked() && !sim_) notify_parked();
  }
  // Called by a worker whose fiber finished (registry removal, counters).
  void on_finished(FiberBase* f) noexcept;

  const Config& config() const noexcept { return cfg_; }
  // A simulated runtime's engine (weft/sim.hpp), null for a real one. Set at construction.
  Simulation* sim() const noexcept { return sim_.get(); }
  std::vector<std::unique_ptr<Worker>>& workers() noexcept { return workers_; }
  InjectQueue& inject() noexcept { return inject_; }
  Idle& idle() noexcept { return idle_; }
  bool stopping() const noexcept { return stop_.load(std::memory_order_acquire); }
  bool shutting_down() const noexcept { return shutting_down_.load(std::memory_order_acquire); }
  long live_fibers() const noexcept;
  long live_stacks() const noexcept;
  std::uint64_t spawned_total() const noexcept;
  bool any_work_visible() const noexcept;
  // A worker other than `self` asked for help with a backlog it can be stolen from (Worker::ask_help).
  bool help_wanted(const Worker* self) const noexcept;

  // Fibers waiting for an fd on any worker's loop. A worker with nothing to do does not spin while
  // there are any: their work arrives through epoll, which only a parked worker polls, and a
  // spinning worker takes the CPU from whoever produces it (the client of a server on the same
  // machine, the worker that polls). Written on every fd wait, read only before a spin.
  std::atomic<std::int64_t> fd_waiters{0};

  // Every runtime alive in the process, for dumps and tools (fn runs under the list's lock; a
  // runtime cannot be destroyed meanwhile). gdb finds the list at `weft_runtime_list`.
  static void for_each_runtime(void (*fn)(Scheduler&, void*), void* arg);
  Scheduler* next_runtime_ = nullptr;  // guarded by the list's lock
  std::shared_ptr<void> top_server_;   // WEFT_TOP_SOCKET's server (lib/introspect/top.cpp); reset at shutdown
  std::uint64_t runtime_id_ = 0;

  // Live-fiber registry (for shutdown and dumps): sharded intrusive lists.
  static constexpr unsigned kShards = 16;
  template <class Fn>
  void for_each_live(Fn&& fn);

 private:
  friend struct DebugLayout;  // lib/introspect/debug_layout.cpp: the registry's layout, for gdb
  struct alignas(64) Shard {
    SpinLock lock;
    FiberBase* head = nullptr;
  };
  void shutdown_simulation();
  void registry_add(FiberBase* f) noexcept;
  void registry_remove(FiberBase* f) noexcept;

  Config cfg_;
  std::unique_ptr<Simulation> sim_;
  std::vector<std::unique_ptr<Worker>> workers_;
  InjectQueue inject_;
  Idle idle_;
  Shard shards_[kShards];
  std::atomic<std::uint64_t> outside_spawned_{0};  // spawns from threads that are not our workers
  std::atomic<bool> stop_{false};
  std::atomic<bool> shutting_down_{false};
  std::mutex shutdown_mu_;
  bool shut_down_ = false;
  std::mutex live_mu_;
  std::condition_variable live_cv_;
};

template <class Fn>
void Scheduler::for_each_live(Fn&& fn) {
  for (auto& s : shards_) {
    std::lock_guard lk(s.lock);
    for (FiberBase* f = s.head; f; f = rec(f)->reg_next_) fn(f);
  }
}
}  // namespace weft::detail

extern "C" {
// Head of the list of live runtimes (Scheduler::next_runtime_ links it), for tools/gdb/weft.py.
extern weft::detail::Scheduler* weft_runtime_list;
}

namespace weft::detail {

// For tasks that run outside the fiber scheduler (spawn_blocking): give `f` an id, name and spawn
// site; after running it (f->invoke() on any thread), mark it finished and wake its joiner.
void init_task_identity(FiberBase* f, Options&& o, const std::source_location& loc) noexcept;
void complete_task(FiberBase* f) noexcept;
// Prints "fiber N panicked: ..., and nobody observed it (<how>)" and applies PanicPolicy::Abort.
void report_unobserved_panic(FiberBase& f, const std::string& how) noexcept;

void local_set_add(LocalSetCore* c, FiberBase* f) noexcept;
void local_set_remove(LocalSetCore* c, FiberBase* f) noexcept;
}  // namespace weft::detail
