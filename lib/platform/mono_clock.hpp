// The monotonic clock in nanoseconds, read directly: the clock steady_clock (and so every sleep
// deadline) uses. In platform/ so that every layer can read it — the reactor's timer wheel as well
// as the scheduler and the instrumentation.
#pragma once

#include <cstdint>
#include <ctime>

namespace weft::detail {

// steady_clock in ns (what sleep deadlines use).
inline std::uint64_t mono_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}
// The same clock at tick resolution (1-4 ms), a few ns to read: for ages, not for slices.
inline std::uint64_t coarse_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace weft::detail
