#include "sched/wait.hpp"

#include "fiber/switch.hpp"
#include "reactor/timed_park.hpp"
#include "sched/scheduler.hpp"

#include <weft/task.hpp>

#include <algorithm>
#include <chrono>

namespace weft::detail {

bool cancel_deliverable(const FiberBase* f) noexcept {
  if (f->shield_depth_ != 0) return false;
  // Never throw while unwinding or inside a catch block: the fiber's exception state is on this
  // thread while it runs (Worker::run swaps it in).
  const EhGlobals* g = thread_eh_globals();
  return g->uncaught_exceptions == 0 && g->caught_exceptions == nullptr;
}

namespace {
using Clock = std::chrono::steady_clock;

// The cancellation to deliver now, if any: the fiber's own first, else the outermost cancelled
// scope (so an outer timeout propagates through inner ones).
bool pending_cancellation(FiberBase* f, Cancelled::Reason& why, std::uint64_t& scope) noexcept {
  if (const std::uint8_t c = f->cancel_.load(std::memory_order_acquire)) {
    why = static_cast<Cancelled::Reason>(c - 1);
    scope = 0;
    return true;
  }
  const Clock::time_point now = f->scope_deadline_ != Clock::time_point::max() ? Clock::now() : Clock::time_point::min();
  CancelScope* hit = nullptr;
  for (CancelScope* s = f->scopes_; s; s = s->parent) {
    if (s->cancelled.load(std::memory_order_acquire) || now >= s->deadline) hit = s;
  }
  if (!hit) return false;
  why = hit->reason;
  scope = hit->id;
  return true;
}
}  // namespace

void throw_cancelled(FiberBase* f) {
  Cancelled::Reason why = Cancelled::Reason::Aborted;
  std::uint64_t scope = 0;
  pending_cancellation(f, why, scope);
  if (scope == 0) f->cancel_delivered_ = true;
  throw Cancelled(why, scope);
}

namespace {
// The runtime is shutting down and this fiber is not one of the cleanup children it lets run.
bool shutdown_reaches(const FiberBase* f) noexcept {
  return f->shutdown_flag_->load(std::memory_order_acquire) && !f->cleanup_child_;
}
}  // namespace

bool cancellation_pending(FiberBase* f) noexcept {
  if (shutdown_reaches(f)) return true;
  Cancelled::Reason why;
  std::uint64_t scope;
  return pending_cancellation(f, why, scope);
}

void check_cancel_point_slow(FiberBase* f) {
  if (shutdown_reaches(f)) {
    request_cancel(f, Cancelled::Reason::Shutdown);  // the sweep may not have reached us yet
  }
  Cancelled::Reason why;
  std::uint64_t scope;
  if (cancel_deliverable(f) && pending_cancellation(f, why, scope)) {
    if (scope == 0) f->cancel_delivered_ = true;
    throw Cancelled(why, scope);
  }
}

void enter_scope(FiberBase* f, CancelScope& s) noexcept {
  s.id = ++f->scope_seq_;
  s.parent = f->scopes_;
  f->scopes_ = &s;
  if (s.deadline < f->scope_deadline_) f->scope_deadline_ = s.deadline;
}

void exit_scope(FiberBase* f, CancelScope& s) noexcept {
  f->scopes_ = s.parent;
  Clock::time_point d = Clock::time_point::max();
  for (CancelScope* p = f->scopes_; p; p = p->parent) d = std::min(d, p->deadline);
  f->scope_deadline_ = d;
}

std::uint64_t begin_wait(FiberBase* f) noexcept {
  const std::uint64_t e = epoch_of(f->wait_word_.load(std::memory_order_relaxed)) + 1;
  const std::uint64_t canc = cancel_deliverable(f) ? kCancellable : 0;
  // seq_cst pairs with request_cancel: either it sees this epoch, or park() sees its flag.
  f->wait_word_.store((e << kEpochShift) | canc | kWaiting, std::memory_order_seq_cst);
  return e;
}

namespace {
// The claim itself; the observed copy also stamps the wake-up (before the CAS, so the wake
// precedes the wakee's next run) for scheduling delay and the trace.
template <bool kObserved>
inline __attribute__((always_inline)) bool claim(FiberBase* f, std::uint64_t epoch, WakeReason why,
                                                 bool* must_schedule) noexcept {
  *must_schedule = false;
  std::uint64_t ts = 0;
  if constexpr (kObserved) ts = mono_ns();
  std::uint64_t w = f->wait_word_.load(std::memory_order_acquire);
  for (;;) {
    if (epoch_of(w) != epoch) return false;
    const std::uint64_t st = w & kStateMask;
    if (st != kWaiting && st != kParked) return false;
    if (why == WakeReason::Cancel && !(w & kCancellable)) return false;
    const std::uint64_t nw = (epoch << kEpochShift) | (static_cast<std::uint64_t>(why) << kReasonShift) |
                             (w & kCancellable) | kNotified;
    if (f->wait_word_.compare_exchange_weak(w, nw, std::memory_order_acq_rel, std::memory_order_acquire)) {
      *must_schedule = st == kParked;
      if constexpr (kObserved) {
        f->runnable_since_ns_.store(ts, std::memory_order_relaxed);  // delay counts from the wake-up
        if (observe_flags() & kObserveTrace) {
          const FiberBase* waker = current_fiber();
          trace_emit(TraceEv::Wake, f->id_, waker ? waker->id_ : 0, nullptr, ts);
        }
      }
      return true;
    }
  }
}

__attribute__((noinline)) bool claim_observed(FiberBase* f, std::uint64_t epoch, WakeReason why,
                                              bool* must_schedule) noexcept {
  return claim<true>(f, epoch, why, must_schedule);
}
}  // namespace

bool wake_claim(FiberBase* f, std::uint64_t epoch, WakeReason why, bool* must_schedule) noexcept {
  if (__builtin_expect(observe_flags() != 0, 0)) return claim_observed(f, epoch, why, must_schedule);
  return claim<false>(f, epoch, why, must_schedule);
}

bool wake(FiberBase* f, std::uint64_t epoch, WakeReason why) noexcept {
  bool must_schedule;
  if (!wake_claim(f, epoch, why, &must_schedule)) return false;
  if (must_schedule) f->sched_->schedule(f, true);
  return true;
}

WakeReason park(FiberBase* f, std::uint64_t epoch) noexcept {
  if (f->scope_deadline_ != Clock::time_point::max()) return park_on_loop(f, epoch, -1, 0, nullptr);
  return park_switch(f, epoch);
}

WakeReason park_switch(FiberBase* f, std::uint64_t epoch) noexcept {
  std::uint64_t w = f->wait_word_.load(std::memory_order_seq_cst);
  // Pairs with request_cancel / a token's cancel: they publish, then read our wait word; we
  // published the wait word, now read theirs. One of us sees the other.
  if ((w & kCancellable) && (f->cancel_.load(std::memory_order_seq_cst) != 0 ||
                             f->scope_cancels_.load(std::memory_order_seq_cst) != 0)) {
    wake(f, epoch, WakeReason::Cancel);  // loses harmlessly if someone woke us first
    w = f->wait_word_.load(std::memory_order_acquire);
  }
  if ((w & kStateMask) != kNotified) {
    Worker::switch_out(f, SwitchReason::Park);
    f->wait_what_ = nullptr;  // the next wait describes itself (or reads "not recorded")
    w = f->wait_word_.load(std::memory_order_acquire);
  }
  return reason_of(w);
}

void request_cancel(FiberBase* f, Cancelled::Reason why) noexcept {
  std::uint8_t none = 0;
  f->cancel_.compare_exchange_strong(none, static_cast<std::uint8_t>(static_cast<unsigned>(why) + 1),
                                     std::memory_order_seq_cst);
  if (__builtin_expect(observe_flags() & kObserveTrace, 0)) {
    trace_emit(TraceEv::Cancel, f->id_, static_cast<std::uint64_t>(why));
  }
  if (f->on_cancel_) f->on_cancel_(f);
  const std::uint64_t w = f->wait_word_.load(std::memory_order_seq_cst);
  wake(f, epoch_of(w), WakeReason::Cancel);
}

}  // namespace weft::detail
