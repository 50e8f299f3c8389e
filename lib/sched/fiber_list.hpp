// FiberList: an intrusive FIFO of fibers through FiberBase::next_, for one thread's use (a
// worker's pinned list and inbox, a wake batch). No allocation; a fiber is on at most one list.
#pragma once

#include "fiber/fiber_record.hpp"

namespace weft::detail {

struct FiberList {
  FiberBase* head = nullptr;
  FiberBase* tail = nullptr;
  void push(FiberBase* f) noexcept {
    rec(f)->next_ = nullptr;
    if (tail) rec(tail)->next_ = f; else head = f;
    tail = f;
  }
  FiberBase* pop() noexcept {
    FiberBase* f = head;
    if (f) {
      head = rec(f)->next_;
      if (!head) tail = nullptr; else prefetch_record(head);
      rec(f)->next_ = nullptr;
    }
    return f;
  }
  bool empty() const noexcept { return head == nullptr; }
};
}  // namespace weft::detail
