/// @file
/// weft/watch.hpp — the latest value of something, and a way to wait until it changes.
///
/// @verbatim
///   auto [tx, rx] = weft::watch::channel<std::string>("starting");
///   auto watcher = weft::spawn([rx = rx]() mutable {
///     while (rx.changed()) {                             // suspends until a newer value is sent;
///       std::printf("state: %s\n", rx.borrow_and_update().c_str());   // false: sender is gone
///     }
///   });
///   tx.send("running");
///   tx.send("stopped");                                 // a slow watcher may only see the last
///   tx = {};                                            // one: watch keeps the latest value only
///   watcher.join();
///
/// Sender::send(v) replaces the value and wakes every waiting receiver; it never waits.
/// Receiver::changed() returns true once there is a value this receiver has not marked seen (and
/// marks it seen), false when the sender is gone and nothing new remains. borrow() returns a copy of
/// the current value (T must be copyable); borrow_and_update() also marks it seen. A new receiver
/// (subscribe(), or the one from channel()) has seen the value current at that moment. Receivers are
/// copyable (the copy has seen what the original has). changed() is a suspension point (throws
/// weft::Cancelled; then nothing is marked seen). Works from plain threads too. Usable in a
/// weft::Select (weft/channel_select.hpp).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/channel_end.hpp>
#include <weft/coop.hpp>
#include <weft/detail/waiter.hpp>
#include <weft/error.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

WEFT_API_BEGIN

namespace weft {
namespace detail {

// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
inline constexpr WaitDesc kWaitWatchChanged{"watch changed", WaitDesc::Address};
[[noreturn]] void watch_throw_no_channel(const char* op);

template <class T>
struct WatchChan {
  explicit WatchChan(T v) : value(std::move(v)) {}
  SpinLock lock;
  T value;
  std::uint64_t version = 0;  // bumped by every send
  bool tx_alive = true;
  std::size_t rx_count = 0;
  WaitList receivers;
};

// changed(): ready when there is an unseen version or the sender is gone.
template <class T>
class WatchChangedOp final : public SyncOp {
 public:
  WatchChangedOp(WatchChan<T>* ch, std::uint64_t* seen) noexcept : ch_(ch), seen_(seen) {}
  bool try_now() override {
    std::lock_guard lk(ch_->lock);
    if (!ready()) return false;
    complete();
    return true;
  }
  void note_wait(Waiter& w) const noexcept override { w.note(kWaitWatchChanged, static_cast<const void*>(ch_)); }
  void enroll(Waiter& w) noexcept override {
    node_ = WaitNode{};
    node_.waiter = &w;
    std::lock_guard lk(ch_->lock);
    if (!ready()) {
      ch_->receivers.push_back(&node_);
      return;
    }
    if (w.wake()) node_.fired = true;  // completed in withdraw(), which always follows
  }
  bool withdraw() noexcept override {
    std::lock_guard lk(ch_->lock);
    if (node_.linked) ch_->receivers.remove(&node_);
    if (!node_.fired) return false;
    // Fired by a send, the sender's end, or our own enrollment: still ready (readiness only
    // grows, and only this receiver moves seen_), so complete here — exactly once.
    complete();
    return true;
  }
  bool take() const noexcept { return changed_; }

 private:
  bool ready() const noexcept { return ch_->version != *seen_ || !ch_->tx_alive; }
  void complete() noexcept {
    changed_ = ch_->version != *seen_;
    *seen_ = ch_->version;
  }
  WatchChan<T>* ch_;
  std::uint64_t* seen_;
  WaitNode node_;
  bool changed_ = false;
};
}  // namespace detail

namespace watch {

/// The receiving side (defined below).
template <class T>
class Receiver;

/// The one sending side (movable, not copyable); the receivers see the end when it is destroyed.
template <class T>
class Sender : public detail::ChannelEnd<detail::WatchChan<T>, Sender<T>, &detail::watch_throw_no_channel> {
 public:
  /// The type of the value.
  using value_type = T;
  Sender() = default;
  /// Takes over the other's channel; the other becomes empty.
  Sender(Sender&&) noexcept = default;
  /// Drops this sender (the receivers see the end), then takes over `o`'s channel.
  Sender& operator=(Sender&& o) noexcept = default;

  /// Replaces the value and wakes the waiting receivers (never waits). Returns false if there is
  /// no receiver left (the value is stored anyway).
  bool send(T v) const {
    return modify([&v](T& cur) { cur = std::move(v); });
  }
  /// Changes the value in place (fn(T&) runs under the channel's spin lock: keep it short and do
  /// not suspend in it), then wakes the receivers like send().
  template <class F>
  bool send_modify(F&& fn) const {
    return modify(std::forward<F>(fn));
  }
  /// A copy of the current value.
  T borrow() const {
    auto* c = this->chan("borrow");
    std::lock_guard lk(c->lock);
    return c->value;
  }
  /// A new receiver that has seen the current value.
  Receiver<T> subscribe() const;
  /// The receivers alive now.
  std::size_t receiver_count() const {
    auto* c = this->chan("receiver_count");
    std::lock_guard lk(c->lock);
    return c->rx_count;
  }

 private:
  template <class U>
  friend std::pair<Sender<U>, Receiver<U>> channel(U);
  friend typename Sender::Base;
  explicit Sender(std::shared_ptr<detail::WatchChan<T>> ch) : Sender::Base(std::move(ch)) {}
  template <class F>
  bool modify(F&& fn) const {
    auto* c = this->chan("send");
    detail::WakeQueue wq;
    std::lock_guard lk(c->lock);
    fn(c->value);
    ++c->version;
    c->receivers.wake_all(detail::WakeReason::Notify, wq);
    return c->rx_count != 0;
  }
  static void on_release(detail::WatchChan<T>& c) noexcept {
    detail::WakeQueue wq;
    std::lock_guard lk(c.lock);
    c.tx_alive = false;
    c.receivers.wake_all(detail::WakeReason::Notify, wq);  // they see the end
  }
};

/// The receiving side: reads the current value and waits for changes. Copyable; each copy has
/// its own idea of what it has seen.
template <class T>
class Receiver : public detail::ChannelEnd<detail::WatchChan<T>, Receiver<T>, &detail::watch_throw_no_channel> {
 public:
  Receiver() = default;
  /// Another receiver that has seen what `o` has seen.
  Receiver(const Receiver& o) = default;
  /// Takes over the other's channel and what it has seen; the other becomes empty.
  Receiver(Receiver&& o) noexcept = default;
  /// Drops this receiver, then receives as a copy of `o`.
  Receiver& operator=(const Receiver& o) = default;
  /// Drops this receiver, then takes over `o`'s channel and what it has seen.
  Receiver& operator=(Receiver&& o) noexcept = default;

  /// Waits until there is a value this receiver has not seen, marks it seen and returns true;
  /// returns false if the sender is gone and nothing new remains.
  bool changed() {
    detail::WatchChangedOp<T> op(this->chan("changed"), &seen_);
    detail::coop_proceed();  // before a version is marked seen: cancel-safe
    detail::wait_one(op);
    return op.take();
  }
  /// Whether a value not yet seen is there (never waits).
  bool has_changed() const {
    auto* c = this->chan("has_changed");
    std::lock_guard lk(c->lock);
    return c->version != seen_;
  }
  /// A copy of the current value; borrow_and_update() also marks it seen.
  T borrow() const {
    auto* c = this->chan("borrow");
    std::lock_guard lk(c->lock);
    return c->value;
  }
  /// A copy of the current value, marked seen: changed() waits for the next one.
  T borrow_and_update() {
    auto* c = this->chan("borrow_and_update");
    std::lock_guard lk(c->lock);
    seen_ = c->version;
    return c->value;
  }

 private:
  friend class Sender<T>;
  template <class U>
  friend std::pair<Sender<U>, Receiver<U>> channel(U);
  friend detail::WatchChangedOp<T> select_changed_op(Receiver& rx) {
    return detail::WatchChangedOp<T>(rx.chan("changed (in a Select)"), &rx.seen_);
  }
  friend typename Receiver::Base;
  // Under the channel lock, or before the channel is shared.
  Receiver(std::shared_ptr<detail::WatchChan<T>> ch, std::uint64_t seen)
      : Receiver::Base(std::move(ch)), seen_(seen) {
    ++this->ch_->rx_count;
  }
  static void on_copy(detail::WatchChan<T>& c) noexcept { detail::receiver_copied(c); }
  static void on_release(detail::WatchChan<T>& c) noexcept { detail::receiver_released(c); }
  std::uint64_t seen_ = 0;  // the version this receiver has seen (owned by this receiver)
};

template <class T>
Receiver<T> Sender<T>::subscribe() const {
  auto* c = this->chan("subscribe");
  std::lock_guard lk(c->lock);
  return Receiver<T>(this->ch_, c->version);
}

/// A new watch channel holding `initial`: its sender and a first receiver (which has seen
/// `initial`).
template <class T>
std::pair<Sender<T>, Receiver<T>> channel(T initial) {
  auto ch = std::make_shared<detail::WatchChan<T>>(std::move(initial));
  Receiver<T> rx(ch, 0);
  return {Sender<T>(std::move(ch)), std::move(rx)};
}

}  // namespace watch
}  // namespace weft

WEFT_API_END
