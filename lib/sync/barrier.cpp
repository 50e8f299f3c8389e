// Barrier: an arrival count and a generation number under a spin lock.
//
// Invariant (under lock_): arrived_ < n_ between calls; the waiters_ list holds exactly the
// arrivals of the current generation that are suspended. Completing a generation resets arrived_
// and wakes the whole list; a waiter that leaves before that (cancel) decrements arrived_.
#include <weft/barrier.hpp>
#include <weft/error.hpp>

#include <mutex>

namespace weft {

namespace {
// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
constexpr detail::WaitDesc kWaitBarrier{"barrier", detail::WaitDesc::Address};
}  // namespace

Barrier::Barrier(std::size_t n) : n_(n) {
  if (n == 0) {
    throw Error("Barrier: 0 participants; a barrier needs at least 1 (the number of fibers that call wait() "
                "in each cycle)");
  }
}

bool Barrier::wait() {
  detail::Waiter w;
  w.note(kWaitBarrier, this);
  w.cancel_point();
  detail::WaitNode node;
  node.waiter = &w;
  std::uint64_t gen;
  {
    detail::WakeQueue wq;
    std::lock_guard lk(lock_);
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++generation_;
      waiters_.wake_all(detail::WakeReason::Notify, wq);
      return true;
    }
    gen = generation_;
    w.arm();
    waiters_.push_back(&node);
  }
  const detail::WakeReason r = w.block();
  {
    std::lock_guard lk(lock_);
    if (node.linked) waiters_.remove(&node);
    if (generation_ != gen) return false;  // released (even if a cancel raced the release)
    --arrived_;                            // take our arrival back: this wait had no effect
  }
  (void)r;  // only Cancel leaves the generation unfinished
  w.throw_cancelled();
}

}  // namespace weft
