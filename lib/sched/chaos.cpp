#include "sched/chaos.hpp"

#include "sched/simulation.hpp"
#include "sched/worker.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

namespace weft::detail::chaos {

namespace {
std::uint64_t read_seed() noexcept {
  const char* s = std::getenv("WEFT_CHAOS");
  if (!s || !*s) return 0;
  const std::uint64_t v = std::strtoull(s, nullptr, 0);
  return v ? v : 1;
}
const std::uint64_t g_seed = read_seed();
std::atomic<std::uint64_t> g_threads{0};

std::uint64_t next() noexcept {
  // In a simulation every decision comes from its seed, so that a run replays.
  if (Simulation* sim = current_simulation()) return sim->next_random();
  thread_local std::uint64_t x = 0;
  if (x == 0) {
    // splitmix64 of (seed, thread ordinal): distinct streams per thread.
    std::uint64_t z = g_seed + 0x9e3779b97f4a7c15ull * (g_threads.fetch_add(1, std::memory_order_relaxed) + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    x = (z ^ (z >> 31)) | 1;
  }
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}
}  // namespace

const bool g_enabled = g_seed != 0;

bool one_in(std::uint32_t n) noexcept { return next() % n == 0; }

void preempt_slow() noexcept {
  if (current_simulation()) return;  // one thread runs everything: a sleep changes no interleaving
  const std::uint64_t r = next();
  if (r % 64 == 0) {
    std::this_thread::sleep_for(std::chrono::microseconds(500 + (r >> 8) % 2000));  // a preemption
  } else if (r % 8 == 0) {
    std::this_thread::sleep_for(std::chrono::microseconds(1 + (r >> 8) % 100));
  }
}

void maybe_yield(FiberBase* f) noexcept {
  if (one_in(8)) Worker::switch_out(f, SwitchReason::Yield);
}

}  // namespace weft::detail::chaos
