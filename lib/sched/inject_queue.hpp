// The runtime's global queue: spawns and wake-ups from outside the workers, and overflow from full
// run queues. A mutex-protected FIFO of fiber pointers; `len_` lets workers skip the lock when it
// is empty.
//
// Why an array and not a list through the fibers' records: moving a batch through a linked list
// means walking it, and the records in it are usually cold (written on another core, long ago):
// one cache miss per fiber, serially, under the lock. perf put 14 % of spawn_many in that walk
// (bench/RESULTS.md, twelfth session). Here a batch moves as pointers and no record is touched
// until its fiber is about to run (the run queue prefetches it then).
//
// Invariant: every fiber in `ring_` was pushed before every fiber in the overflow list. The ring
// grows (doubling, never shrinking, up to `max_ring_`) under the lock; only when it cannot — the
// cap, or no memory — do pushes go to the intrusive overflow list, so a push never fails and never
// throws (it runs on wake-up paths). Pushes keep going to the list while it is non-empty (FIFO).
#pragma once

#include "fiber/fiber_record.hpp"
#include "sched/fiber_list.hpp"

#include <atomic>
#include <cstddef>
#include <mutex>
#include <new>

namespace weft::detail {

class InjectQueue {
 public:
  // `max_ring`: the ring's largest capacity (a power of two; tests make it small to reach the list).
  explicit InjectQueue(std::size_t max_ring = std::size_t{1} << 24) noexcept : max_ring_(max_ring) {}
  ~InjectQueue() { delete[] ring_; }
  InjectQueue(const InjectQueue&) = delete;
  InjectQueue& operator=(const InjectQueue&) = delete;

  void push(FiberBase* f) noexcept { push_array(&f, 1); }

  void push_array(FiberBase* const* fs, std::size_t n) noexcept {
    std::lock_guard lk(mu_);
    std::size_t i = 0;
    if (over_.empty() && (count_ + n <= cap_ || grow(count_ + n))) {
      for (; i < n; ++i) ring_[(head_ + count_ + i) & (cap_ - 1)] = fs[i];
      count_ += n;
    }
    for (; i < n; ++i) over_.push(fs[i]);  // the ring is at its cap: keep FIFO on the list
    len_.store(len_.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }

  // Pops up to `max` fibers, oldest first, into out[0..); returns how many.
  std::size_t pop_batch(FiberBase** out, std::size_t max) noexcept {
    if (empty()) return 0;
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (; n < max && count_; ++n, --count_) {
      out[n] = ring_[head_];
      head_ = (head_ + 1) & (cap_ - 1);
    }
    // Only once the ring is empty: the list is younger.
    for (; n < max && !over_.empty(); ++n) out[n] = over_.pop();
    len_.store(len_.load(std::memory_order_relaxed) - n, std::memory_order_release);
    return n;
  }

  bool empty() const noexcept { return len_.load(std::memory_order_acquire) == 0; }
  std::size_t len() const noexcept { return len_.load(std::memory_order_acquire); }

 private:
  // Makes room for `need` fibers in the ring; false if that would pass the cap or memory is short.
  bool grow(std::size_t need) noexcept {
    std::size_t cap = cap_ ? cap_ : 64;
    while (cap < need) cap *= 2;
    if (cap > max_ring_) return false;
    auto* ring = new (std::nothrow) FiberBase*[cap];
    if (!ring) return false;
    for (std::size_t i = 0; i < count_; ++i) ring[i] = ring_[(head_ + i) & (cap_ - 1)];
    delete[] ring_;
    ring_ = ring;
    cap_ = cap;
    head_ = 0;
    return true;
  }

  std::mutex mu_;
  FiberBase** ring_ = nullptr;  // cap_ slots, a power of two; count_ of them used from head_ on
  std::size_t cap_ = 0;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  FiberList over_;  // the overflow list, through FiberRecord::next_
  const std::size_t max_ring_;
  std::atomic<std::size_t> len_{0};
};

}  // namespace weft::detail
