// A worker: one OS thread with its run queue, LIFO slot, libev loop and stack cache, that runs
// fibers until the runtime stops (doc/design.md §4); and the calling thread's worker and fiber.
//
// Threading rules:
//  - A Worker's fields are touched only by its own thread, except: `queue_` (stealers), `inbox_`
//    (any thread, under inbox_mu_), `reactor_.unpark()` (any thread) and the metric counters
//    (relaxed atomics, read by anyone).
//  - A fiber runs on at most one worker at a time; while suspended it belongs to whatever queue or
//    wait list holds it. `pinned_` fibers (waiting on a watcher of a worker's loop, or spawn_local)
//    are only ever run by that worker, via its inbox or its `pinned_local_` list.
#pragma once

#include "fiber/stack_pool.hpp"
#include "fiber/switch.hpp"
#include "observe/observe.hpp"
#include "platform/tls.hpp"
#include "reactor/reactor.hpp"
#include "sched/fiber_list.hpp"
#include "sched/run_queue.hpp"

#include "fiber/fiber_record.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>

#include <pthread.h>

namespace weft::detail {

class Scheduler;
class Simulation;

// Why a fiber switched back to its worker.
// Migrate: the fiber set rec(f)->pinned_ to another worker and continues there (an fd wait moving
// to the runtime's I/O worker, loop_wait.cpp).
enum class SwitchReason : std::uint8_t { Yield, Park, Finish, Migrate };

struct WorkerCounters {
  std::atomic<std::uint64_t> fibers_run{0};
  std::atomic<std::uint64_t> steals{0};        // successful steal operations by this worker
  std::atomic<std::uint64_t> stolen{0};        // fibers taken by those steals
  std::atomic<std::uint64_t> parks{0};
  std::atomic<std::uint64_t> unparks{0};       // park() returned (parks - unparks = parked now)
  std::atomic<std::uint64_t> parked_ns{0};     // time spent parked (busy = uptime - parked)
  std::atomic<std::uint64_t> parked_since{0};  // start of the park in progress, 0 when running
  std::atomic<std::uint64_t> inject_pulls{0};
  // Fibers spawned from / finished on this worker. Owner-written with release stores; live
  // fibers = sum(spawned) - sum(finished), read finished-first (see Scheduler::live_fibers).
  std::atomic<std::uint64_t> spawned{0};
  std::atomic<std::uint64_t> finished{0};
  void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }
};

class Worker {
 public:
  Worker(Scheduler& s, unsigned index);
  ~Worker();

  void start();
  void join();
  // The calling thread's stack and TSan context, as the worker side of a switch (pthread_getattr_np:
  // on the main thread it parses /proc/self/maps, so a caller attaching several workers asks once).
  static Endpoint calling_thread_stack() noexcept;
  // Makes the calling thread, whose stack is `thread_stack`, the one that runs this worker's fibers:
  // it and the thread's exception state become the worker side of every switch (main() does it; so
  // does a simulation's driver, for every worker).
  void attach_to_calling_thread(const Endpoint& thread_stack) noexcept;

  unsigned index() const noexcept { return index_; }
  Scheduler& scheduler() const noexcept { return sched_; }
  Reactor& reactor() noexcept { return reactor_; }
  // The loop's callback woke a fiber on this worker (owner thread).
  void note_loop_wake() noexcept { ++dispatch_woke_; }
  // The fiber running on this worker. Relaxed atomic: other threads (stall watchdog) read it too.
  FiberBase* current() const noexcept { return current_.load(std::memory_order_relaxed); }
  std::uint64_t started_ns() const noexcept { return started_ns_; }
  // Coarse monotonic time, refreshed with observe_ (for fiber ages; owner thread).
  std::uint64_t coarse_now_ = 0;
  // The running fiber's cooperative budget (weft/coop.hpp): refilled on every resume, spent by
  // operations that may complete without suspending. Owner thread only.
  int coop_budget_ = 0;
  pthread_t native_thread() noexcept { return thread_.native_handle(); }
  // The C++ exception state of the thread running this worker (what thread_eh_globals() returns
  // there, without its TLS lookup through libstdc++: a call and __tls_get_addr per wait).
  EhGlobals* eh_globals() const noexcept { return eh_; }

  // ---- called by fibers running on this worker (owner thread)
  // Switches the running fiber out; returns when it is resumed (maybe on another worker). A Yield
  // or Park may switch straight to the fiber the worker loop would run next (take_handoff).
  static void switch_out(FiberBase* f, SwitchReason why) noexcept;
  // First thing on a fiber's stack after any switch into it (switch_out's return, fiber_entry):
  // records where the switch came from and, if another fiber handed off to this one, finishes that
  // fiber's switch-out. Returns the worker now running the fiber (its current()).
  static Worker* resumed(Transfer t) noexcept;
  // Makes `f` runnable from this worker's thread.
  void schedule_local(FiberBase* f, bool is_wake) noexcept;

  // ---- any thread
  void push_inbox(FiberBase* f) noexcept;
  void unpark() noexcept { reactor_.unpark(); }
  FiberBase* steal_from(Worker& victim) noexcept { return victim.queue_.steal_into(queue_); }
  bool has_stealable_work() const noexcept { return !queue_.empty(); }
  // It asked for help with a backlog its loop left (ask_help) and has stealable work still.
  bool wants_help() const noexcept { return wants_help_.load(std::memory_order_seq_cst) && has_stealable_work(); }
  long stacks_handed_out() const noexcept { return stacks_.handed_out(); }
  std::size_t queue_len() const noexcept { return queue_.len(); }
  WorkerCounters metrics;

  // Per-switch state that the fiber side reads (owner thread).
  fctx::fcontext_t sched_ctx_ = nullptr;
  SwitchReason switch_reason_ = SwitchReason::Yield;
  Endpoint endpoint_;  // this worker thread's own stack, for the sanitizers
  void* asan_fake_stack_ = nullptr;

 private:
  friend class Scheduler;
  friend class Simulation;  // drives next_local/steal_any/run itself, on one thread
  void main();
  // A simulation's question: would next_local() find a fiber?
  bool has_local_work() const noexcept {
    return !queue_.empty() || lifo_ || !pinned_local_.empty() || inbox_nonempty_.load(std::memory_order_relaxed);
  }
  FiberBase* next_local() noexcept;
  // Inline, defined in worker.cpp and only called there (as are take_handoff, after_switch and
  // push_queue): the hot path of every run and hand-off.
  inline FiberBase* next_local_inline() noexcept;
  FiberBase* inject_turn() noexcept;
  FiberBase* next_local_rest() noexcept;
  FiberBase* search() noexcept;
  // One look at the other workers' queues, then the global queue; steals from the first with work.
  FiberBase* steal_any() noexcept;
  void end_search() noexcept;
  FiberBase* spin_search() noexcept;
  void run(FiberBase* f) noexcept;
  // Makes `f` the running fiber: the bookkeeping before any switch into it (from the loop or by a
  // hand-off), including its stack on first run and its exception state.
  void enter(FiberBase* f) noexcept;
  // The fiber a Yield/Park of the running fiber may switch to directly, or null (see worker.cpp).
  inline FiberBase* take_handoff() noexcept;
  inline void after_switch(FiberBase* f, bool handed_off = false) noexcept;
  void after_finish(FiberBase* f) noexcept;
  void park() noexcept;
  void drain_inbox() noexcept;
  inline void push_queue(FiberBase* f) noexcept;
  void push_queue_full(FiberBase* f) noexcept;
  void maybe_poll() noexcept;
  void poll_now() noexcept;
  void check_stack_pointer(FiberBase* f) noexcept;
  std::uint32_t next_random() noexcept;

  Scheduler& sched_;
  unsigned index_;
  std::thread thread_;
  RunQueue queue_;
  FiberBase* lifo_ = nullptr;
  unsigned lifo_runs_ = 0;        // consecutive runs from the LIFO slot
  // The loop's dispatch (park or poll running libev's callbacks) and what it left behind. Fibers
  // the loop wakes are queued here without waking a peer; afterwards the worker asks for help only
  // if it cannot clear them soon (check_help), and polls again only after running as many fibers
  // as the dispatch woke (poll_now). Owner thread only.
  bool dispatching_ = false;
  unsigned dispatch_woke_ = 0;             // fibers the last dispatch woke (note_loop_wake)
  std::uint64_t dispatch_runs_mark_ = 0;   // metrics.fibers_run when it ended
  std::uint64_t dispatch_end_ns_ = 0;      // when it ended (mono_ns), if help_armed_
  bool help_armed_ = false;                // it left a backlog: check_help after each run
  bool help_sent_ = false;                 // ... and help was asked for already (ask_help)
  std::uint64_t help_checked_runs_ = 0;    // runs since the dispatch at the last check_help
  // Published by ask_help until the backlog is cleared: a peer that parks later sees it (park).
  std::atomic<bool> wants_help_{false};
  void ask_help() noexcept;
  std::uint64_t run_ns_estimate_ = 0;      // average run after a dispatch (EWMA, check_help)
  void begin_dispatch() noexcept {
    dispatching_ = true;
    dispatch_woke_ = 0;
  }
  void end_dispatch(std::uint64_t now_ns) noexcept;
  void check_help() noexcept;
  bool look_before_rerun_ = false;  // the last fiber yielded with nothing else queued here
  FiberList pinned_local_;        // pinned fibers made runnable on this thread
  std::mutex inbox_mu_;
  FiberList inbox_;               // pinned fibers made runnable from other threads
  std::atomic<bool> inbox_nonempty_{false};
  Reactor reactor_;
  StackCache stacks_;
  std::atomic<FiberBase*> current_{nullptr};
  std::uint64_t started_ns_ = 0;   // when the worker started (for busy time); set before start()
  std::uint64_t slice_start_ns_ = 0;  // start of the current run (only while timing/tracing)
  // This worker's copy of observe_flags(), refreshed every kPollInterval runs and at every park, so
  // the run path tests a field of `this` instead of loading a global through the GOT.
  unsigned observe_ = 0;
  void refresh_observe() noexcept { observe_ = observe_flags(); }
  unsigned clock_countdown_ = 1;  // polls until coarse_now_ is refreshed again
  template <bool kObserved>
  void run_impl(FiberBase* f) noexcept;
  void observe_run_start(FiberBase* f, unsigned obs) noexcept;
  void observe_run_stop(FiberBase* f) noexcept;
  std::uint64_t tick_ = 0;
  unsigned inject_countdown_ = 1;  // runs until the global queue gets priority again
  unsigned poll_countdown_ = 1;    // runs until a non-blocking reactor poll
  std::uint32_t rng_;
  bool searching_ = false;
  EhGlobals* eh_ = nullptr;
  // Direct hand-offs: allowed unless a simulation picks every run itself. `handoff_from_` is the
  // fiber that just switched straight to the running one; its after_switch is pending until the
  // resumed side runs it (resumed), which is before anything else on this thread.
  bool handoff_ok_ = true;
  FiberBase* handoff_from_ = nullptr;
  FiberBase* loop_next_ = nullptr;  // taken by take_handoff but not started: the loop runs it next
};
}  // namespace weft::detail

// The calling thread's worker. Initial-exec TLS so it can be read with one instruction below.
extern "C" {
extern thread_local weft::detail::Worker* weft_tls_worker __attribute__((tls_model("initial-exec")));
}

namespace weft::detail {

Worker* current_worker_slow() noexcept;
// For the stack-overflow handler (fiber/overflow.hpp) of a thread that runs fibers: the fiber
// running on the calling thread; a thread-local read, async-signal-safe.
const FiberBase* running_fiber_for_signal() noexcept;

// A fiber's side of a switch: its stack and sanitizer state.
inline Endpoint fiber_endpoint(FiberBase* f) noexcept {
  return Endpoint{&rec(f)->asan_fake_stack_, rec(f)->stack_.lo, rec(f)->stack_.size, rec(f)->stack_.tsan_fiber};
}

// Entry function of every fiber's context (lib/sched/fiber_entry.cpp): runs it, then switches
// away for good.
void fiber_entry(Transfer t) noexcept;

// The worker running on this thread, or null. Opaque on purpose (doc/design.md §7): g++ may cache a
// thread_local's *address* across a call, and a fiber that migrated between two reads would then
// read its previous thread's slot. On x86-64 the read is a volatile asm that recomputes the address
// from %fs every time; elsewhere it is a call the optimiser cannot see through.
inline Worker* current_worker() noexcept {
#ifdef WEFT_PLATFORM_TLS_ASM
  Worker* w;
  WEFT_PLATFORM_LOAD_TLS_IE(weft_tls_worker, w);
  return w;
#else
  return current_worker_slow();
#endif
}
// The fiber running on this thread, or null.
inline FiberBase* current_fiber() noexcept {
  Worker* w = current_worker();
  return w ? w->current() : nullptr;
}
}  // namespace weft::detail
