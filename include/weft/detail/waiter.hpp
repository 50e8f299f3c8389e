// weft/detail/waiter.hpp — how every sync primitive and channel waits. Internal.
//
// One blocking call = one Waiter on the caller's stack. It is a fiber wait (fiber, epoch; see
// lib/sched/wait.hpp) or, on a plain thread, a futex word. A primitive publishes one or more
// WaitNodes pointing at the Waiter in its wait lists (several for a select), under the primitive's
// SpinLock, then blocks. Any number of wakers may race: Waiter::wake lets exactly one win for this
// wait (Notify, Timeout or Cancel), and every loser learns it lost.
//
// The protocol every primitive follows (it is what makes waits cancel-safe):
//   lock; if the operation can complete now, complete it, unlock, return;
//   w.arm(); link node; unlock;
//   r = w.block(deadline);
//   lock; unlink node if still linked; read what the notifier granted (if r == Notify); unlock;
// A notifier grants *under the same lock*: pop node; if (node->waiter->wake()) hand over (a value,
// a permit, the lock) else try the next node. So a grant happens only to a waiter that won with
// Notify, a waiter that lost to Cancel/Timeout received nothing (its operation had no effect), and
// a grant that could not be delivered goes to the next waiter (no wake-up is lost).
// The waiter re-takes the lock after waking, so a node (on the waiter's stack) stays alive for as
// long as a notifier may touch it — unless the notifier released the node (WaitNode::released:
// stored last, with release), which says it will not touch it again.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/clock.hpp>
#include <weft/detail/chrono.hpp>
#include <weft/detail/fiber.hpp>
#include <weft/detail/spin_lock.hpp>

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <type_traits>

WEFT_API_BEGIN

namespace weft::detail {

// Why a parked fiber was woken (stored in its wait word by the waker that won).
// ScopeCancel is only ever *passed* to wake(): a cancel scope (deadline or token) interrupting the
// wait; the waiter reads it as Cancel. The wait word says which of the two a wait accepts.
enum class WakeReason : std::uint8_t { None = 0, Notify = 1, Timeout = 2, Cancel = 3, Ready = 4, ScopeCancel = 5 };

// What a suspended fiber waits on, for dumps and tools: a static description plus how to read the
// one argument the suspension point stores next to it (the fiber record's wait_arg_). Each
// primitive defines its own (`constexpr WaitDesc kWaitMutex{"mutex", WaitDesc::Address,
// WaitDesc::MutexHolder}` in lib/sync/mutex.cpp); the tools read only the fields, never compare
// addresses, so a description is free to live in a header or a .cpp. Setting one costs two stores.
struct WaitDesc {
  // How to read the argument: nothing, a deadline (steady ns), a fiber id, the waited-on object's
  // address, an fd, a count of operations.
  enum Arg : std::uint8_t { None, Deadline, Fiber, Address, Fd, Count };
  // Whom the wait depends on, for the deadlock detector (lib/introspect/wait_graph.cpp): the holder
  // of the Mutex / RwLock at the argument's address, the fiber whose id is the argument, the next
  // child of the JoinSet at the argument's address; or nobody it can name.
  enum Edge : std::uint8_t { NoEdge, MutexHolder, RwLockHolders, JoinFiber, JoinSetChild };
  const char* what;
  Arg arg;
  Edge edge = NoEdge;
  // Something outside the fibers can end the wait (a timer, an fd, a signal, a CancellationToken
  // that any thread may cancel): such a fiber is not "asleep for good" (weft/deadlock.hpp).
  bool external = false;
};
// A select over several operations (argument: how many); one operation notes its own wait.
inline constexpr WaitDesc kWaitSelect{"select over", WaitDesc::Count};

// weft's clock (virtual in a simulation); its time_point is steady_clock's.
using SyncClock = weft::Clock;

// The suspension-point check of every blocking sync call: throws weft::Cancelled if the calling
// fiber's cancellation is pending and deliverable (doc/design.md §2); does nothing on a plain thread.
void sync_cancel_point();
// Who is calling: the running fiber's record, or on a plain thread a per-thread address. Stable for
// the caller's lifetime; what a Mutex records as its holder.
const void* lock_owner_token() noexcept;

// Wake-ups claimed under a wait-list lock and completed after it is released: the claim (the CAS
// that decides who won) must happen under the lock, atomically with the grant, but making the
// fiber runnable (run-queue push, maybe an ev_async_send) or FUTEX_WAKE-ing a thread are kept out
// of the spin-locked section. Declare it *before* the lock guard, so it flushes after the unlock:
//   WakeQueue wq;
//   std::lock_guard lk(lock_);
//   list_.wake_one(WakeReason::Notify, wq);
// A claimed fiber cannot run before it is scheduled, and a futex wake only names an address, so
// nothing here touches a waiter's (possibly gone) stack after the unlock.
class WakeQueue {
 public:
  WakeQueue() = default;
  WakeQueue(const WakeQueue&) = delete;
  WakeQueue& operator=(const WakeQueue&) = delete;
  ~WakeQueue() {
    if (n_) flush();
  }
  void flush() noexcept;
  void add_fiber(FiberBase* f) noexcept;
  void add_thread(std::atomic<std::uint32_t>* word) noexcept;

 private:
  static constexpr unsigned kCap = 16;  // beyond that, wake at once (correct, just under the lock)
  struct Entry {
    FiberBase* fiber;
    std::atomic<std::uint32_t>* word;
  };
  Entry e_[kCap];
  unsigned n_ = 0;
};

class Waiter {
 public:
  // Binds to the calling fiber, or to the calling thread outside the runtime.
  Waiter() noexcept;
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  bool in_fiber() const noexcept { return fiber_ != nullptr; }
  // Who is waiting: the fiber, or on a plain thread a per-thread address. Stable for the caller's
  // lifetime (used to detect a caller waiting for itself).
  const void* identity() const noexcept;
  // Records what this wait is on, for dumps and tools; block() hands it to the fiber's record
  // (threads are not in dumps).
  void note(const WaitDesc& d, const void* object) noexcept { note(d, reinterpret_cast<std::uintptr_t>(object)); }
  void note(const WaitDesc& d, std::uint64_t arg) noexcept {
    what_ = &d;
    what_arg_ = arg;
  }
  // Throws Cancelled if the fiber's cancellation is pending (no-op for a thread). `chaos_yield`
  // false: chaos mode (lib/sched/chaos.hpp) must not yield here, because the caller holds a
  // thread-bound lock (a std::mutex) that the fiber must release on the same thread.
  void cancel_point(bool chaos_yield = true) const;
  // Starts a new wait. Call before the first node is published (under the list lock is fine).
  // An uncancellable wait is never woken by Cancel (for waits that must complete, e.g. CondVar
  // re-locking its mutex).
  void arm(bool cancellable = true) noexcept;
  // Suspends the fiber (blocks the thread) until woken or until `deadline`; returns why. Never
  // returns Timeout before steady_clock::now() >= *deadline. A thread is never woken by Cancel.
  WakeReason block(const SyncClock::time_point* deadline = nullptr) noexcept;
  // Any thread, under the lock of the list the waiter's node is in: wakes it if this wait has not
  // been woken yet. True only for the one call that won. With `q`, the part of the wake-up that may
  // make syscalls is deferred to q's flush (after the lock is released); a waiter waking itself
  // (select enrollment) passes none.
  bool wake(WakeReason why = WakeReason::Notify, WakeQueue* q = nullptr) noexcept;
  // Whether some waker already won this wait (a select stops enrolling once it has).
  bool woken() const noexcept;
  [[noreturn]] void throw_cancelled() const;

 private:
  FiberBase* fiber_;
  std::uint64_t epoch_ = 0;
  const WaitDesc* what_ = nullptr;  // note()
  std::uint64_t what_arg_ = 0;
  // Thread waits: 0 while waiting, else the WakeReason that won (a futex word).
  std::atomic<std::uint32_t> word_{0};
};

// An entry of a wait list. Primitives derive their nodes from it and add what a grant carries.
// All fields are guarded by the owning list's lock.
struct WaitNode {
  Waiter* waiter = nullptr;
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  bool linked = false;
  bool fired = false;  // the notifier won this node's wait (set under the list lock)
  // Set last, with release, by a notifier that is done with the node: it popped it, won its wait
  // and wrote what it grants. The waiter may then read the node without the list's lock (see
  // MpscRecvOp::withdraw). A notifier that never sets it leaves the waiter on the locked path,
  // which is always correct; so only the hot grants (a channel's hand-over) set it.
  bool released = false;
  void release_to_waiter() noexcept { std::atomic_ref<bool>(released).store(true, std::memory_order_release); }
  bool released_to_waiter() noexcept { return std::atomic_ref<bool>(released).load(std::memory_order_acquire); }
};

// Reports a sync object destroyed while fibers/threads still wait on it, and aborts.
[[noreturn]] void wait_list_destroyed_with_waiters(const void* list, std::size_t n) noexcept;

// Intrusive doubly-linked FIFO of WaitNodes. Not thread-safe: guard it with the primitive's lock.
// Destroying a list that still has waiters is a fatal error: their wake-up would use freed memory.
class WaitList {
 public:
  WaitList() = default;
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;
  ~WaitList() {
    if (head_) wait_list_destroyed_with_waiters(this, size_);
  }
  bool empty() const noexcept { return head_ == nullptr; }
  WaitNode* front() const noexcept { return head_; }
  std::size_t size() const noexcept { return size_; }
  void push_back(WaitNode* n) noexcept {
    n->next = nullptr;
    n->prev = tail_;
    if (tail_) tail_->next = n; else head_ = n;
    tail_ = n;
    n->linked = true;
    ++size_;
  }
  void push_front(WaitNode* n) noexcept {
    n->prev = nullptr;
    n->next = head_;
    if (head_) head_->prev = n; else tail_ = n;
    head_ = n;
    n->linked = true;
    ++size_;
  }
  void remove(WaitNode* n) noexcept {
    if (n->prev) n->prev->next = n->next; else head_ = n->next;
    if (n->next) n->next->prev = n->prev; else tail_ = n->prev;
    n->prev = n->next = nullptr;
    n->linked = false;
    --size_;
  }
  WaitNode* pop_front() noexcept {
    WaitNode* n = head_;
    if (n) remove(n);
    return n;
  }
  // Pops nodes until one's waiter is woken with `why` (marking it fired); null if none could be.
  WaitNode* wake_one(WakeReason why, WakeQueue& q) noexcept {
    while (WaitNode* n = pop_front()) {
      if (n->waiter->wake(why, &q)) {
        n->fired = true;
        return n;
      }
    }
    return nullptr;
  }
  // Wakes every node (those already woken by something else are just dropped). Returns how many
  // this call woke.
  std::size_t wake_all(WakeReason why, WakeQueue& q) noexcept {
    std::size_t k = 0;
    while (WaitNode* n = pop_front()) {
      if (n->waiter->wake(why, &q)) {
        n->fired = true;
        ++k;
      }
    }
    return k;
  }

 private:
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
  std::size_t size_ = 0;
};

// One operation that may have to wait (a channel receive or send, a Notify wait...), in the shape
// that lets several of them be waited for at once (weft::Select) with exactly one taking effect.
// Each implementation guards its state with its primitive's lock:
//  - try_now(): completes the operation if it can right now; true if it did.
//  - enroll(w): w is armed. If the operation could complete now, it first wins `w` itself
//    (w.wake()) and only then completes or marks its node `fired` for withdraw() to complete; if
//    that self-wake fails, some other operation already won and this one does nothing. Otherwise
//    it links a node with `w` so that a notifier can complete it (notifier: pop node, wake, then
//    grant). Must not throw. withdraw() always follows: between them the effect happens once.
//  - withdraw(): unlinks the node if still linked; true if the operation completed (its result
//    is then in the op). A node that fired without completing (e.g. a wake to retry) returns
//    false, and the wait simply tries again.
class SyncOp {
 public:
  virtual bool try_now() = 0;
  virtual void enroll(Waiter& w) noexcept = 0;
  virtual bool withdraw() noexcept = 0;
  // What a wait on this operation alone is waiting for (dumps and tools).
  virtual void note_wait(Waiter& w) const noexcept { w.note(kWaitSelect, std::uint64_t{1}); }

 protected:
  ~SyncOp() = default;
};

// Waits until one of ops[0..n) completes and returns its index; returns -1 if `deadline` passed
// first (never before it). Throws Cancelled (then no op took effect). With `rotate`, the order in
// which ready ops are tried starts at a random index, so a ready op cannot starve the others.
// `tried` says the caller already passed the cancellation point and found no op ready (the first
// round then goes straight to enrolling).
int wait_any(SyncOp* const* ops, std::size_t n, const SyncClock::time_point* deadline, bool rotate,
             bool tried = false);
// An operation that can also do the protocol's first step in one locked section:
// try_or_enroll(w) completes the operation if it can (true), else arms `w` and links a node for a
// notifier (false) — "lock; complete, or arm and link; unlock" — where try_now() then enroll()
// take the lock twice and look twice.
template <class Op>
concept FusedSyncOp = requires(Op& op, Waiter& w) {
  { op.try_or_enroll(w) } -> std::same_as<bool>;
};

// The body of a try_or_enroll: under `lock`, `complete(wq)` (true: done), else arm `w` and link
// `node` (already pointing at `w`) into `list` — armed before it is published, so no notifier can
// see the node of a wait that has not begun. `wq` flushes after the unlock, as everywhere.
template <class Complete>
bool complete_or_link(SpinLock& lock, WaitList& list, WaitNode& node, Waiter& w, Complete&& complete) {
  WakeQueue wq;
  std::lock_guard lk(lock);
  if (complete(wq)) return true;
  w.arm();
  list.push_back(&node);
  return false;
}

// Single-operation form: wait_any's loop for n == 1, inline, so that the operation's try_now,
// enroll and withdraw are direct calls the compiler can inline (every Op is a final class) — a
// channel's blocking send or receive spends no virtual call, enrollment loop or select
// bookkeeping (ping_pong: ~170 instructions per round trip; bench/RESULTS.md, eighth session).
// A FusedSyncOp without a deadline takes its channel's lock once to find it must wait and link
// itself (ping_pong, tenth session). Returns true once the operation completed, false if
// `deadline` passed first (never before it); throws Cancelled (the operation then had no effect).
template <class Op>
bool wait_one(Op& op, const SyncClock::time_point* deadline = nullptr) {
  static_assert(std::is_final_v<Op>, "wait_one devirtualises Op's calls: Op must be final");
  sync_cancel_point();
  constexpr bool kFused = FusedSyncOp<Op>;
  // Unfused, or with a deadline: try first, then give up if the deadline passed (so an expired
  // deadline never blocks, and an operation that can complete does).
  const bool try_first = !kFused || deadline;
  if (try_first && op.try_now()) return true;
  Waiter w;
  for (bool first = true;; first = false) {
    if (!first) {
      w.cancel_point();
      if (try_first && op.try_now()) return true;
    }
    if (deadline && SyncClock::now() >= *deadline) return false;
    op.note_wait(w);
    if constexpr (kFused) {
      if (op.try_or_enroll(w)) return true;
    } else {
      w.arm();
      op.enroll(w);
    }
    const WakeReason r = w.block(deadline);
    if (op.withdraw()) return true;
    if (r == WakeReason::Timeout) return false;
    if (r == WakeReason::Cancel) w.throw_cancelled();
    // Notify without completing: a wake to retry (see wait_any). Nothing took effect.
  }
}

// Deadline helpers shared by the *_for / *_until members.
inline SyncClock::time_point deadline_after(std::chrono::nanoseconds d) noexcept {
  const auto now = SyncClock::now();
  if (d > SyncClock::time_point::max() - now) return SyncClock::time_point::max();
  return now + d;
}
template <class Clock, class Duration>
SyncClock::time_point to_sync_deadline(const std::chrono::time_point<Clock, Duration>& t) {
  if constexpr (std::is_same_v<Clock, std::chrono::steady_clock> || std::is_same_v<Clock, SyncClock>) {
    return std::chrono::time_point_cast<SyncClock::duration>(t);
  } else {
    return deadline_after(std::chrono::ceil<std::chrono::nanoseconds>(t - Clock::now()));
  }
}

}  // namespace weft::detail

WEFT_API_END
