// JoinSetCore: a group of children whose completions are queued for the owner (JoinSet, and the
// children of a weft::scope: lib/sched/scope.cpp).
#include <weft/detail/cancel_scope.hpp>
#include <weft/detail/join_set_core.hpp>

#include "sched/scheduler.hpp"
#include "sched/wait.hpp"

#include <mutex>
#include <vector>

namespace weft::detail {

// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
constexpr WaitDesc kWaitJoinSet{"JoinSet::join_next", WaitDesc::Address, WaitDesc::JoinSetChild};

JoinSetCore::~JoinSetCore() { shutdown(); }

void JoinSetCore::spawn(FiberBase* f, Options&& o, const std::source_location& loc, bool local) {
  // One reference is the set's (from creation); one more for the running fiber. Linked before it
  // starts: it may finish (and be taken by next()) before spawn_child returns.
  f->add_ref();
  std::uint8_t start_cancelled;
  {
    std::lock_guard lk(lock_);
    link(f);
    start_cancelled = sticky_cancel_;
  }
  // Spawned (by one of the children) after the set was cancelled for good: it starts cancelled,
  // so its function never runs. Recorded before it is published: no waker, no race.
  if (start_cancelled) f->cancel_.store(start_cancelled, std::memory_order_relaxed);
  try {
    spawn_child(f, std::move(o), loc, this, local);
  } catch (...) {
    {
      std::lock_guard lk(lock_);
      forget(f);
    }
    f->release();  // the set's reference: nobody else will take it
    throw;
  }
}

void JoinSetCore::link(FiberBase* f) noexcept {
  rec(f)->set_prev_ = nullptr;
  rec(f)->set_next_ = children_;
  if (children_) rec(children_)->set_prev_ = f;
  children_ = f;
  size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void JoinSetCore::forget(FiberBase* f) noexcept {
  if (rec(f)->set_prev_) rec(rec(f)->set_prev_)->set_next_ = rec(f)->set_next_; else children_ = rec(f)->set_next_;
  if (rec(f)->set_next_) rec(rec(f)->set_next_)->set_prev_ = rec(f)->set_prev_;
  rec(f)->set_prev_ = rec(f)->set_next_ = nullptr;
  size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

void JoinSetCore::notify(FiberBase* finished) noexcept {
  std::lock_guard lk(lock_);
  done_.push_back(finished);
  seq_.fetch_add(1, std::memory_order_release);
  seq_.notify_all();
  // Under lock_: the owner re-takes it after waking, so it cannot free itself while we touch it.
  if (FiberBase* w = std::exchange(waiter_, nullptr)) wake(w, waiter_epoch_, WakeReason::Notify);
}

FiberBase* JoinSetCore::next(bool block, bool shielded) {
  if (block && !shielded) {
    // A suspension point even with a result ready (level-triggered cancellation).
    if (FiberBase* self = current_fiber()) check_cancel_point(self);
  }
  for (;;) {
    FiberBase* f = nullptr;
    std::uint32_t seen;
    {
      std::lock_guard lk(lock_);
      if (!done_.empty()) {
        f = done_.front();
        done_.pop_front();
        forget(f);
      }
      seen = seq_.load(std::memory_order_relaxed);
      if (!f && (size_.load(std::memory_order_relaxed) == 0 || !block)) return nullptr;
    }
    if (f) {
      std::lock_guard wait_for_notifier(rec(f)->join_lock_);
      return f;
    }
    FiberBase* self = current_fiber();
    if (!self) {
      // A plain thread owns the set. If its children run in a simulation, nobody else runs them:
      // this thread does, until one finishes (seq_ moves).
      Scheduler* sim_sched = nullptr;
      {
        std::lock_guard lk(lock_);
        if (children_ && rec(children_)->sched_ && rec(children_)->sched_->sim()) sim_sched = rec(children_)->sched_;
      }
      if (sim_sched) {
        struct Moved {
          const std::atomic<std::uint32_t>* seq;
          std::uint32_t seen;
        } moved{&seq_, seen};
        sim_sched->sim()->run_until(
            *sim_sched,
            [](const void* m) {
              auto* x = static_cast<const Moved*>(m);
              return x->seq->load(std::memory_order_acquire) != x->seen;
            },
            &moved, "a JoinSet's next finished child");
        continue;
      }
      seq_.wait(seen, std::memory_order_acquire);
      continue;
    }
    ShieldGuard shield_if_asked(shielded ? self : nullptr);
    check_cancel_point(self);
    const std::uint64_t e = begin_wait(self);
    note_wait(self, kWaitJoinSet, reinterpret_cast<std::uintptr_t>(this));
    {
      std::lock_guard lk(lock_);
      if (!done_.empty()) continue;
      waiter_ = self;
      waiter_epoch_ = e;
    }
    const WakeReason r = park(self, e);
    {
      std::lock_guard lk(lock_);
      if (waiter_ == self) waiter_ = nullptr;
    }
    if (r == WakeReason::Cancel) throw_cancelled(self);
    if (!shielded) check_cancel_point(self);  // nothing taken yet: the set is unchanged
  }
}

void JoinSetCore::abort_all(Cancelled::Reason why, bool sticky) noexcept {
  // Snapshot under the lock, cancel outside it: request_cancel may run hooks that complete a task,
  // and a completion calls notify(), which takes lock_.
  std::vector<FiberBase*> targets;
  {
    std::lock_guard lk(lock_);
    if (sticky && sticky_cancel_ == 0) sticky_cancel_ = static_cast<std::uint8_t>(static_cast<int>(why) + 1);
    targets.reserve(size_.load(std::memory_order_relaxed));
    for (FiberBase* f = children_; f; f = rec(f)->set_next_) {
      f->add_ref();
      targets.push_back(f);
    }
  }
  for (FiberBase* f : targets) {
    request_cancel(f, why);
    f->release();
  }
}

void JoinSetCore::shutdown() noexcept {
  abort_all(Cancelled::Reason::Aborted, /*sticky=*/true);
  while (size() != 0) {
    FiberBase* f = next(true, true);  // shielded: cannot throw
    if (!f) continue;
    if (f->panic_ && !f->panic_observed_) {
      report_unobserved_panic(*f, std::string("its ") + owner_ + " was dropped before the panic was taken from it");
    }
    f->release();
  }
}

void JoinSetCore::detach_all() noexcept {
  for (;;) {
    FiberBase* f;
    {
      std::lock_guard lk(lock_);
      f = children_;
      if (!f) break;
      forget(f);
    }
    {
      std::lock_guard lk(rec(f)->join_lock_);
      if (rec(f)->joiner_ == this) rec(f)->joiner_ = nullptr;  // it will finish unobserved
    }
    f->release();
  }
  std::lock_guard lk(lock_);
  done_.clear();  // those were children too, released above
}

}  // namespace weft::detail
