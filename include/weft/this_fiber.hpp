/// @file
/// weft/this_fiber.hpp — what a fiber can do to itself: yield, sleep, ask who it is.
///
/// @verbatim
///   weft::spawn(weft::Options{.name = "ticker"}, [] {
///     for (int i = 0; i < 3; ++i) {
///       weft::sleep(10ms);                                  // suspends the fiber, not the thread
///       std::printf("%s tick %d\n", std::string(weft::this_fiber::name()).c_str(), i);
///     }
///   });
///
/// Every call here that may suspend is a *suspension point*: if the fiber's cancellation was
/// requested, it throws weft::Cancelled there (doc/design.md §2).
///
/// From a plain thread (outside any fiber) the documented fallbacks are: yield_now() yields the
/// thread, sleep()/sleep_until() block the thread. id()/name() throw weft::Error there.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/chrono.hpp>
#include <weft/result.hpp>

#include <chrono>
#include <string_view>

WEFT_API_BEGIN

namespace weft {

/// Lets every other runnable fiber on this worker run before this one continues.
void yield_now();
/// Suspends for at least `d` (never returns early; on a free worker, up to about 2 ms late: near
/// deadlines are kept in 1 ms ticks, rounded up, and the worker's epoll wait is in whole ms).
void sleep(std::chrono::nanoseconds d);
/// Any duration (duration<double> too), rounded up to whole nanoseconds; "forever" saturates.
template <class Rep, class Period>
void sleep(std::chrono::duration<Rep, Period> d) {
  sleep(detail::ceil_nanos(d));
}
/// Suspends until steady_clock::now() >= t.
void sleep_until(std::chrono::steady_clock::time_point t);
/// A time point of any clock (system_clock, ...), converted to steady_clock when the call starts
/// (weft/detail/chrono.hpp): it never ends before `t`, but a later jump of that clock is not followed.
template <class Clock, class Duration>
void sleep_until(std::chrono::time_point<Clock, Duration> t) {
  sleep_until(detail::to_steady_deadline(t));
}

namespace this_fiber {
/// True when called from a weft fiber.
bool in_fiber() noexcept;
/// The calling fiber's id (unique per process, never 0). Throws weft::Error outside a fiber.
FiberId id();
/// The name given in weft::Options (may be empty). Throws weft::Error outside a fiber.
std::string_view name();
/// Whether the calling fiber is being cancelled: aborted, shut down, or inside a timeout() or token
/// scope that expired or was cancelled (false outside a fiber). Lets a CPU loop that never suspends
/// stop on time: `while (!weft::this_fiber::is_cancelled()) step();`. It is true inside a shield too
/// (the shield only defers the throw); check_cancelled() is what throws.
bool is_cancelled() noexcept;
/// Throws weft::Cancelled if cancellation is pending and may be delivered here — the suspension
/// point to put in long CPU-bound loops.
void check_cancelled();
}  // namespace this_fiber

}  // namespace weft

WEFT_API_END
