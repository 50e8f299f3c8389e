// Notify: a FIFO of waiters plus one stored permit, under a spin lock.
//
// Invariant: permit_ is only set while no waiter could be woken (notify_one found nobody, or every
// listed waiter had already been woken by cancellation / a timeout / another select branch).
#include <weft/notify.hpp>
#include <weft/coop.hpp>

#include <mutex>

namespace weft {

namespace detail {

bool NotifiedOp::try_now() {
  std::lock_guard lk(n_->lock_);
  if (!n_->permit_) return false;
  n_->permit_ = false;
  return true;
}

void NotifiedOp::enroll(Waiter& w) noexcept {
  node_ = WaitNode{};
  node_.waiter = &w;
  std::lock_guard lk(n_->lock_);
  if (!n_->permit_) {
    n_->waiters_.push_back(&node_);
    return;
  }
  if (!w.wake()) return;  // another operation of this wait won first
  n_->permit_ = false;
  node_.fired = true;
}

bool NotifiedOp::withdraw() noexcept {
  std::lock_guard lk(n_->lock_);
  if (node_.linked) n_->waiters_.remove(&node_);
  return node_.fired;
}

}  // namespace detail

void Notify::notified() {
  detail::coop_proceed();  // before the permit is taken: cancel-safe
  detail::NotifiedOp op(this);
  detail::wait_one(op);
}

bool Notify::notified_for(std::chrono::nanoseconds timeout) {
  return notified_until(detail::deadline_after(timeout));
}

bool Notify::notified_until(std::chrono::steady_clock::time_point deadline) {
  detail::coop_proceed();
  detail::NotifiedOp op(this);
  return detail::wait_one(op, &deadline);
}

void Notify::notify_one() noexcept {
  detail::WakeQueue wq;
  std::lock_guard lk(lock_);
  if (!waiters_.wake_one(detail::WakeReason::Notify, wq)) permit_ = true;
}

void Notify::notify_waiters() noexcept {
  detail::WakeQueue wq;
  std::lock_guard lk(lock_);
  waiters_.wake_all(detail::WakeReason::Notify, wq);
}

}  // namespace weft
