// A readiness watcher that outlives one wait: the fast path of socket waits.
//
//   FdWatch w;                          // one per (socket, direction), never moved while waiting
//   w.wait(fd, EV_READ);                // = weft::wait_readable(fd), without the epoll_ctl
//
// Why: a wait that builds a fresh ev_io each time makes libev re-register the fd with epoll on
// every wait (ev_io_init marks the fd as possibly new, so libev must issue epoll_ctl) — one extra
// syscall per request on an echo server. A watcher that stays initialised for the same fd and the
// same loop is stopped and restarted instead; libev then compares masks and, when the loop did not
// run in between (the usual case: read, write, read again, wait), makes no syscall at all.
//
// Invariants:
//  - one fiber at a time: the caller serialises waits on one FdWatch (the socket's direction gate);
//  - between waits the watcher is stopped, so it is plain memory: the owner may destroy it, a
//    fiber on another worker may use it next (it is then re-initialised for that worker's loop);
//  - the fd must stay open and keep its meaning while the owner lives (the socket owns it); a
//    different fd re-initialises too.
#pragma once

#include <ev.h>

#include <chrono>

namespace weft::detail {

class FdWatch {
 public:
  FdWatch() noexcept = default;
  FdWatch(const FdWatch&) = delete;
  FdWatch& operator=(const FdWatch&) = delete;

  // Suspends the calling fiber until `fd` has `events` (EV_READ or EV_WRITE), like
  // weft::wait_readable/wait_writable: a suspension point (throws Cancelled). On a plain thread it
  // blocks in poll(2). lib/sched/loop_wait.cpp.
  void wait(int fd, int events);

 private:
  friend struct FdWatchAccess;
  ev_io io_{};
  struct ev_loop* loop_ = nullptr;  // the loop io_ is initialised for (null: never)
};

}  // namespace weft::detail
