/// @file
/// weft/condvar.hpp — a condition variable for weft::Mutex (suspends fibers, blocks threads).
///
/// @verbatim
///   weft::Mutex mu;
///   weft::CondVar cv;
///   std::deque<int> queue;
///   auto consumer = weft::spawn([&] {
///     std::unique_lock lk(mu);
///     cv.wait(lk, [&] { return !queue.empty(); });  // unlocks while waiting, relocks before return
///     std::printf("got %d\n", queue.front());
///   });
///   {
///     std::lock_guard lk(mu);
///     queue.push_back(7);
///   }
///   cv.notify_one();
///   consumer.join().value();
///
/// The std::condition_variable interface over std::unique_lock<weft::Mutex>: wait, wait(pred),
/// wait_for, wait_until (with and without a predicate), notify_one, notify_all. Like
/// std::condition_variable_any, every wait also takes any other lock with lock() and unlock()
/// (a std::unique_lock<std::mutex>, a weft::RwLock's write guard, a weft::Mutex itself...):
///
///   std::mutex m;                                  // state shared with plain threads
///   std::unique_lock lk(m);
///   cv.wait(lk, [&] { return ready; });           // a fiber waits; a thread notifies
///
/// Such a lock is unlocked after the waiter is enrolled and locked again before the wait returns or
/// throws, inside a shield (weft/shield.hpp), so a weft lock's relock is not cancellable either; a
/// std::mutex relock blocks the worker thread while another thread holds it, so keep those critical
/// sections short, and never hold a std::mutex across a suspension point (the fiber may resume on
/// another thread, and std::mutex must be unlocked by the thread that locked it). Waits are FIFO and
/// suspension points: they throw weft::Cancelled — and, like std::condition_variable, return or
/// throw with the mutex locked again (the relock itself is not cancellable, so that promise holds).
/// Spurious wake-ups do not happen, but use the predicate forms anyway: another fiber may change
/// the state between the notify and the relock. Cancel-safe: a notify_one() that reaches a waiter
/// being cancelled or timing out passes to the next waiter, so no wake-up is lost.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/chrono.hpp>
#include <weft/detail/cancel_scope.hpp>
#include <weft/detail/waiter.hpp>
#include <weft/error.hpp>
#include <weft/mutex.hpp>

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <mutex>

WEFT_API_BEGIN

namespace weft {

namespace detail {
// What CondVar's any-lock waits accept: something with lock() and unlock() that is not the
// std::unique_lock<weft::Mutex> of the main overloads.
template <class L>
concept cv_lockable = !std::same_as<L, std::unique_lock<Mutex>> && requires(L& l) {
  l.lock();
  l.unlock();
};
}  // namespace detail

/// A condition variable for weft::Mutex (and, through the templated overloads, any lock) that
/// suspends fibers instead of blocking their workers (see weft/condvar.hpp).
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;
  /// Destroying a CondVar while fibers or threads wait on it is reported (naming the wait list)
  /// and aborts: waking them would use freed memory.
  ~CondVar() = default;

  /// Wakes one waiter, if any. Any thread; never waits.
  void notify_one() noexcept;
  /// Wakes every waiter now. Any thread; never waits.
  void notify_all() noexcept;

  /// Releases `lk`, waits for a notification, and re-locks before returning. A suspension point:
  /// throws weft::Cancelled (with `lk` locked again). Prefer the predicate forms (weft/condvar.hpp).
  void wait(std::unique_lock<Mutex>& lk) { wait_impl(lk, nullptr); }
  /// Waits until pred() is true (checked with the lock held; no wait if it already is).
  template <class Pred>
  void wait(std::unique_lock<Mutex>& lk, Pred pred) {
    while (!pred()) wait(lk);
  }

  /// As wait(lk), giving up at `t` (any clock): std::cv_status::timeout then.
  template <class Clock, class Duration>
  std::cv_status wait_until(std::unique_lock<Mutex>& lk, const std::chrono::time_point<Clock, Duration>& t) {
    const auto d = detail::to_steady_deadline(t);
    return wait_impl(lk, &d);
  }
  /// Waits until pred() is true or `t` passes; returns pred() at the end.
  template <class Clock, class Duration, class Pred>
  bool wait_until(std::unique_lock<Mutex>& lk, const std::chrono::time_point<Clock, Duration>& t, Pred pred) {
    const auto d = detail::to_steady_deadline(t);
    while (!pred()) {
      if (wait_impl(lk, &d) == std::cv_status::timeout) return pred();
    }
    return true;
  }
  /// As wait(lk), giving up after `d` (rounded up): std::cv_status::timeout then.
  template <class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<Mutex>& lk, const std::chrono::duration<Rep, Period>& d) {
    return wait_until(lk, detail::steady_deadline_after(d));
  }
  /// Waits until pred() is true or `d` has passed; returns pred() at the end.
  template <class Rep, class Period, class Pred>
  bool wait_for(std::unique_lock<Mutex>& lk, const std::chrono::duration<Rep, Period>& d, Pred pred) {
    return wait_until(lk, detail::steady_deadline_after(d), std::move(pred));
  }

  /// The same waits over any other lock (std::condition_variable_any's interface).
  template <detail::cv_lockable L>
  void wait(L& lk) { wait_any(lk, nullptr); }
  /// As wait(lk, pred) for another lock type.
  template <detail::cv_lockable L, class Pred>
  void wait(L& lk, Pred pred) {
    while (!pred()) wait(lk);
  }
  /// As wait_until(lk, t) for another lock type.
  template <detail::cv_lockable L, class Clock, class Duration>
  std::cv_status wait_until(L& lk, const std::chrono::time_point<Clock, Duration>& t) {
    const auto d = detail::to_steady_deadline(t);
    return wait_any(lk, &d);
  }
  /// As wait_until(lk, t, pred) for another lock type.
  template <detail::cv_lockable L, class Clock, class Duration, class Pred>
  bool wait_until(L& lk, const std::chrono::time_point<Clock, Duration>& t, Pred pred) {
    const auto d = detail::to_steady_deadline(t);
    while (!pred()) {
      if (wait_any(lk, &d) == std::cv_status::timeout) return pred();
    }
    return true;
  }
  /// As wait_for(lk, d) for another lock type.
  template <detail::cv_lockable L, class Rep, class Period>
  std::cv_status wait_for(L& lk, const std::chrono::duration<Rep, Period>& d) {
    return wait_until(lk, detail::steady_deadline_after(d));
  }
  /// As wait_for(lk, d, pred) for another lock type.
  template <detail::cv_lockable L, class Rep, class Period, class Pred>
  bool wait_for(L& lk, const std::chrono::duration<Rep, Period>& d, Pred pred) {
    return wait_until(lk, detail::steady_deadline_after(d), std::move(pred));
  }

 private:
  std::cv_status wait_impl(std::unique_lock<Mutex>& lk, const detail::SyncClock::time_point* deadline);
  // How a wait releases and retakes the caller's lock (type-erased, so one wait path serves all).
  struct Relock {
    void* lock;
    void (*unlock)(void*);
    void (*relock)(void*);  // must not throw Cancelled (callers shield it)
    bool weft_lock;         // a weft::Mutex: fibers may switch while holding it (not thread-bound)
  };
  std::cv_status wait_relock(const Relock& r, const detail::SyncClock::time_point* deadline);
  template <class L>
  std::cv_status wait_any(L& lk, const detail::SyncClock::time_point* deadline) {
    if constexpr (requires { lk.owns_lock(); }) {
      if (!lk.owns_lock()) {
        throw Error("CondVar::wait: the lock passed does not hold its mutex; lock it before waiting (the wait "
                    "unlocks it and locks it again before returning)");
      }
    }
    const Relock r{&lk, [](void* p) { static_cast<L*>(p)->unlock(); },
                   [](void* p) {
                     detail::ShieldGuard no_cancel;  // a weft lock's relock must not throw Cancelled
                     static_cast<L*>(p)->lock();
                   },
                   false};
    return wait_relock(r, deadline);
  }

  detail::SpinLock lock_;
  detail::WaitList waiters_;
};

}  // namespace weft

WEFT_API_END
