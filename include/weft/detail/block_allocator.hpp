// weft/detail/block_allocator.hpp — the control-block pool as a standard allocator. Internal.
#pragma once

#include <weft/detail/config.hpp>

#include <cstddef>
#include <new>

WEFT_API_BEGIN

namespace weft::detail {

// Memory for control blocks (lib/fiber/block_pool.cpp): per-thread free lists of size classes that
// are never handed back to the kernel, so bursts of spawns reuse warm memory.
void* fiber_block_alloc(std::size_t size);
void fiber_block_free(void* p, std::size_t size) noexcept;

// A standard allocator over the same pool, for small shared objects that come and go with fibers
// (a oneshot channel's state: std::allocate_shared<T>(BlockAllocator<T>{})).
template <class T>
struct BlockAllocator {
  using value_type = T;
  BlockAllocator() = default;
  template <class U>
  BlockAllocator(const BlockAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if constexpr (alignof(T) > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
      return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(alignof(T))));
    } else {
      return static_cast<T*>(fiber_block_alloc(n * sizeof(T)));
    }
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if constexpr (alignof(T) > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
      ::operator delete(p, std::align_val_t(alignof(T)));  // unsized: see FiberBase's delete
    } else {
      fiber_block_free(p, n * sizeof(T));
    }
  }
  template <class U>
  bool operator==(const BlockAllocator<U>&) const noexcept { return true; }
};

}  // namespace weft::detail

WEFT_API_END
