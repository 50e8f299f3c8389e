#include "fiber/overflow.hpp"
#include "sched/chaos.hpp"
#include "sched/scheduler.hpp"
#include "sched/wait.hpp"

#include <weft/coop.hpp>
#include <weft/detail/cpu_relax.hpp>

#include <pthread.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" {
thread_local weft::detail::Worker* weft_tls_worker __attribute__((tls_model("initial-exec"))) = nullptr;
}

namespace weft::detail {

namespace {

constexpr unsigned kInjectInterval = 61;  // check the global queue every N runs, for fairness
constexpr unsigned kPollInterval = 61;    // poll the reactor every N runs while busy
constexpr unsigned kMaxLifoRuns = 3;      // consecutive LIFO-slot runs before the queue gets a turn
constexpr std::size_t kInjectBatch = 32;
constexpr unsigned kSpinRounds = 64;        // ~16 pauses each: a few microseconds in all
// A worker whose loop woke more fibers than it clears quickly wakes a parked peer when the last of
// them would otherwise wait longer than this behind the others (check_help).
constexpr std::uint64_t kHelpAfterNs = 500'000;

}  // namespace

__attribute__((noipa)) Worker* current_worker_slow() noexcept { return weft_tls_worker; }

const FiberBase* running_fiber_for_signal() noexcept {
  const Worker* w = weft_tls_worker;
  return w ? w->current() : nullptr;
}

Worker::Worker(Scheduler& s, unsigned index)
    : sched_(s), index_(index), stacks_(s.config().stack_size), rng_(0x9e3779b9u * (index + 1)) {
  handoff_ok_ = s.sim() == nullptr;  // a simulation chooses every run itself (Simulation::step)
}

Worker::~Worker() { join(); }

void Worker::start() {
  started_ns_ = mono_ns();
  thread_ = std::thread([this] { main(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

std::uint32_t Worker::next_random() noexcept {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 17;
  rng_ ^= rng_ << 5;
  return rng_;
}

Endpoint Worker::calling_thread_stack() noexcept {
  Endpoint e;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* addr = nullptr;
    std::size_t size = 0;
    pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    e.stack_bottom = addr;
    e.stack_size = size;
  }
  e.tsan_fiber = tsan_current_fiber();
  return e;
}

void Worker::attach_to_calling_thread(const Endpoint& thread_stack) noexcept {
  eh_ = thread_eh_globals();
  endpoint_ = thread_stack;
  endpoint_.asan_fake_stack = &asan_fake_stack_;
  refresh_observe();
  coarse_now_ = coarse_ns();
}

void Worker::main() {
  weft_tls_worker = this;
  {
    // Linux keeps 15 characters (16 with the NUL): cut the prefix, never the index, so that
    // top, perf, gdb and traces tell the workers apart.
    const std::string& prefix = sched_.config().thread_name;
    const std::string suffix = (prefix.empty() ? "" : "-") + std::to_string(index_);
    const std::string name = (prefix.empty() ? std::string("weft-w") : prefix).substr(0, 15 - std::min<std::size_t>(suffix.size(), 15)) + suffix;
    pthread_setname_np(pthread_self(), name.c_str());
  }
  AltStack alt(&running_fiber_for_signal);  // the overflow handler runs on it
  attach_to_calling_thread(calling_thread_stack());

  while (!sched_.stopping()) {
    ++tick_;
    // A fiber that yielded with nothing else queued here does not get the worker back at once:
    // the others' queues get a look first (see after_switch).
    FiberBase* f = std::exchange(loop_next_, nullptr);
    if (!f && std::exchange(look_before_rerun_, false)) f = steal_any();
    if (!f) f = next_local();
    if (f && searching_) end_search();
    if (!f) f = search();
    // Spin only when it can pay: while fibers wait for fds on any loop, the next work arrives
    // through epoll, which only a parked worker polls, so spinning would delay that work and take
    // the CPU from whoever produces it (on a 2-core echo run: 19 % of the server's samples, for
    // nothing). Timer waiters do not count: their moment is known and rarely within a spin.
    if (!f && searching_ && sched_.fd_waiters.load(std::memory_order_relaxed) == 0) f = spin_search();
    if (f) {
      run(f);
      if (help_armed_) check_help();
      maybe_poll();
      continue;
    }
    park();
  }
  weft_tls_worker = nullptr;
}

inline __attribute__((always_inline)) void Worker::push_queue(FiberBase* f) noexcept {
  if (!queue_.push(f)) [[unlikely]] push_queue_full(f);
  // Only worth waking a peer if there is more queued than what we will run next ourselves; and not
  // from the loop's callbacks (see end_dispatch).
  if (queue_.len() > 1 && !dispatching_) sched_.notify_parked_local();
}

// The common cases inline (the loop and every hand-off come here); the rare turns out of line, so
// that the hot path saves no registers for them (yield_many: a tenth of a yield's instructions
// were prologues and epilogues of these small functions).
inline __attribute__((always_inline)) FiberBase* Worker::next_local_inline() noexcept {
  if (--inject_countdown_ == 0) {
    inject_countdown_ = kInjectInterval;
    if (FiberBase* f = inject_turn()) return f;
  }
  if (inbox_nonempty_.load(std::memory_order_acquire)) drain_inbox();
  // Pinned fibers take turns with the queue so neither side can starve the other.
  if ((tick_ & 1) && !pinned_local_.empty()) return pinned_local_.pop();
  if (lifo_ && lifo_runs_ < kMaxLifoRuns) {
    ++lifo_runs_;
    return std::exchange(lifo_, nullptr);
  }
  lifo_runs_ = 0;
  if (FiberBase* f = queue_.pop()) return f;
  return next_local_rest();
}

FiberBase* Worker::next_local() noexcept { return next_local_inline(); }

// Every kInjectInterval runs the global queue goes first, so that fibers spawned from outside
// are not starved by a busy local queue.
FiberBase* Worker::inject_turn() noexcept {
  if (sched_.inject().empty()) return nullptr;
  FiberBase* first = nullptr;
  if (!sched_.inject().pop_batch(&first, 1)) return nullptr;
  metrics.bump(metrics.inject_pulls);
  return first;
}

// The local queue is empty: the LIFO slot's fiber, a pinned one, or a batch from the global queue.
FiberBase* Worker::next_local_rest() noexcept {
  if (FiberBase* f = std::exchange(lifo_, nullptr)) return f;
  if (!pinned_local_.empty()) return pinned_local_.pop();
  // Refill from the global queue in a batch.
  FiberBase* batch[kInjectBatch];
  const std::size_t n = sched_.inject().pop_batch(batch, kInjectBatch);
  if (n == 0) return nullptr;
  metrics.bump(metrics.inject_pulls, n);
  for (std::size_t i = 1; i < n; ++i) push_queue(batch[i]);
  return batch[0];
}

FiberBase* Worker::search() noexcept {
  if (!searching_) {
    if (!sched_.idle().worker_to_searching()) return nullptr;
    searching_ = true;
  }
  FiberBase* f = steal_any();
  if (f) end_search();
  return f;
}

FiberBase* Worker::steal_any() noexcept {
  auto& ws = sched_.workers();
  const unsigned n = static_cast<unsigned>(ws.size());
  // A random first victim without a division (a lone yielder comes here on every yield: two
  // divisions were a quarter of its yield's cost).
  unsigned v = static_cast<unsigned>((std::uint64_t{next_random()} * n) >> 32);
  for (unsigned i = 0; i < n; ++i, v = v + 1 == n ? 0 : v + 1) {
    Worker& victim = *ws[v];
    if (&victim == this || !victim.has_stealable_work()) continue;
    if (FiberBase* f = steal_from(victim)) {
      metrics.bump(metrics.steals);
      metrics.bump(metrics.stolen, 1 + queue_.len());
      if (observe_flags() & kObserveTrace) trace_emit(TraceEv::Steal, victim.index_, 1 + queue_.len());
      return f;
    }
  }
  FiberBase* first = nullptr;
  if (sched_.inject().pop_batch(&first, 1)) {
    metrics.bump(metrics.inject_pulls);
    return first;
  }
  return nullptr;
}

// Before parking, a searching worker without fd waiters keeps looking for a few
// microseconds. Work often arrives in streams (a fiber spawning in a loop, a ping-pong across
// workers); parking and being unparked again costs two syscalls and a thread wake-up (~10-30 µs
// here), and while we are searching, pushers do not need to notify anyone at all.
FiberBase* Worker::spin_search() noexcept {
  for (unsigned round = 0; round < kSpinRounds; ++round) {
    for (int i = 0; i < 16; ++i) cpu_relax();
    if (sched_.stopping()) return nullptr;
    if (inbox_nonempty_.load(std::memory_order_relaxed) || !sched_.inject().empty() ||
        sched_.any_work_visible()) {
      FiberBase* f = next_local();
      if (f) {
        end_search();
        return f;
      }
      if ((f = search())) return f;
    }
  }
  return nullptr;
}

void Worker::end_search() noexcept {
  searching_ = false;
  // The last searcher to find work wakes another, so there is always someone looking.
  if (sched_.idle().worker_from_searching()) sched_.notify_parked();
}

void Worker::park() noexcept {
  const bool was_searching = std::exchange(searching_, false);
  const bool last_searcher = sched_.idle().worker_to_parked(index_, was_searching);
  // We were the last searcher and work appeared meanwhile, or a peer asked for help with a backlog
  // before we were parked for it to find (ask_help): make sure someone picks it up (likely
  // ourselves, the latest sleeper, at once).
  if ((last_searcher && sched_.any_work_visible()) || sched_.help_wanted(this)) sched_.notify_parked();
  metrics.bump(metrics.parks);
  if (!sched_.stopping()) {
    // Parks are syscalls already: two clock reads here are noise, and give busy time for free.
    const std::uint64_t t0 = mono_ns();
    if (observe_flags() & kObserveTrace) trace_emit(TraceEv::Park, 0, 0, nullptr, t0);
    metrics.parked_since.store(t0, std::memory_order_relaxed);
    begin_dispatch();
    reactor_.park();
    const std::uint64_t t1 = mono_ns();
    metrics.parked_since.store(0, std::memory_order_relaxed);
    if (observe_flags() & kObserveTrace) trace_emit(TraceEv::Unpark, 0, 0, nullptr, t1);
    metrics.bump(metrics.parked_ns, t1 - t0);
    coarse_now_ = t1;
  }
  refresh_observe();
  metrics.bump(metrics.unparks);
  searching_ = sched_.idle().worker_from_parked(index_);
  // Only now, off the parked list: a help request made while still on it could pick this very
  // worker to wake (the latest sleeper), and the peers would sleep on.
  if (dispatching_) end_dispatch(coarse_now_);
}

// Why the loop's wakes do not wake a peer at once (push_queue skips it while dispatching_): one
// epoll_wait typically readies a handful of sockets whose fibers each run for microseconds. A
// peer woken for them costs an eventfd write here, a thread wake-up there, and — since fd waits
// gather on worker 0 (loop_wait.cpp) — a migration back for each fiber it steals; on a 2-core echo
// run that made the second worker handle 10 % of the requests for 30 % more CPU per request
// (bench/RESULTS.md, eighth session). So the peer is woken only when this worker would not clear
// the backlog soon: backlog x (time per run) > kHelpAfterNs. The time per run is measured after
// each dispatch that left a backlog (one clock read per run while it lasts) and remembered
// (run_ns_estimate_), so that a worker whose runs are known to be long asks at once: otherwise the
// fibers woken with a CPU-heavy one would wait for its whole run before anyone could steal them.
// Until there is an estimate, the first run decides; a burst of thousands (timers expiring
// together) asks after it.
//
// Who can help: a parked peer (woken), a searching one (it steals anyway), or one that parks later —
// which is why a request is published (wants_help_) and not just a notification: a peer that was
// running at the end of the dispatch and parks during a long run here would otherwise sleep
// through it (fd_test's hog case); park() looks for the flag after registering as parked (the
// two sides are a Dekker pair: we publish, then look for sleepers; it registers, then looks for
// requests). Armed whether or not a peer is parked right now (one that parks a moment later is
// the case above), but not on a 1-worker runtime: nobody could help.
void Worker::end_dispatch(std::uint64_t now_ns) noexcept {
  dispatching_ = false;
  dispatch_runs_mark_ = metrics.fibers_run.load(std::memory_order_relaxed);
  const std::uint64_t backlog = queue_.len() + (lifo_ ? 1 : 0);
  if (backlog <= 1 || sched_.workers().size() < 2) return;
  help_armed_ = true;
  help_sent_ = false;
  help_checked_runs_ = 0;
  dispatch_end_ns_ = now_ns ? now_ns : mono_ns();
  if (backlog * run_ns_estimate_ > kHelpAfterNs) ask_help();
}

void Worker::ask_help() noexcept {
  help_sent_ = true;
  wants_help_.store(true, std::memory_order_seq_cst);
  sched_.notify_parked_local();
}

void Worker::check_help() noexcept {
  const std::uint64_t backlog = queue_.len() + (lifo_ ? 1 : 0);
  if (backlog <= 1) {
    help_armed_ = false;  // cleared (alone or helped)
    if (wants_help_.load(std::memory_order_relaxed)) wants_help_.store(false, std::memory_order_relaxed);
    return;
  }
  const std::uint64_t runs = metrics.fibers_run.load(std::memory_order_relaxed) - dispatch_runs_mark_;
  // Once per run: a hand-off checks before its pop, and the loop again if the hand-off fell
  // through to it; a second look would count the same run twice in the estimate.
  if (runs == 0 || runs == help_checked_runs_) return;
  help_checked_runs_ = runs;
  const std::uint64_t per_run = (mono_ns() - dispatch_end_ns_) / runs;
  run_ns_estimate_ = (3 * run_ns_estimate_ + per_run) / 4;
  if (!help_sent_ && backlog * per_run > kHelpAfterNs) ask_help();
}

void Worker::maybe_poll() noexcept {
  if (--poll_countdown_ == 0) poll_now();
}

__attribute__((noinline)) void Worker::poll_now() noexcept {
  poll_countdown_ = kPollInterval;
  refresh_observe();
  // A clock read costs ~300 instructions here (vDSO): refresh the spawn-time clock every 16th poll.
  if (--clock_countdown_ == 0) {
    clock_countdown_ = 16;
    coarse_now_ = coarse_ns();
  }
  if (reactor_.has_watchers()) {
    // Not before the fibers the last dispatch woke have had their turn (as many runs as it woke):
    // polling while they are still queued finds their sockets readable again with no watcher on
    // them, and libev answers with an epoll_ctl to drop each fd and another to re-add it when the
    // fiber waits again (0.8 epoll_ctl per request on a busy echo server). Bounded: the poll waits
    // at most that many runs.
    const std::uint64_t ran = metrics.fibers_run.load(std::memory_order_relaxed) - dispatch_runs_mark_;
    if (ran < dispatch_woke_) {
      poll_countdown_ = dispatch_woke_ - static_cast<unsigned>(ran);
      return;
    }
    begin_dispatch();
    reactor_.poll();
    end_dispatch(0);
  }
}

void Worker::drain_inbox() noexcept {
  FiberList l;
  {
    std::lock_guard lk(inbox_mu_);
    l = inbox_;
    inbox_ = FiberList{};
    inbox_nonempty_.store(false, std::memory_order_relaxed);
  }
  while (FiberBase* f = l.pop()) pinned_local_.push(f);
}

void Worker::push_inbox(FiberBase* f) noexcept {
  {
    std::lock_guard lk(inbox_mu_);
    inbox_.push(f);
    inbox_nonempty_.store(true, std::memory_order_release);
  }
  if (!sched_.sim()) reactor_.unpark();  // a simulation has no thread to wake
}

void Worker::push_queue_full(FiberBase* f) noexcept {
  do {
    // Full: move half of it to the global queue (others can take it from there).
    FiberBase* half[RunQueue::kCapacity / 2];
    if (std::uint32_t n = queue_.take_half(half)) sched_.inject().push_array(half, n);
  } while (!queue_.push(f));
}

void Worker::schedule_local(FiberBase* f, bool is_wake) noexcept {
  rec(f)->state_.store(FiberState::Runnable, std::memory_order_relaxed);
  if (chaos::enabled()) {
    // Shuffle run order: skip the LIFO slot, or go through the global queue (any worker).
    if (chaos::one_in(4)) {
      sched_.inject().push(f);
      sched_.notify_parked();
      return;
    }
    if (chaos::one_in(3)) is_wake = false;
  }
  if (is_wake) {
    // The fiber we just woke is likely to use what we just produced: run it next, cache-hot.
    FiberBase* prev = std::exchange(lifo_, f);
    if (prev) push_queue(prev);
    return;
  }
  push_queue(f);
}

void Worker::run(FiberBase* f) noexcept {
  // One test on the hot path: timing/tracing runs take a separate copy of the run.
  if (__builtin_expect(observe_ != 0, 0)) {
    run_impl<true>(f);
  } else {
    run_impl<false>(f);
  }
}

inline __attribute__((always_inline)) void Worker::enter(FiberBase* f) noexcept {
  current_.store(f, std::memory_order_relaxed);
  rec(f)->state_.store(FiberState::Running, std::memory_order_relaxed);
  coop_budget_ = rec(f)->coop_off_ ? INT_MAX : kCoopBudget;  // a fresh budget per scheduling
  // Before the switch: a dump that saw the old count and reads it again after walking the saved
  // stack knows the walk raced with this run (x86 stores are ordered; the switch is opaque).
  ++rec(f)->runs_;
  metrics.bump(metrics.fibers_run);
  if (!rec(f)->ctx_) {
    rec(f)->stack_ = stacks_.get(rec(f)->stack_size_);
    rec(f)->ctx_ = make_context(rec(f)->stack_, &fiber_entry);
    // One TSan context per stack, kept with it (see fiber_entry.cpp); no-op without TSan.
    if (!rec(f)->stack_.tsan_fiber) rec(f)->stack_.tsan_fiber = tsan_create_fiber();
  }
  // Install the fiber's exception state on this thread for as long as it runs.
  eh_->caught_exceptions = rec(f)->eh_caught_;
  eh_->uncaught_exceptions = rec(f)->eh_uncaught_;
}

template <bool kObserved>
inline __attribute__((always_inline)) void Worker::run_impl(FiberBase* f) noexcept {
  enter(f);
  if constexpr (kObserved) observe_run_start(f, observe_);
  const Endpoint to = fiber_endpoint(f);
  Transfer t = switch_context(rec(f)->ctx_, this, endpoint_, to);
  // Back on the worker: from `f`, or from the last fiber of a chain of hand-offs that began with it
  // (none while observed: take_handoff).
  f = current_.load(std::memory_order_relaxed);
  rec(f)->ctx_ = t.fctx;
  rec(f)->eh_caught_ = eh_->caught_exceptions;
  rec(f)->eh_uncaught_ = eh_->uncaught_exceptions;
  eh_->caught_exceptions = nullptr;
  eh_->uncaught_exceptions = 0;
  current_.store(nullptr, std::memory_order_relaxed);
  if constexpr (kObserved) observe_run_stop(f);
  after_switch(f);
}

void Worker::observe_run_start(FiberBase* f, unsigned obs) noexcept {
  const std::uint64_t now = mono_ns();
  slice_start_ns_ = now;
  const std::uint64_t since = rec(f)->runnable_since_ns_.exchange(0, std::memory_order_relaxed);
  if (since != 0 && now > since) {
    const std::uint64_t d = now - since;
    rec(f)->delay_ns_ += d;
    if (d > rec(f)->max_delay_ns_) rec(f)->max_delay_ns_ = d;
  }
  if (obs & kObserveTrace) trace_emit(TraceEv::RunStart, f->id_, 0, nullptr, now);
}

void Worker::observe_run_stop(FiberBase* f) noexcept {
  const std::uint64_t now = mono_ns();
  const std::uint64_t d = now - slice_start_ns_;
  rec(f)->run_ns_ += d;
  if (d > rec(f)->max_slice_ns_) rec(f)->max_slice_ns_ = d;
  ++rec(f)->timed_runs_;
  if (switch_reason_ == SwitchReason::Yield || switch_reason_ == SwitchReason::Migrate) rec(f)->runnable_since_ns_.store(now, std::memory_order_relaxed);
  if (observe_flags() & kObserveTrace) {
    const char* what = switch_reason_ == SwitchReason::Park && rec(f)->wait_what_ ? rec(f)->wait_what_->what : nullptr;
    trace_emit(TraceEv::RunStop, f->id_, static_cast<std::uint64_t>(switch_reason_), what, now);
  }
}

void Worker::after_finish(FiberBase* f) noexcept {
  stacks_.put(rec(f)->stack_);
  rec(f)->stack_ = Stack{};
  rec(f)->ctx_ = nullptr;
  sched_.on_finished(f);
}

// Inline in both callers (the loop's run and a hand-off's resumed side): the yield and park cases
// are a few instructions, and a call would save registers for the finish case's calls.
inline __attribute__((always_inline)) void Worker::after_switch(FiberBase* f, bool handed_off) noexcept {
  switch (switch_reason_) {
    case SwitchReason::Finish:
      after_finish(f);
      return;
    case SwitchReason::Yield:
      check_stack_pointer(f);
      rec(f)->state_.store(FiberState::Runnable, std::memory_order_relaxed);
      // Alone here, the yielder would run again at once and this worker would never look at the
      // others: a fiber polling with yield_now would starve a fiber queued behind a CPU-bound one
      // on another worker (sched_test). Tokio's yield_now defers the same way. A busy worker
      // (something else queued) pays nothing.
      // (A yield that handed off had something else to run: the loop would not look either.)
      if (!handed_off && !loop_next_ && queue_.empty() && !lifo_ && pinned_local_.empty()) look_before_rerun_ = true;
      if (rec(f)->pinned_ || rec(f)->home_) {
        pinned_local_.push(f);
      } else {
        push_queue(f);
      }
      return;
    case SwitchReason::Migrate:
      check_stack_pointer(f);
      sched_.schedule(f, false);  // to rec(f)->pinned_'s inbox
      return;
    case SwitchReason::Park: {
      check_stack_pointer(f);
      rec(f)->state_.store(FiberState::Suspended, std::memory_order_relaxed);
      std::uint64_t w = rec(f)->wait_word_.load(std::memory_order_acquire);
      if ((w & kStateMask) == kWaiting &&
          rec(f)->wait_word_.compare_exchange_strong(w, (w & ~kStateMask) | kParked, std::memory_order_acq_rel,
                                                std::memory_order_acquire)) {
        return;  // parked: a waker owns it now
      }
      // Woken while it was still switching out: run it again.
      sched_.schedule(f, true);
      return;
    }
  }
}

void Worker::check_stack_pointer(FiberBase* f) noexcept {
  // Guarded stacks fault on overflow; unguarded ones are checked here, after the fact.
  if (!rec(f)->stack_.guarded && static_cast<char*>(rec(f)->ctx_) < rec(f)->stack_.lo + 256) {
    report_stack_overflow(f, "detected at a switch (this stack has no guard page)");
  }
}

// Direct hand-off. When the running fiber yields or parks, the worker loop would only come back to
// pick the next fiber with next_local() and switch to it: two switches and a pass of the loop for
// one change of fiber (half of a yield's cost in yield_many, a channel hand-off's in ping_pong).
// Instead the outgoing fiber picks that fiber itself and jumps straight to it; the incoming side
// finishes the outgoing fiber's switch (after_switch: requeue it, or let it park) once it is off
// its stack (resumed), exactly as the loop would have. The loop still runs whenever one of its
// duties comes due — the periodic poll and global-queue turn (every kPollInterval/kInjectInterval
// runs, counted by hand-offs too), timing or tracing — and a finishing or
// migrating fiber always goes back to it; so a chain of hand-offs is at most a poll interval long.
// Chaos mode hands off only half the time, so that both paths get shuffled.
inline __attribute__((always_inline)) FiberBase* Worker::take_handoff() noexcept {
  if (!handoff_ok_ || observe_ != 0 || poll_countdown_ <= 1 || inject_countdown_ <= 1) return nullptr;
  if (help_armed_) check_help();  // what the loop does after each run
  if (chaos::enabled() && chaos::one_in(2)) return nullptr;
  FiberBase* next = next_local_inline();
  if (next && !rec(next)->ctx_) {
    // Not started yet: its stack is taken and set up on the loop's stack, not on the outgoing
    // fiber's (a stack-cache miss maps one, which would deepen every fiber that hands off to a new
    // one). The loop runs it first.
    loop_next_ = next;
    return nullptr;
  }
  if (next) {
    ++tick_;
    --poll_countdown_;
  }
  return next;
}

void Worker::switch_out(FiberBase* f, SwitchReason why) noexcept {
  Worker* w = rec(f)->worker_;
  w->switch_reason_ = why;
  const Endpoint from = fiber_endpoint(f);
  FiberBase* next = why == SwitchReason::Yield || why == SwitchReason::Park ? w->take_handoff() : nullptr;
  fctx::fcontext_t to_ctx = w->sched_ctx_;
  void* data = nullptr;
  Endpoint to = w->endpoint_;
  if (next) {
    // f's exception state leaves the thread now (the loop would save it after the switch).
    rec(f)->eh_caught_ = w->eh_->caught_exceptions;
    rec(f)->eh_uncaught_ = w->eh_->uncaught_exceptions;
    w->handoff_from_ = f;
    w->enter(next);
    to_ctx = rec(next)->ctx_;
    // The low bit tells the resumed side that a fiber, not the loop, switched to it.
    data = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(w) | 1);
    to = fiber_endpoint(next);
  }
  // One call site for both: a suspended fiber's saved return address is the same whichever way it
  // left, so dumps group identical fibers and gdb's unwinder sees one frame shape.
  const Transfer t = switch_context(to_ctx, data, from, to, why == SwitchReason::Finish);
  resumed(t);
}

Worker* Worker::resumed(Transfer t) noexcept {
  const auto bits = reinterpret_cast<std::uintptr_t>(t.data);
  Worker* w = reinterpret_cast<Worker*>(bits & ~std::uintptr_t{1});
  if (bits & 1) {
    // Handed off to: w's loop is still where it switched to the chain's first fiber.
    FiberBase* prev = std::exchange(w->handoff_from_, nullptr);
    rec(prev)->ctx_ = t.fctx;
    w->after_switch(prev, /*handed_off=*/true);
  } else {
    w->sched_ctx_ = t.fctx;
  }
  rec(w->current())->worker_ = w;
  return w;
}

}  // namespace weft::detail
