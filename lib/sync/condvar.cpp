// CondVar: a FIFO of waiters under a spin lock.
//
// Ordering: the waiter links itself *before* unlocking the user's mutex, so a notify issued by
// anyone who takes the mutex after us finds us (no lost wake-up between unlock and park).
#include <weft/condvar.hpp>

namespace weft {

void CondVar::notify_one() noexcept {
  detail::WakeQueue wq;
  std::lock_guard lk(lock_);
  waiters_.wake_one(detail::WakeReason::Notify, wq);
}

void CondVar::notify_all() noexcept {
  detail::WakeQueue wq;
  std::lock_guard lk(lock_);
  waiters_.wake_all(detail::WakeReason::Notify, wq);
}

std::cv_status CondVar::wait_impl(std::unique_lock<Mutex>& lk, const detail::SyncClock::time_point* deadline) {
  if (!lk.owns_lock()) {
    throw Error("CondVar::wait: the std::unique_lock does not hold its mutex; lock it before waiting (the wait "
                "unlocks it and locks it again before returning)");
  }
  detail::Waiter w;
  w.note(detail::kWaitCondVar, this);
  w.cancel_point();  // throws with the mutex still held, nothing changed
  if (deadline && detail::SyncClock::now() >= *deadline) return std::cv_status::timeout;
  detail::WaitNode node;
  node.waiter = &w;
  {
    std::lock_guard g(lock_);
    w.arm();
    waiters_.push_back(&node);
  }
  Mutex* m = lk.release();
  m->unlock();
  const detail::WakeReason r = w.block(deadline);
  {
    std::lock_guard g(lock_);
    if (node.linked) waiters_.remove(&node);
  }
  m->lock_uncancellable();
  lk = std::unique_lock<Mutex>(*m, std::adopt_lock);
  if (r == detail::WakeReason::Cancel) w.throw_cancelled();
  return r == detail::WakeReason::Timeout ? std::cv_status::timeout : std::cv_status::no_timeout;
}

}  // namespace weft
