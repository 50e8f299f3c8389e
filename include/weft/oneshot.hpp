/// @file
/// weft/oneshot.hpp — a channel for exactly one value (a reply, a result, a "done" signal).
///
/// @verbatim
///   auto [tx, rx] = weft::oneshot::channel<int>();
///   weft::spawn([tx = std::move(tx)]() mutable { (void)tx.send(42); }).detach();
///   std::optional<int> v = rx.recv();      // suspends until sent; nullopt if the sender was
///   std::printf("%d\n", *v);               // dropped without sending
///
/// Sender::send(v) delivers the value (it never waits) and uses the sender up; it returns the value
/// back (SendResult::is_closed()) if the receiver is gone or closed. Receiver::recv() waits for the
/// value: std::nullopt means the sender was destroyed without sending. A second recv() after the
/// value was received is a weft::Error. recv() is a suspension point (throws weft::Cancelled, and
/// then the value — if any — stays in the channel for a later recv()). Works from plain threads too.
/// Usable in a weft::Select (weft/channel_select.hpp).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/block_allocator.hpp>
#include <weft/detail/channel_end.hpp>
#include <weft/channel.hpp>
#include <weft/coop.hpp>
#include <weft/detail/waiter.hpp>
#include <weft/error.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

WEFT_API_BEGIN

namespace weft {
namespace detail {

// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
inline constexpr WaitDesc kWaitOneshotRecv{"oneshot recv", WaitDesc::Address};
[[noreturn]] void oneshot_throw_no_channel(const char* op);
[[noreturn]] void oneshot_throw_taken();

template <class T>
struct OneshotChan {
  struct RecvNode : WaitNode {
    std::optional<T> slot;  // the value, or empty if woken because the sender gave up
  };
  SpinLock lock;
  std::optional<T> value;
  bool tx_done = false;  // sent, or the sender was dropped
  bool rx_gone = false;  // receiver dropped or closed
  bool taken = false;    // the value was received
  WaitList receivers;
};

template <class T>
class OneshotRecvOp final : public SyncOp {
 public:
  explicit OneshotRecvOp(OneshotChan<T>* ch) noexcept : ch_(ch) {}
  bool try_now() override {
    std::lock_guard lk(ch_->lock);
    if (ch_->taken) oneshot_throw_taken();
    return ready_take(result_);
  }
  void note_wait(Waiter& w) const noexcept override { w.note(kWaitOneshotRecv, static_cast<const void*>(ch_)); }
  void enroll(Waiter& w) noexcept override {
    node_ = {};
    node_.waiter = &w;
    std::lock_guard lk(ch_->lock);
    if (!ch_->value && !ch_->tx_done) {
      ch_->receivers.push_back(&node_);
      return;
    }
    if (!w.wake()) return;
    node_.fired = true;
    ready_take(node_.slot);
  }
  bool withdraw() noexcept override {
    std::lock_guard lk(ch_->lock);
    if (node_.linked) ch_->receivers.remove(&node_);
    if (!node_.fired) return false;
    if (node_.slot) ch_->taken = true;  // handed to us directly by send()
    result_ = std::move(node_.slot);
    return true;
  }
  std::optional<T> take() { return std::move(result_); }

 private:
  bool ready_take(std::optional<T>& out) noexcept {  // under lock
    if (ch_->value) {
      out.emplace(std::move(*ch_->value));
      ch_->value.reset();
      ch_->taken = true;
      return true;
    }
    return ch_->tx_done;  // sender gone without a value: the result is nullopt
  }

  OneshotChan<T>* ch_;
  typename OneshotChan<T>::RecvNode node_;
  std::optional<T> result_;
};
}  // namespace detail

namespace oneshot {

/// The receiving side (defined below).
template <class T>
class Receiver;

/// The sending side: send() once. Destroying it unsent tells the receiver no value will come.
/// Movable, not copyable.
template <class T>
class Sender : public detail::ChannelEnd<detail::OneshotChan<T>, Sender<T>, &detail::oneshot_throw_no_channel> {
 public:
  /// The type of the value.
  using value_type = T;
  Sender() = default;
  /// Takes over the other's channel; the other becomes empty.
  Sender(Sender&&) noexcept = default;
  /// Gives this sender up (as its destructor does), then takes over `o`'s channel.
  Sender& operator=(Sender&& o) noexcept = default;

  /// Delivers `v` (never waits). Afterwards this Sender is empty. Returns the value back if the
  /// receiver is gone.
  SendResult<T> send(T v) {
    if (!this->ch_) detail::oneshot_throw_no_channel("Sender::send (a oneshot sender sends once)");
    auto ch = std::move(this->ch_);  // used up: no give-up notice from the destructor
    detail::WakeQueue wq;
    std::lock_guard lk(ch->lock);
    ch->tx_done = true;
    if (ch->rx_gone) {
      // A recv() may be waiting on a closed receiver: no value will come now, so it ends (nullopt).
      ch->receivers.wake_all(detail::WakeReason::Notify, wq);
      return SendResult<T>::closed(std::move(v));
    }
    if (detail::WaitNode* n = ch->receivers.wake_one(detail::WakeReason::Notify, wq)) {
      static_cast<typename detail::OneshotChan<T>::RecvNode*>(n)->slot.emplace(std::move(v));
    } else {
      ch->value.emplace(std::move(v));
    }
    return SendResult<T>::sent();
  }
  /// True once the receiver was dropped or closed (a send would fail).
  bool is_closed() const {
    if (!this->ch_) return true;
    std::lock_guard lk(this->ch_->lock);
    return this->ch_->rx_gone;
  }

 private:
  template <class U>
  friend std::pair<Sender<U>, Receiver<U>> channel();
  friend typename Sender::Base;
  explicit Sender(std::shared_ptr<detail::OneshotChan<T>> ch) : Sender::Base(std::move(ch)) {}
  // Destroyed or reassigned unsent: give up.
  static void on_release(detail::OneshotChan<T>& c) noexcept {
    detail::WakeQueue wq;
    std::lock_guard lk(c.lock);
    c.tx_done = true;
    c.receivers.wake_all(detail::WakeReason::Notify, wq);  // they see "no value"
  }
};

/// The receiving side: recv() waits for the value. Movable, not copyable.
template <class T>
class Receiver : public detail::ChannelEnd<detail::OneshotChan<T>, Receiver<T>, &detail::oneshot_throw_no_channel> {
 public:
  Receiver() = default;
  /// Takes over the other's channel; the other becomes empty.
  Receiver(Receiver&&) noexcept = default;
  /// Drops this receiver (as its destructor does), then takes over `o`'s channel.
  Receiver& operator=(Receiver&& o) noexcept = default;

  /// Waits for the value; std::nullopt if the sender was dropped without sending.
  std::optional<T> recv() const {
    detail::coop_proceed();
    detail::OneshotRecvOp<T> op(this->chan("recv"));
    detail::wait_one(op);
    return op.take();
  }
  /// The value if it is there now (never waits); std::nullopt otherwise (see is_finished()).
  std::optional<T> try_recv() const {
    detail::OneshotRecvOp<T> op(this->chan("try_recv"));
    op.try_now();
    return op.take();
  }
  /// True once recv() would not wait: the value arrived, or the sender gave up.
  bool is_finished() const {
    auto* c = this->chan("is_finished");
    std::lock_guard lk(c->lock);
    return c->tx_done;
  }
  /// Refuses the value: a later send() fails and returns it. A value sent already stays receivable.
  void close() const {
    auto* c = this->chan("close");
    std::lock_guard lk(c->lock);
    c->rx_gone = true;
  }

 private:
  template <class U>
  friend std::pair<Sender<U>, Receiver<U>> channel();
  friend detail::OneshotRecvOp<T> select_recv_op(const Receiver& rx) {
    return detail::OneshotRecvOp<T>(rx.chan("recv (in a Select)"));
  }
  friend typename Receiver::Base;
  explicit Receiver(std::shared_ptr<detail::OneshotChan<T>> ch) : Receiver::Base(std::move(ch)) {}
  static void on_release(detail::OneshotChan<T>& c) noexcept {
    std::optional<T> dropped;  // destroyed after the unlock
    std::lock_guard lk(c.lock);
    c.rx_gone = true;
    dropped = std::move(c.value);
    c.value.reset();
  }
};

/// oneshot::channel<void>(): a one-time "done" signal with no value. Built on the std::monostate
/// channel, so it has the same guarantees; only the interface differs where a value would appear.
template <>
class Sender<void> {
 public:
  /// No value: only the signal.
  using value_type = void;
  Sender() = default;
  /// Signals the receiver (never waits) and uses the sender up. False if the receiver is gone or
  /// closed (nobody will see the signal). Throws weft::Error on an empty (used or moved-from) sender.
  [[nodiscard("false means nobody will see the signal: check it, or cast to (void)")]] bool send() {
    return inner_.send(std::monostate{}).is_sent();
  }
  /// True once the receiver was dropped or closed (a send would fail).
  bool is_closed() const { return inner_.is_closed(); }
  /// False once used by send(), moved from, or default-constructed.
  explicit operator bool() const noexcept { return static_cast<bool>(inner_); }

 private:
  template <class U>
  friend std::pair<Sender<U>, Receiver<U>> channel();
  explicit Sender(Sender<std::monostate> inner) noexcept : inner_(std::move(inner)) {}
  Sender<std::monostate> inner_;
};

/// The receiving side of a oneshot::channel<void>(): waits for the signal.
template <>
class Receiver<void> {
 public:
  Receiver() = default;
  /// Waits for the signal: true when it was sent, false if the sender was dropped without sending.
  /// A suspension point (weft::Cancelled; the signal then stays for a later recv()). A second recv()
  /// after a received signal is a weft::Error, as for a value.
  bool recv() const { return inner_.recv().has_value(); }
  /// True if the signal is there now, and takes it (never waits).
  bool try_recv() const { return inner_.try_recv().has_value(); }
  /// Whether recv() would not wait: the signal was sent, or the sender is gone.
  bool is_finished() const { return inner_.is_finished(); }
  /// Refuses the signal: a later send() returns false.
  void close() const { inner_.close(); }
  /// False for a default-constructed or moved-from receiver.
  explicit operator bool() const noexcept { return static_cast<bool>(inner_); }

 private:
  template <class U>
  friend std::pair<Sender<U>, Receiver<U>> channel();
  // In a Select, the handler receives std::optional<std::monostate>: engaged = signalled.
  friend detail::OneshotRecvOp<std::monostate> select_recv_op(const Receiver& rx) { return select_recv_op(rx.inner_); }
  explicit Receiver(Receiver<std::monostate> inner) noexcept : inner_(std::move(inner)) {}
  Receiver<std::monostate> inner_;
};

/// A new oneshot channel: its sender and its receiver. `channel<void>()` makes a signal.
template <class T>
std::pair<Sender<T>, Receiver<T>> channel() {
  if constexpr (std::is_void_v<T>) {
    auto [tx, rx] = channel<std::monostate>();
    return {Sender<void>(std::move(tx)), Receiver<void>(std::move(rx))};
  } else {
    static_assert(!std::is_reference_v<T>,
                  "weft::oneshot: T cannot be a reference; send a pointer or std::reference_wrapper");
    static_assert(std::is_nothrow_move_constructible_v<T>,
                  "weft::oneshot: T must be nothrow move constructible (the value is moved under a spin lock)");
    // From the control-block pool: a oneshot usually lives and dies with one fiber.
    auto ch = std::allocate_shared<detail::OneshotChan<T>>(detail::BlockAllocator<detail::OneshotChan<T>>{});
    return {Sender<T>(ch), Receiver<T>(ch)};
  }
}

}  // namespace oneshot
}  // namespace weft

WEFT_API_END
