/// @file
/// weft/wait_group.hpp — wait until a count of outstanding jobs drops to zero (Go's WaitGroup).
///
/// @verbatim
///   weft::WaitGroup wg;
///   for (int i = 0; i < 10; ++i) {
///     wg.add(1);                                   // before spawning, so wait() cannot miss it
///     weft::spawn([&wg, i] {
///       std::printf("job %d\n", i);
///       wg.done();
///     }).detach();
///   }
///   wg.wait();                                     // suspends until all 10 called done()
///
/// add(n) raises the count (n may be negative), done() lowers it by one; when it reaches zero every
/// waiter is released. The count going below zero is a weft::Error (more done() than add()). wait()
/// returns at once when the count is zero; it is a suspension point (throws weft::Cancelled) and
/// has no effect on the count, so cancelling it is harmless. Works from plain threads too. For
/// fibers you spawned yourself, a JoinSet or scope may say it better; WaitGroup also counts work
/// that is not a fiber (callbacks, threads).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/chrono.hpp>
#include <weft/detail/waiter.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>

WEFT_API_BEGIN

namespace weft {

/// Waits for a counted set of tasks (Go's sync.WaitGroup): add() before starting each, done() when
/// each ends, wait() until the count is back at zero.
class WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  /// Adds `n` (may be negative) to the count; at zero, wakes the waiters. Throws weft::Error if the
  /// count would drop below zero.
  void add(std::int64_t n = 1);
  /// add(-1): one task finished.
  void done() { add(-1); }
  /// Suspends until the count is zero.
  void wait();
  /// As wait(); false if the count was still non-zero at the deadline.
  bool wait_for(std::chrono::nanoseconds timeout);
  /// As wait(); false if the count was still non-zero at `deadline`.
  bool wait_until(std::chrono::steady_clock::time_point deadline);
  /// Any duration (rounded up) and a time point of any clock (weft/detail/chrono.hpp).
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) {
    return wait_for(detail::ceil_nanos(timeout));
  }
  /// As wait_until() for a time point of any clock.
  template <class Clock, class Duration>
  bool wait_until(std::chrono::time_point<Clock, Duration> deadline) {
    return wait_until(detail::to_steady_deadline(deadline));
  }
  /// The count now (a snapshot).
  std::int64_t count() const noexcept;

 private:
  bool wait_impl(const detail::SyncClock::time_point* deadline);

  mutable detail::SpinLock lock_;
  std::int64_t count_ = 0;
  detail::WaitList waiters_;
};

}  // namespace weft

WEFT_API_END
