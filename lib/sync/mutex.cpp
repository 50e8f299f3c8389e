// Mutex slow paths: queueing, barging wake-ups, starvation hand-off (see weft/mutex.hpp).
//
// Invariants (state_ bits, see the header):
//  - kWaiters and kHandoff change only under q_lock_; kHandoff is only ever *set* by a waiter that
//    queues while the lock is held (CAS requiring kLocked), and kLocked is never cleared while
//    kHandoff is set except by the hand-off path clearing both — so a free lock never refuses
//    lockers forever.
//  - "Free lock + non-empty queue" is only transient: the unlock that freed it wakes one waiter
//    (marking kWoken) unless someone already took the lock again (its unlock will), and a woken
//    waiter always retries try_lock before it may throw or time out. A wake that fails (the waiter
//    was cancelled or timed out first) moves on to the next waiter.
#include <weft/mutex.hpp>
#include <weft/detail/cpu_relax.hpp>

#include "sched/worker.hpp"

#include <weft/error.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>

namespace weft {

namespace {
// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
constexpr detail::WaitDesc kWaitMutex{"mutex", detail::WaitDesc::Address, detail::WaitDesc::MutexHolder};
}  // namespace

namespace {

// How long a waiter may lose to barging fibers before the lock is handed to it directly.
constexpr auto kStarvationThreshold = std::chrono::milliseconds(1);
// try_lock attempts before queueing: the holder may be running on another worker and about to
// unlock, which is far cheaper to wait out than a park + wake.
constexpr int kSpinTries = 16;

struct MutexNode : detail::WaitNode {
  bool handed = false;    // ownership was passed to this waiter (hand-off mode)
  bool starving = false;  // queued at the front; unlockers hand off to it
};

}  // namespace

void Mutex::destroyed_in_use() const noexcept {
  const std::uint32_t s = state_.load(std::memory_order_relaxed);
  std::fprintf(stderr,
               "weft: weft::Mutex at %p destroyed while %s: unlock it, and let every fiber waiting "
               "for it finish (or be cancelled), before destroying it; a later unlock() or wake-up "
               "would use freed memory. Aborting.\n",
               static_cast<const void*>(this),
               (s & kWaiters) ? "fibers were waiting for it" : (s & kLocked) ? "locked" : "a woken fiber was about to retry it");
  std::abort();
}

void Mutex::update_queue_bits() noexcept {
  // Never sets kHandoff (only a queueing waiter does, while the lock is held): clears kWaiters /
  // kHandoff when they no longer describe the queue.
  std::uint32_t clear = 0;
  if (queue_.empty()) {
    clear = kWaiters | kHandoff;
  } else if (!fair_ && !static_cast<MutexNode*>(queue_.front())->starving) {
    clear = kHandoff;
  }
  if (clear) state_.fetch_and(~clear, std::memory_order_relaxed);
}

namespace {
// `token` is the caller's own lock_owner_token(): the running fiber's record, or a thread's tag.
std::string describe_caller(const void* token) {
  const detail::FiberBase* f = detail::current_fiber();
  if (f && f == token) return "fiber " + std::to_string(f->id_) + " '" + rec(f)->name_ + "'";
  return "a plain thread";
}
}  // namespace

void Mutex::unlock_by_non_owner() const noexcept {
  const void* me = detail::lock_owner_token();
  const void* holder = owner_.load(std::memory_order_relaxed);
  std::string who = describe_caller(me);
  if (!holder) {
    std::fprintf(stderr,
                 "weft: weft::Mutex::unlock() at %p by %s, but the mutex is not locked (unlocked twice, or "
                 "never locked). Unlock exactly once per lock, e.g. with std::lock_guard / std::unique_lock. "
                 "Aborting.\n",
                 static_cast<const void*>(this), who.c_str());
  } else {
    std::fprintf(stderr,
                 "weft: weft::Mutex::unlock() at %p by %s, which does not hold it (another fiber or thread "
                 "locked it). Only the fiber or thread that locked a weft::Mutex may unlock it; to hand "
                 "permission between fibers use a weft::Semaphore. Aborting.\n",
                 static_cast<const void*>(this), who.c_str());
  }
  std::abort();
}

bool Mutex::lock_slow(bool cancellable, const detail::SyncClock::time_point* deadline, const void* me) {
  if (owner_.load(std::memory_order_relaxed) == me) {
    throw Error("weft::Mutex: lock by " + describe_caller(me) + ", which" +
                " already holds this mutex; weft::Mutex is not recursive (locking it again would wait for "
                "itself forever). Unlock it first, or restructure so the lock is taken once");
  }
  for (int i = 0; i < kSpinTries; ++i) {
    detail::cpu_relax();
    if (try_acquire()) return true;
  }
  detail::Waiter w;
  w.note(kWaitMutex, this);
  MutexNode node;
  node.waiter = &w;
  std::optional<detail::SyncClock::time_point> since;
  bool requeue_front = false;
  for (;;) {
    if (try_acquire()) return true;
    if (cancellable) w.cancel_point();
    if (deadline && detail::SyncClock::now() >= *deadline) return false;

    q_lock_.lock();
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    bool queued = false;
    while (s & kLocked) {
      const std::uint32_t ns = s | kWaiters | ((fair_ || node.starving) ? kHandoff : 0);
      if (state_.compare_exchange_weak(s, ns, std::memory_order_acq_rel, std::memory_order_relaxed)) {
        queued = true;
        break;
      }
    }
    if (!queued) {  // released meanwhile: retry
      q_lock_.unlock();
      continue;
    }
    w.arm(cancellable);
    if (requeue_front) queue_.push_front(&node); else queue_.push_back(&node);
    q_lock_.unlock();
    if (!since) since = detail::SyncClock::now();

    const detail::WakeReason r = w.block(deadline);

    q_lock_.lock();
    if (node.linked) {
      queue_.remove(&node);
      update_queue_bits();
    }
    const bool handed = node.handed;
    q_lock_.unlock();

    if (r == detail::WakeReason::Notify) {
      if (handed) return true;  // the unlocker passed the lock to us (kLocked stayed set)
      // Woken to retry: we are no longer "the woken waiter"; if we lose again, we go first.
      state_.fetch_and(~kWoken, std::memory_order_relaxed);
      requeue_front = true;
      if (!node.starving && detail::SyncClock::now() - *since > kStarvationThreshold) node.starving = true;
      continue;
    }
    if (r == detail::WakeReason::Timeout) return false;
    w.throw_cancelled();  // Cancel: not queued any more, holds nothing
  }
}

void Mutex::unlock_slow() noexcept {
  detail::WakeQueue wq;
  std::lock_guard lk(q_lock_);
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  if (s & kHandoff) {
    // Pass ownership to the front waiter: kLocked stays set, nobody can barge in between.
    if (detail::WaitNode* n = queue_.wake_one(detail::WakeReason::Notify, wq)) {
      static_cast<MutexNode*>(n)->handed = true;
      update_queue_bits();
      return;
    }
    state_.fetch_and(~(kLocked | kHandoff | kWaiters), std::memory_order_release);
    return;
  }
  s = state_.fetch_and(~kLocked, std::memory_order_release) & ~kLocked;
  // Wake one waiter to retry — unless one is already awake, nobody waits, or someone took the
  // lock meanwhile (then its unlock wakes instead).
  for (;;) {
    if (!(s & kWaiters) || (s & (kLocked | kWoken))) return;
    if (state_.compare_exchange_weak(s, s | kWoken, std::memory_order_relaxed, std::memory_order_relaxed)) break;
  }
  if (queue_.wake_one(detail::WakeReason::Notify, wq)) {
    update_queue_bits();
    return;
  }
  // Every queued waiter had already been woken by cancellation or a timeout.
  state_.fetch_and(~(kWoken | kWaiters | kHandoff), std::memory_order_relaxed);
}

}  // namespace weft
