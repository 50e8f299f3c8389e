// The socket plumbing every socket type shares: creating non-blocking fds, the try-then-wait loop,
// connect and accept with their special errors, error messages. Private to lib/net.
//
// The I/O pattern (DESIGN.md §5): try the non-blocking syscall first; on EAGAIN wait for readiness
// on the calling fiber's worker loop (weft::wait_readable/wait_writable, a suspension point) and
// try again. Nothing is registered with a loop between operations, so a fiber may migrate freely
// between them; during a wait it is pinned to the loop that holds its watcher.
#pragma once

#include <weft/detail/io_budget.hpp>
#include <weft/detail/owned_fd.hpp>
#include <weft/fd.hpp>
#include <weft/io_error.hpp>

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>

namespace weft::detail {

// At the start of every socket operation: the suspension-point check (throws Cancelled) and,
// every IoBudget::kFull operations that did not have to wait, a fairness yield_now().
void io_enter(IoBudget& budget);
// The operation had to wait: it gave up the worker anyway, so the budget starts over.
inline void io_waited(IoBudget& budget) noexcept { budget.left.store(IoBudget::kFull, std::memory_order_relaxed); }
inline bool would_block(int e) noexcept { return e == EAGAIN || e == EWOULDBLOCK; }

[[noreturn]] void throw_io(int err, std::string operation);

// A new SOCK_NONBLOCK | SOCK_CLOEXEC socket; throws IoError naming `what` on failure.
OwnedFd new_socket(int family, int type, const std::string& what);
// Takes an fd from elsewhere: makes it non-blocking and close-on-exec.
void adopt_fd(int fd, const char* what);
// An address as text: "1.2.3.4:80", "[::1]:80", a Unix path, "@name" (abstract) or "(unnamed)".
std::string address_string(const sockaddr* sa, socklen_t len);
std::string local_address_string(int fd);
std::string peer_address_string(int fd);
// "local -> peer" of a connected socket, best effort.
std::string endpoints(int fd);

// Runs `sys` (a non-blocking syscall returning ssize_t) until it does not report EAGAIN, waiting
// for readability (`want_read`) or writability in between. Returns its result; on another error
// calls `fail(errno)`, which must throw. Cancelled only before `sys` succeeded: nothing transferred.
template <class Sys, class Fail>
std::size_t io_retry(int fd, bool want_read, IoBudget& budget, Sys&& sys, Fail&& fail) {
  io_enter(budget);
  for (;;) {
    const ssize_t n = sys();
    if (n >= 0) return static_cast<std::size_t>(n);
    const int e = errno;
    if (e == EINTR) continue;
    if (!would_block(e)) fail(e);
    io_waited(budget);
    if (want_read) weft::wait_readable(fd);
    else weft::wait_writable(fd);
  }
}

// Connects the non-blocking `fd`, waiting for the handshake (until `deadline` if non-null: then
// IoError ETIMEDOUT). A Unix listener with a full backlog (EAGAIN) is retried with a short backoff.
// Errors name `what` ("TcpStream::connect 127.0.0.1:9").
void connect_fd(int fd, const sockaddr* addr, socklen_t len, const std::chrono::steady_clock::time_point* deadline,
                const std::string& what);

// Listener state shared by TcpListener and UnixListener.
struct AcceptState {
  IoBudget budget;
  std::atomic<std::uint64_t> backoffs{0};  // times accept slept because descriptors ran out
};

// Accepts one connection (non-blocking, close-on-exec), waiting while none is pending. Connections
// that died in the queue are skipped. Out of descriptors or kernel memory (EMFILE, ENFILE,
// ENOBUFS, ENOMEM): sleeps with exponential backoff (1 ms doubling to 100 ms) and retries — the
// listening socket stays readable then, so waiting for readiness would spin. `peer` may be null.
OwnedFd accept_fd(int lfd, sockaddr_storage* peer, socklen_t* peer_len, AcceptState& st, const char* kind);

}  // namespace weft::detail
