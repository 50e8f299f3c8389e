// weft/detail/chrono.hpp — every timed call's front end: any std::chrono duration or time point,
// of any clock, converted to the runtime's internal form. Internal: users never name these.
//
// Invariant: a conversion never makes a timed wait end early. Durations round *up* to whole
// nanoseconds (duration<double>{1e-10s} waits 1 ns, not 0), time points of steady_clock round up to
// its tick, and out-of-range values saturate ("forever" stays forever, a deadline in the past is
// "now") instead of overflowing. A time point of another clock (system_clock, a user clock) is
// converted once, when the call starts, by measuring how far ahead of that clock's now() it lies:
// like std::condition_variable on most implementations, a later jump of that clock is not followed.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/clock.hpp>

#include <chrono>
#include <type_traits>

WEFT_API_BEGIN

namespace weft::detail {

// Anything past this counts as "forever": far enough that no program waits it out, near enough
// that adding it to steady_clock::now() cannot overflow.
inline constexpr std::chrono::nanoseconds kForever = std::chrono::hours(24 * 365 * 100);

template <class Rep, class Period>
constexpr std::chrono::nanoseconds ceil_nanos(std::chrono::duration<Rep, Period> d) noexcept {
  // Compare in long double first: converting an out-of-range (or floating) value straight to
  // nanoseconds is overflow, which is undefined.
  using LD = std::chrono::duration<long double, std::nano>;
  const LD ld(d);
  if (!(ld > LD::zero())) return std::chrono::nanoseconds::zero();  // also NaN
  if (ld >= LD(kForever)) return kForever;
  if constexpr (std::is_floating_point_v<Rep>) {
    return std::chrono::ceil<std::chrono::nanoseconds>(ld);
  } else {
    return std::chrono::ceil<std::chrono::nanoseconds>(d);
  }
}

// The steady_clock deadline equivalent to `t`, rounded up, saturating at time_point::max().
template <class Clock, class Duration>
std::chrono::steady_clock::time_point to_steady_deadline(std::chrono::time_point<Clock, Duration> t) noexcept {
  using Steady = std::chrono::steady_clock;
  using LD = std::chrono::duration<long double, std::nano>;
  if constexpr (std::is_same_v<Clock, Steady>) {
    const LD since(t.time_since_epoch());
    const LD max(Steady::time_point::max().time_since_epoch());
    if (since >= max) return Steady::time_point::max();
    if (!(since > LD::zero())) return Steady::time_point{};
    if constexpr (std::is_floating_point_v<typename Duration::rep>) {
      return Steady::time_point(std::chrono::ceil<Steady::duration>(since));
    } else {
      return Steady::time_point(std::chrono::ceil<Steady::duration>(t.time_since_epoch()));
    }
  } else {
    const auto now = Clock::now();
    const auto snow = weft::Clock::now();  // weft's timeline: virtual in a simulation
    // The distance in long double first: t may be time_point::max()/min() of a coarse duration,
    // where t - now in the common (finer) type overflows.
    const LD ahead = LD(t.time_since_epoch()) - LD(now.time_since_epoch());
    if (!(ahead > LD::zero())) return snow;
    if (ahead >= LD(kForever)) return Steady::time_point::max();
    // Exact integer arithmetic once we know it fits, so rounding is up, not to nearest.
    std::chrono::nanoseconds d;
    if constexpr (std::is_floating_point_v<typename Duration::rep> ||
                  std::is_floating_point_v<typename Clock::duration::rep>) {
      d = std::chrono::ceil<std::chrono::nanoseconds>(ahead);
    } else {
      d = std::chrono::ceil<std::chrono::nanoseconds>(t - now);
    }
    return snow + std::chrono::ceil<Steady::duration>(d);
  }
}

// now + d, saturating: a huge `d` ("forever") must not overflow into the past.
template <class Rep, class Period>
std::chrono::steady_clock::time_point deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
  using Clock = weft::Clock;  // virtual in a simulation
  const Clock::time_point now = Clock::now();
  if (d <= d.zero()) return now;
  using Dur = std::chrono::duration<long double>;
  if (Dur(d) >= Dur(Clock::time_point::max() - now)) return Clock::time_point::max();
  return now + std::chrono::ceil<Clock::duration>(d);
}

// now + d as a steady deadline, rounded up and saturating.
template <class Rep, class Period>
std::chrono::steady_clock::time_point steady_deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
  const std::chrono::nanoseconds n = ceil_nanos(d);
  if (n >= kForever) return std::chrono::steady_clock::time_point::max();
  return weft::Clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(n);
}

}  // namespace weft::detail

WEFT_API_END
