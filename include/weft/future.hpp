/// @file
/// weft/future.hpp — wait for a std::future or std::shared_future from a fiber.
///
/// @verbatim
///   std::future<int> f = legacy_pool.submit(compute);       // any std::future
///   int v = weft::wait(std::move(f));                      // suspends this fiber, not its worker
///   std::shared_future<Config> cfg = ...;
///   const Config& c = weft::wait(cfg);                     // many fibers may wait on copies
///
/// How it waits, honestly: std::future has no completion callback, so the only way to learn that
/// it is ready without polling is a thread blocked in it. Each wait() call therefore occupies one
/// thread of the blocking pool (weft/blocking.hpp) until the future is ready, and the fiber waits
/// for that task. Many concurrent waits mean as many pool threads (up to its max_threads; beyond
/// that they queue). If you control the producer, hand it a weft::Completion (weft/completion.hpp)
/// instead: no thread per wait.
///
/// wait(std::move(fut)) returns the value or rethrows the future's exception (std::future_error
/// with broken_promise for an abandoned promise). It is a suspension point: if the calling fiber is
/// cancelled, it throws weft::Cancelled at once — but the pool thread stays blocked until the
/// future is ready (nothing can wake a std::future), and its value is then dropped. Also works on a
/// plain thread (there it just blocks). An invalid future (default-constructed, moved-from, already
/// waited) is a weft::Error. std::future<T&> is not supported (a blocking task cannot return a
/// reference): wait for a std::future<T*> or a shared_future.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/blocking.hpp>
#include <weft/error.hpp>

#include <exception>
#include <future>
#include <source_location>
#include <type_traits>
#include <utility>
#include <variant>

WEFT_API_BEGIN

namespace weft {

namespace detail {
[[noreturn]] void future_throw_invalid(const char* what);

// What the pool thread hands back: the value (monostate for void) or the future's exception. The
// exception is caught in the task, not left to escape: an escaping one would be a panic, which
// the runtime's PanicPolicy may turn into an abort.
template <class T>
using FutureOutcome = std::variant<std::conditional_t<std::is_void_v<T>, std::monostate, T>, std::exception_ptr>;

template <class T, class Get>
FutureOutcome<T> wait_in_pool(Get&& get, const std::source_location& loc) {
  using Out = FutureOutcome<T>;
  auto h = spawn_blocking(Options{.name = "weft::wait(future)"},
                          [get = std::forward<Get>(get)]() mutable -> Out {
                            try {
                              if constexpr (std::is_void_v<T>) {
                                get();
                                return Out(std::in_place_index<0>);
                              } else {
                                return Out(std::in_place_index<0>, get());
                              }
                            } catch (...) {
                              return Out(std::in_place_index<1>, std::current_exception());
                            }
                          },
                          loc);
  Result<Out> r = h.join();  // throws Cancelled if this fiber is cancelled; the task runs on
  if (!r) r.error().rethrow();  // not expected: the task catches everything
  return std::move(*r);
}
}  // namespace detail

/// Waits for `fut` from a fiber without blocking its worker (one blocking-pool thread waits
/// instead) and returns its value or rethrows its exception. A suspension point. See
/// weft/future.hpp.
template <class T>
T wait(std::future<T> fut, const std::source_location& loc = std::source_location::current()) {
  static_assert(!std::is_reference_v<T>, "weft::wait(std::future<T&>): wait for a std::future<T*> or a std::shared_future");
  if (!fut.valid()) detail::future_throw_invalid("std::future");
  auto out = detail::wait_in_pool<T>([f = std::move(fut)]() mutable -> decltype(auto) { return f.get(); }, loc);
  if (out.index() == 1) std::rethrow_exception(std::get<1>(out));
  if constexpr (!std::is_void_v<T>) return std::move(std::get<0>(out));
}

/// Waits until `fut` is ready, then returns fut.get() (a reference into the shared state, or the
/// exception rethrown). The pool thread waits on a copy, so `fut` itself is only read here.
template <class T>
decltype(auto) wait(const std::shared_future<T>& fut, const std::source_location& loc = std::source_location::current()) {
  if (!fut.valid()) detail::future_throw_invalid("std::shared_future");
  (void)detail::wait_in_pool<void>([f = fut] { f.wait(); }, loc);
  return fut.get();
}

}  // namespace weft

WEFT_API_END
