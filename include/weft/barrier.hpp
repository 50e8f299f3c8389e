/// @file
/// weft/barrier.hpp — n fibers (or threads) wait until all n have arrived; reusable.
///
/// @verbatim
///   weft::Barrier barrier(3);
///   std::vector<weft::JoinHandle<void>> hs;
///   for (int i = 0; i < 3; ++i) {
///     hs.push_back(weft::spawn([&barrier, i] {
///       std::printf("phase 1, fiber %d\n", i);
///       if (barrier.wait()) std::puts("all three finished phase 1");   // exactly one leader
///       std::printf("phase 2, fiber %d\n", i);
///     }));
///   }
///   for (auto& h : hs) h.join().value();
///
/// wait() suspends until `n` participants have called it in this cycle, then releases them all and
/// starts the next cycle. It returns true in exactly one of them per cycle (the last to arrive,
/// the "leader"). wait() is a suspension point (throws weft::Cancelled). Cancel-safe: a waiter
/// cancelled before the cycle completes takes its arrival back (the cycle then needs someone else);
/// if the cycle completed first, the wait counts and returns normally — cancellation is then seen
/// at the next suspension point. Works from plain threads too (they block).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/waiter.hpp>

#include <cstddef>
#include <cstdint>

WEFT_API_BEGIN

namespace weft {

/// A reusable barrier: each cycle releases its `n` participants together once all have arrived,
/// then the next cycle begins (see weft/barrier.hpp).
class Barrier {
 public:
  /// n >= 1 participants per cycle.
  explicit Barrier(std::size_t n);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  /// Arrives and waits for the rest of this cycle; true for the cycle's leader.
  bool wait();
  /// The `n` it was built with.
  std::size_t participants() const noexcept { return n_; }

 private:
  const std::size_t n_;
  detail::SpinLock lock_;
  std::size_t arrived_ = 0;      // in the current cycle
  std::uint64_t generation_ = 0; // completed cycles
  detail::WaitList waiters_;
};

}  // namespace weft

WEFT_API_END
