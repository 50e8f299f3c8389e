/// @file
/// weft/notify.hpp — wake one waiting fiber (or remember that you did), or all of them.
///
/// @verbatim
///   weft::Notify ready;
///   auto consumer = weft::spawn([&] {
///     ready.notified();              // suspends until notify_one() (or returns at once if a
///     std::puts("notified");         // notification was stored before it got here)
///   });
///   ready.notify_one();
///   consumer.join().value();
///
/// notify_one() wakes one waiter; if nobody waits, it stores a single permit that the next
/// notified() consumes at once (several notify_one() calls store one permit, not several).
/// notify_waiters() wakes every fiber/thread waiting right now and stores nothing. Waiting is FIFO.
/// notified() is a suspension point (throws weft::Cancelled). Cancel-safe: a notify_one() that
/// reaches a waiter being cancelled or timing out passes to the next waiter (or becomes the stored
/// permit), so a notification is never lost. Works from plain threads too (they block). Usable in a
/// weft::Select (weft/channel_select.hpp).
///
/// Lifetime: a waiter may destroy the Notify as soon as its notified() returns, even while the
/// notify_one() that woke it has not returned yet (a one-shot "done" signal on the waiter's stack):
/// notify_one() touches the Notify only under its lock, and a woken waiter takes that lock once
/// more before notified() returns. Destroying it while fibers or threads still wait is reported
/// (naming the wait list) and aborts.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/chrono.hpp>
#include <weft/detail/waiter.hpp>

#include <chrono>

WEFT_API_BEGIN

namespace weft {

class Notify;

namespace detail {

// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
inline constexpr WaitDesc kWaitNotify{"notify", WaitDesc::Address};
class NotifiedOp final : public SyncOp {
 public:
  explicit NotifiedOp(Notify* n) noexcept : n_(n) {}
  bool try_now() override;
  void note_wait(Waiter& w) const noexcept override { w.note(kWaitNotify, static_cast<const void*>(n_)); }
  void enroll(Waiter& w) noexcept override;
  bool withdraw() noexcept override;
  void take() const noexcept {}

 private:
  Notify* n_;
  WaitNode node_;
};
}  // namespace detail

/// Wakes waiting fibers without a value: notify_one() stores a permit when nobody waits, so a
/// notification that comes first is not lost (see weft/notify.hpp).
class Notify {
 public:
  Notify() = default;
  Notify(const Notify&) = delete;
  Notify& operator=(const Notify&) = delete;

  /// Waits for a notification (consuming the stored permit if there is one).
  void notified();
  /// As notified(), giving up after `timeout` / at `deadline`; true if notified.
  bool notified_for(std::chrono::nanoseconds timeout);
  /// As notified(), giving up at `deadline`; true if notified.
  bool notified_until(std::chrono::steady_clock::time_point deadline);
  /// Any duration (rounded up) and a time point of any clock (weft/detail/chrono.hpp).
  template <class Rep, class Period>
  bool notified_for(std::chrono::duration<Rep, Period> timeout) {
    return notified_for(detail::ceil_nanos(timeout));
  }
  /// As notified_until() for a time point of any clock.
  template <class Clock, class Duration>
  bool notified_until(std::chrono::time_point<Clock, Duration> deadline) {
    return notified_until(detail::to_steady_deadline(deadline));
  }

  /// Wakes the longest-waiting waiter, or stores the permit if none is waiting.
  void notify_one() noexcept;
  /// Wakes everyone waiting now; stores nothing.
  void notify_waiters() noexcept;

 private:
  friend class detail::NotifiedOp;
  friend detail::NotifiedOp select_notified_op(Notify& n) { return detail::NotifiedOp(&n); }

  detail::SpinLock lock_;
  bool permit_ = false;
  detail::WaitList waiters_;
};

}  // namespace weft

WEFT_API_END
