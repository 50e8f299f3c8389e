// Helpers for the sync-primitive and channel tests (issue 4): a seeded RNG, random yields to put
// cancellation at random points, and a bounded join that turns a stranded waiter into a failure.
#pragma once

#include "test_util.hpp"

#include <chrono>
#include <cstdint>
#include <vector>

namespace weft_sync_test {

// xorshift64*: cheap, seeded per fiber, so a run is varied but each fiber's choices are its own.
struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull) {}
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545f4914f6cdd1dull;
  }
  // Uniform in [0, n).
  std::uint32_t below(std::uint32_t n) { return n ? static_cast<std::uint32_t>(next() % n) : 0; }
  bool chance(std::uint32_t percent) { return below(100) < percent; }
};

// Yields 0..max times (a fiber), so an abort lands at a random point of the target's progress.
inline void random_yields(Rng& r, std::uint32_t max) {
  for (std::uint32_t i = r.below(max + 1); i; --i) weft::yield_now();
}

// Joins every handle within `bound` (from a fiber). False if some fiber did not finish in time —
// a waiter stranded by a lost wake-up. The bound only turns a hang into a failed CHECK.
template <class T>
bool join_all_within(std::vector<weft::JoinHandle<T>>& hs, std::chrono::seconds bound = std::chrono::seconds(60)) {
  return weft::timeout(bound, [&] {
    for (auto& h : hs) {
      if (h.valid()) (void)h.join();
    }
  });
}

}  // namespace weft_sync_test
