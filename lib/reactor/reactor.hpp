// A worker's libev loop: timers, fd readiness, and the cross-thread wake-up used to unpark it.
// Everything here is owner-thread only, except unpark() (ev_async_send is thread-safe).
#pragma once

#include <ev.h>

#include <atomic>

namespace weft::detail {

class Reactor {
 public:
  Reactor();
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  struct ev_loop* loop() const noexcept { return loop_; }
  // Runs the callbacks of whatever is ready, without blocking.
  void poll() noexcept { ev_run(loop_, EVRUN_NOWAIT); }
  // Blocks until a timer, an fd or unpark() fires, then runs those callbacks.
  void park() noexcept { ev_run(loop_, EVRUN_ONCE); }
  // Any thread: makes a concurrent or the next park() return.
  void unpark() noexcept { ev_async_send(loop_, &wakeup_); }
  // Fibers waiting on this loop's watchers (maintained by the waits themselves), so a busy worker
  // only polls when someone is waiting.
  // (Those waiting for an fd are also counted runtime-wide: Scheduler::fd_waiters.)
  bool has_watchers() const noexcept { return waiters_.load(std::memory_order_relaxed) != 0; }
  void add_waiter() noexcept { waiters_.store(waiters_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  void remove_waiter() noexcept { waiters_.store(waiters_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed); }
  // Any thread (metrics): owner-written, read relaxed.
  unsigned watchers() const noexcept { return waiters_.load(std::memory_order_relaxed); }
  // libev caches "now"; refresh it before arming a timer after fibers ran for a while.
  void update_now() noexcept { ev_now_update(loop_); }

 private:
  struct ev_loop* loop_;
  ev_async wakeup_;
  // Written only by the owner thread; atomic so that metrics may read it from any thread.
  std::atomic<unsigned> waiters_{0};
};

}  // namespace weft::detail
