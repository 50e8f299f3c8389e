#include "sched/wait.hpp"

#include "fiber/switch.hpp"
#include "sched/scheduler.hpp"

#include <weft/task.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace weft::detail {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

void wait_core_broken(const FiberBase* f, const char* what) noexcept {
  std::fprintf(stderr,
               "weft: internal error in the wait protocol: %s (fiber %llu '%s'). This is a weft bug; "
               "please report it with this message. Aborting.\n",
               what, static_cast<unsigned long long>(f->id_), rec(f)->name_.c_str());
  std::abort();
}

std::uint64_t begin_wait(FiberBase* f, bool cancellable) noexcept {
  const std::uint64_t e = epoch_of(rec(f)->wait_word_.load(std::memory_order_relaxed)) + 1;
  std::uint64_t bits = 0;
  Clock::time_point deadline = Clock::time_point::max();
  if (cancellable) {
    // Who may interrupt this wait is decided here, once, with the delivery rules of
    // cancel_delivery.cpp: so a wait that wakes Cancel always has a cancellation to throw.
    // f runs on worker_ (set on every resume), so that worker's copy is this thread's state.
    const EhGlobals* g = rec(f)->worker_->eh_globals();
    if (rec(f)->shield_depth_ == 0 && g->uncaught_exceptions == 0 && g->caught_exceptions == nullptr) bits |= kCancellable;
    for (CancelScope* s = rec(f)->scopes_; s && s->shield_depth == rec(f)->shield_depth_; s = s->parent) {
      if (!scope_deliverable(f, s, g)) continue;
      bits |= kScopeCancellable;
      s->armed_epoch.store(e, std::memory_order_relaxed);  // published by the seq_cst store below
      deadline = std::min(deadline, s->deadline);
    }
  }
  rec(f)->wait_deadline_ = deadline;
  // seq_cst pairs with request_cancel / a token's cancel: either it sees this epoch, or park()
  // sees its flag.
  rec(f)->wait_word_.store((e << kEpochShift) | bits | kWaiting, std::memory_order_seq_cst);
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
  std::uint64_t w = rec(f)->wait_word_.load(std::memory_order_acquire);
  for (;;) {
    if (epoch_of(w) != epoch) return false;
    const std::uint64_t st = w & kStateMask;
    if (st != kWaiting && st != kParked) return false;
    // A canceller may only win a wait that admits it (begin_wait); a scope's cancel reads as Cancel.
    WakeReason stored = why;
    if (why == WakeReason::Cancel && !(w & kCancellable)) return false;
    if (why == WakeReason::ScopeCancel) {
      if (!(w & kScopeCancellable)) return false;
      stored = WakeReason::Cancel;
    }
    const std::uint64_t nw = (epoch << kEpochShift) | (static_cast<std::uint64_t>(stored) << kReasonShift) |
                             (w & (kCancellable | kScopeCancellable)) | kNotified;
    if (rec(f)->wait_word_.compare_exchange_weak(w, nw, std::memory_order_acq_rel, std::memory_order_acquire)) {
      *must_schedule = st == kParked;
      if constexpr (kObserved) {
        rec(f)->runnable_since_ns_.store(ts, std::memory_order_relaxed);  // delay counts from the wake-up
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
  if (must_schedule) rec(f)->sched_->schedule(f, true);
  return true;
}

WakeReason park(FiberBase* f, std::uint64_t epoch) noexcept {
  if (rec(f)->wait_deadline_ != Clock::time_point::max()) return park_on_loop(f, epoch, nullptr, nullptr);
  return park_switch(f, epoch);
}

namespace {
// A token cancelled one of the scopes this wait admits (see begin_wait).
bool armed_scope_cancelled(const FiberBase* f, std::uint64_t epoch) noexcept {
  for (const CancelScope* s = rec(f)->scopes_; s; s = s->parent) {
    if (s->armed_epoch.load(std::memory_order_relaxed) == epoch && s->cancelled.load(std::memory_order_seq_cst)) {
      return true;
    }
  }
  return false;
}
}  // namespace

WakeReason park_switch(FiberBase* f, std::uint64_t epoch) noexcept {
  std::uint64_t w = rec(f)->wait_word_.load(std::memory_order_seq_cst);
  // Pairs with request_cancel / a token's cancel: they publish, then read our wait word; we
  // published the wait word, now read theirs. One of us sees the other. (Either wake loses
  // harmlessly if someone woke us first.)
  if ((w & kCancellable) && f->cancel_.load(std::memory_order_seq_cst) != 0) {
    wake(f, epoch, WakeReason::Cancel);
    w = rec(f)->wait_word_.load(std::memory_order_acquire);
  }
  if ((w & kScopeCancellable) && rec(f)->scope_cancels_.load(std::memory_order_seq_cst) != 0 &&
      armed_scope_cancelled(f, epoch)) {
    wake(f, epoch, WakeReason::ScopeCancel);
    w = rec(f)->wait_word_.load(std::memory_order_acquire);
  }
  if ((w & kStateMask) != kNotified) {
    Worker::switch_out(f, SwitchReason::Park);
    rec(f)->wait_what_ = nullptr;  // the next wait describes itself (or reads "not recorded")
    w = rec(f)->wait_word_.load(std::memory_order_acquire);
  }
  return reason_of(w);
}

void request_cancel(FiberBase* f, Cancelled::Reason why) noexcept {
  // A stop-token fiber's std::stop_callbacks run here, *before* the cancellation is visible: once
  // the fiber sees cancel_ it may throw at its next suspension point and destroy its callbacks
  // unrun (std::stop_callback's destructor deregisters), so the stop must come first.
  f->cancel_hook();
  std::uint8_t none = 0;
  f->cancel_.compare_exchange_strong(none, static_cast<std::uint8_t>(static_cast<unsigned>(why) + 1),
                                     std::memory_order_seq_cst);
  if (__builtin_expect(observe_flags() & kObserveTrace, 0)) {
    trace_emit(TraceEv::Cancel, f->id_, static_cast<std::uint64_t>(why));
  }
  if (rec(f)->on_cancel_) rec(f)->on_cancel_(f);
  const std::uint64_t w = rec(f)->wait_word_.load(std::memory_order_seq_cst);
  wake(f, epoch_of(w), WakeReason::Cancel);
}

}  // namespace weft::detail
