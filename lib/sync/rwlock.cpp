// RwLock: holder counts and a FIFO of requests under a spin lock; grants hand ownership over
// directly (the woken waiter already holds the lock when it runs).
//
// Invariants (under lock_): writer_ implies readers_ == 0. A queued request exists only while it
// could not be granted at once. dispatch() serves the queue head while it fits: a writer when
// nobody holds the lock; readers while no writer holds it (stopping at the next queued writer).
#include <weft/rwlock.hpp>
#include <weft/coop.hpp>

#include <mutex>

namespace weft {

namespace {
struct RwNode : detail::WaitNode {
  bool write = false;
  bool granted = false;
};
}  // namespace

bool RwLock::try_acquire_locked(bool write) noexcept {
  if (!queue_.empty() || writer_) return false;
  if (write) {
    if (readers_ != 0) return false;
    writer_ = true;
    __atomic_store_n(&writer_owner_, detail::lock_owner_token(), __ATOMIC_RELAXED);
  } else {
    ++readers_;
  }
  return true;
}

void RwLock::dispatch(detail::WakeQueue& wq) noexcept {
  while (!queue_.empty()) {
    auto* n = static_cast<RwNode*>(queue_.front());
    if (writer_ || (n->write && readers_ != 0)) return;
    queue_.pop_front();
    if (!n->waiter->wake(detail::WakeReason::Notify, &wq)) continue;  // it left; serve the next
    n->fired = true;
    n->granted = true;
    if (n->write) {
      writer_ = true;
      __atomic_store_n(&writer_owner_, n->waiter->identity(), __ATOMIC_RELAXED);
      return;
    }
    ++readers_;
  }
}

bool RwLock::try_lock() noexcept {
  std::lock_guard lk(lock_);
  return try_acquire_locked(true);
}

bool RwLock::try_lock_shared() noexcept {
  std::lock_guard lk(lock_);
  return try_acquire_locked(false);
}

bool RwLock::acquire(bool write, const detail::SyncClock::time_point* deadline) {
  detail::coop_proceed();
  detail::Waiter w;
  w.note(detail::kWaitRwLock, this);
  w.cancel_point();
  RwNode node;
  node.waiter = &w;
  node.write = write;
  {
    std::lock_guard lk(lock_);
    if (try_acquire_locked(write)) return true;
    if (deadline && detail::SyncClock::now() >= *deadline) return false;
    w.arm();
    queue_.push_back(&node);
  }
  const detail::WakeReason r = w.block(deadline);
  {
    detail::WakeQueue wq;
    std::lock_guard lk(lock_);
    if (node.linked) {
      queue_.remove(&node);
      dispatch(wq);  // we may have been what blocked the requests behind us
    }
  }
  if (node.granted) return true;
  if (r == detail::WakeReason::Timeout) return false;
  w.throw_cancelled();  // Cancel (a wake without a grant does not happen here)
}

void RwLock::unlock() noexcept {
  detail::WakeQueue wq;
  std::lock_guard lk(lock_);
  writer_ = false;
  __atomic_store_n(&writer_owner_, nullptr, __ATOMIC_RELAXED);
  dispatch(wq);
}

void RwLock::unlock_shared() noexcept {
  detail::WakeQueue wq;
  std::lock_guard lk(lock_);
  if (--readers_ == 0) dispatch(wq);
}

}  // namespace weft
