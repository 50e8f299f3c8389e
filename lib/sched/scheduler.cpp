#include "sched/scheduler.hpp"

#include "sched/wait.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace weft::detail {

namespace {
std::mutex g_runtimes_mu;
std::uint64_t g_runtime_seq = 0;
}  // namespace
}  // namespace weft::detail

// weft_runtime_list, the head of the list of live runtimes, is defined with the table that lets
// tools/gdb read it without debug info (lib/introspect/debug_layout.cpp).

namespace weft::detail {

Scheduler::Scheduler(const Config& cfg)
    : cfg_(cfg),
      sim_(cfg.sim_seed ? std::make_unique<Simulation>(*cfg.sim_seed, cfg.sim_max_steps) : nullptr),
      idle_(static_cast<unsigned>(cfg.workers)) {
  for (unsigned i = 0; i < cfg_.workers; ++i) workers_.push_back(std::make_unique<Worker>(*this, i));
  if (sim_) {
    // Steal victims are chosen from the seed too, so that each seed explores its own schedule.
    for (auto& w : workers_) w->rng_ = static_cast<std::uint32_t>(sim_->next_random()) | 1u;
  }
  install_cancel_escape_report();
  std::lock_guard lk(g_runtimes_mu);
  runtime_id_ = ++g_runtime_seq;
  next_runtime_ = weft_runtime_list;
  weft_runtime_list = this;
}

Scheduler::~Scheduler() {
  shutdown();
  std::lock_guard lk(g_runtimes_mu);
  for (Scheduler** p = &weft_runtime_list; *p; p = &(*p)->next_runtime_) {
    if (*p == this) {
      *p = next_runtime_;
      break;
    }
  }
}

void Scheduler::for_each_runtime(void (*fn)(Scheduler&, void*), void* arg) {
  std::lock_guard lk(g_runtimes_mu);
  for (Scheduler* s = weft_runtime_list; s; s = s->next_runtime_) fn(*s, arg);
}

void Scheduler::start() {
  if (sim_) return;  // no threads: whoever joins one of its fibers runs them (Simulation::run_until)
  for (auto& w : workers_) w->start();
}

long Scheduler::live_fibers() const noexcept {
  // Finished first: a finish we see happened after its spawn, which the later reads then see too,
  // so the difference is never below the true count (shutdown relies on never seeing 0 early).
  std::uint64_t finished = 0, spawned = 0;
  for (auto& w : workers_) finished += w->metrics.finished.load(std::memory_order_acquire);
  spawned = outside_spawned_.load(std::memory_order_seq_cst);  // pairs with spawn(): see there
  for (auto& w : workers_) spawned += w->metrics.spawned.load(std::memory_order_acquire);
  return static_cast<long>(spawned - finished);
}

std::uint64_t Scheduler::spawned_total() const noexcept {
  std::uint64_t n = outside_spawned_.load(std::memory_order_acquire);
  for (auto& w : workers_) n += w->metrics.spawned.load(std::memory_order_acquire);
  return n;
}

long Scheduler::live_stacks() const noexcept {
  long n = 0;
  for (auto& w : workers_) n += w->stacks_handed_out();
  return n;
}

bool Scheduler::help_wanted(const Worker* self) const noexcept {
  for (auto& w : workers_) {
    if (w.get() != self && w->wants_help()) return true;
  }
  return false;
}

bool Scheduler::any_work_visible() const noexcept {
  if (!inject_.empty()) return true;
  for (auto& w : workers_) {
    if (w->has_stealable_work()) return true;
  }
  return false;
}

void Scheduler::notify_parked() noexcept {
  if (sim_) return;  // nobody parks in a simulation
  std::atomic_thread_fence(std::memory_order_seq_cst);
  int idx = idle_.worker_to_notify();
  if (idx >= 0) workers_[static_cast<unsigned>(idx)]->unpark();
}

void Scheduler::schedule(FiberBase* f, bool is_wake) noexcept {
  Worker* cur = current_worker();
  if (cur && &cur->scheduler() != this) cur = nullptr;
  if (Worker* pin = rec(f)->pinned_ ? rec(f)->pinned_ : rec(f)->home_) {
    rec(f)->state_.store(FiberState::Runnable, std::memory_order_relaxed);
    if (pin == cur) {
      pin->pinned_local_.push(f);
    } else {
      pin->push_inbox(f);
    }
    return;
  }
  if (cur) {
    cur->schedule_local(f, is_wake);
    return;
  }
  rec(f)->state_.store(FiberState::Runnable, std::memory_order_relaxed);
  inject_.push(f);
  notify_parked();
}

namespace {
// Fiber ids: unique per process. Threads take blocks of ids so spawning does not contend.
std::atomic<std::uint64_t> g_next_id_block{1};
thread_local std::uint64_t tls_next_id = 0;
thread_local std::uint64_t tls_id_end = 0;
constexpr std::uint64_t kIdBlock = 1024;

std::uint64_t next_fiber_id() noexcept {
  if (tls_next_id == tls_id_end) {
    tls_next_id = g_next_id_block.fetch_add(kIdBlock, std::memory_order_relaxed);
    tls_id_end = tls_next_id + kIdBlock;
  }
  return tls_next_id++;
}
}  // namespace

void Scheduler::registry_add(FiberBase* f) noexcept {
  rec(f)->reg_shard_ = static_cast<std::uint8_t>(f->id_ % kShards);
  Shard& s = shards_[rec(f)->reg_shard_];
  std::lock_guard lk(s.lock);
  rec(f)->reg_prev_ = nullptr;
  rec(f)->reg_next_ = s.head;
  if (s.head) rec(s.head)->reg_prev_ = f;
  s.head = f;
}

void Scheduler::registry_remove(FiberBase* f) noexcept {
  Shard& s = shards_[rec(f)->reg_shard_];
  std::lock_guard lk(s.lock);
  if (rec(f)->reg_prev_) rec(rec(f)->reg_prev_)->reg_next_ = rec(f)->reg_next_; else s.head = rec(f)->reg_next_;
  if (rec(f)->reg_next_) rec(rec(f)->reg_next_)->reg_prev_ = rec(f)->reg_prev_;
  rec(f)->reg_prev_ = rec(f)->reg_next_ = nullptr;
}

void Scheduler::spawn(FiberBase* f, Options&& o, const std::source_location& loc, JoinWaiter* joiner,
                      bool local) {
  Worker* cur = current_worker();
  const bool inside = cur && &cur->scheduler() == this;
  if (local) {
    FiberBase* parent = inside ? cur->current() : nullptr;
    if (!parent || !rec(parent)->local_set_) {
      f->release();
      throw Error("weft::spawn_local: no LocalSet is active here; call it inside LocalSet::run_until "
                  "(or from a fiber spawned with spawn_local)");
    }
    rec(f)->home_ = cur;
    rec(f)->local_set_ = rec(parent)->local_set_;
    rec(f)->local_ = true;
  }
  if (o.stack_size != 0 && o.stack_size < 16 * 1024) {
    f->release();
    throw Error("weft::spawn: Options::stack_size " + std::to_string(o.stack_size) +
                " bytes is too small for a fiber stack; use at least 16384 (or 0 for the default)");
  }
  // Count before checking (a spawn from outside the runtime): shutdown() publishes
  // shutting_down_ and then waits for live_fibers() to reach 0. Both sides are seq_cst, so either
  // this spawn sees the flag and backs out, or shutdown sees the count and waits for the fiber
  // (which then starts cancelled, or meets the flag at its first suspension point). Checking first
  // let shutdown see 0 in between and stop the workers with the fiber still queued.
  // A spawn from inside is counted by its worker; its parent is alive, so live_fibers() > 0.
  if (!inside) outside_spawned_.fetch_add(1, std::memory_order_seq_cst);
  if (stopping() || (!inside && shutting_down_.load(std::memory_order_seq_cst))) {
    if (!inside) outside_spawned_.fetch_sub(1, std::memory_order_seq_cst);
    f->release();  // the running fiber's reference; the JoinHandle drops the other
    throw Error("weft::spawn: the runtime has shut down (or is shutting down); spawn before "
                "destroying the Runtime, or check Handle validity");
  }
  init_task_identity(f, std::move(o), loc);
  if (sim_) f->id_ = sim_->next_fiber_id();  // per-simulation ids: a replay prints the same ones
  rec(f)->sched_ = this;
  rec(f)->joiner_ = joiner;
  rec(f)->shutdown_flag_ = &shutting_down_;
  rec(f)->abort_on_panic_ = cfg_.panic_policy == PanicPolicy::Abort;
  if (inside) {
    cur->metrics.bump(cur->metrics.spawned);
    rec(f)->created_ns_ = cur->coarse_now_;
  } else {
    rec(f)->created_ns_ = coarse_ns();
  }
  registry_add(f);
  if (const unsigned obs = observe_flags(); __builtin_expect(obs != 0, 0)) {
    const std::uint64_t now = mono_ns();
    rec(f)->runnable_since_ns_.store(now, std::memory_order_relaxed);
    if (obs & kObserveTrace) {
      FiberBase* parent = inside ? cur->current() : nullptr;
      if (!rec(f)->name_.empty()) trace_name(f->id_, rec(f)->name_);
      trace_emit(TraceEv::Spawn, f->id_, parent ? parent->id_ : 0, nullptr, now);
    }
  }
  if (local) local_set_add(rec(f)->local_set_, f);
  // During shutdown a new fiber starts cancelled — unless its parent is cleaning up (unwinding,
  // in a catch block or shielded): a destructor that runs select or joins a helper must be able
  // to finish its work. Such cleanup children are bounded by shutdown_timeout, not cancelled.
  if (shutting_down()) {
    FiberBase* parent = inside ? cur->current() : nullptr;
    if (parent && (rec(parent)->cleanup_child_ || !cancel_deliverable(parent))) {
      rec(f)->cleanup_child_ = true;
    } else {
      request_cancel(f, Cancelled::Reason::Shutdown);
    }
  }
  schedule(f, false);
}

void complete_task(FiberBase* f) noexcept {
  rec(f)->state_.store(FiberState::Finished, std::memory_order_relaxed);
  std::lock_guard lk(rec(f)->join_lock_);
  // The joiner first: once finished() reads true, the completion is already queued for a JoinSet.
  if (JoinWaiter* j = std::exchange(rec(f)->joiner_, nullptr)) notify_joiner(j, f);
  f->done_.store(true, std::memory_order_release);
}

void init_task_identity(FiberBase* f, Options&& o, const std::source_location& loc) noexcept {
  f->id_ = next_fiber_id();
  rec(f)->name_ = std::move(o.name);
  rec(f)->stack_size_ = o.stack_size;
  rec(f)->spawn_site_ = loc;
}

void Scheduler::on_finished(FiberBase* f) noexcept {
  registry_remove(f);
  if (rec(f)->local_) local_set_remove(rec(f)->local_set_, f);
  // Count it finished before completion is published: whoever returns from join() or sees
  // is_finished() must not still find it among the live fibers. (It is off its stack already, so
  // shutdown seeing 0 a moment early only means this worker is finishing complete_task.)
  Worker* w = current_worker();  // on_finished runs on the worker where the fiber finished
  w->metrics.bump(w->metrics.finished);
  // Only the running fiber's own reference left (detached, or its handle dropped, and no JoinSet):
  // nobody can join it or ask whether it finished, and no joiner can be installed any more
  // (that takes a reference first), so the completion has no reader. Skipping it skips the join
  // lock's exchange, a full fence, on every detached fiber (bench/RESULTS.md, thirteenth session).
  if (f->refs_.load(std::memory_order_acquire) == 1) {
    rec(f)->state_.store(FiberState::Finished, std::memory_order_relaxed);
  } else {
    complete_task(f);
  }
  if (shutting_down()) {
    std::lock_guard lk(live_mu_);
    live_cv_.notify_all();
  }
  f->release();  // the running fiber's reference
}

void Scheduler::shutdown() {
  std::lock_guard guard(shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  top_server_.reset();  // it holds a Handle to us
  if (Worker* cur = current_worker(); cur && &cur->scheduler() == this) {
    std::fputs("weft: a Runtime was shut down or destroyed from one of its own fibers; that would wait "
               "for itself forever. Shut it down from the thread that owns it.\n", stderr);
    std::abort();
  }
  shutting_down_.store(true, std::memory_order_seq_cst);
  if (sim_) {
    shutdown_simulation();
    return;
  }
  // Cancel until nothing is left: unwinding fibers may spawn (those start cancelled).
  auto deadline = cfg_.shutdown_timeout ? std::chrono::steady_clock::now() + *cfg_.shutdown_timeout
                                        : std::chrono::steady_clock::time_point::max();
  bool timed_out = false;
  {
    for_each_live([](FiberBase* f) { request_cancel(f, Cancelled::Reason::Shutdown); });
    std::unique_lock lk(live_mu_);
    while (live_fibers() > 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        timed_out = true;
        break;
      }
      auto until = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(50));
      live_cv_.wait_until(lk, until);
    }
  }
  if (timed_out) {
    std::string msg = "weft: shutdown timed out with " + std::to_string(live_fibers()) +
                      " fiber(s) still alive; their stacks are leaked (never freed under live frames):\n";
    for_each_live([&](FiberBase* f) {
      msg += "  fiber " + std::to_string(f->id_) + " '" + rec(f)->name_ + "' spawned at " +
             rec(f)->spawn_site_.file_name() + ":" + std::to_string(rec(f)->spawn_site_.line()) + "\n";
    });
    std::fputs(msg.c_str(), stderr);
  }
  stop_.store(true, std::memory_order_seq_cst);
  for (auto& w : workers_) w->unpark();
  for (auto& w : workers_) w->join();
  trace_env_detach(this);
}

// A simulation shuts down like a real runtime, with the destroying thread running the unwinding
// fibers. What cannot finish (blocked forever in cleanup, or never ending) is reported like a
// shutdown timeout and leaked: a destructor cannot throw the simulation's failure.
void Scheduler::shutdown_simulation() {
  for_each_live([](FiberBase* f) { request_cancel(f, Cancelled::Reason::Shutdown); });
  try {
    sim_->run_until(*this, nullptr);
  } catch (const std::exception& e) {
    std::string msg = std::string("weft: shutdown of a simulated runtime left fibers alive; their stacks "
                                  "are leaked: ") + e.what() + "\n";
    std::fputs(msg.c_str(), stderr);
  }
  stop_.store(true, std::memory_order_seq_cst);
  trace_env_detach(this);
}

}  // namespace weft::detail
