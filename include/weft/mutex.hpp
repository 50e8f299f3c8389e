/// @file
/// weft/mutex.hpp — a mutex that suspends the waiting fiber, not its worker thread.
///
/// @verbatim
///   struct SharedState { int counter = 0; std::vector<std::string> results; };
///   SharedState state;
///   weft::Mutex mu;
///   std::vector<weft::JoinHandle<void>> hs;
///   for (int i = 0; i < 10; ++i) {
///     hs.push_back(weft::spawn([&, i] {
///       std::scoped_lock lk(mu);                  // std::lock_guard / std::unique_lock work too
///       state.counter += 1;
///       state.results.push_back("fiber " + std::to_string(i));
///     }));
///   }
///   for (auto& h : hs) h.join();
///
///   weft::Synchronized<std::vector<int>> log;      // the value-owning form
///   log.lock()->push_back(1);                      // locked for the full expression
///   log.with_lock([](std::vector<int>& v) { v.push_back(2); });
///
/// weft::Mutex meets the standard Lockable and TimedLockable requirements. lock() and the timed
/// forms are suspension points: they throw weft::Cancelled if the fiber is cancelled (also when the
/// lock is free — cancellation is level-triggered), and a lock() that throws does not hold the lock.
/// try_lock() never suspends and never throws. It works from plain threads too (they block).
///
/// Ownership: the fiber (or plain thread) that locked it must unlock it. lock() by the fiber that
/// already holds it throws weft::Error (it is not recursive: that would wait for itself forever);
/// unlock() by anyone else, or of a mutex that is not locked, is a fatal error that names the fiber
/// (unlock() is noexcept, as Lockable requires). holder() tells who holds it (dumps use it).
///
/// Fairness: *barging with a starvation guard* (as Go's sync.Mutex). unlock() releases the lock and
/// wakes one waiter, but a running fiber may take the lock first; a woken waiter that loses the race
/// goes back to the *front* of the queue, and once it has waited more than 1 ms in total, the lock is
/// handed to it directly (no barging while such a waiter exists). Why: with strict FIFO hand-off,
/// every contended unlock costs a fiber switch — the unlocker, which would have re-locked at once,
/// must queue behind the waiter it just handed the lock to — and once a queue forms it never drains
/// (a convoy). Measured on the 2-vCPU VM, release build, 2 workers, medians of 5 reps (ranges over
/// three runs):
///   doc/bench.md mutex_contended (1000 fibers x 1000 lock/unlock):
///     barging 5-8 ns/lock (worst single rep 24);  FIFO 6-140 ns/lock, single reps 330-540 ns/lock
///     whenever both workers contend and a convoy forms (Boost.Fiber's fibers::mutex: ~110)
///   the same with 1% of critical sections yielding while holding the lock (a queue always forms):
///     barging 18-19 ns/lock;  FIFO 540-580 ns/lock
/// so barging is the default; weft::Mutex(weft::Mutex::fair) gives strict FIFO hand-off when order
/// matters more than throughput (Tokio's Mutex is FIFO; Go's and parking_lot's barge).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/waiter.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <utility>

WEFT_API_BEGIN

namespace weft {

/// A mutex that suspends a waiting fiber instead of blocking its worker (plain threads block).
/// Barging by default, FIFO with Mutex::fair; see weft/mutex.hpp for the measurements behind that.
class Mutex {
 public:
  struct Fair {};
  /// Tag for a mutex with strict FIFO hand-off (see above).
  static constexpr Fair fair{};

  Mutex() noexcept = default;
  /// A mutex with strict FIFO hand-off: `weft::Mutex m(weft::Mutex::fair);`.
  explicit Mutex(Fair) noexcept : fair_(true) {}
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  /// Destroying a mutex that is locked or has waiters is a fatal error (not undefined behaviour, as it
  /// is for std::mutex): it prints what happened to stderr and aborts, since the later unlock() or
  /// the waiters' wake-ups would use freed memory.
  ~Mutex() {
    if (state_.load(std::memory_order_acquire) != 0) destroyed_in_use();
  }

  /// Suspends until the lock is acquired. Throws weft::Cancelled (then the lock is not held), or
  /// weft::Error if the caller already holds it.
  void lock() {
    detail::sync_cancel_point();
    const void* me = detail::lock_owner_token();
    if (!try_acquire()) lock_slow(true, nullptr, me);
    owner_.store(me, std::memory_order_relaxed);
  }
  /// Acquires the lock if it is free right now. Never suspends, never throws.
  bool try_lock() noexcept {
    if (!try_acquire()) return false;
    owner_.store(detail::lock_owner_token(), std::memory_order_relaxed);
    return true;
  }
  /// Waits at most `d` / until `t`; returns whether the lock is now held. Throws weft::Cancelled.
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return try_lock_until(detail::deadline_after(std::chrono::ceil<std::chrono::nanoseconds>(d)));
  }
  /// As try_lock_for, until the time point `t` of any clock.
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& t) {
    detail::sync_cancel_point();
    const void* me = detail::lock_owner_token();
    const auto deadline = detail::to_sync_deadline(t);
    if (!try_acquire() && !lock_slow(true, &deadline, me)) return false;
    owner_.store(me, std::memory_order_relaxed);
    return true;
  }
  /// Releases the lock; the caller must be the fiber (or thread) that locked it.
  void unlock() noexcept {
    if (owner_.load(std::memory_order_relaxed) != detail::lock_owner_token()) [[unlikely]] unlock_by_non_owner();
    owner_.store(nullptr, std::memory_order_relaxed);
    std::uint32_t s = kLocked;
    if (state_.compare_exchange_strong(s, 0, std::memory_order_release, std::memory_order_relaxed)) return;
    unlock_slow();
  }
  /// Who holds the lock: the fiber's (detail) record, a plain thread's token, or null when free.
  /// A snapshot for diagnostics; it may change at once.
  const void* holder() const noexcept { return owner_.load(std::memory_order_relaxed); }

  /// Not a suspension point: acquires even if the fiber is cancelled (CondVar re-locks with it,
  /// because a wait must return with the lock held, also when it throws).
  void lock_uncancellable() noexcept {
    const void* me = detail::lock_owner_token();
    if (!try_acquire()) lock_slow(false, nullptr, me);
    owner_.store(me, std::memory_order_relaxed);
  }

 private:
  // state_ bits. kLocked: held. kWaiters: the queue is non-empty. kWoken: an unlocker woke a waiter
  // that has not retried yet (so others do not wake a second one). kHandoff: the front waiter is
  // starving (or the mutex is fair): unlock passes ownership to it, and nobody barges.
  static constexpr std::uint32_t kLocked = 1, kWaiters = 2, kWoken = 4, kHandoff = 8;

  bool try_acquire() noexcept {
    std::uint32_t s = 0;
    if (state_.compare_exchange_strong(s, kLocked, std::memory_order_acquire, std::memory_order_relaxed)) return true;
    while (!(s & (kLocked | kHandoff))) {
      if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire, std::memory_order_relaxed)) return true;
    }
    return false;
  }
  // `me`: the caller's lock_owner_token(). Acquires without setting owner_ (the caller does).
  bool lock_slow(bool cancellable, const detail::SyncClock::time_point* deadline, const void* me);
  void unlock_slow() noexcept;
  [[noreturn]] void unlock_by_non_owner() const noexcept;
  void update_queue_bits() noexcept;  // under q_lock_
  [[noreturn]] void destroyed_in_use() const noexcept;

  std::atomic<std::uint32_t> state_{0};
  // The holder's lock_owner_token() (null when free). Written only by the holder, after acquiring
  // and before releasing; read by unlock() and the recursion check, which only compare it with
  // their own token, and by diagnostics. The holder always sees its own token; a misuser racing a
  // new holder may see a stale value, so the misuse checks are reliable only in the sequential
  // cases (the common ones: unlocking twice, unlocking another fiber's lock, locking recursively).
  std::atomic<const void*> owner_{nullptr};
  bool fair_ = false;
  detail::SpinLock q_lock_;  // guards queue_ and the kWaiters/kHandoff transitions
  detail::WaitList queue_;
};

/// A value that can only be reached with its mutex held (Rust's Mutex<T>, folly::Synchronized).
template <class T>
class Synchronized {
 public:
  /// Pointer-like access that holds the lock until it is destroyed.
  template <class U>
  class Locked {
   public:
    /// Locks `m` (suspending until it is free) to reach `v`.
    Locked(Mutex& m, U& v) : lk_(m), v_(&v) {}
    /// The protected value.
    U* operator->() const noexcept { return v_; }
    /// The protected value.
    U& operator*() const noexcept { return *v_; }

   private:
    std::unique_lock<Mutex> lk_;
    U* v_;
  };

  Synchronized() = default;
  /// Constructs the value from `a...`.
  template <class... A>
  explicit Synchronized(std::in_place_t, A&&... a) : value_(std::forward<A>(a)...) {}
  /// Holds `v`.
  explicit Synchronized(T v) : value_(std::move(v)) {}

  /// Suspends until locked (throws weft::Cancelled like Mutex::lock).
  Locked<T> lock() { return Locked<T>(mu_, value_); }
  /// Suspends until locked; read-only access.
  Locked<const T> lock() const { return Locked<const T>(mu_, value_); }
  /// Runs fn(T&) with the lock held and returns its result.
  template <class F>
  decltype(auto) with_lock(F&& fn) {
    std::scoped_lock lk(mu_);
    return std::forward<F>(fn)(value_);
  }
  /// The mutex itself, e.g. for a weft::CondVar.
  Mutex& mutex() const noexcept { return mu_; }
  /// Unsynchronised access: only when no other fiber or thread can reach this object.
  T& unsafe_get() noexcept { return value_; }

 private:
  mutable Mutex mu_;
  T value_{};
};

}  // namespace weft

WEFT_API_END
