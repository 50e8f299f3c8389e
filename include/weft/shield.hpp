// weft/shield.hpp — run cleanup that must not be interrupted by cancellation.
//
//   weft::shield([&] {
//     conn.send_goodbye();       // suspension points inside do not throw weft::Cancelled
//     weft::sleep(10ms);
//   });
//   weft::yield_now();           // a cancellation requested meanwhile is delivered here
//
// shield(f) runs `f` in the calling fiber with cancellation deferred (abort, shutdown, timeouts
// and tokens alike); a cancellation that arrived meanwhile is delivered at the first suspension
// point after it returns. Shields nest. Keep `f` short: a shielded fiber cannot be cancelled, so
// it delays JoinSet/scope destruction and runtime shutdown. From a plain thread `f` just runs.
// Inside `f`, timeout() and token scopes cannot interrupt either (their deadline is a cancellation
// too): bound the cleanup with deadline-taking operations (try_lock_for, a Select with .timeout()).
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/cancel_scope.hpp>

#include <utility>

WEFT_API_BEGIN

namespace weft {

template <class F>
decltype(auto) shield(F&& f) {
  detail::ShieldGuard guard;
  return std::forward<F>(f)();
}

}  // namespace weft

WEFT_API_END
