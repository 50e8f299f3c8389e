/// @file
/// weft/stop_token.hpp — CancellationToken callbacks, and bridges to std::stop_token both ways.
///
/// @verbatim
///   void legacy(std::stop_token st);                       // an API that speaks std::stop_token
///   weft::CancellationToken token;
///   std::jthread t(legacy, ...);                           // ...or hand it weft's cancellation:
///   legacy(weft::to_stop_token(token));                    // stop requested when token is cancelled
///
///   std::jthread worker([](std::stop_token st) {           // the other way round:
///     weft::CancellationToken t = weft::cancel_on_stop(st);   // cancelled on st's request_stop()
///     ... t.run_until_cancelled(...) ...
///   });
///
///   weft::CancelCallback cb(token, [&] { wake_the_poller(); });  // like std::stop_callback
///
/// CancelCallback(token, f) runs f() once when the token is cancelled — on the thread (or fiber)
/// that calls cancel(), after the token's cancellation is complete — or at once, in the
/// constructor, if the token already is cancelled. Destroying the CancelCallback first unregisters
/// it; if f() is running on another thread at that moment, the destructor waits for it to return
/// (std::stop_callback's rule), so whatever f uses may be destroyed right after. f must not throw
/// (std::terminate) and must not suspend: keep it short, e.g. notify something.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>

#include <weft/cancellation_token.hpp>

#include <memory>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <utility>

WEFT_API_BEGIN

namespace weft {

namespace detail {
// One registration on a token. `taken`, `done`, `runner` and `destroyed` are guarded by the
// token's mutex; cancel() sets taken (with runner) when it takes the node off the token, and done
// after invoke() returned. Invariant: a taken node is not destroyed until done, except by its own
// invoke() (then cancel() learns it through `destroyed` and does not touch it again).
struct TokenCallbackNode {
  virtual void invoke() noexcept = 0;
  bool taken = false;
  bool done = false;
  bool* destroyed = nullptr;
  std::thread::id runner;

 protected:
  ~TokenCallbackNode() = default;
};

struct TokenAccess {
  static const std::shared_ptr<TokenState>& state(const CancellationToken& t) noexcept { return t.s_; }
  static CancellationToken make(std::shared_ptr<TokenState> s) { return CancellationToken(std::move(s)); }
};
// False if the token is already cancelled (the node was not registered).
bool token_add_callback(TokenState& t, TokenCallbackNode* n);
// Unregisters; waits while cancel() runs it on another thread.
void token_remove_callback(TokenState& t, TokenCallbackNode* n) noexcept;
}  // namespace detail

/// Runs a callback once when a CancellationToken is cancelled, like std::stop_callback: on the
/// thread that cancels, or at once in the constructor if the token already is cancelled.
/// Destroying it first unregisters the callback (waiting if it is running on another thread).
template <class F>
class CancelCallback final : private detail::TokenCallbackNode {
 public:
  /// Registers `f` on `token` (or runs it now, if the token is already cancelled).
  template <class G>
    requires std::is_constructible_v<F, G>
  CancelCallback(const CancellationToken& token, G&& f)
      : f_(std::forward<G>(f)), state_(detail::TokenAccess::state(token)) {
    static_assert(std::is_invocable_v<F&>, "weft::CancelCallback: the callback takes no arguments");
    if (!detail::token_add_callback(*state_, this)) {
      registered_ = false;
      f_();
    }
  }
  CancelCallback(const CancelCallback&) = delete;
  CancelCallback& operator=(const CancelCallback&) = delete;
  ~CancelCallback() {
    if (registered_) detail::token_remove_callback(*state_, this);
  }

 private:
  void invoke() noexcept override { f_(); }
  F f_;
  std::shared_ptr<detail::TokenState> state_;  // the token's state outlives the registration
  bool registered_ = true;
};
/// `weft::CancelCallback cb(token, [&] { ... });` deduces the callback's type.
template <class F>
CancelCallback(const CancellationToken&, F) -> CancelCallback<F>;

/// A std::stop_token whose stop is requested when `token` is cancelled (at once if it already is).
/// Every call for one token shares one std::stop_source, kept alive by the token.
std::stop_token to_stop_token(const CancellationToken& token);

/// A new CancellationToken that is cancelled when stop is requested on `st` (at once if it already
/// is), through a std::stop_callback that lives as long as the token. A token cancelled directly
/// does not request stop on `st` (a stop_token cannot); use to_stop_token for that direction.
CancellationToken cancel_on_stop(std::stop_token st);

}  // namespace weft

WEFT_API_END
