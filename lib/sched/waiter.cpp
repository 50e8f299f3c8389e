// Waiter: the one place where sync primitives suspend a fiber or block a thread.
//
// Fibers use the scheduler's wait protocol (begin_wait / park_until / wake). Threads use a futex on
// `word_`: 0 while waiting; a waker CASes it to its reason and FUTEX_WAKEs. A timed-out thread
// claims the word itself (CAS 0 -> Timeout), so for threads too exactly one reason wins.
#include "platform/futex.hpp"
#include "sched/scheduler.hpp"
#include "sched/wait.hpp"

#include <weft/detail/waiter.hpp>

#include <cstdio>
#include <cstdlib>

namespace weft::detail {

void wait_list_destroyed_with_waiters(const void* list, std::size_t n) noexcept {
  std::fprintf(stderr,
               "weft: a synchronisation object (Semaphore, CondVar, RwLock, Notify, Barrier, WaitGroup, "
               "OnceCell, Mutex, ...) was destroyed while %zu fiber(s) or thread(s) were waiting on it "
               "(wait list %p). Make sure every waiter has returned (or was cancelled and joined) before "
               "destroying it; waking them would use freed memory. Aborting.\n",
               n, list);
  std::abort();
}


using platform::futex_wait;
using platform::futex_wake_one;

void sync_cancel_point() {
  if (FiberBase* f = current_fiber()) check_cancel_point(f);
}

Waiter::Waiter() noexcept : fiber_(current_fiber()) {}

namespace {
const void* thread_token() noexcept {
  thread_local char thread_tag = 0;
  return &thread_tag;
}
}  // namespace

const void* lock_owner_token() noexcept {
  if (FiberBase* f = current_fiber()) return f;
  return thread_token();
}

const void* Waiter::identity() const noexcept { return fiber_ ? static_cast<const void*>(fiber_) : thread_token(); }

void Waiter::cancel_point(bool chaos_yield) const {
  if (fiber_) check_cancel_point(fiber_, chaos_yield);
}

void Waiter::arm(bool cancellable) noexcept {
  if (fiber_) {
    epoch_ = begin_wait(fiber_, cancellable);
  } else {
    word_.store(0, std::memory_order_relaxed);
  }
}

WakeReason Waiter::block(const SyncClock::time_point* deadline) noexcept {
  if (fiber_) {
    if (what_) note_wait(fiber_, *what_, what_arg_);
    // Without a deadline, this goes to the loop only if a timeout scope needs its timer, and can
    // only end Notify or Cancel; with one, Timeout means steady_clock reached it (loop_wait.cpp).
    return park_until(fiber_, epoch_, deadline);
  }
  for (;;) {
    std::uint32_t v = word_.load(std::memory_order_acquire);
    if (v != 0) return static_cast<WakeReason>(v);
    if (deadline && SyncClock::now() >= *deadline) {
      if (word_.compare_exchange_strong(v, static_cast<std::uint32_t>(WakeReason::Timeout), std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
        return WakeReason::Timeout;
      }
      return static_cast<WakeReason>(v);  // a waker won just now
    }
    futex_wait(&word_, 0, deadline);
  }
}

bool Waiter::wake(WakeReason why, WakeQueue* q) noexcept {
  if (fiber_) {
    bool must_schedule;
    if (!wake_claim(fiber_, epoch_, why, &must_schedule)) return false;
    if (must_schedule) {
      if (q) q->add_fiber(fiber_); else rec(fiber_)->sched_->schedule(fiber_, true);
    }
    return true;
  }
  if (why == WakeReason::Cancel) return false;  // threads are not cancellable
  std::uint32_t expected = 0;
  if (!word_.compare_exchange_strong(expected, static_cast<std::uint32_t>(why), std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
    return false;
  }
  if (q) q->add_thread(&word_); else futex_wake_one(&word_);
  return true;
}

void WakeQueue::add_fiber(FiberBase* f) noexcept {
  if (n_ == kCap) {
    rec(f)->sched_->schedule(f, true);
    return;
  }
  e_[n_++] = Entry{f, nullptr};
}

void WakeQueue::add_thread(std::atomic<std::uint32_t>* word) noexcept {
  if (n_ == kCap) {
    futex_wake_one(word);
    return;
  }
  e_[n_++] = Entry{nullptr, word};
}

void WakeQueue::flush() noexcept {
  for (unsigned i = 0; i < n_; ++i) {
    if (e_[i].fiber) rec(e_[i].fiber)->sched_->schedule(e_[i].fiber, true);
    else futex_wake_one(e_[i].word);
  }
  n_ = 0;
}

bool Waiter::woken() const noexcept {
  if (fiber_) {
    const std::uint64_t w = rec(fiber_)->wait_word_.load(std::memory_order_acquire);
    return epoch_of(w) != epoch_ || (w & kStateMask) == kNotified;
  }
  return word_.load(std::memory_order_acquire) != 0;
}

void Waiter::throw_cancelled() const {
  detail::throw_cancelled(fiber_);
}

}  // namespace weft::detail

namespace weft::detail {

namespace {
std::uint32_t next_rotation() noexcept {
  // In a simulation the seed decides, so that which ready branch wins replays.
  if (Simulation* sim = current_simulation()) return static_cast<std::uint32_t>(sim->next_random() >> 32);
  thread_local std::uint32_t x = 0x2545f491u ^ static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(&x));
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}
}  // namespace

int wait_any(SyncOp* const* ops, std::size_t n, const SyncClock::time_point* deadline, bool rotate, bool tried) {
  Waiter w;
  const std::size_t start = (rotate && n > 1) ? next_rotation() % n : 0;
  // The k-th op in this wait's order (no division on the hot path).
  auto at = [&](std::size_t k) noexcept {
    const std::size_t i = start + k;
    return i < n ? i : i - n;
  };
  for (;; tried = false) {
    if (!tried) {
      w.cancel_point();
      for (std::size_t k = 0; k < n; ++k) {
        if (ops[at(k)]->try_now()) return static_cast<int>(at(k));
      }
    }
    if (deadline && SyncClock::now() >= *deadline) return -1;
    if (n == 1) ops[0]->note_wait(w); else w.note(kWaitSelect, static_cast<std::uint64_t>(n));
    w.arm();
    std::size_t enrolled = 0;
    while (enrolled < n) {
      ops[at(enrolled++)]->enroll(w);
      // Decided already (an op completed at enrollment, or a canceller won): enroll no more.
      if (enrolled < n && w.woken()) break;
    }
    const WakeReason r = w.block(deadline);
    int winner = -1;
    for (std::size_t k = 0; k < enrolled; ++k) {
      if (ops[at(k)]->withdraw()) winner = static_cast<int>(at(k));
    }
    if (winner >= 0) return winner;
    if (r == WakeReason::Timeout) return -1;
    if (r == WakeReason::Cancel) w.throw_cancelled();
    // Notify without a completed op: a wake to retry (a channel closed, a grant that could not be
    // completed). Nothing took effect; look again.
  }
}

}  // namespace weft::detail
