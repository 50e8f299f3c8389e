// weft/detail/ring.hpp — a growable FIFO ring buffer for channel messages. Internal.
//
// Not thread-safe (channels guard it with their lock). Bounded channels reserve their capacity up
// front, so pushing never allocates under their lock; unbounded channels grow it by doubling.
#pragma once

#include <weft/detail/config.hpp>
#include <cstddef>
#include <memory>
#include <new>
#include <utility>

WEFT_API_BEGIN

namespace weft::detail {

template <class T>
class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() {
    clear();
    ::operator delete(static_cast<void*>(slots_), std::align_val_t(alignof(T)));
  }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  // Makes room for at least `n` elements (may allocate).
  void reserve(std::size_t n) {
    if (n <= cap_) return;
    std::size_t c = cap_ ? cap_ : 4;
    while (c < n) c *= 2;
    T* fresh = static_cast<T*>(::operator new(c * sizeof(T), std::align_val_t(alignof(T))));
    for (std::size_t i = 0; i < size_; ++i) {
      T& src = slots_[(head_ + i) & (cap_ - 1)];
      ::new (static_cast<void*>(fresh + i)) T(std::move(src));
      src.~T();
    }
    ::operator delete(static_cast<void*>(slots_), std::align_val_t(alignof(T)));
    slots_ = fresh;
    cap_ = c;
    head_ = 0;
  }
  // Appends; allocates only when full.
  void push(T&& v) {
    if (size_ == cap_) reserve(size_ + 1);
    ::new (static_cast<void*>(slots_ + ((head_ + size_) & (cap_ - 1)))) T(std::move(v));
    ++size_;
  }
  T pop() noexcept {
    T& slot = slots_[head_];
    T v(std::move(slot));
    slot.~T();
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
    return v;
  }
  void swap(Ring& o) noexcept {
    std::swap(slots_, o.slots_);
    std::swap(cap_, o.cap_);
    std::swap(head_, o.head_);
    std::swap(size_, o.size_);
  }
  void clear() noexcept {
    while (size_) {
      slots_[head_].~T();
      head_ = (head_ + 1) & (cap_ - 1);
      --size_;
    }
  }

 private:
  T* slots_ = nullptr;
  std::size_t cap_ = 0;  // a power of two (or 0)
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace weft::detail

WEFT_API_END
