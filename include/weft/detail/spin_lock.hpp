// weft/detail/spin_lock.hpp — the lock every primitive guards its wait lists with. Internal.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/cpu_relax.hpp>

#include <atomic>

WEFT_API_BEGIN

namespace weft::detail {

// A tiny test-and-test-and-set lock for short critical sections that never suspend.
class SpinLock {
 public:
  void lock() noexcept {
    while (flag_.exchange(true, std::memory_order_acquire)) {
      while (flag_.load(std::memory_order_relaxed)) cpu_relax();
    }
  }
  bool try_lock() noexcept { return !flag_.exchange(true, std::memory_order_acquire); }
  void unlock() noexcept { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

}  // namespace weft::detail

WEFT_API_END
