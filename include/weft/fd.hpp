/// @file
/// weft/fd.hpp — wait until a file descriptor is ready, suspending only the calling fiber.
///
/// @verbatim
///   int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
///   ...
///   while (::read(fd, buf, n) < 0 && errno == EAGAIN) weft::wait_readable(fd);
///   if (!weft::wait_writable(fd, 500ms)) { /* timed out */ }
///
/// The low-level readiness primitive that sockets are built on. The fd should be non-blocking.
/// Both calls are suspension points (weft::Cancelled). From a plain thread they fall back to
/// poll(2), blocking the thread. Waiting on the same fd from two fibers at once is allowed, but each
/// waiting fiber registers its own watcher and libev releases N watchers on one fd in O(N^2): to
/// have many fibers wait on one fd, let one wait and queue the others behind a weft::Mutex, as the
/// socket types do (lib/net/socket_ops.hpp).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/chrono.hpp>
#include <chrono>
#include <optional>

WEFT_API_BEGIN

namespace weft {

/// Suspends until `fd` is readable (or hung up / in error: the next read reports it).
void wait_readable(int fd);
/// Suspends until `fd` is writable (or hung up / in error: the next write reports it).
void wait_writable(int fd);
/// As above, with a bound: returns false if the deadline passed first.
bool wait_readable(int fd, std::chrono::nanoseconds timeout);
/// As wait_writable(fd), giving up after `timeout`: returns false then.
bool wait_writable(int fd, std::chrono::nanoseconds timeout);
/// As wait_readable(fd), giving up at `deadline`: returns false then.
bool wait_readable_until(int fd, std::chrono::steady_clock::time_point deadline);
/// As wait_writable(fd), giving up at `deadline`: returns false then.
bool wait_writable_until(int fd, std::chrono::steady_clock::time_point deadline);
/// Any duration (rounded up: never gives up early) and a time point of any clock.
template <class Rep, class Period>
bool wait_readable(int fd, std::chrono::duration<Rep, Period> timeout) {
  return wait_readable(fd, detail::ceil_nanos(timeout));
}
/// wait_writable for any duration (rounded up).
template <class Rep, class Period>
bool wait_writable(int fd, std::chrono::duration<Rep, Period> timeout) {
  return wait_writable(fd, detail::ceil_nanos(timeout));
}
/// wait_readable_until for a time point of any clock.
template <class Clock, class Duration>
bool wait_readable_until(int fd, std::chrono::time_point<Clock, Duration> deadline) {
  return wait_readable_until(fd, detail::to_steady_deadline(deadline));
}
/// wait_writable_until for a time point of any clock.
template <class Clock, class Duration>
bool wait_writable_until(int fd, std::chrono::time_point<Clock, Duration> deadline) {
  return wait_writable_until(fd, detail::to_steady_deadline(deadline));
}

}  // namespace weft

WEFT_API_END
