// Idle: which workers search for work and which are parked — the throttle that keeps wake-ups
// cheap (doc/design.md §4). Implemented in idle.cpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace weft::detail {

// Counts searching and unparked workers, and the list of parked ones (the protocol is Tokio's:
// at most half the workers search; the last searcher that finds work wakes another).
class Idle {
 public:
  explicit Idle(unsigned n) : num_workers_(n), state_(pack(0, n)) {}
  // Admits a new searcher while fewer than half the workers search (one always may, of 1 or 2
  // workers). Invariant: searchers never exceed max(1, ceil(n / 2)) — worker_to_notify only adds
  // one when nobody searches.
  bool worker_to_searching() noexcept;
  // Returns true if it was the last searcher.
  bool worker_from_searching() noexcept;
  // Registers `index` as parked. Returns true if it was the last searcher.
  bool worker_to_parked(unsigned index, bool searching) noexcept;
  // After a park returns: true if someone unparked us (we are now searching), false if we woke
  // for our own reasons (a timer or an fd) and took ourselves off the parked list.
  bool worker_from_parked(unsigned index) noexcept;
  // Returns the index of a worker to unpark, or -1.
  int worker_to_notify() noexcept;
  bool anyone_parked() const noexcept {
    return (state_.load(std::memory_order_relaxed) >> 16) < num_workers_;
  }
  unsigned num_searching() const noexcept { return state_.load(std::memory_order_seq_cst) & 0xffff; }

 private:
  static std::uint32_t pack(unsigned searching, unsigned unparked) noexcept { return (unparked << 16) | searching; }
  bool should_notify() const noexcept {
    std::uint32_t s = state_.load(std::memory_order_seq_cst);
    return (s & 0xffff) == 0 && (s >> 16) < num_workers_;
  }
  unsigned num_workers_;
  std::atomic<std::uint32_t> state_;
  std::mutex mu_;
  std::vector<unsigned> sleepers_;
};
}  // namespace weft::detail
