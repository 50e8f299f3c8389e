// Chaos mode: adversarial timing for the test suite (what Go's and Seastar's schedulers do to
// flush out races). Off unless the environment variable WEFT_CHAOS is set to a seed (a number) when
// the process starts; `.ci/run` runs the whole suite once more with it. From that seed it:
//  - delays worker clock reads and timer arming by random microseconds to milliseconds (what a
//    preemption between two instructions looks like on a loaded machine),
//  - shuffles run order: a woken fiber randomly skips the LIFO slot or goes to the global queue,
//  - injects yields at suspension points (before the fiber looks at its cancellation).
// Every decision is drawn from a per-thread generator seeded from the seed and the thread's
// first use, so runs differ in detail but a failing seed is worth re-running many times.
// Costs one predictable branch on a global flag where it hooks in.
#pragma once

#include <cstdint>

namespace weft::detail {
class FiberBase;
}

namespace weft::detail::chaos {

extern const bool g_enabled;

inline bool enabled() noexcept { return __builtin_expect(g_enabled, 0); }

// One draw: true with probability 1/n.
bool one_in(std::uint32_t n) noexcept;
void preempt_slow() noexcept;
// Sometimes sleeps the calling thread: microseconds, rarely milliseconds. Placed where being
// preempted between two steps would expose an ordering assumption (a stat counted after the
// completion it counts was published, a clock read before the timer it arms).
inline void preempt() noexcept {
  if (enabled()) preempt_slow();
}
// Before a clock read whose result arms a timer or decides a deadline.
inline void delay_clock() noexcept { preempt(); }
// At a suspension point of the running fiber `f`: sometimes yields first.
void maybe_yield(FiberBase* f) noexcept;

}  // namespace weft::detail::chaos
