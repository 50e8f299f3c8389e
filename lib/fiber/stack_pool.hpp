// Fiber stacks: mmap'd, guard-paged while the kernel's mapping budget allows, cached per worker.
//
// Why the budget: Linux allows vm.max_map_count (65,530 by default) mappings per process, and a
// PROT_NONE guard page splits a mapping, so every guarded stack costs two. StackPool therefore
// guards stacks only while the number of guarded stacks stays under half of max_map_count (minus
// headroom for malloc, libraries and thread stacks). Past that, stacks come from slabs without
// guard pages; such a stack is checked at every switch-out (its saved stack pointer must lie
// inside it) and an overflow is reported then — after the fact, so it may already have corrupted
// a neighbour. That is what lets a million live fibers run on a default kernel.
//
// Warm first: a freed stack goes to the front of its worker's cache and is the next one handed
// out, because a first touch of a fresh page costs ~15 µs on the VMs we run on.
#pragma once

#include "fiber/fiber_record.hpp"

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

namespace weft::detail {

class StackPool {
 public:
  static StackPool& instance();

  // A stack of at least `size` usable bytes (rounded up to a page multiple).
  Stack allocate(std::size_t size);
  // Returns stacks for reuse (they stay mapped and warm).
  void deallocate(Stack s);
  void deallocate_batch(std::vector<Stack>& v);

  static std::size_t page_size() noexcept;
  static std::size_t round_size(std::size_t size) noexcept;

  std::size_t guarded_stacks() const noexcept { return guarded_.load(std::memory_order_relaxed); }
  std::size_t mapped_stacks() const noexcept { return mapped_.load(std::memory_order_relaxed); }
  std::size_t guard_budget() const noexcept { return guard_budget_; }

 private:
  StackPool();
  void map_slab(std::size_t size, std::vector<Stack>& out);

  struct SizeClass {
    std::size_t size;
    std::vector<Stack> free;
  };
  std::mutex mu_;
  std::vector<SizeClass> classes_;
  std::atomic<std::size_t> guarded_{0};
  std::atomic<std::size_t> mapped_{0};
  std::size_t guard_budget_ = 0;
};

// A worker's LIFO cache of default-size stacks. Owner thread only.
class StackCache {
 public:
  explicit StackCache(std::size_t default_size) : default_size_(StackPool::round_size(default_size)) {}
  ~StackCache();
  StackCache(const StackCache&) = delete;
  StackCache& operator=(const StackCache&) = delete;

  Stack get(std::size_t size);
  void put(Stack s);
  std::size_t default_size() const noexcept { return default_size_; }
  // get() minus put() on this cache; may be negative (a stack may be returned to another worker's
  // cache). Summed over a runtime's workers it is the number of stacks in use.
  long handed_out() const noexcept { return handed_out_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::size_t kMax = 512;
  static constexpr std::size_t kBatch = 64;
  std::size_t default_size_;
  std::vector<Stack> cache_;
  std::atomic<long> handed_out_{0};  // written by the owner only
};

}  // namespace weft::detail
