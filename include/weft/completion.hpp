/// @file
/// weft/completion.hpp — finish a fiber's wait from a callback on any thread (a C library's
/// completion callback, another event loop, a thread pool).
///
/// @verbatim
///   auto [done, waiter] = weft::completion<int>();
///   std::function<void(int)> cb = done;                  // copyable: store it anywhere
///   legacy_async_read(fd, buf, cb);                      // calls cb(n) later, on its own thread
///   int n = waiter.wait();                               // suspends this fiber until cb(n) ran
///
/// Completion<T> is a copyable handle to one shared state (a shared_ptr), so it fits in a
/// std::function and in every callback slot of a foreign API. Call it from any thread, fiber or
/// not; it never waits. The first call, from any copy, delivers its value and returns true; every
/// later call does nothing and returns false (false too if the waiter is gone). If every copy is
/// destroyed without being called — the foreign side dropped its callback — the waiter wakes with
/// weft::NeverCompleted (a weft::Error), so a lost callback is an error at the wait, never a hang.
///
/// CompletionWaiter<T>::wait() is a suspension point (weft::Cancelled; a value delivered meanwhile
/// stays for a later wait()) and blocks a plain thread. Bound it with weft::timeout. It returns the
/// value once: a second wait() after a value is a weft::Error. completion<void>() signals without a
/// value: `done()`, `waiter.wait()`.
///
/// Built on weft::oneshot (the channel carries the value and does the waking); what this adds is
/// the copyable, first-call-wins sender and the error for a lost callback. T must be nothrow move
/// constructible (as for oneshot). To report a failure through it, make T say so (std::expected,
/// a variant, an error code).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/error.hpp>
#include <weft/oneshot.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

WEFT_API_BEGIN

namespace weft {

/// The waiter's error when every Completion copy was destroyed without being called.
class NeverCompleted : public Error {
 public:
  using Error::Error;
};

namespace detail {
[[noreturn]] void completion_throw_never_completed();
[[noreturn]] void completion_throw_empty();

// The sender shared by every copy of one Completion. Invariant: `tx` is taken out (under `mu`) by
// exactly one call; destroying the state with `tx` still in it (the last copy went uncalled) gives
// up the oneshot sender, which wakes the waiter with "no value".
template <class T>
struct CompletionState {
  std::mutex mu;
  oneshot::Sender<T> tx;
  explicit CompletionState(oneshot::Sender<T> s) : tx(std::move(s)) {}
  oneshot::Sender<T> take() {
    std::lock_guard lk(mu);
    return std::move(tx);
  }
};
}  // namespace detail

template <class T>
class Completion;
template <class T>
class CompletionWaiter;
template <class T>
std::pair<Completion<T>, CompletionWaiter<T>> completion();

/// The delivering side of weft::completion<T>(): a copyable callable whose first call delivers the
/// value to the CompletionWaiter, from any thread (a callback from a C library, a thread pool).
template <class T>
class Completion {
 public:
  /// Empty: calling it is a weft::Error. Get a connected pair from weft::completion<T>().
  Completion() = default;

  /// Delivers `v` if no call came first and the waiter is still there; true if this call did. Any
  /// thread; never waits.
  /// (A template only so that Completion<void> can exist: `void` cannot be a parameter type.)
  template <class U = T>
    requires(!std::is_void_v<U>)
  bool operator()(std::type_identity_t<U> v) const {
    oneshot::Sender<T> tx = state().take();
    if (!tx) return false;  // another call won
    return tx.send(std::move(v)).is_sent();
  }
  /// Completion<void>: signals the waiter if no call came first and the waiter is still there; true if
  /// this call did. Any thread; never waits.
  bool operator()() const
    requires std::is_void_v<T>
  {
    oneshot::Sender<T> tx = state().take();
    if (!tx) return false;
    return tx.send();
  }
  /// False for a default-constructed (empty) Completion.
  explicit operator bool() const noexcept { return s_ != nullptr; }

 private:
  friend std::pair<Completion<T>, CompletionWaiter<T>> completion<T>();
  explicit Completion(std::shared_ptr<detail::CompletionState<T>> s) : s_(std::move(s)) {}
  detail::CompletionState<T>& state() const {
    if (!s_) detail::completion_throw_empty();
    return *s_;
  }
  std::shared_ptr<detail::CompletionState<T>> s_;
};

/// The waiting side of weft::completion<T>(): wait() suspends a fiber (or blocks a thread) until
/// the first call of a Completion. Movable, not copyable.
template <class T>
class CompletionWaiter {
 public:
  CompletionWaiter() = default;

  /// Waits for the first call of a Completion and returns its value. Throws weft::NeverCompleted if
  /// every copy was destroyed without a call (at once if that already happened).
  T wait() const {
    if constexpr (std::is_void_v<T>) {
      if (!rx_.recv()) detail::completion_throw_never_completed();
    } else {
      std::optional<T> v = rx_.recv();
      if (!v) detail::completion_throw_never_completed();
      return std::move(*v);
    }
  }
  /// True once wait() would not wait: a call delivered, or every copy is gone.
  bool is_ready() const { return rx_.is_finished(); }
  /// False for a default-constructed or moved-from waiter.
  explicit operator bool() const noexcept { return static_cast<bool>(rx_); }

 private:
  friend std::pair<Completion<T>, CompletionWaiter<T>> completion<T>();
  explicit CompletionWaiter(oneshot::Receiver<T> rx) : rx_(std::move(rx)) {}
  oneshot::Receiver<T> rx_;
};

/// A connected pair: the Completion to hand to whatever will deliver the result, and the waiter
/// that waits for it.
template <class T>
std::pair<Completion<T>, CompletionWaiter<T>> completion() {
  auto [tx, rx] = oneshot::channel<T>();
  return {Completion<T>(std::make_shared<detail::CompletionState<T>>(std::move(tx))), CompletionWaiter<T>(std::move(rx))};
}

}  // namespace weft

WEFT_API_END
