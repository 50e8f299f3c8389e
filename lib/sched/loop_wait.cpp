// Suspension points served by the worker's libev loop: deadline timers, sleep and fd readiness.
//
// A waiting fiber registers its watchers on the loop of the worker it runs on and is *pinned*
// there (rec(fiber)->pinned_) while it waits: a waker on another thread (a canceller, a notifier)
// puts it in that worker's inbox, so the watchers are stopped on their own loop's thread before
// the fiber can migrate. A wake decided by the loop itself (readiness, a deadline) is already on
// that thread: it stops the watchers there and unpins the fiber first, so the fiber is queued
// like any woken fiber and another worker may steal it (wake_from_loop). The watchers live on the
// fiber's stack; no allocation. fd waits move to the I/O worker first while it keeps up
// (move_to_io_worker).
//
// One timer serves both deadlines a wait can have: its own (a try_lock_for, a sleep) and the
// earliest of the cancel scopes begin_wait admitted (rec(f)->wait_deadline_). It is a node on the
// worker's timer wheel (reactor/timer_wheel.hpp) when the deadline is near, else a libev ev_timer.
// The callback decides the reason, once, from one clock read: own deadline reached -> Timeout,
// scope deadline reached -> ScopeCancel, neither (libev's cached, float "now" made its timer fire
// early, or the thread was preempted between reading the clock and arming) -> re-arm for the rest.
// So no wait reports a deadline that has not passed, and a wait without a deadline of its own
// cannot time out.
#include "sched/chaos.hpp"
#include "sched/fd_watch.hpp"
#include "sched/scheduler.hpp"
#include "sched/simulation.hpp"
#include "sched/worker.hpp"
#include "sched/wait.hpp"

#include <weft/fd.hpp>
#include <weft/this_fiber.hpp>

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

namespace weft {

namespace {
using Clock = weft::Clock;  // virtual in a simulation

struct WaitCtx {
  detail::FiberBase* fiber;
  std::uint64_t epoch;
  Clock::time_point own;    // the operation's deadline (max: none)
  Clock::time_point scope;  // the admitted scopes' earliest deadline (max: none)
  // The libev wait (park_on_libev): its worker and watchers; `released` once they are stopped.
  detail::Worker* worker = nullptr;
  ev_io* io = nullptr;
  // The deadline's timer: a detail::WheelTimer on the worker's timer wheel (`on_wheel`), or an
  // ev_timer on libev's heap when it is too far ahead for the wheel. One pointer, not two: this
  // sits on every waiting fiber's stack (see park_on_libev).
  void* timer = nullptr;
  bool on_wheel = false;
  bool released = false;
};

// On the watchers' own loop thread: stops this wait's watchers and forgets the waiter.
void release_watchers(WaitCtx* c) noexcept {
  struct ev_loop* loop = c->worker->reactor().loop();
  c->worker->reactor().remove_waiter();
  if (c->io) {
    ev_io_stop(loop, c->io);
    c->worker->scheduler().fd_waiters.fetch_sub(1, std::memory_order_relaxed);
  }
  if (c->timer) {
    if (c->on_wheel) {
      c->worker->reactor().remove_timer(static_cast<detail::WheelTimer*>(c->timer));
    } else {
      ev_timer_stop(loop, static_cast<ev_timer*>(c->timer));
    }
  }
  c->released = true;
}

// A wake decided by the loop itself (readiness, a deadline). The fiber is pinned to this worker
// only so that its watchers are stopped on this thread; here we are on it. So claim the wait, stop
// the watchers, unpin, and only then make the fiber runnable: it can then be stolen like any woken
// fiber instead of waiting for this worker. A claim lost to another waker (a canceller) leaves
// everything as it was: that waker routes the still-pinned fiber here, and it stops its watchers
// itself. After the schedule the fiber may run anywhere and `c` (on its stack) is gone.
void wake_from_loop(WaitCtx* c, detail::WakeReason why) noexcept {
  detail::FiberBase* f = c->fiber;
  bool must_schedule;
  if (!detail::wake_claim(f, c->epoch, why, &must_schedule)) return;
  release_watchers(c);
  detail::rec(f)->pinned_ = nullptr;
  c->worker->note_loop_wake();
  if (must_schedule) detail::rec(f)->sched_->schedule(f, true);
}

double seconds_between(Clock::time_point now, Clock::time_point t) {
  return std::max(0.0, std::chrono::duration<double>(t - now).count());
}

std::int64_t ns_of(Clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// The timer's verdict from one clock reading: which deadline has passed, if any. False: neither
// (the caller re-arms for the rest).
bool deadline_wake(WaitCtx* c, Clock::time_point now) noexcept {
  if (now >= c->own) {
    wake_from_loop(c, detail::WakeReason::Timeout);
  } else if (now >= c->scope) {
    wake_from_loop(c, detail::WakeReason::ScopeCancel);
  } else {
    return false;
  }
  return true;
}

void on_timer(struct ev_loop* loop, ev_timer* w, int) {
  auto* c = static_cast<WaitCtx*>(w->data);
  detail::chaos::delay_clock();
  if (deadline_wake(c, Clock::now())) return;
  ev_now_update(loop);  // re-arm against a fresh "now", or it fires early again
  ev_timer_set(w, seconds_between(Clock::now(), std::min(c->own, c->scope)), 0.0);
  ev_timer_start(loop, w);
}

// The wheel fires a timer only once the clock reading `now_ns` has reached its deadline, and the
// deadline is min(own, scope): so one of them has passed and the re-arm is never expected. Kept
// for a clock that went backwards (it cannot fail to fit: a due deadline lands on the next tick).
void on_wheel_timer(detail::WheelTimer* t, std::int64_t now_ns) noexcept {
  auto* c = static_cast<WaitCtx*>(t->data);
  if (deadline_wake(c, Clock::time_point(std::chrono::nanoseconds(now_ns)))) return;
  c->worker->reactor().add_timer(t);
}

void on_io(struct ev_loop*, ev_io* w, int) {
  wake_from_loop(static_cast<WaitCtx*>(w->data), detail::WakeReason::Ready);
}

}  // namespace

namespace detail {

// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
constexpr WaitDesc kWaitSleep{"sleep", WaitDesc::Deadline, WaitDesc::NoEdge, true};
constexpr WaitDesc kWaitFdReadable{"fd readable", WaitDesc::Fd, WaitDesc::NoEdge, true};
constexpr WaitDesc kWaitFdWritable{"fd writable", WaitDesc::Fd, WaitDesc::NoEdge, true};
namespace {
// The same wait in a simulation: a virtual timer instead of libev's, no fd (wait_fd refuses real
// fds there) and no pinning (one thread runs every worker; the timer is not on any worker's loop).
WakeReason park_simulated(Simulation* sim, const WaitCtx& ctx, Clock::time_point first, bool timed) noexcept {
  if (!timed) return park_switch(ctx.fiber, ctx.epoch);
  SimTimer t{first, ctx.own, ctx.scope, ctx.fiber, ctx.epoch};
  sim->add_timer(&t);
  const WakeReason r = park_switch(ctx.fiber, ctx.epoch);
  sim->remove_timer(&t);
  return r;
}

// The wait on the worker's libev loop: the fd watcher and the timer, started and stopped here.
WakeReason park_on_libev(Worker* w, WaitCtx& ctx, ev_io* io, Clock::time_point first, bool timed) noexcept {
  FiberBase* f = ctx.fiber;
  struct ev_loop* loop = w->reactor().loop();
  // One of the two timers, never both, so they share the frame's space: this frame is on the stack
  // of every fiber that waits with a deadline, and a few dozen bytes more made some sleepers'
  // stacks reach into a second page (sleep_many at 200k fibers: 133k page faults instead of 108k).
  union TimerSpace {
    ev_timer ev;
    WheelTimer wheel;
    TimerSpace() noexcept {}
  } space;
  if (io) {
    io->data = &ctx;
    ev_io_start(loop, io);
  }
  if (timed) {
    // Near deadlines (the common case: sleeps, short timeouts) go on the worker's timer wheel,
    // with no clock read and no heap; far ones on libev's heap.
    WheelTimer* wheel = ::new (static_cast<void*>(&space.wheel)) WheelTimer{};
    wheel->fire = on_wheel_timer;
    wheel->data = &ctx;
    wheel->deadline_ns = ns_of(first);
    if (w->reactor().add_timer(wheel)) {
      ctx.timer = wheel;
      ctx.on_wheel = true;
    } else {
      // Arming early is harmless (the callback re-arms); libev's cached "now" may be stale after
      // fibers ran, so refresh it to avoid a needless early round.
      ev_timer* timer = ::new (static_cast<void*>(&space.ev)) ev_timer;  // the refused wheel node is done with
      w->reactor().update_now();
      chaos::delay_clock();
      ev_timer_init(timer, on_timer, seconds_between(Clock::now(), first), 0.0);
      timer->data = &ctx;
      ev_timer_start(loop, timer);
      ctx.timer = timer;
    }
  }
  const bool uses_loop = io || timed;
  if (uses_loop) {
    ctx.worker = w;
    ctx.io = io;
    rec(f)->pinned_ = w;
    w->reactor().add_waiter();
    if (io) w->scheduler().fd_waiters.fetch_add(1, std::memory_order_relaxed);
  }
  const WakeReason r = park_switch(f, ctx.epoch);
  if (uses_loop && !ctx.released) {
    // Woken by someone other than the loop (or the wake never parked us): still pinned, so we
    // are back on `w`'s thread, the only one allowed to touch its watchers.
    release_watchers(&ctx);
    rec(f)->pinned_ = nullptr;
  }
  return r;
}
}  // namespace

WakeReason park_on_loop(FiberBase* f, std::uint64_t epoch, ev_io* io,
                        const std::chrono::steady_clock::time_point* op_deadline) noexcept {
  Worker* w = rec(f)->worker_;
  WaitCtx ctx{f, epoch, op_deadline ? *op_deadline : Clock::time_point::max(), rec(f)->wait_deadline_};
  const Clock::time_point first = std::min(ctx.own, ctx.scope);
  const bool timed = first != Clock::time_point::max();  // "forever": no timer
  Simulation* sim = w->scheduler().sim();
  const WakeReason r = sim ? park_simulated(sim, ctx, first, timed) : park_on_libev(w, ctx, io, first, timed);
  if (r == WakeReason::Timeout && !op_deadline) wait_core_broken(f, "a wait without a deadline of its own timed out");
  return r;
}

WakeReason park_until(FiberBase* f, std::uint64_t epoch, const std::chrono::steady_clock::time_point* deadline) noexcept {
  if (!deadline && rec(f)->wait_deadline_ == Clock::time_point::max()) return park_switch(f, epoch);
  return park_on_loop(f, epoch, nullptr, deadline);
}

// Gives wait_fd the watcher to use: the persistent one, re-initialised only when it was set up for
// another loop or fd (see fd_watch.hpp), or a fresh one on the waiting fiber's stack.
struct FdWatchAccess {
  static ev_io* prepare(FdWatch* w, ev_io* scratch, struct ev_loop* loop, int fd, int events) noexcept {
    if (!w) {
      ev_io_init(scratch, on_io, fd, events);
      return scratch;
    }
    if (w->loop_ != loop || w->io_.fd != fd || (w->io_.events & (EV_READ | EV_WRITE)) != events) {
      ev_io_init(&w->io_, on_io, fd, events);
      w->loop_ = loop;
    }
    return &w->io_;
  }
};
}  // namespace detail

namespace {
// fd waits gather on one worker's loop (worker 0, "the I/O worker") unless it is overloaded (a
// queue of kIoWorkerBacklog fibers). Per-worker loops each see a share of the sockets, so each
// epoll_wait returns fewer events and the workers sleep in it more often (2-core echo, 50
// connections: p99 4.1 ms with per-worker loops, 1.3 ms gathered; bench/RESULTS.md, seventh
// session); and a fiber whose fd moves between loops costs an epoll_ctl on each (the eighth
// session's profile: gathering only while worker 0's queue was empty bounced sockets between the
// loops at 0.2 epoll_ctl per request). Worker 0 wakes a peer when its loop's wakes pile up
// (Worker::check_help); the peer steals woken fibers (wake_from_loop unpins them), which come back
// here for their next fd wait. Overloaded, the fibers wait on their own workers' loops and the
// load spreads. A fiber bound to its worker (spawn_local) stays where it is.
//
// The overload threshold is high on purpose: each fiber that waits elsewhere moves its socket to
// another epoll set and back (two epoll_ctl). With 64, a 10,000-connection echo run crossed it all
// the time (0.5 epoll_ctl per request, 72k req/s); with 1,024 it never did (0.001, 78k, as with no
// threshold at all; bench/RESULTS.md, eighth session).
//
// Limitation: while worker 0 runs a fiber that never suspends, fibers arriving here for an fd wait
// wait for it too (as every fiber queued behind a CPU hog does); the stall detector names such
// fibers.
constexpr std::size_t kIoWorkerBacklog = 1024;

void move_to_io_worker(detail::FiberBase* f) noexcept {
  detail::Worker* w = detail::rec(f)->worker_;
  if (detail::rec(f)->home_) return;
  detail::Worker* home = w->scheduler().workers()[0].get();
  if (home == w || home->queue_len() >= kIoWorkerBacklog) return;
  detail::rec(f)->pinned_ = home;
  detail::Worker::switch_out(f, detail::SwitchReason::Migrate);
  detail::rec(f)->pinned_ = nullptr;  // on `home` now
}

detail::WakeReason wait_on_loop(detail::FiberBase* f, ev_io* io, const Clock::time_point* deadline) {
  return detail::park_on_loop(f, detail::begin_wait(f), io, deadline);
}

bool wait_fd(int fd, int ev_events, short poll_events, const Clock::time_point* deadline,
             detail::FdWatch* persistent = nullptr) {
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
  if (detail::current_simulation()) {
    throw Error("weft::wait_readable/wait_writable (fd " + std::to_string(fd) + "): a simulated runtime cannot "
                "wait on a real file descriptor (sockets, pipes, files): the kernel runs in real time, outside "
                "the simulation's virtual time and schedule. Test network code on a real Runtime");
  }
  detail::check_cancel_point(f);
  for (;;) {
    note_wait(f, ev_events == EV_READ ? detail::kWaitFdReadable : detail::kWaitFdWritable, static_cast<std::uint64_t>(fd));
    // The fiber runs on its worker until it parks (and is pinned to it while it waits), so that
    // worker's loop is the one the watcher must be set up for.
    move_to_io_worker(f);
    ev_io scratch;
    ev_io* io = detail::FdWatchAccess::prepare(persistent, &scratch, rec(f)->worker_->reactor().loop(), fd, ev_events);
    const detail::WakeReason r = wait_on_loop(f, io, deadline);
    if (r == detail::WakeReason::Ready) {
      detail::check_cancel_point(f);  // nothing was read yet: deliver a cancellation that raced in
      return true;
    }
    if (r == detail::WakeReason::Cancel) detail::throw_cancelled(f);
    if (r == detail::WakeReason::Timeout) {
      // Ready at the deadline counts as ready (as poll(2) with a zero timeout would say).
      pollfd p{fd, poll_events, 0};
      return ::poll(&p, 1, 0) > 0;
    }
  }
}
}  // namespace

namespace {
// `f` sleeps until t, which has not passed. The timer reports Timeout only once the clock has
// reached t: one wait suffices.
void sleep_to(detail::FiberBase* f, Clock::time_point t) {
  note_wait(f, detail::kWaitSleep, static_cast<std::uint64_t>(ns_of(t)));
  if (wait_on_loop(f, nullptr, &t) == detail::WakeReason::Cancel) detail::throw_cancelled(f);
}
}  // namespace

// One clock read per sleep (the deadline's): a positive duration has not passed yet.
void sleep(std::chrono::nanoseconds d) {
  detail::FiberBase* f = detail::current_fiber();
  if (!f) {
    std::this_thread::sleep_until(detail::deadline_after(d));  // documented fallback for plain threads
    return;
  }
  detail::check_cancel_point(f);
  if (d > d.zero()) sleep_to(f, detail::deadline_after(d));
  detail::check_cancel_point(f);
}

void sleep_until(Clock::time_point t) {
  detail::FiberBase* f = detail::current_fiber();
  if (!f) {
    std::this_thread::sleep_until(t);  // documented fallback for plain threads
    return;
  }
  detail::check_cancel_point(f);
  if (Clock::now() < t) sleep_to(f, t);
  detail::check_cancel_point(f);
}

void detail::FdWatch::wait(int fd, int events) {
  wait_fd(fd, events, events == EV_READ ? POLLIN : POLLOUT, nullptr, this);
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
