// The socket plumbing every socket type shares: creating non-blocking fds, the try-then-wait loop,
// connect and accept with their special errors, error messages. Private to lib/net.
//
// The I/O pattern (doc/design.md §5): try the non-blocking syscall first; on EAGAIN wait for readiness
// on the calling fiber's worker loop (weft::wait_readable/wait_writable, a suspension point) and
// try again. Nothing is started on a loop between operations, so a fiber may migrate freely
// between them; during a wait it is pinned to the loop that holds its watcher. The watcher itself
// persists per (socket, direction) (sched/fd_watch.hpp), so a wait usually costs no epoll_ctl.
//
// At most one watcher per (socket, direction): libev keeps one list of watchers per fd and stops a
// watcher by walking it, so N fibers waiting on one fd (N acceptors on a listener, N receivers on a
// UDP socket) would cost O(N) per wake-up and O(N^2) to release them all. A fiber that has to wait
// first takes its direction's *gate* (a weft::Mutex), and only the gate's holder registers an
// ev_io; the others queue on the mutex, whose hand-off is O(1). The gate is taken only on the slow
// path (the syscall said EAGAIN), so an operation that does not wait never touches it, and a
// reader and a writer of one socket never contend (separate gates).
#pragma once

#include <weft/detail/owned_fd.hpp>
#include <weft/fd.hpp>
#include <weft/io_error.hpp>
#include <weft/mutex.hpp>

#include "sched/fd_watch.hpp"

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>

namespace weft::detail {

// How many operations may complete without waiting before the fiber yields (fairness: a
// connection whose peer is always ready must not starve its worker). A relaxed atomic: fibers on
// other workers may use the same direction concurrently (the count is only a heuristic).
struct IoBudget {
  static constexpr std::uint8_t kFull = 64;
  std::atomic<std::uint8_t> left{kFull};
};

// One direction of a socket: its fairness budget, its wait gate (see the top of this file) and the
// watcher only the gate's holder uses.
struct IoDirection {
  IoBudget budget;
  Mutex gate;
  FdWatch watch;
  // Stream reads: the last read returned less than it asked for, so the socket is most likely
  // empty and the next read waits for readiness before trying (saves the recv that would say
  // EAGAIN: one syscall in three on a request/response connection; Tokio does the same). Only a
  // hint: if data did arrive meanwhile, the level-triggered watcher reports it at once.
  std::atomic<bool> drained{false};
};

// The per-socket state every socket type holds (behind a unique_ptr, so the gates never move
// while a fiber waits on them). Listeners use `read` for accept.
struct SocketIo {
  IoDirection read;   // read, recv, recv_from, accept
  IoDirection write;  // write, send, send_to
  std::atomic<std::uint64_t> backoffs{0};  // listeners: times accept slept because descriptors ran out
};

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
// Only the holder of `dir`'s gate waits for readiness; the gate is released on return or throw.
// `asked` (stream reads only; 0 otherwise): the bytes requested, for the `drained` hint.
template <class Sys, class Fail>
std::size_t io_retry(int fd, bool want_read, IoDirection& dir, Sys&& sys, Fail&& fail, std::size_t asked = 0) {
  io_enter(dir.budget);
  std::unique_lock<Mutex> gate(dir.gate, std::defer_lock);
  bool wait_first = asked != 0 && dir.drained.exchange(false, std::memory_order_relaxed);
  for (;;) {
    if (!wait_first) {
      const ssize_t n = sys();
      if (n >= 0) {
        if (asked != 0) dir.drained.store(n > 0 && static_cast<std::size_t>(n) < asked, std::memory_order_relaxed);
        return static_cast<std::size_t>(n);
      }
      const int e = errno;
      if (e == EINTR) continue;
      if (!would_block(e)) fail(e);
    }
    wait_first = false;
    io_waited(dir.budget);
    if (!gate.owns_lock() && !gate.try_lock()) {
      gate.lock();  // suspends behind another waiter; Cancelled here: nothing was transferred
      continue;     // the previous holder may have left data (or room): try again before waiting
    }
    dir.watch.wait(fd, want_read ? EV_READ : EV_WRITE);
  }
}

// Connects the non-blocking `fd`, waiting for the handshake (until `deadline` if non-null: then
// IoError ETIMEDOUT). A Unix listener with a full backlog (EAGAIN) is retried with a short backoff.
// Errors name `what` ("TcpStream::connect 127.0.0.1:9").
void connect_fd(int fd, const sockaddr* addr, socklen_t len, const std::chrono::steady_clock::time_point* deadline,
                const std::string& what);

// Accepts one connection (non-blocking, close-on-exec), waiting while none is pending. Connections
// that died in the queue are skipped. Out of descriptors or kernel memory (EMFILE, ENFILE,
// ENOBUFS, ENOMEM): sleeps with exponential backoff (1 ms doubling to 100 ms) and retries — the
// listening socket stays readable then, so waiting for readiness would spin. Only the holder of
// the read gate waits or backs off; other acceptors queue behind it. `peer` may be null.
OwnedFd accept_fd(int lfd, sockaddr_storage* peer, socklen_t* peer_len, SocketIo& st, const char* kind);

}  // namespace weft::detail
