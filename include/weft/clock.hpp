/// @file
/// weft/clock.hpp — the clock every weft deadline is measured on.
///
/// @verbatim
///   auto start = weft::Clock::now();
///   weft::sleep(1h);                                   // in a simulation: instant, and then
///   assert(weft::Clock::now() - start >= 1h);          // the virtual clock says an hour passed
///
/// On the real runtime weft::Clock *is* std::chrono::steady_clock: now() reads it, and its
/// time_point is steady_clock::time_point, so every weft call that takes a steady_clock deadline
/// takes a Clock one unchanged.
///
/// Inside the fibers of a simulated runtime (weft/sim.hpp) now() reads the simulation's virtual
/// clock instead, and so does every deadline weft computes for you (sleep(d), timeout(d),
/// Interval, try_lock_for, recv_for...): virtual time starts at the same instant in every run and
/// moves only when no fiber can run, to the next pending timer. What still reads real time there:
/// a direct std::chrono::steady_clock::now() (or system_clock) in your code — a deadline built
/// from it is compared with virtual time, so build deadlines from weft::Clock::now() — plus
/// plain threads, the stall detector, traces and metrics (they measure the machine, not the
/// simulated program).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>

#include <chrono>

WEFT_API_BEGIN

namespace weft {

/// A std::chrono clock (TrivialClock): steady_clock, or a simulation's virtual clock inside its
/// fibers.
struct Clock {
  /// steady_clock's duration (nanoseconds).
  using duration = std::chrono::steady_clock::duration;
  /// The tick count's type.
  using rep = duration::rep;
  /// The tick's length.
  using period = duration::period;
  /// steady_clock's own time_point: weft deadlines of either clock are the same type.
  using time_point = std::chrono::steady_clock::time_point;
  /// Never goes backwards, virtual time included.
  static constexpr bool is_steady = true;
  /// Virtual time in a fiber of a simulated runtime; std::chrono::steady_clock::now() elsewhere.
  static time_point now() noexcept;
};

}  // namespace weft

WEFT_API_END
