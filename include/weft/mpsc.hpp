/// @file
/// weft/mpsc.hpp — multi-producer, single-consumer channels (bounded and unbounded).
///
/// @verbatim
///   auto [tx, rx] = weft::mpsc::channel<int>(32);            // bounded: send waits while full
///   for (int id = 0; id < 3; ++id) {
///     weft::spawn([tx = tx, id] {                            // Sender is copyable
///       for (int i = 0; i < 5; ++i) (void)tx.send(id * 100 + i);  // suspends while full
///     }).detach();
///   }
///   tx = {};                                                 // drop ours: the channel closes when
///                                                            // the last sender is gone
///   while (std::optional<int> v = rx.recv()) std::printf("got %d\n", *v);   // nullopt: closed
///
///   auto [utx, urx] = weft::mpsc::unbounded_channel<std::string>();   // send never waits
///
/// Sender and Receiver are handles to a shared channel: their operations are const and thread-safe.
/// Messages from one sender arrive in the order it sent them. recv() and send() are suspension
/// points (they throw weft::Cancelled); both work from plain threads too (they block), so threads
/// can feed fibers and the other way round. Cancel-safe: a recv() that throws consumed no message,
/// a send() that throws sent nothing. When the receiver is dropped or closed, send() returns the
/// value back (SendResult::is_closed()); buffered messages are destroyed with the receiver.
///
/// To wait on several channels (or with a timeout) in one fiber, see weft/channel_select.hpp.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/channel_end.hpp>
#include <weft/detail/chrono.hpp>
#include <weft/channel.hpp>
#include <weft/coop.hpp>
#include <weft/detail/ring.hpp>
#include <weft/detail/waiter.hpp>
#include <weft/error.hpp>

#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

WEFT_API_BEGIN

namespace weft {
namespace detail {

// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
inline constexpr WaitDesc kWaitChannelRecv{"channel recv", WaitDesc::Address};
inline constexpr WaitDesc kWaitChannelSend{"channel send", WaitDesc::Address};
[[noreturn]] void mpsc_throw_bad_capacity();
[[noreturn]] void mpsc_throw_no_channel(const char* op);

template <class T>
struct MpscChan {
  struct RecvNode : WaitNode {
    std::optional<T> slot;  // filled by the sender that woke us; empty if woken by close
  };
  struct SendNode : WaitNode {
    T* value = nullptr;  // the waiting sender's value (lives in its op)
    bool sent = false;   // a receiver moved *value into the buffer
  };

  explicit MpscChan(std::size_t c) : cap(c) {
    if (cap) buf.reserve(cap);  // refills under the lock never allocate
  }

  SpinLock lock;
  Ring<T> buf;
  const std::size_t cap;     // 0: unbounded
  WaitList receivers;        // RecvNodes; only while buf is empty
  WaitList senders;          // SendNodes (bounded); only while buf is full
  std::size_t tx_count = 1;  // live Senders
  bool rx_alive = true;
  bool rx_closed = false;

  bool send_closed() const noexcept { return !rx_alive || rx_closed; }
  bool recv_closed() const noexcept { return tx_count == 0 || rx_closed; }
  bool has_room() const noexcept { return (cap == 0 || buf.size() < cap) && senders.empty(); }

  // Under lock. Gives `v` to a waiting receiver; false if none could be woken.
  bool hand_to_receiver(T& v, WakeQueue& wq) noexcept {
    if (WaitNode* n = receivers.wake_one(WakeReason::Notify, wq)) {
      static_cast<RecvNode*>(n)->slot.emplace(std::move(v));
      n->release_to_waiter();  // last touch: the receiver may take the value without the lock
      return true;
    }
    return false;
  }
  // Under lock, after a pop: moves waiting senders' values into the freed room (FIFO).
  void refill(WakeQueue& wq) noexcept {
    while (buf.size() < cap) {
      WaitNode* n = senders.wake_one(WakeReason::Notify, wq);
      if (!n) return;
      auto* s = static_cast<SendNode*>(n);
      buf.push(std::move(*s->value));
      s->sent = true;
      s->release_to_waiter();  // last touch
    }
  }
};

template <class T>
class MpscRecvOp final : public SyncOp {
 public:
  explicit MpscRecvOp(MpscChan<T>* ch) noexcept : ch_(ch) {}
  bool try_now() override {
    WakeQueue wq;
    std::lock_guard lk(ch_->lock);
    return try_locked(wq);
  }
  // wait_one's first step in one locked section (FusedSyncOp).
  bool try_or_enroll(Waiter& w) {
    reset_node(w);
    return complete_or_link(ch_->lock, ch_->receivers, node_, w, [this](WakeQueue& wq) { return try_locked(wq); });
  }
  void note_wait(Waiter& w) const noexcept override { w.note(kWaitChannelRecv, static_cast<const void*>(ch_)); }
  void enroll(Waiter& w) noexcept override {
    reset_node(w);
    WakeQueue wq;
    std::lock_guard lk(ch_->lock);
    if (ch_->buf.empty() && !ch_->recv_closed()) {
      ch_->receivers.push_back(&node_);
      return;
    }
    if (!w.wake()) return;  // another operation of this wait won first
    node_.fired = true;
    if (!ch_->buf.empty()) {
      node_.slot.emplace(ch_->buf.pop());
      ch_->refill(wq);
    }
  }
  bool withdraw() noexcept override {
    // A sender that handed us a message released the node (unlinked, fired, slot written) and
    // will not touch it again: nothing of the channel's to look at, so no lock.
    if (!node_.released_to_waiter()) {
      std::lock_guard lk(ch_->lock);
      if (node_.linked) ch_->receivers.remove(&node_);
      if (!node_.fired) return false;
    }
    result_ = std::move(node_.slot);
    return true;
  }
  std::optional<T> take() { return std::move(result_); }

 private:
  void reset_node(Waiter& w) noexcept {
    node_ = {};
    node_.waiter = &w;
  }
  // Under lock: receives if there is a message, or finds the channel closed and drained (the
  // result is then "no message"); false if it must wait.
  bool try_locked(WakeQueue& wq) {
    if (!ch_->buf.empty()) {
      result_.emplace(ch_->buf.pop());
      ch_->refill(wq);
      return true;
    }
    return ch_->recv_closed();
  }

  MpscChan<T>* ch_;
  typename MpscChan<T>::RecvNode node_;
  std::optional<T> result_;
};

template <class T>
class MpscSendOp final : public SyncOp {
 public:
  MpscSendOp(MpscChan<T>* ch, T&& v) : ch_(ch), value_(std::move(v)) {}
  bool try_now() override {
    WakeQueue wq;
    std::lock_guard lk(ch_->lock);
    return complete_locked(wq);
  }
  void note_wait(Waiter& w) const noexcept override { w.note(kWaitChannelSend, static_cast<const void*>(ch_)); }
  // wait_one's first step in one locked section (FusedSyncOp).
  // Links only when complete_locked failed: open, no receiver could be woken, no room.
  bool try_or_enroll(Waiter& w) {
    reset_node(w);
    return complete_or_link(ch_->lock, ch_->senders, node_, w, [this](WakeQueue& wq) { return complete_locked(wq); });
  }
  void enroll(Waiter& w) noexcept override {
    reset_node(w);
    WakeQueue wq;
    std::lock_guard lk(ch_->lock);
    if (!ch_->send_closed() && ch_->receivers.empty() && !ch_->has_room()) {
      ch_->senders.push_back(&node_);
      return;
    }
    if (!w.wake()) return;
    // Won our own wait. If every listed receiver turned out to be taken by other waits and there is
    // no room, nothing happens and the wait retries (withdraw() sees fired == false).
    if (complete_locked(wq)) node_.fired = true;
  }
  bool withdraw() noexcept override {
    // Released by the receiver that moved our value into the buffer (refill): no lock needed.
    if (node_.released_to_waiter()) {
      status_ = SendStatus::Sent;
      return true;
    }
    std::lock_guard lk(ch_->lock);
    if (node_.linked) ch_->senders.remove(&node_);
    if (!node_.fired) return false;
    if (node_.sent) status_ = SendStatus::Sent;
    else if (status_ != SendStatus::Sent) status_ = SendStatus::Closed;  // woken by the receiver closing
    return true;
  }
  SendResult<T> take() {
    if (status_ == SendStatus::Sent) return SendResult<T>::sent();
    if (status_ == SendStatus::Closed) return SendResult<T>::closed(std::move(value_));
    return SendResult<T>::full(std::move(value_));
  }

 private:
  void reset_node(Waiter& w) noexcept {
    node_ = {};
    node_.waiter = &w;
    node_.value = &value_;
  }
  // Under lock: sends if possible (records the outcome in status_); false if it must wait.
  bool complete_locked(WakeQueue& wq) {
    if (ch_->send_closed()) {
      status_ = SendStatus::Closed;
      return true;
    }
    if (ch_->hand_to_receiver(value_, wq) || (ch_->has_room() && (ch_->buf.push(std::move(value_)), true))) {
      status_ = SendStatus::Sent;
      return true;
    }
    return false;
  }

  MpscChan<T>* ch_;
  T value_;
  typename MpscChan<T>::SendNode node_;
  SendStatus status_ = SendStatus::Full;
};
}  // namespace detail

namespace mpsc {

template <class T>
class Receiver;

/// The sending side. Copy it to get more producers; the channel closes for the receiver when the
/// last copy is destroyed (or reset with `tx = {}`).
template <class T>
class Sender : public detail::ChannelEnd<detail::MpscChan<T>, Sender<T>, &detail::mpsc_throw_no_channel> {
 public:
  /// The type of the messages.
  using value_type = T;
  Sender() = default;
  /// Another producer of the same channel.
  Sender(const Sender& o) = default;
  /// Takes over the other's channel; the other becomes empty.
  Sender(Sender&& o) noexcept = default;
  /// Drops this sender, then becomes another producer of `o`'s channel.
  Sender& operator=(const Sender& o) = default;
  /// Drops this sender, then takes over `o`'s channel.
  Sender& operator=(Sender&& o) noexcept = default;

  /// Sends `v`, suspending (blocking a thread) while a bounded channel is full. Returns the value
  /// back if the receiver is gone. Throws weft::Cancelled; then nothing was sent.
  SendResult<T> send(T v) const {
    detail::coop_proceed();  // before the send takes effect: cancel-safe
    detail::MpscSendOp<T> op(this->chan("send"), std::move(v));
    detail::wait_one(op);
    return op.take();
  }
  /// As send(), but gives up at the deadline (SendResult::is_full()).
  /// Any duration, rounded up (never gives up early).
  template <class Rep, class Period>
  SendResult<T> send_for(T v, std::chrono::duration<Rep, Period> timeout) const {
    const auto d = detail::steady_deadline_after(timeout);
    detail::coop_proceed();
    detail::MpscSendOp<T> op(this->chan("send_for"), std::move(v));
    detail::wait_one(op, &d);
    return op.take();
  }
  /// Sends only if there is room right now (never suspends, never throws Cancelled).
  SendResult<T> try_send(T v) const {
    detail::MpscSendOp<T> op(this->chan("try_send"), std::move(v));
    op.try_now();
    return op.take();
  }
  /// True once the receiver was dropped or closed: every send fails from then on.
  bool is_closed() const {
    auto* c = this->chan("is_closed");
    std::lock_guard lk(c->lock);
    return c->send_closed();
  }

 private:
  template <class U>
  friend std::pair<Sender<U>, Receiver<U>> channel(std::size_t);
  template <class U>
  friend std::pair<Sender<U>, Receiver<U>> unbounded_channel();
  friend detail::MpscSendOp<T> select_send_op(const Sender& tx, T&& v) {
    return detail::MpscSendOp<T>(tx.chan("send (in a Select)"), std::move(v));
  }
  friend typename Sender::Base;

  explicit Sender(std::shared_ptr<detail::MpscChan<T>> ch) : Sender::Base(std::move(ch)) {}
  static void on_copy(detail::MpscChan<T>& c) noexcept { detail::sender_copied(c); }
  static void on_release(detail::MpscChan<T>& c) noexcept { detail::sender_released(c); }
};

/// The receiving side (one per channel; movable, not copyable).
template <class T>
class Receiver : public detail::ChannelEnd<detail::MpscChan<T>, Receiver<T>, &detail::mpsc_throw_no_channel> {
 public:
  /// The type of the messages.
  using value_type = T;
  Receiver() = default;
  /// Takes over the other's channel; the other becomes empty.
  Receiver(Receiver&&) noexcept = default;
  /// Drops this receiver (closing the channel), then takes over `o`'s.
  Receiver& operator=(Receiver&& o) noexcept = default;
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  /// The next message, suspending (blocking a thread) while there is none; std::nullopt once the
  /// channel is closed (every sender gone, or close() called) and drained. Throws weft::Cancelled;
  /// then no message was consumed.
  std::optional<T> recv() const {
    detail::coop_proceed();  // before a message is taken: cancel-safe
    detail::MpscRecvOp<T> op(this->chan("recv"));
    detail::wait_one(op);
    return op.take();
  }
  /// Range-for: `for (T& msg : rx)` receives until the channel is closed and drained. Each step is
  /// a recv(): it suspends, and throws weft::Cancelled with no message consumed (the loop ends by
  /// the exception; the channel keeps the rest). The message lives in the iterator until the next
  /// step, so move from it freely. An input range: iterate a receiver once at a time.
  class iterator {
   public:
    /// The type of the messages.
    using value_type = T;
    /// Required of an iterator; unused.
    using difference_type = std::ptrdiff_t;
    /// A single-pass range.
    using iterator_concept = std::input_iterator_tag;
    iterator() = default;
    /// The current message.
    T& operator*() const { return *cur_; }
    /// Pointer to the current message.
    T* operator->() const { return &*cur_; }
    /// Receives the next message (suspends; may throw weft::Cancelled).
    iterator& operator++() {
      cur_ = rx_->recv();
      return *this;
    }
    /// As ++it.
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return !it.cur_; }

   private:
    friend class Receiver;
    iterator(const Receiver* rx, std::optional<T> first) : rx_(rx), cur_(std::move(first)) {}
    const Receiver* rx_ = nullptr;
    mutable std::optional<T> cur_;  // mutable: operator* is const (input iterator) yet hands out T&
  };
  /// Receives the first message (suspends; may throw weft::Cancelled).
  iterator begin() const { return iterator(this, recv()); }
  /// Reached once the channel is closed and drained.
  std::default_sentinel_t end() const noexcept { return {}; }

  /// A buffered message if there is one right now (never suspends). std::nullopt means "nothing
  /// now"; is_closed() tells whether anything can still come.
  std::optional<T> try_recv() const {
    detail::MpscRecvOp<T> op(this->chan("try_recv"));
    op.try_now();
    return op.take();
  }
  /// Stops the senders (their sends fail from now on) but keeps what is buffered for recv().
  void close() const {
    auto* c = this->chan("close");
    detail::WakeQueue wq;
    std::lock_guard lk(c->lock);
    c->rx_closed = true;
    c->senders.wake_all(detail::WakeReason::Notify, wq);    // their sends fail with the value back
    c->receivers.wake_all(detail::WakeReason::Notify, wq);  // other fibers sharing this receiver see the end
  }
  /// True when recv() would return std::nullopt at once: closed and nothing buffered.
  bool is_closed() const {
    auto* c = this->chan("is_closed");
    std::lock_guard lk(c->lock);
    return c->recv_closed() && c->buf.empty();
  }
  /// Messages buffered now.
  std::size_t size() const {
    auto* c = this->chan("size");
    std::lock_guard lk(c->lock);
    return c->buf.size();
  }

 private:
  template <class U>
  friend std::pair<Sender<U>, Receiver<U>> channel(std::size_t);
  template <class U>
  friend std::pair<Sender<U>, Receiver<U>> unbounded_channel();
  friend detail::MpscRecvOp<T> select_recv_op(const Receiver& rx) { return detail::MpscRecvOp<T>(rx.chan("recv (in a Select)")); }

  friend typename Receiver::Base;

  explicit Receiver(std::shared_ptr<detail::MpscChan<T>> ch) : Receiver::Base(std::move(ch)) {}
  static void on_release(detail::MpscChan<T>& c) noexcept {
    detail::Ring<T> dropped;  // buffered messages die outside the lock (their destructors may be long)
    detail::WakeQueue wq;
    std::lock_guard lk(c.lock);
    c.rx_alive = false;
    c.senders.wake_all(detail::WakeReason::Notify, wq);
    dropped.swap(c.buf);  // no allocation under the lock
  }
};

/// A channel holding at most `capacity` (>= 1) messages; send() waits while it is full.
template <class T>
std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity) {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "weft::mpsc: T must be nothrow move constructible (messages are moved under a spin lock)");
  if (capacity == 0) detail::mpsc_throw_bad_capacity();
  auto ch = std::make_shared<detail::MpscChan<T>>(capacity);
  return {Sender<T>(ch), Receiver<T>(ch)};
}

/// A channel without a bound: send() never waits (memory is the limit).
template <class T>
std::pair<Sender<T>, Receiver<T>> unbounded_channel() {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "weft::mpsc: T must be nothrow move constructible (messages are moved under a spin lock)");
  auto ch = std::make_shared<detail::MpscChan<T>>(0);
  return {Sender<T>(ch), Receiver<T>(ch)};
}

}  // namespace mpsc
}  // namespace weft

WEFT_API_END
