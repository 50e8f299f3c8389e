// weft::Interval: the schedule arithmetic. The only wait is sleep_until, so cancellation and the
// plain-thread fallback are sleep's; the schedule moves only after the wait returned normally,
// which is what makes tick() cancel-safe.
#include <weft/interval.hpp>
#include <weft/this_fiber.hpp>

namespace weft {

void Interval::throw_bad_period() {
  throw Error("weft::Interval: the period must be positive (a zero or negative period would tick in a busy loop)");
}

Interval::clock::time_point Interval::tick() {
  const clock::time_point scheduled = next_;
  // Throws Cancelled with next_ untouched. A deadline of time_point::max() (reset_at "forever")
  // never returns normally, so the arithmetic below cannot overflow.
  sleep_until(scheduled);
  const clock::time_point now = clock::now();
  // Tolerance before a tick counts as missed: ordinary wake-up latency must not shift the schedule.
  constexpr std::chrono::milliseconds kLate{5};
  if (now <= scheduled + kLate) {
    next_ = scheduled + period_;
    return scheduled;
  }
  switch (behavior_) {
    case MissedTickBehavior::Burst:
      next_ = scheduled + period_;
      break;
    case MissedTickBehavior::Delay:
      next_ = now + period_;
      break;
    case MissedTickBehavior::Skip: {
      // The first instant scheduled + k*period strictly after now.
      const auto behind = std::chrono::duration_cast<std::chrono::nanoseconds>(now - scheduled);
      next_ = now + (period_ - behind % period_);
      break;
    }
  }
  return scheduled;
}

}  // namespace weft
