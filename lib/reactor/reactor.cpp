#include "reactor/reactor.hpp"

#include "platform/mono_clock.hpp"

#include <weft/error.hpp>

#include <algorithm>

namespace weft::detail {

namespace {
// The wheel's clock: steady_clock's, which is weft::Clock outside a simulation (a simulated
// runtime has its own timers and never reaches a reactor's).
std::int64_t steady_now_ns() noexcept { return static_cast<std::int64_t>(mono_ns()); }
}  // namespace

Reactor::Reactor() : wheel_(steady_now_ns()) {
  // EVFLAG_NOENV: the environment must not pick our backend. Prefer epoll (Linux).
  loop_ = ev_loop_new(static_cast<unsigned>(EVFLAG_NOENV) | static_cast<unsigned>(EVBACKEND_EPOLL));
  if (!loop_) loop_ = ev_loop_new(EVFLAG_NOENV);
  if (!loop_) throw Error("weft: cannot create a libev loop (out of file descriptors?)");
  ev_async_init(&wakeup_, [](struct ev_loop*, ev_async*, int) {});
  // Stays referenced: libev only blocks in ev_run while some watcher is active.
  ev_async_start(loop_, &wakeup_);
  ev_init(&wheel_timer_, on_wheel);
  wheel_timer_.data = this;
}

Reactor::~Reactor() {
  ev_timer_stop(loop_, &wheel_timer_);
  ev_async_stop(loop_, &wakeup_);
  ev_loop_destroy(loop_);
}

bool Reactor::add_timer(WheelTimer* t) noexcept {
  if (!wheel_.add(t)) return false;
  // Only a timer earlier than the armed tick re-arms: a burst of sleeps of the same length adds
  // to ticks at or after it and reads no clock at all.
  if (t->tick * TimerWheel::kTickNs < armed_at_) arm_wheel(false);
  return true;
}

void Reactor::arm_wheel(bool ev_now_fresh) noexcept {
  const std::int64_t at = wheel_.next_expiry_ns();
  ev_timer_stop(loop_, &wheel_timer_);
  armed_at_ = at;
  if (at == TimerWheel::kNone) return;
  if (!ev_now_fresh) ev_now_update(loop_);
  // +1 µs: libev read its clock a moment before we did, so without it the ev_timer could come due
  // a few ns before the tick begins and cost a loop round that serves nothing.
  const std::int64_t left = std::max<std::int64_t>(0, at - steady_now_ns()) + 1000;
  ev_timer_set(&wheel_timer_, static_cast<double>(left) * 1e-9, 0.0);
  ev_timer_start(loop_, &wheel_timer_);
}

void Reactor::on_wheel(struct ev_loop*, ev_timer* w, int) noexcept {
  auto* r = static_cast<Reactor*>(w->data);
  r->armed_at_ = TimerWheel::kNone;  // a one-shot ev_timer is stopped once it fired
  // libev rounds its wait to whole milliseconds and may wake a little before the tick: then
  // nothing is due yet, and the re-arm below waits for the rest.
  r->wheel_.advance(steady_now_ns());
  r->arm_wheel(true);
}

}  // namespace weft::detail
