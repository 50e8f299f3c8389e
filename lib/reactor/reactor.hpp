// A worker's libev loop: timers, fd readiness, and the cross-thread wake-up used to unpark it.
// Everything here is owner-thread only, except unpark() (ev_async_send is thread-safe).
#pragma once

#include "reactor/timer_wheel.hpp"

#include <ev.h>

#include <atomic>
#include <cstdint>

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

  // Near timers (timer_wheel.hpp): `t` fires on this loop's thread once steady_clock reaches its
  // deadline. False if the deadline is too far ahead for the wheel: use an ev_timer then.
  bool add_timer(WheelTimer* t) noexcept;
  // Unlinks a timer that has not fired (no-op otherwise). The wheel's ev_timer stays armed: if it
  // was for this timer, it fires once for nothing and re-arms for the next.
  void remove_timer(WheelTimer* t) noexcept { wheel_.remove(t); }

 private:
  static void on_wheel(struct ev_loop* loop, ev_timer* w, int) noexcept;
  // Arms the wheel's ev_timer for its earliest tick (stops it if the wheel is empty). libev adds
  // the interval to its cached "now": `ev_now_fresh` says that cache was just updated (in a
  // callback of the loop); otherwise it is refreshed first, or a stale "now" fires early.
  void arm_wheel(bool ev_now_fresh) noexcept;

  struct ev_loop* loop_;
  ev_async wakeup_;
  TimerWheel wheel_;
  ev_timer wheel_timer_;
  std::int64_t armed_at_ = TimerWheel::kNone;  // the tick start wheel_timer_ is armed for
  // Written only by the owner thread; atomic so that metrics may read it from any thread.
  std::atomic<unsigned> waiters_{0};
};

}  // namespace weft::detail
