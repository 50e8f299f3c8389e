// weft::Clock (weft/clock.hpp): steady_clock, except in a simulated runtime's fibers.
#include "sched/simulation.hpp"

#include <weft/clock.hpp>

namespace weft {
Clock::time_point Clock::now() noexcept {
  if (detail::Simulation* s = detail::current_simulation()) return s->now();
  return std::chrono::steady_clock::now();
}
}  // namespace weft
