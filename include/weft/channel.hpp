/// @file
/// weft/channel.hpp — what the channels share: the result of a send.
///
/// @verbatim
///   auto [tx, rx] = weft::mpsc::channel<std::string>(16);
///   weft::SendResult<std::string> r = tx.send("hello");
///   if (!r) {                                     // not sent: the receiver is gone
///     std::string back = std::move(r).value();     // the value comes back, nothing is lost
///   }
///
/// A send that did not happen hands the value back: is_closed() — nobody will ever receive it (the
/// receiver was dropped or closed); is_full() — a try_send found no room, or a timed send ran out of
/// time. A SendResult converts to true when the value was sent.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/error.hpp>

#include <cstdint>
#include <optional>
#include <utility>

WEFT_API_BEGIN

namespace weft {

/// How a send ended: the value was sent, the channel had no room (try_send, or a deadline passed),
/// or nobody will receive it (the receiver is gone or closed).
enum class SendStatus : std::uint8_t { Sent, Full, Closed };

/// [[nodiscard]]: a dropped SendResult would hide a value that was never sent (receiver gone,
/// channel full). Check it; `(void)tx.send(v);` says a lost value does not matter.
template <class T>
class [[nodiscard("a dropped weft::SendResult hides an unsent value (receiver gone or channel full): check it, or cast to (void)")]] SendResult {
 public:
  /// A send that delivered its value.
  static SendResult sent() { return SendResult(SendStatus::Sent, std::nullopt); }
  /// A send that found no room; carries the value back.
  static SendResult full(T&& v) { return SendResult(SendStatus::Full, std::move(v)); }
  /// A send to a closed channel; carries the value back.
  static SendResult closed(T&& v) { return SendResult(SendStatus::Closed, std::move(v)); }

  /// is_sent().
  explicit operator bool() const noexcept { return status_ == SendStatus::Sent; }
  /// How the send ended.
  SendStatus status() const noexcept { return status_; }
  /// The value was delivered.
  bool is_sent() const noexcept { return status_ == SendStatus::Sent; }
  /// No room (try_send, or the deadline passed first); value() has the value.
  bool is_full() const noexcept { return status_ == SendStatus::Full; }
  /// Nobody will receive it (receiver gone or closed); value() has the value.
  bool is_closed() const noexcept { return status_ == SendStatus::Closed; }

  /// The value that was not sent. Throws weft::Error if it was sent.
  T& value() & { return checked(); }
  /// The value that was not sent, moved out. Throws weft::Error if it was sent.
  T&& value() && { return std::move(checked()); }

  /// A sentence for logs: "sent", or what went wrong and what to do.
  const char* what() const noexcept {
    switch (status_) {
      case SendStatus::Sent: return "sent";
      case SendStatus::Full:
        return "channel full: no room (try_send) or none before the deadline; the value was not sent and is "
               "returned in SendResult::value()";
      case SendStatus::Closed:
        return "channel closed: the receiver was dropped or closed, so nobody will receive this value; it is "
               "returned in SendResult::value()";
    }
    return "?";
  }

 private:
  SendResult(SendStatus s, std::optional<T> v) : status_(s), value_(std::move(v)) {}
  T& checked() {
    if (!value_) throw Error("SendResult::value: the value was sent, so there is nothing to give back; check the result "
                             "(if (!r) ...) before taking the value");
    return *value_;
  }

  SendStatus status_;
  std::optional<T> value_;
};

}  // namespace weft

WEFT_API_END
