// WaitGroup: a count and a list of waiters under a spin lock; reaching zero wakes the list.
#include <weft/error.hpp>
#include <weft/wait_group.hpp>

#include <mutex>
#include <string>

namespace weft {

namespace {
// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
constexpr detail::WaitDesc kWaitWaitGroup{"wait group", detail::WaitDesc::Address};
}  // namespace

void WaitGroup::add(std::int64_t n) {
  detail::WakeQueue wq;
  std::lock_guard lk(lock_);
  if (count_ + n < 0) {
    throw Error("WaitGroup::" + std::string(n == -1 ? "done" : "add") + ": the count would drop to " +
                std::to_string(count_ + n) + "; every done() must match an earlier add() (call add() before "
                "starting the work it counts)");
  }
  count_ += n;
  if (count_ == 0) waiters_.wake_all(detail::WakeReason::Notify, wq);
}

std::int64_t WaitGroup::count() const noexcept {
  std::lock_guard lk(lock_);
  return count_;
}

bool WaitGroup::wait_impl(const detail::SyncClock::time_point* deadline) {
  detail::Waiter w;
  w.note(kWaitWaitGroup, this);
  w.cancel_point();
  detail::WaitNode node;
  node.waiter = &w;
  {
    std::lock_guard lk(lock_);
    if (count_ == 0) return true;
    if (deadline && detail::SyncClock::now() >= *deadline) return false;
    w.arm();
    waiters_.push_back(&node);
  }
  const detail::WakeReason r = w.block(deadline);
  {
    std::lock_guard lk(lock_);
    if (node.linked) waiters_.remove(&node);
  }
  if (node.fired) return true;
  if (r == detail::WakeReason::Timeout) return false;
  w.throw_cancelled();
}

void WaitGroup::wait() { wait_impl(nullptr); }

bool WaitGroup::wait_for(std::chrono::nanoseconds timeout) {
  const auto d = detail::deadline_after(timeout);
  return wait_impl(&d);
}

bool WaitGroup::wait_until(std::chrono::steady_clock::time_point deadline) { return wait_impl(&deadline); }

}  // namespace weft
