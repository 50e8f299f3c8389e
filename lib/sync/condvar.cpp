// CondVar: a FIFO of waiters under a spin lock.
//
// Ordering: the waiter links itself *before* unlocking the user's mutex, so a notify issued by
// anyone who takes the mutex after us finds us (no lost wake-up between unlock and park).
#include <weft/condvar.hpp>

namespace weft {

namespace {
// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
constexpr detail::WaitDesc kWaitCondVar{"condvar", detail::WaitDesc::Address};
}  // namespace

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
  Mutex* m = lk.release();
  struct Guard {  // hands the mutex back to `lk` however the wait ends
    std::unique_lock<Mutex>& lk;
    Mutex* m;
    ~Guard() { lk = std::unique_lock<Mutex>(*m, std::adopt_lock); }
  } give_back{lk, m};
  const Relock r{m, [](void* p) { static_cast<Mutex*>(p)->unlock(); },
                 [](void* p) { static_cast<Mutex*>(p)->lock_uncancellable(); }, true};
  return wait_relock(r, deadline);
}

std::cv_status CondVar::wait_relock(const Relock& r, const detail::SyncClock::time_point* deadline) {
  detail::Waiter w;
  w.note(kWaitCondVar, this);
  // Throws with the lock still held, nothing changed. Chaos yields only under a weft lock: a
  // std::mutex must be unlocked on the thread that locked it.
  w.cancel_point(r.weft_lock);
  if (deadline && detail::SyncClock::now() >= *deadline) return std::cv_status::timeout;
  detail::WaitNode node;
  node.waiter = &w;
  {
    std::lock_guard g(lock_);
    w.arm();
    waiters_.push_back(&node);
  }
  try {
    r.unlock(r.lock);
  } catch (...) {  // a lock that refuses (a std::unique_lock that owns nothing): leave no node behind
    std::lock_guard g(lock_);
    if (node.linked) waiters_.remove(&node);
    throw;
  }
  const detail::WakeReason why = w.block(deadline);
  {
    std::lock_guard g(lock_);
    if (node.linked) waiters_.remove(&node);
  }
  r.relock(r.lock);
  if (why == detail::WakeReason::Cancel) w.throw_cancelled();
  return why == detail::WakeReason::Timeout ? std::cv_status::timeout : std::cv_status::no_timeout;
}

}  // namespace weft
