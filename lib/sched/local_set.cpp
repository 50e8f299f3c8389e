// LocalSet: fibers pinned to one worker for life.
#include <weft/detail/cancel_scope.hpp>
#include <weft/local_set.hpp>

#include "sched/worker.hpp"
#include "sched/wait.hpp"

#include <mutex>

namespace weft::detail {

// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
constexpr WaitDesc kWaitLocalSet{"LocalSet close", WaitDesc::Address};

// Tracks a LocalSet's live fibers so its destructor can abort and wait for them. Fibers are added
// on the owner's worker and removed on the same worker (where they finish), but the owner may
// inspect it from elsewhere after run_until returned, hence the lock.
class LocalSetCore {
 public:
  void add(FiberBase* f) noexcept {
    std::lock_guard lk(lock_);
    rec(f)->local_prev_ = nullptr;
    rec(f)->local_next_ = head_;
    if (head_) rec(head_)->local_prev_ = f;
    head_ = f;
    ++count_;
    if (closing_) request_cancel(f, Cancelled::Reason::Aborted);
  }
  void remove(FiberBase* f) noexcept {
    std::lock_guard lk(lock_);
    if (rec(f)->local_prev_) rec(rec(f)->local_prev_)->local_next_ = rec(f)->local_next_; else head_ = rec(f)->local_next_;
    if (rec(f)->local_next_) rec(rec(f)->local_next_)->local_prev_ = rec(f)->local_prev_;
    rec(f)->local_prev_ = rec(f)->local_next_ = nullptr;
    if (--count_ == 0) {
      seq_.fetch_add(1, std::memory_order_release);
      seq_.notify_all();
      if (FiberBase* w = std::exchange(waiter_, nullptr)) wake(w, waiter_epoch_, WakeReason::Notify);
    }
  }
  std::size_t size() const noexcept {
    std::lock_guard lk(lock_);
    return count_;
  }
  // Aborts every local fiber and waits (not interruptible) until none is left.
  void close() noexcept {
    FiberBase* self = current_fiber();
    ShieldGuard not_interruptible(self);
    for (;;) {
      std::uint32_t seen;
      std::uint64_t e = 0;
      if (self) {
        e = begin_wait(self);
        note_wait(self, kWaitLocalSet, reinterpret_cast<std::uintptr_t>(this));
      }
      {
        std::lock_guard lk(lock_);
        closing_ = true;
        for (FiberBase* f = head_; f; f = rec(f)->local_next_) request_cancel(f, Cancelled::Reason::Aborted);
        if (count_ == 0) break;
        seen = seq_.load(std::memory_order_relaxed);
        if (self) {
          waiter_ = self;
          waiter_epoch_ = e;
        }
      }
      if (self) {
        park(self, e);
        std::lock_guard lk(lock_);
        if (waiter_ == self) waiter_ = nullptr;
      } else {
        seq_.wait(seen, std::memory_order_acquire);
      }
    }
    std::lock_guard wait_for_notifier(lock_);
  }

 private:
  mutable SpinLock lock_;
  FiberBase* head_ = nullptr;
  std::size_t count_ = 0;
  bool closing_ = false;
  FiberBase* waiter_ = nullptr;
  std::uint64_t waiter_epoch_ = 0;
  std::atomic<std::uint32_t> seq_{0};
};

std::unique_ptr<LocalSetCore> make_local_set_core() { return std::make_unique<LocalSetCore>(); }

void destroy_local_set_core(LocalSetCore* c) noexcept {
  c->close();
  delete c;
}

std::size_t local_set_size(const LocalSetCore* c) noexcept { return c->size(); }

LocalBinding bind_local(LocalSetCore* c) {
  FiberBase* f = current_fiber();
  if (!f) {
    throw Error("LocalSet::run_until: called outside a weft fiber; use rt.block_on([&] { weft::LocalSet ls; "
                "return ls.run_until(f); })");
  }
  LocalBinding b{f, rec(f)->home_, rec(f)->local_set_};
  rec(f)->home_ = rec(f)->worker_;  // stay on this worker until run_until returns
  rec(f)->local_set_ = c;
  return b;
}

void unbind_local(const LocalBinding& b) noexcept {
  rec(b.fiber)->home_ = b.home;
  rec(b.fiber)->local_set_ = b.set;
}

void local_set_add(LocalSetCore* c, FiberBase* f) noexcept { c->add(f); }
void local_set_remove(LocalSetCore* c, FiberBase* f) noexcept { c->remove(f); }

}  // namespace weft::detail

namespace weft {
LocalSet::LocalSet() : core_(detail::make_local_set_core().release()) {}
}  // namespace weft
