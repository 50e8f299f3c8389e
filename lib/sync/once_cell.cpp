// OnceCore: the Empty -> Running -> Done state machine behind OnceCell and call_once.
//
// state_ is atomic so that get() on an initialised cell is one acquire load; every transition
// happens under lock_, and the waiters (fibers or threads suspended while another runs the
// initializer) are woken on both Done and Empty (after a throw), then re-check.
#include <weft/error.hpp>
#include <weft/once_cell.hpp>

#include <mutex>
#include <string>

namespace weft::detail {

// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
constexpr WaitDesc kWaitOnceCell{"once cell", WaitDesc::Address};

bool OnceCore::begin(const char* op) {
  if (is_done()) return false;
  Waiter w;
  w.note(kWaitOnceCell, this);
  const void* me = w.identity();
  for (;;) {
    w.cancel_point();
    WaitNode node;
    node.waiter = &w;
    {
      std::lock_guard lk(lock_);
      const std::uint8_t s = state_.load(std::memory_order_relaxed);
      if (s == kDone) return false;
      if (s == kEmpty) {
        state_.store(kRunning, std::memory_order_relaxed);
        runner_ = me;
        return true;
      }
      if (runner_ == me) {
        throw Error(std::string(op) + ": called from inside this cell's own initializer; it would wait for "
                    "itself forever (initialise dependencies in a separate cell)");
      }
      w.arm();
      waiters_.push_back(&node);
    }
    const WakeReason r = w.block();
    {
      std::lock_guard lk(lock_);
      if (node.linked) waiters_.remove(&node);
    }
    if (r == WakeReason::Cancel) w.throw_cancelled();
  }
}

void OnceCore::complete() noexcept {
  WakeQueue wq;
  std::lock_guard lk(lock_);
  state_.store(kDone, std::memory_order_release);
  runner_ = nullptr;
  waiters_.wake_all(WakeReason::Notify, wq);
}

void OnceCore::abandon() noexcept {
  WakeQueue wq;
  std::lock_guard lk(lock_);
  state_.store(kEmpty, std::memory_order_relaxed);
  runner_ = nullptr;
  waiters_.wake_all(WakeReason::Notify, wq);
}

}  // namespace weft::detail
