#include "sched/wait.hpp"

#include "fiber/switch.hpp"
#include "sched/scheduler.hpp"

#include <weft/task.hpp>

namespace weft::detail {

bool cancel_deliverable(const FiberBase* f) noexcept {
  if (f->shield_depth_ != 0) return false;
  // Never throw while unwinding or inside a catch block: the fiber's exception state is on this
  // thread while it runs (Worker::run swaps it in).
  const EhGlobals* g = thread_eh_globals();
  return g->uncaught_exceptions == 0 && g->caught_exceptions == nullptr;
}

void throw_cancelled(FiberBase* f) {
  const std::uint8_t c = f->cancel_.load(std::memory_order_acquire);
  throw Cancelled(c ? static_cast<Cancelled::Reason>(c - 1) : Cancelled::Reason::Aborted);
}

void check_cancel_point_slow(FiberBase* f) {
  if (cancel_deliverable(f)) throw_cancelled(f);
}

std::uint64_t begin_wait(FiberBase* f) noexcept {
  const std::uint64_t e = epoch_of(f->wait_word_.load(std::memory_order_relaxed)) + 1;
  const std::uint64_t canc = cancel_deliverable(f) ? kCancellable : 0;
  // seq_cst pairs with request_cancel: either it sees this epoch, or park() sees its flag.
  f->wait_word_.store((e << kEpochShift) | canc | kWaiting, std::memory_order_seq_cst);
  return e;
}

bool wake(FiberBase* f, std::uint64_t epoch, WakeReason why) noexcept {
  std::uint64_t w = f->wait_word_.load(std::memory_order_acquire);
  for (;;) {
    if (epoch_of(w) != epoch) return false;
    const std::uint64_t st = w & kStateMask;
    if (st != kWaiting && st != kParked) return false;
    if (why == WakeReason::Cancel && !(w & kCancellable)) return false;
    const std::uint64_t nw = (epoch << kEpochShift) | (static_cast<std::uint64_t>(why) << kReasonShift) |
                             (w & kCancellable) | kNotified;
    if (f->wait_word_.compare_exchange_weak(w, nw, std::memory_order_acq_rel, std::memory_order_acquire)) {
      if (st == kParked) f->sched_->schedule(f, true);
      return true;
    }
  }
}

WakeReason park(FiberBase* f, std::uint64_t epoch) noexcept {
  std::uint64_t w = f->wait_word_.load(std::memory_order_seq_cst);
  if ((w & kCancellable) && f->cancel_.load(std::memory_order_seq_cst) != 0) {
    wake(f, epoch, WakeReason::Cancel);  // loses harmlessly if someone woke us first
    w = f->wait_word_.load(std::memory_order_acquire);
  }
  if ((w & kStateMask) != kNotified) {
    Worker::switch_out(f, SwitchReason::Park);
    w = f->wait_word_.load(std::memory_order_acquire);
  }
  return reason_of(w);
}

void request_cancel(FiberBase* f, Cancelled::Reason why) noexcept {
  std::uint8_t none = 0;
  f->cancel_.compare_exchange_strong(none, static_cast<std::uint8_t>(static_cast<unsigned>(why) + 1),
                                     std::memory_order_seq_cst);
  const std::uint64_t w = f->wait_word_.load(std::memory_order_seq_cst);
  wake(f, epoch_of(w), WakeReason::Cancel);
}

}  // namespace weft::detail
