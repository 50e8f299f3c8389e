/// @file
/// weft/result.hpp — what join() gives back: the fiber's value, or why there is none.
///
/// @verbatim
///   weft::Result<int> r = weft::spawn([] { return 42; }).join();
///   if (r) std::printf("%d\n", *r);
///   else if (r.error().is_cancelled()) std::puts("cancelled");
///   else std::printf("panicked: %s\n", r.error().what());
///
/// A *panic* is an exception that escaped the fiber's function; it is captured (never
/// std::terminate) and available through JoinError::panic() / rethrow().
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/error.hpp>

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <variant>

WEFT_API_BEGIN

namespace weft {

/// A fiber's number, unique within the process; shown in dumps, traces and errors ("fiber 17").
using FiberId = std::uint64_t;

/// Why a fiber produced no value: it panicked (an exception escaped it) or it was cancelled.
class JoinError {
 public:
  /// The error of fiber `id` ('fiber_name') that was cancelled.
  static JoinError cancelled(FiberId id, std::string fiber_name);
  /// The error of fiber `id` ('fiber_name') from which the exception `e` escaped.
  static JoinError panicked(FiberId id, std::string fiber_name, std::exception_ptr e);

  /// The fiber was cancelled (it threw weft::Cancelled out of its function).
  bool is_cancelled() const noexcept { return !panic_; }
  /// Another exception escaped the fiber: panic() holds it.
  bool is_panic() const noexcept { return static_cast<bool>(panic_); }
  /// "fiber 17 'fetch' panicked: <exception message>" or "fiber 17 'fetch' was cancelled".
  const char* what() const noexcept { return message_.c_str(); }
  /// The fiber's id.
  FiberId id() const noexcept { return id_; }
  /// The escaped exception (null when cancelled).
  std::exception_ptr panic() const noexcept { return panic_; }
  /// Rethrows the panic; for a cancelled fiber throws weft::Error (never weft::Cancelled, which
  /// would cancel the *caller*).
  [[noreturn]] void rethrow() const;

 private:
  JoinError(FiberId id, std::string message, std::exception_ptr e)
      : id_(id), message_(std::move(message)), panic_(std::move(e)) {}
  FiberId id_;
  std::string message_;
  std::exception_ptr panic_;
};

#define WEFT_DETAIL_RESULT_NODISCARD \
  [[nodiscard("a dropped weft::Result hides a panic or a cancellation: check it, or cast to (void) to say it does not matter")]]
/// Holds a T or a JoinError. [[nodiscard]]: dropping a join's Result (`h.join();`) would silently
/// lose a panic or a cancellation. Check it; `(void)h.join();` says the outcome does not matter.
template <class T>
class WEFT_DETAIL_RESULT_NODISCARD Result {
 public:
  /// A fiber's value.
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  /// A fiber's failure.
  Result(JoinError error) : v_(std::in_place_index<1>, std::move(error)) {}

  /// The fiber returned a value.
  bool has_value() const noexcept { return v_.index() == 0; }
  /// has_value().
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; if there is none, rethrows the panic (or weft::Error for a cancelled fiber).
  T& value() & { check(); return std::get<0>(v_); }
  /// The value; if there is none, rethrows the panic (or weft::Error for a cancelled fiber).
  const T& value() const& { check(); return std::get<0>(v_); }
  /// The value, moved out; if there is none, rethrows as value() does.
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  /// value().
  T& operator*() & { return value(); }
  /// value().
  const T& operator*() const& { return value(); }
  /// value(), moved out.
  T&& operator*() && { return std::move(*this).value(); }
  /// &value().
  T* operator->() { return &value(); }
  /// &value().
  const T* operator->() const { return &value(); }

  /// The value, or `fallback` if the fiber panicked or was cancelled (the error is dropped: use it
  /// only where the reason does not matter).
  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }
  /// The value moved out, or `fallback` (as value_or() const&).
  template <class U>
  T value_or(U&& fallback) && {
    return has_value() ? std::get<0>(std::move(v_)) : static_cast<T>(std::forward<U>(fallback));
  }

  /// The error; throws weft::Error if there is a value.
  const JoinError& error() const {
    if (has_value()) throw Error("Result::error: the fiber succeeded; check has_value() first");
    return std::get<1>(v_);
  }

 private:
  void check() const {
    if (!has_value()) std::get<1>(v_).rethrow();
  }
  std::variant<T, JoinError> v_;
};

/// The outcome of a fiber that returns nothing: success, or a JoinError.
template <>
class WEFT_DETAIL_RESULT_NODISCARD Result<void> {
 public:
  Result() = default;
  /// A fiber's failure (default-constructed: success).
  Result(JoinError error) : error_(std::move(error)) {}

  /// The fiber returned normally.
  bool has_value() const noexcept { return !error_; }
  /// has_value().
  explicit operator bool() const noexcept { return has_value(); }
  /// Returns if the fiber succeeded; otherwise rethrows the panic (or weft::Error for a cancelled
  /// fiber).
  void value() const {
    if (error_) error_->rethrow();
  }
  /// value().
  void operator*() const { value(); }
  /// The error; throws weft::Error if the fiber succeeded.
  const JoinError& error() const {
    if (!error_) throw Error("Result::error: the fiber succeeded; check has_value() first");
    return *error_;
  }

 private:
  std::optional<JoinError> error_;
};

}  // namespace weft

#undef WEFT_DETAIL_RESULT_NODISCARD
WEFT_API_END
