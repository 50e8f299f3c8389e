/// @file
/// weft/broadcast.hpp — every receiver sees every value (a bounded, lossy-with-notice fan-out).
///
/// @verbatim
///   auto [tx, rx1] = weft::broadcast::channel<std::string>(16);
///   weft::broadcast::Receiver<std::string> rx2 = tx.subscribe();   // sees values sent from now on
///   (void)tx.send("hello");
///   auto a = rx1.recv();                        // both receive "hello"
///   auto b = rx2.recv();
///   if (a && b) std::printf("%s %s\n", a->c_str(), b->c_str());
///
///   // A receiver that fell more than `capacity` values behind is told so, never silently skipped:
///   for (int i = 0; i < 20; ++i) (void)tx.send(std::to_string(i));  // rx1 is now 20 behind, 16 kept
///   auto r = rx1.recv();
///   if (r.is_lagged()) std::printf("%s\n", r.what());   // "lagged by 4 values ..."; the next
///                                                        // recv() continues with the oldest kept
///
/// The channel keeps the last `capacity` values; send() never waits (it overwrites the oldest).
/// recv() returns a RecvResult: a value (operator bool), is_lagged() with lagged() = how many values
/// this receiver missed, or is_closed() once every sender is gone and it has read everything.
/// Receivers are copyable (a copy continues from the same position); T must be copyable (each
/// receiver gets its own copy, made under the channel's spin lock — for large values send a
/// std::shared_ptr<const T>). recv() is a suspension point (throws weft::Cancelled; then this
/// receiver's position is unchanged). send() returns the value back if no receiver exists. Works
/// from plain threads too. Usable in a weft::Select (weft/channel_select.hpp).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/channel_end.hpp>
#include <weft/channel.hpp>
#include <weft/coop.hpp>
#include <weft/detail/waiter.hpp>
#include <weft/error.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

WEFT_API_BEGIN

namespace weft {

namespace broadcast {
/// How a receive ended: a value, values lost to overwriting (Lagged), the end of the channel, or
/// nothing new yet (Empty, try_recv only).
enum class RecvStatus : std::uint8_t { Value, Lagged, Closed, Empty };

/// What Receiver::recv / try_recv got: a value, or why there is none (status()).
template <class T>
class RecvResult {
 public:
  /// A received value.
  static RecvResult value(T v) { return RecvResult(RecvStatus::Value, std::move(v), 0); }
  /// The receiver missed `n` values (overwritten before it read them); it continues with the oldest
  /// value still stored.
  static RecvResult lagged(std::uint64_t n) { return RecvResult(RecvStatus::Lagged, std::nullopt, n); }
  /// Every sender is gone and this receiver has seen everything.
  static RecvResult closed() { return RecvResult(RecvStatus::Closed, std::nullopt, 0); }
  /// Nothing new yet (try_recv only).
  static RecvResult empty() { return RecvResult(RecvStatus::Empty, std::nullopt, 0); }

  /// A value was received.
  explicit operator bool() const noexcept { return status_ == RecvStatus::Value; }
  /// How the receive ended.
  RecvStatus status() const noexcept { return status_; }
  /// Values were missed: lagged() says how many.
  bool is_lagged() const noexcept { return status_ == RecvStatus::Lagged; }
  /// The channel is closed and drained for this receiver.
  bool is_closed() const noexcept { return status_ == RecvStatus::Closed; }
  bool is_empty() const noexcept { return status_ == RecvStatus::Empty; }  ///< try_recv only
  /// How many values this receiver missed (is_lagged()).
  std::uint64_t lagged() const noexcept { return lagged_; }
  /// The value; throws weft::Error if there is none.
  T& operator*() { return checked(); }
  /// Pointer to the value; throws weft::Error if there is none.
  T* operator->() { return &checked(); }
  /// The value; throws weft::Error if there is none.
  T& value() & { return checked(); }
  /// The value, moved out; throws weft::Error if there is none.
  T&& value() && { return std::move(checked()); }
  /// What happened, as a sentence.
  const char* what() const {
    if (msg_.empty()) msg_ = describe();
    return msg_.c_str();
  }

 private:
  RecvResult(RecvStatus s, std::optional<T> v, std::uint64_t lag) : status_(s), v_(std::move(v)), lagged_(lag) {}
  T& checked() {
    if (!v_) throw Error(std::string("broadcast::RecvResult: no value: ") + what());
    return *v_;
  }
  std::string describe() const {
    switch (status_) {
      case RecvStatus::Value: return "a value";
      case RecvStatus::Lagged:
        return "lagged by " + std::to_string(lagged_) +
               " values: they were overwritten before this receiver read them (the channel keeps only its "
               "capacity); the next recv() continues with the oldest value still kept";
      case RecvStatus::Closed: return "closed: every sender is gone and this receiver has read everything";
      case RecvStatus::Empty: return "empty: nothing new right now (try_recv)";
    }
    return "?";
  }
  RecvStatus status_;
  std::optional<T> v_;
  std::uint64_t lagged_;
  mutable std::string msg_;
};
}  // namespace broadcast

namespace detail {

// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
inline constexpr WaitDesc kWaitBroadcastRecv{"broadcast recv", WaitDesc::Address};
[[noreturn]] void broadcast_throw_bad_capacity();
[[noreturn]] void broadcast_throw_no_channel(const char* op);

template <class T>
struct BroadcastChan {
  explicit BroadcastChan(std::size_t c) : cap(c), slots(c) {}
  SpinLock lock;
  const std::size_t cap;
  std::vector<std::optional<T>> slots;  // value with sequence number s lives in slots[s % cap]
  std::uint64_t tail = 0;               // sequence number of the next value
  std::size_t tx_count = 1;
  std::size_t rx_count = 0;
  WaitList receivers;                   // woken on every send (each reads at its own position)

  // Under lock: what a receiver at `next` gets now, advancing `next`; nullopt if it must wait.
  std::optional<broadcast::RecvResult<T>> read(std::uint64_t& next) {
    const std::uint64_t oldest = tail > cap ? tail - cap : 0;
    if (next < oldest) {
      const std::uint64_t missed = oldest - next;
      next = oldest;
      return broadcast::RecvResult<T>::lagged(missed);
    }
    if (next < tail) return broadcast::RecvResult<T>::value(*slots[next++ % cap]);
    if (tx_count == 0) return broadcast::RecvResult<T>::closed();
    return std::nullopt;
  }
};

template <class T>
class BroadcastRecvOp final : public SyncOp {
 public:
  BroadcastRecvOp(BroadcastChan<T>* ch, std::uint64_t* next) noexcept : ch_(ch), next_(next) {}
  bool try_now() override {
    std::lock_guard lk(ch_->lock);
    result_ = ch_->read(*next_);
    return result_.has_value();
  }
  void note_wait(Waiter& w) const noexcept override { w.note(kWaitBroadcastRecv, static_cast<const void*>(ch_)); }
  void enroll(Waiter& w) noexcept override {
    node_ = WaitNode{};
    node_.waiter = &w;
    std::lock_guard lk(ch_->lock);
    if (!ready()) {
      ch_->receivers.push_back(&node_);
      return;
    }
    if (w.wake()) node_.fired = true;  // the read itself happens in take()
  }
  bool withdraw() noexcept override {
    std::lock_guard lk(ch_->lock);
    if (node_.linked) ch_->receivers.remove(&node_);
    return node_.fired;
  }
  // The result. After a wake (fired), the read happens here, outside withdraw(), because copying a
  // T may throw. It cannot come up empty: a receiver's readiness only ever grows (tail rises, the
  // sender count only falls) and nobody else moves this receiver's position.
  broadcast::RecvResult<T> take() {
    if (!result_) {
      std::lock_guard lk(ch_->lock);
      result_ = ch_->read(*next_);
    }
    return std::move(*result_);
  }

 private:
  bool ready() const noexcept { return *next_ < ch_->tail || ch_->tx_count == 0; }
  BroadcastChan<T>* ch_;
  std::uint64_t* next_;
  WaitNode node_;
  std::optional<broadcast::RecvResult<T>> result_;
};
}  // namespace detail

namespace broadcast {

/// The receiving side: one position in the channel's ring (defined below).
template <class T>
class Receiver;

/// The sending side. Copy it to get more senders; the receivers see the end (closed) once every
/// copy is destroyed.
template <class T>
class Sender : public detail::ChannelEnd<detail::BroadcastChan<T>, Sender<T>, &detail::broadcast_throw_no_channel> {
 public:
  /// The type of the values sent.
  using value_type = T;
  Sender() = default;
  /// Another sender of the same channel.
  Sender(const Sender& o) = default;
  /// Takes over the other's channel; the other becomes empty.
  Sender(Sender&&) noexcept = default;
  /// Drops this sender, then becomes another sender of `o`'s channel.
  Sender& operator=(const Sender& o) = default;
  /// Drops this sender, then takes over `o`'s channel.
  Sender& operator=(Sender&& o) noexcept = default;

  /// Stores `v` for every current receiver (overwriting the oldest value) and wakes them. Never
  /// waits. Returns the value back (is_closed()) if there is no receiver.
  SendResult<T> send(T v) const {
    auto* c = this->chan("send");
    std::optional<T> old;  // the overwritten value dies after the unlock
    detail::WakeQueue wq;
    std::lock_guard lk(c->lock);
    if (c->rx_count == 0) return SendResult<T>::closed(std::move(v));
    std::optional<T>& slot = c->slots[c->tail % c->cap];
    old = std::move(slot);
    slot.emplace(std::move(v));
    ++c->tail;
    c->receivers.wake_all(detail::WakeReason::Notify, wq);
    return SendResult<T>::sent();
  }
  /// A new receiver that sees the values sent from now on.
  Receiver<T> subscribe() const;
  /// The receivers alive now.
  std::size_t receiver_count() const {
    auto* c = this->chan("receiver_count");
    std::lock_guard lk(c->lock);
    return c->rx_count;
  }

 private:
  template <class U>
  friend std::pair<Sender<U>, Receiver<U>> channel(std::size_t);
  friend typename Sender::Base;
  explicit Sender(std::shared_ptr<detail::BroadcastChan<T>> ch) : Sender::Base(std::move(ch)) {}
  static void on_copy(detail::BroadcastChan<T>& c) noexcept { detail::sender_copied(c); }
  static void on_release(detail::BroadcastChan<T>& c) noexcept { detail::sender_released(c); }
};

/// The receiving side: sees every value sent after it subscribed, unless it falls more than the
/// channel's capacity behind (then it is told how many it lost). Copyable.
template <class T>
class Receiver : public detail::ChannelEnd<detail::BroadcastChan<T>, Receiver<T>, &detail::broadcast_throw_no_channel> {
 public:
  Receiver() = default;
  /// A copy continues from the same position.
  Receiver(const Receiver& o) = default;
  /// Takes over the other's channel and position; the other becomes empty.
  Receiver(Receiver&& o) noexcept = default;
  /// Drops this receiver, then continues from `o`'s position.
  Receiver& operator=(const Receiver& o) = default;
  /// Drops this receiver, then takes over `o`'s channel and position.
  Receiver& operator=(Receiver&& o) noexcept = default;

  /// The next value, or lagged / closed. Suspends (blocks a thread) while there is nothing new.
  RecvResult<T> recv() {
    detail::coop_proceed();  // before a value is taken: cancel-safe
    detail::BroadcastRecvOp<T> op(this->chan("recv"), &next_);
    detail::wait_one(op);
    return op.take();
  }
  /// As recv() without waiting: RecvResult::is_empty() if nothing new.
  RecvResult<T> try_recv() {
    detail::BroadcastRecvOp<T> op(this->chan("try_recv"), &next_);
    if (!op.try_now()) return RecvResult<T>::empty();
    return op.take();
  }

 private:
  friend class Sender<T>;
  template <class U>
  friend std::pair<Sender<U>, Receiver<U>> channel(std::size_t);
  friend detail::BroadcastRecvOp<T> select_recv_op(Receiver& rx) {
    return detail::BroadcastRecvOp<T>(rx.chan("recv (in a Select)"), &rx.next_);
  }
  friend typename Receiver::Base;
  // Under the channel lock, or before the channel is shared.
  Receiver(std::shared_ptr<detail::BroadcastChan<T>> ch, std::uint64_t next)
      : Receiver::Base(std::move(ch)), next_(next) {
    ++this->ch_->rx_count;
  }
  static void on_copy(detail::BroadcastChan<T>& c) noexcept { detail::receiver_copied(c); }
  static void on_release(detail::BroadcastChan<T>& c) noexcept { detail::receiver_released(c); }
  std::uint64_t next_ = 0;  // sequence number of the next value to read (owned by this receiver)
};

template <class T>
Receiver<T> Sender<T>::subscribe() const {
  auto* c = this->chan("subscribe");
  std::lock_guard lk(c->lock);
  return Receiver<T>(this->ch_, c->tail);
}

/// A channel keeping the last `capacity` (>= 1) values.
template <class T>
std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity) {
  if (capacity == 0) detail::broadcast_throw_bad_capacity();
  auto ch = std::make_shared<detail::BroadcastChan<T>>(capacity);
  Receiver<T> rx(ch, 0);
  return {Sender<T>(std::move(ch)), std::move(rx)};
}

}  // namespace broadcast
}  // namespace weft

WEFT_API_END
