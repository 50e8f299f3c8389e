/// @file
/// weft/interval.hpp — a periodic timer (Tokio's interval): tick() waits for the next tick.
///
/// @verbatim
///   weft::Interval every(100ms);                 // the first tick completes at once
///   for (;;) {
///     every.tick();                              // then every 100 ms, on a fixed schedule
///     poll_something();
///   }
///
/// Ticks are scheduled at start, start + period, start + 2*period, ... on steady_clock, so the
/// schedule does not drift with the time the loop body takes. When the caller falls behind (the
/// body took longer than a period, or the worker was busy), the MissedTickBehavior says what
/// happens once it calls tick() again — a tick counts as missed when tick() returns more than 5 ms
/// after its scheduled instant (Tokio's rule, so ordinary wake-up latency never changes the
/// schedule):
///   Burst (default): the missed ticks complete at once, one per tick() call, until it has caught
///                    up; the schedule is unchanged (start + k*period).
///   Delay:           the late tick completes at once, and the schedule restarts from now: the next
///                    tick is one period after this tick() returned.
///   Skip:            the late tick completes at once, and the ticks that passed meanwhile are
///                    dropped: the next tick is the next instant of the original schedule that is
///                    still in the future.
///
/// tick() is a suspension point (weft::Cancelled) and cancel-safe: cancelled (or timed out) while
/// waiting, it consumed no tick — the next tick() waits for the same instant. From a plain thread
/// it blocks the thread. An Interval is used by one fiber (or thread) at a time; it may be moved.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>

#include <weft/clock.hpp>
#include <weft/detail/chrono.hpp>
#include <weft/error.hpp>

#include <chrono>

WEFT_API_BEGIN

namespace weft {

/// What an Interval does after a tick was missed (tick() called late): Burst catches up one tick
/// per call, Delay restarts the schedule from now, Skip drops the ticks that passed (see
/// weft/interval.hpp).
enum class MissedTickBehavior { Burst, Delay, Skip };

/// Ticks on a fixed schedule: tick() suspends until the next scheduled instant, so the work between
/// ticks does not shift the schedule (Tokio's interval).
class Interval {
 public:
  /// The clock of the schedule.
  using clock = weft::Clock;  // steady_clock, or virtual time in a simulation

  /// Ticks at now, now + period, ... A period that is zero or negative is a weft::Error.
  template <class Rep, class Period>
  explicit Interval(std::chrono::duration<Rep, Period> period, MissedTickBehavior b = MissedTickBehavior::Burst)
      : Interval(clock::now(), detail::ceil_nanos(period), b, checked(period)) {}
  /// Ticks at `start` (any clock; converted when called), start + period, ...
  template <class Clock, class Duration, class Rep, class Period>
  Interval(std::chrono::time_point<Clock, Duration> start, std::chrono::duration<Rep, Period> period,
           MissedTickBehavior b = MissedTickBehavior::Burst)
      : Interval(detail::to_steady_deadline(start), detail::ceil_nanos(period), b, checked(period)) {}

  /// Waits for the next tick and returns its scheduled instant (never earlier than that instant).
  clock::time_point tick();
  /// The next tick's scheduled instant, without waiting.
  clock::time_point deadline() const noexcept { return next_; }
  /// Restarts the schedule: the next tick is one period from now.
  void reset() noexcept { next_ = clock::now() + period_; }
  /// The next tick completes at once; the schedule continues from it.
  void reset_immediately() noexcept { next_ = clock::now(); }
  /// The next tick is at `t` (any clock).
  template <class Clock, class Duration>
  void reset_at(std::chrono::time_point<Clock, Duration> t) noexcept {
    next_ = detail::to_steady_deadline(t);
  }

  /// The time between ticks.
  std::chrono::nanoseconds period() const noexcept { return period_; }
  /// What happens after a missed tick.
  MissedTickBehavior missed_tick_behavior() const noexcept { return behavior_; }
  /// Changes what happens after a missed tick, from the next tick on.
  void set_missed_tick_behavior(MissedTickBehavior b) noexcept { behavior_ = b; }

 private:
  struct Checked {};
  template <class Rep, class Period>
  static Checked checked(std::chrono::duration<Rep, Period> p) {
    // Test the original value: ceil_nanos maps negatives and NaN to zero, which is also refused.
    if (!(detail::ceil_nanos(p) > std::chrono::nanoseconds::zero())) throw_bad_period();
    return {};
  }
  [[noreturn]] static void throw_bad_period();
  Interval(clock::time_point first, std::chrono::nanoseconds period, MissedTickBehavior b, Checked) noexcept
      : next_(first), period_(period), behavior_(b) {}

  clock::time_point next_;          // the next tick's scheduled instant (invariant: only tick()
                                    // and the reset calls move it; a cancelled tick() does not)
  std::chrono::nanoseconds period_;  // > 0
  MissedTickBehavior behavior_;
};

}  // namespace weft

WEFT_API_END
