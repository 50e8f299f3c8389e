/// @file
/// weft/cancellation_token.hpp — cancel a whole group of work at once, from anywhere.
///
/// @verbatim
///   weft::CancellationToken stop;
///   auto worker = weft::spawn([stop] {
///     while (true) {
///       auto job = stop.run_until_cancelled([&] { return next_job(); });   // nullopt once stopped
///       if (!job) return;
///       process(*job);
///     }
///   });
///   stop.abort_on_cancel(worker.abort_handle());      // or tie a fiber to it outright
///   ...
///   stop.cancel();                                    // from any thread
///
/// A token is a cheap shared handle (copies refer to the same token). cancel() is thread-safe and
/// idempotent. child_token() makes a token that is cancelled with its parent (and can be cancelled
/// alone); what was registered on a child fires on the parent's cancel even if the child token
/// itself was dropped. Ways to react:
///  - cancelled(): suspends until the token is cancelled (a suspension point itself);
///  - run_until_cancelled(f): runs `f` in the calling fiber; if the token is cancelled meanwhile,
///    `f`'s suspension points throw weft::Cancelled (reason Token), `f` unwinds, and the call
///    returns std::nullopt (false for a void `f`) — like timeout(), but ended by the token;
///  - abort_on_cancel(h): aborts that fiber when the token is cancelled (at once if it already is).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/cancel_scope.hpp>
#include <weft/error.hpp>
#include <weft/task.hpp>

#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

WEFT_API_BEGIN

namespace weft {

namespace detail {
WEFT_INTERNAL_BEGIN  // defined in lib/: keep hidden (see weft/detail/config.hpp)
struct TokenState;
struct TokenScopeReg;
WEFT_INTERNAL_END
struct TokenAccess;  // defined in weft/stop_token.hpp (inline, so exported)
// Registers `s` of fiber `f` with the token; false if the token is already cancelled.
bool token_register_scope(TokenState& t, FiberBase* f, CancelScope& s, TokenScopeReg*& reg);
void token_unregister_scope(TokenState& t, FiberBase* f, CancelScope& s, TokenScopeReg* reg) noexcept;
}  // namespace detail

/// A shared cancellation flag that several fibers can react to: copies share one state, cancel()
/// wakes them all (see weft/cancellation_token.hpp).
class CancellationToken {
 public:
  CancellationToken();
  /// A token cancelled whenever this one is (cancelling the child does not cancel the parent).
  CancellationToken child_token() const;
  /// Cancels the token and its child tokens: wakes cancelled(), ends run_until_cancelled() calls,
  /// aborts registered fibers, runs CancelCallbacks. Any thread; idempotent.
  void cancel() const noexcept;
  /// Whether the token is cancelled (by its own cancel() or a parent's).
  bool is_cancelled() const noexcept;
  /// Suspends the calling fiber until the token is cancelled (blocks a plain thread). A suspension
  /// point: throws weft::Cancelled if the caller itself is cancelled.
  void cancelled() const;
  /// Aborts that fiber when this token is cancelled (immediately if it already is).
  void abort_on_cancel(AbortHandle h) const;

  /// Runs `f` in the calling fiber and returns its value (true for a void `f`). If the token is
  /// cancelled meanwhile, `f`'s suspension points throw weft::Cancelled (reason Token), `f` unwinds,
  /// and the call returns std::nullopt (false for a void `f`); so it does at once, without running
  /// `f`, if the token already is cancelled. Like timeout(), but ended by the token.
  template <class F>
  auto run_until_cancelled(F&& f) const {
    detail::FiberBase* self = detail::require_fiber("CancellationToken::run_until_cancelled");
    detail::CancelScope scope;
    scope.reason = Cancelled::Reason::Token;
    detail::ScopeGuard guard(self, scope);
    detail::TokenScopeReg* reg = nullptr;
    if (!detail::token_register_scope(*s_, self, scope, reg)) return detail::scope_result_t<F>{};
    struct Unregister {
      detail::TokenState& t;
      detail::FiberBase* f;
      detail::CancelScope& s;
      detail::TokenScopeReg* r;
      ~Unregister() { detail::token_unregister_scope(t, f, s, r); }
    } unregister{*s_, self, scope, reg};
    return detail::run_in_scope(scope, f);
  }

 private:
  friend struct detail::TokenAccess;  // weft/stop_token.hpp: callbacks and std::stop_token bridges
  explicit CancellationToken(std::shared_ptr<detail::TokenState> s) : s_(std::move(s)) {}
  std::shared_ptr<detail::TokenState> s_;
};

}  // namespace weft

WEFT_API_END
