/// @file
/// weft/channel_select.hpp — wait on several channel operations (and a deadline) at once, in the
/// calling fiber, without spawning: exactly one of them takes effect (Go's select).
///
/// @verbatim
///   auto [jobs_tx, jobs] = weft::mpsc::channel<int>(8);
///   auto [quit_tx, quit] = weft::oneshot::channel<bool>();
///   auto [out, results] = weft::mpsc::channel<int>(8);
///   (void)jobs_tx.send(5);
///   std::size_t fired = weft::Select()
///       .recv(jobs, [&](std::optional<int> job) { std::printf("job %d\n", job.value_or(-1)); })
///       .recv(quit, [&](std::optional<bool>) { std::puts("quit"); })
///       .send(out, 42, [&](weft::SendResult<int> r) { std::printf("sent: %d\n", bool(r)); })
///       .timeout(100ms, [&] { std::puts("idle for 100 ms"); })
///       .run();                                  // the index of the branch that ran (0..3)
///
/// Branches:
///   .recv(rx, fn)      mpsc::Receiver / oneshot::Receiver: fn(std::optional<T>) — nullopt: closed
///                      broadcast::Receiver:                fn(broadcast::RecvResult<T>)
///   .send(tx, v, fn)   mpsc::Sender:                       fn(SendResult<T>) — value back if closed
///   .changed(rx, fn)   watch::Receiver:                    fn(bool) — false: the sender is gone
///   .notified(n, fn)   weft::Notify:                       fn()
///   .timeout(d, fn) / .deadline(t, fn):                    fn() — if nothing else happened first
/// run() waits until one branch's operation completes, runs that branch's handler in the calling
/// fiber (or thread) and returns its index in the order the branches were added. Exactly one
/// operation takes effect: a losing recv consumed nothing, a losing send sent nothing (its value is
/// destroyed with the Select). If several are ready at once, a random one of them wins, so no branch
/// can starve the others. run() is a suspension point: it throws weft::Cancelled, and then no
/// branch took effect. A closed channel counts as ready (its handler gets nullopt / is_closed()), so
/// drop a branch once its channel is closed or it will win every time.
///
/// (weft::race in weft/race.hpp is the other kind of select: it races *functions*, each in its
/// own child fiber, and cancels the losers.)
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/chrono.hpp>
#include <weft/channel.hpp>
#include <weft/coop.hpp>
#include <weft/detail/waiter.hpp>
#include <weft/error.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

WEFT_API_BEGIN

namespace weft {

namespace detail {
[[noreturn]] void select_throw_empty();

// A branch around a SyncOp: runs `fn(op.take())` (or fn() for ops without a result) if it won.
template <class Op, class F>
struct SelectOpBranch {
  static constexpr bool is_timeout = false;
  Op op;
  F fn;
  SyncOp* sync_op() noexcept { return &op; }
  void fire() {
    if constexpr (std::is_void_v<decltype(op.take())>) {
      fn();
    } else {
      fn(op.take());
    }
  }
};

template <class F>
struct SelectTimeoutBranch {
  static constexpr bool is_timeout = true;
  SyncClock::time_point deadline;
  F fn;
  SyncOp* sync_op() noexcept { return nullptr; }
  void fire() { fn(); }
};
}  // namespace detail

/// Waits on several channel operations (and a deadline) at once in the calling fiber; exactly one
/// takes effect. Built by chaining branches on a temporary, `weft::Select().recv(...).run()`; see
/// weft/channel_select.hpp for the branches and their handlers.
template <class... Branches>
class [[nodiscard("a Select does nothing until run()")]] Select {
 public:
  Select() = default;
  /// The branches so far (each branch method builds the next Select with this).
  explicit Select(std::tuple<Branches...>&& b) : branches_(std::move(b)) {}

  /// Adds a receive from an mpsc, oneshot or broadcast receiver; `fn` gets the receive's result.
  template <class Rx, class F>
  auto recv(Rx& rx, F fn) && {
    using Op = decltype(select_recv_op(rx));
    static_assert(std::is_invocable_v<F&, decltype(std::declval<Op&>().take())>,
                  "Select::recv: the handler must accept the receive result: std::optional<T> for mpsc and "
                  "oneshot receivers, broadcast::RecvResult<T> for broadcast receivers");
    return std::move(*this).append(detail::SelectOpBranch<Op, F>{select_recv_op(rx), std::move(fn)});
  }
  /// Adds a send of `v` on an mpsc sender; `fn` gets the SendResult (the value back if closed).
  template <class Tx, class V, class F>
  auto send(Tx& tx, V&& v, F fn) && {
    using T = typename Tx::value_type;
    using Op = decltype(select_send_op(tx, std::declval<T&&>()));
    static_assert(std::is_invocable_v<F&, SendResult<T>>, "Select::send: the handler must accept SendResult<T>");
    return std::move(*this).append(detail::SelectOpBranch<Op, F>{select_send_op(tx, T(std::forward<V>(v))), std::move(fn)});
  }
  /// Adds a wait for a change of a watch receiver; `fn(bool)`, false once the sender is gone.
  template <class Rx, class F>
  auto changed(Rx& rx, F fn) && {
    using Op = decltype(select_changed_op(rx));
    static_assert(std::is_invocable_v<F&, bool>, "Select::changed: the handler must accept a bool (false: the "
                                                 "watch sender is gone)");
    return std::move(*this).append(detail::SelectOpBranch<Op, F>{select_changed_op(rx), std::move(fn)});
  }
  /// Adds a wait for a weft::Notify; `fn()`.
  template <class N, class F>
  auto notified(N& n, F fn) && {
    using Op = decltype(select_notified_op(n));
    static_assert(std::is_invocable_v<F&>, "Select::notified: the handler takes no arguments");
    return std::move(*this).append(detail::SelectOpBranch<Op, F>{select_notified_op(n), std::move(fn)});
  }
  /// Adds a timeout: `fn()` runs if nothing else happened within `d`.
  template <class Rep, class Period, class F>
  auto timeout(std::chrono::duration<Rep, Period> d, F fn) && {
    return std::move(*this).deadline(detail::steady_deadline_after(d), std::move(fn));
  }
  /// Adds a deadline: `fn()` runs if nothing else happened by `t` (any clock).
  template <class Clock, class Duration, class F>
  auto deadline(std::chrono::time_point<Clock, Duration> t, F fn) && {
    static_assert(std::is_invocable_v<F&>, "Select::timeout/deadline: the handler takes no arguments");
    return std::move(*this).append(detail::SelectTimeoutBranch<F>{detail::to_steady_deadline(t), std::move(fn)});
  }

  /// Waits for the first branch, runs its handler, returns its index. See the header comment.
  std::size_t run() { return run_impl(std::index_sequence_for<Branches...>{}); }

 private:
  template <class B>
  Select<Branches..., B> append(B&& b) && {
    return Select<Branches..., B>(std::tuple_cat(std::move(branches_), std::tuple<B>(std::move(b))));
  }

  template <std::size_t... I>
  std::size_t run_impl(std::index_sequence<I...>) {
    constexpr std::size_t n = sizeof...(Branches);
    std::array<detail::SyncOp*, n + 1> ops{};
    std::array<std::size_t, n + 1> branch_of{};
    std::size_t nops = 0;
    std::optional<detail::SyncClock::time_point> deadline;
    std::size_t deadline_branch = 0;
    auto collect = [&](std::size_t i, auto& b) {
      if constexpr (std::remove_reference_t<decltype(b)>::is_timeout) {
        if (!deadline || b.deadline < *deadline) {
          deadline = b.deadline;
          deadline_branch = i;
        }
      } else {
        ops[nops] = b.sync_op();
        branch_of[nops++] = i;
      }
    };
    (collect(I, std::get<I>(branches_)), ...);
    (void)collect;  // unused for an empty Select
    if (nops == 0 && !deadline) detail::select_throw_empty();
    detail::coop_proceed();  // before any branch takes effect: cancel-safe
    const int k = detail::wait_any(ops.data(), nops, deadline ? &*deadline : nullptr, true);
    const std::size_t winner = k < 0 ? deadline_branch : branch_of[static_cast<std::size_t>(k)];
    ((I == winner ? (std::get<I>(branches_).fire(), 0) : 0), ...);
    return winner;
  }

  std::tuple<Branches...> branches_;
};

/// `weft::Select()` starts with no branch.
Select() -> Select<>;

}  // namespace weft

WEFT_API_END
