// weft/detail/channel_end.hpp — what every channel end (the senders and receivers of mpsc,
// oneshot, broadcast and watch) does with its channel, written once.
//
//   template <class T>
//   class Sender : public detail::ChannelEnd<detail::MpscChan<T>, Sender<T>, &detail::mpsc_throw_no_channel> {
//     friend Base;
//     static void on_copy(detail::MpscChan<T>& c) noexcept;     // copyable ends only
//     static void on_release(detail::MpscChan<T>& c) noexcept;  // e.g. the last sender closes
//   };
//
// An end holds one reference to its channel's shared state, or none (default-constructed, moved
// from, or given up). Moving transfers the reference. Assigning or destroying first *releases*:
// Derived::on_release(channel) says goodbye (count this end out, wake whoever must see the change)
// while the reference is still held; a copy (for ends that allow it) calls Derived::on_copy to
// count itself in. Both hooks are static: the base's destructor runs after the derived part's
// lifetime ended, so it must not call a member of it. Invariant: an end with a channel has been
// counted in exactly once and will be counted out exactly once.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/waiter.hpp>

#include <memory>
#include <mutex>
#include <utility>

WEFT_API_BEGIN

namespace weft::detail {

template <class Chan, class Derived, void (*NoChannel)(const char* op)>
class ChannelEnd {
 public:
  /// False for a default-constructed, moved-from or given-up end.
  explicit operator bool() const noexcept { return ch_ != nullptr; }

 protected:
  using Base = ChannelEnd;

  ChannelEnd() = default;
  explicit ChannelEnd(std::shared_ptr<Chan> ch) noexcept : ch_(std::move(ch)) {}
  // Only instantiated for ends whose derived class is copyable.
  ChannelEnd(const ChannelEnd& o) : ch_(o.ch_) {
    if (ch_) Derived::on_copy(*ch_);
  }
  ChannelEnd(ChannelEnd&&) noexcept = default;
  ChannelEnd& operator=(const ChannelEnd& o) {
    if (this != &o) *this = ChannelEnd(o);
    return *this;
  }
  ChannelEnd& operator=(ChannelEnd&& o) noexcept {
    if (this != &o) {
      release();
      ch_ = std::move(o.ch_);
    }
    return *this;
  }
  ~ChannelEnd() { release(); }

  // The channel, or a weft::Error naming `op` for an end without one.
  Chan* chan(const char* op) const {
    if (!ch_) NoChannel(op);
    return ch_.get();
  }
  // Counts this end out (Derived::on_release) and drops the reference; idempotent.
  void release() noexcept {
    if (!ch_) return;
    Derived::on_release(*ch_);
    ch_.reset();
  }

  std::shared_ptr<Chan> ch_;
};

// The rule of the channels whose senders are copyable (mpsc, broadcast): every copy counts itself
// in, and the last one out closes the channel for the receivers, which wake to see it. For a Chan
// with `lock`, `tx_count` and `receivers`; the Senders' on_copy / on_release call these.
template <class Chan>
void sender_copied(Chan& c) noexcept {
  std::lock_guard lk(c.lock);
  ++c.tx_count;
}
template <class Chan>
void sender_released(Chan& c) noexcept {
  WakeQueue wq;  // wakes after the unlock
  std::lock_guard lk(c.lock);
  if (--c.tx_count == 0) c.receivers.wake_all(WakeReason::Notify, wq);  // they see "closed"
}

// The rule of the channels whose receivers are copyable (broadcast, watch): each copy counts
// itself, so that senders can tell whether anyone still listens. For a Chan with `lock` and
// `rx_count`; the Receivers' on_copy / on_release call these.
template <class Chan>
void receiver_copied(Chan& c) noexcept {
  std::lock_guard lk(c.lock);
  ++c.rx_count;
}
template <class Chan>
void receiver_released(Chan& c) noexcept {
  std::lock_guard lk(c.lock);
  --c.rx_count;
}

}  // namespace weft::detail

WEFT_API_END
