// The runtime's global queue: spawns and wake-ups from outside the workers, and overflow from full
// run queues. A mutex-protected intrusive FIFO; `len_` lets workers skip the lock when it is empty.
#pragma once

#include "fiber/fiber_record.hpp"

#include <atomic>
#include <cstddef>
#include <mutex>

namespace weft::detail {

class InjectQueue {
 public:
  void push(FiberBase* f) noexcept { push_list(f, f, 1); }

  void push_list(FiberBase* first, FiberBase* last, std::size_t n) noexcept {
    rec(last)->next_ = nullptr;
    std::lock_guard lk(mu_);
    if (tail_) rec(tail_)->next_ = first; else head_ = first;
    tail_ = last;
    len_.store(len_.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }

  // Pops up to `max` fibers as a list; returns the count.
  std::size_t pop_batch(FiberBase*& first, std::size_t max) noexcept {
    if (empty()) return 0;
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    first = head_;
    FiberBase* last = nullptr;
    while (head_ && n < max) {
      last = head_;
      head_ = rec(head_)->next_;
      ++n;
    }
    if (last) rec(last)->next_ = nullptr;
    if (!head_) tail_ = nullptr;
    len_.store(len_.load(std::memory_order_relaxed) - n, std::memory_order_release);
    return n;
  }

  bool empty() const noexcept { return len_.load(std::memory_order_acquire) == 0; }
  std::size_t len() const noexcept { return len_.load(std::memory_order_acquire); }

 private:
  std::mutex mu_;
  FiberBase* head_ = nullptr;
  FiberBase* tail_ = nullptr;
  std::atomic<std::size_t> len_{0};
};

}  // namespace weft::detail
