// Suspension points served by the worker's libev loop: sleep and fd readiness.
//
// A waiting fiber registers its watcher on the loop of the worker it runs on and is *pinned* there
// (fiber->pinned_) until it wakes: whoever wakes it (the watcher, a canceller on another thread)
// puts it in that worker's inbox, so the watcher is stopped on its own loop's thread before the
// fiber can migrate. The watchers live on the fiber's stack; no allocation.
#include "sched/scheduler.hpp"
#include "reactor/timed_park.hpp"
#include "sched/wait.hpp"

#include <weft/fd.hpp>
#include <weft/this_fiber.hpp>

#include <poll.h>

#include <cerrno>
#include <chrono>
#include <thread>

namespace weft {

namespace {
using Clock = std::chrono::steady_clock;

struct WaitCtx {
  detail::FiberBase* fiber;
  std::uint64_t epoch;
};

void on_timer(struct ev_loop*, ev_timer* w, int) {
  auto* c = static_cast<WaitCtx*>(w->data);
  detail::wake(c->fiber, c->epoch, detail::WakeReason::Timeout);
}

void on_io(struct ev_loop*, ev_io* w, int) {
  auto* c = static_cast<WaitCtx*>(w->data);
  detail::wake(c->fiber, c->epoch, detail::WakeReason::Ready);
}

double seconds_until(Clock::time_point t) {
  return std::max(0.0, std::chrono::duration<double>(t - Clock::now()).count());
}

}  // namespace

namespace detail {
WakeReason park_on_loop(FiberBase* f, std::uint64_t epoch, int fd, int events,
                        const std::chrono::steady_clock::time_point* op_deadline) noexcept {
  Worker* w = f->worker_;
  struct ev_loop* loop = w->reactor().loop();
  WaitCtx ctx{f, epoch};
  // An active timeout scope bounds every wait of a cancellable fiber: arm the earlier deadline.
  const bool cancellable = (f->wait_word_.load(std::memory_order_relaxed) & kCancellable) != 0;
  const bool scope_deadline = cancellable && f->scope_deadline_ != Clock::time_point::max();
  Clock::time_point effective;
  const Clock::time_point* deadline = op_deadline;
  if (scope_deadline) {
    effective = op_deadline ? std::min(*op_deadline, f->scope_deadline_) : f->scope_deadline_;
    deadline = &effective;
  }
  if (deadline && *deadline == Clock::time_point::max()) deadline = nullptr;  // "forever": no timer
  ev_io io;
  ev_timer timer;
  if (fd >= 0) {
    ev_io_init(&io, on_io, fd, events);
    io.data = &ctx;
    ev_io_start(loop, &io);
  }
  if (deadline) {
    w->reactor().update_now();  // libev's cached "now" may be stale after fibers ran
    ev_timer_init(&timer, on_timer, seconds_until(*deadline), 0.0);
    timer.data = &ctx;
    ev_timer_start(loop, &timer);
  }
  const bool uses_loop = fd >= 0 || deadline;
  if (uses_loop) {
    f->pinned_ = w;
    w->reactor().add_waiter();
  }
  WakeReason r = park_switch(f, epoch);
  if (uses_loop) {
    // Pinned: we are back on `w`'s thread, the only one allowed to touch its watchers.
    w->reactor().remove_waiter();
    if (fd >= 0) ev_io_stop(loop, &io);
    if (deadline) ev_timer_stop(loop, &timer);
    f->pinned_ = nullptr;
  }
  // The scope's deadline, not the operation's, expired: that is a cancellation.
  if (r == WakeReason::Timeout && scope_deadline && Clock::now() >= f->scope_deadline_) r = WakeReason::Cancel;
  return r;
}

WakeReason park_until(FiberBase* f, std::uint64_t epoch, const std::chrono::steady_clock::time_point* deadline) noexcept {
  return park_on_loop(f, epoch, -1, 0, deadline);
}
}  // namespace detail

namespace {
detail::WakeReason wait_on_loop(detail::FiberBase* f, int fd, int events, const Clock::time_point* deadline) {
  return detail::park_on_loop(f, detail::begin_wait(f), fd, events, deadline);
}

bool wait_fd(int fd, int ev_events, short poll_events, const Clock::time_point* deadline) {
  if (fd < 0) throw Error("weft::wait_readable/wait_writable: invalid file descriptor " + std::to_string(fd));
  detail::FiberBase* f = detail::current_fiber();
  if (!f) {
    // Plain thread: block in poll(2).
    for (;;) {
      int timeout_ms = -1;
      if (deadline) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now()).count();
        timeout_ms = left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
      }
      pollfd p{fd, poll_events, 0};
      int n = ::poll(&p, 1, timeout_ms);
      if (n > 0) return true;
      if (n == 0 && deadline && Clock::now() >= *deadline) return false;
      if (n < 0 && errno != EINTR) throw Error("weft: poll failed on fd " + std::to_string(fd));
    }
  }
  detail::check_cancel_point(f);
  for (;;) {
    f->note_wait(ev_events == EV_READ ? detail::kWaitFdReadable : detail::kWaitFdWritable, static_cast<std::uint64_t>(fd));
    const detail::WakeReason r = wait_on_loop(f, fd, ev_events, deadline);
    if (r == detail::WakeReason::Ready) {
      detail::check_cancel_point(f);  // nothing was read yet: deliver a cancellation that raced in
      return true;
    }
    if (r == detail::WakeReason::Cancel) detail::throw_cancelled(f);
    if (r == detail::WakeReason::Timeout && deadline && Clock::now() >= *deadline) {
      // Ready at the deadline counts as ready (as poll(2) with a zero timeout would say).
      pollfd p{fd, poll_events, 0};
      return ::poll(&p, 1, 0) > 0;
    }
  }
}
}  // namespace

void sleep(std::chrono::nanoseconds d) { sleep_until(detail::deadline_after(d)); }

void sleep_until(Clock::time_point t) {
  detail::FiberBase* f = detail::current_fiber();
  if (!f) {
    std::this_thread::sleep_until(t);  // documented fallback for plain threads
    return;
  }
  detail::check_cancel_point(f);
  // libev's clock and ours are both CLOCK_MONOTONIC, but its double arithmetic may fire a hair
  // early: re-arm until steady_clock agrees, so sleep never returns early.
  while (Clock::now() < t) {
    f->note_wait(detail::kWaitSleep, static_cast<std::uint64_t>(
                                         std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count()));
    if (wait_on_loop(f, -1, 0, &t) == detail::WakeReason::Cancel) detail::throw_cancelled(f);
  }
  detail::check_cancel_point(f);
}

void wait_readable(int fd) { wait_fd(fd, EV_READ, POLLIN, nullptr); }
void wait_writable(int fd) { wait_fd(fd, EV_WRITE, POLLOUT, nullptr); }
bool wait_readable(int fd, std::chrono::nanoseconds timeout) {
  auto d = detail::deadline_after(timeout);
  return wait_fd(fd, EV_READ, POLLIN, &d);
}
bool wait_writable(int fd, std::chrono::nanoseconds timeout) {
  auto d = detail::deadline_after(timeout);
  return wait_fd(fd, EV_WRITE, POLLOUT, &d);
}
bool wait_readable_until(int fd, Clock::time_point deadline) { return wait_fd(fd, EV_READ, POLLIN, &deadline); }
bool wait_writable_until(int fd, Clock::time_point deadline) { return wait_fd(fd, EV_WRITE, POLLOUT, &deadline); }

}  // namespace weft
