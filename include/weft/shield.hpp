/// @file
/// weft/shield.hpp — run cleanup that must not be interrupted by cancellation.
///
/// @verbatim
///   weft::shield([&] {
///     conn.send_goodbye();       // suspension points inside do not throw weft::Cancelled
///     weft::sleep(10ms);
///   });
///   weft::yield_now();           // a cancellation requested meanwhile is delivered here
///
/// shield(f) runs `f` in the calling fiber with the cancellation from outside it deferred (abort,
/// shutdown, and timeouts and tokens entered before the shield); it is delivered at the first
/// suspension point after `f` returns. Shields nest. A timeout() or token scope entered *inside* `f`
/// still fires for the code inside it (Trio's rule), which is how cleanup is bounded:
///   weft::shield([&] { (void)weft::timeout(1s, [&] { conn.send_goodbye(); }); });
/// Cleanup that waits in a destructor belongs in a shield (doc/design.md §2.1): without one, a
/// fiber cancelled while it ran throws Cancelled out of the destructor. Keep `f` bounded: a shielded
/// fiber cannot be cancelled, so it delays JoinSet/scope destruction and runtime shutdown. From a
/// plain thread `f` just runs.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/cancel_scope.hpp>

#include <utility>

WEFT_API_BEGIN

namespace weft {

/// Runs `f` in the calling fiber with cancellation from outside deferred until `f` returns, and
/// returns what `f` returns. For cleanup that must not be interrupted (see weft/shield.hpp).
template <class F>
decltype(auto) shield(F&& f) {
  detail::ShieldGuard guard;
  return std::forward<F>(f)();
}

}  // namespace weft

WEFT_API_END
