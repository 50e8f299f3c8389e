/// @file
/// weft/timeout.hpp — run a function under a deadline, in the calling fiber.
///
/// @verbatim
///   std::optional<std::string> page = weft::timeout(200ms, [&] { return fetch(url); });
///   if (!page) std::puts("fetch took longer than 200 ms");      // elapsed: fetch was cancelled
///
///   bool done = weft::timeout(1s, [&] { weft::sleep(5s); });      // void function: true if it finished
///
/// timeout(d, f) runs `f` right here (no extra fiber) with a deadline. If the deadline passes, `f`'s
/// next (or current) suspension point throws weft::Cancelled tagged with this timeout; it unwinds
/// `f` — RAII guards run — and is caught by this timeout alone, which returns std::nullopt (false
/// for a void `f`). Deadlines nest: the earliest wins, an inner timeout catches only its own expiry,
/// and an outer expiry propagates through inner timeouts to the outer one. Like every cancellation
/// it is level-triggered: a `catch (...) {}` inside `f` that swallows it delays it to the next
/// suspension point. `f` finishing before it reaches a suspension point returns its value even if
/// the deadline passed. An exception thrown by `f` propagates unchanged.
///
/// Throws weft::Error when called outside a fiber (a plain thread's blocking calls can't be
/// cancelled).
///
/// Inside a shield() and in cleanup code (a destructor while the fiber unwinds, a catch block) the
/// deadline still interrupts `f`: a scope entered there is delivered there (Trio's rule, doc/design.md
/// §2); the shield only holds off scopes entered outside it. So bounded cleanup reads
/// `weft::shield([&] { (void)weft::timeout(1s, [&] { flush(); }); })`.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/chrono.hpp>
#include <weft/detail/cancel_scope.hpp>
#include <weft/error.hpp>

#include <chrono>
#include <optional>
#include <type_traits>
#include <utility>

WEFT_API_BEGIN

namespace weft {

/// timeout_at(deadline, f): `deadline` of any clock (converted to steady_clock when the call starts,
/// never earlier: weft/detail/chrono.hpp).
template <class Clock, class Duration, class F>
auto timeout_at(std::chrono::time_point<Clock, Duration> t, F&& f) {
  const std::chrono::steady_clock::time_point deadline = detail::to_steady_deadline(t);
  detail::FiberBase* self = detail::require_fiber("weft::timeout");
  detail::CancelScope scope;
  scope.deadline = deadline;
  scope.reason = Cancelled::Reason::Timeout;
  detail::ScopeGuard guard(self, scope);
  return detail::run_in_scope(scope, f);
}

/// Runs `f` in the calling fiber with a deadline `d` from now: returns `f`'s value (true for a void
/// `f`), or std::nullopt (false) if the deadline passed and `f` was cancelled. See
/// weft/timeout.hpp.
template <class Rep, class Period, class F>
auto timeout(std::chrono::duration<Rep, Period> d, F&& f) {
  return timeout_at(detail::steady_deadline_after(d), std::forward<F>(f));
}

}  // namespace weft

WEFT_API_END
