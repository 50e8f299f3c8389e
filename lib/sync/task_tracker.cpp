// weft::TaskTracker's counting. The WaitGroup holds tasks + (open ? 1 : 0); every transition of
// `closed` is an exchange, so each close() is matched by at most one done() and each reopen() by
// at most one add(1), however the calls race.
#include <weft/task_tracker.hpp>

namespace weft {

TrackerToken TaskTracker::token() const {
  // Count before the token exists: wait() must never see zero while a token is being made.
  s_->tasks.fetch_add(1, std::memory_order_acq_rel);
  s_->wg.add(1);
  return TrackerToken(s_);
}

void TrackerToken::reset() noexcept {
  if (!s_) return;
  std::shared_ptr<State> s = std::move(s_);
  s->tasks.fetch_sub(1, std::memory_order_acq_rel);
  s->wg.done();  // cannot go below zero: this token's add(1) is still in the count
}

bool TaskTracker::close() const noexcept {
  if (s_->closed.exchange(true, std::memory_order_acq_rel)) return false;
  s_->wg.done();
  return true;
}

bool TaskTracker::reopen() const noexcept {
  if (!s_->closed.exchange(false, std::memory_order_acq_rel)) return false;
  s_->wg.add(1);
  return true;
}

}  // namespace weft
