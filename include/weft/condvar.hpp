// weft/condvar.hpp — a condition variable for weft::Mutex (suspends fibers, blocks threads).
//
//   weft::Mutex mu;
//   weft::CondVar cv;
//   std::deque<int> queue;
//   auto consumer = weft::spawn([&] {
//     std::unique_lock lk(mu);
//     cv.wait(lk, [&] { return !queue.empty(); });  // unlocks while waiting, relocks before return
//     std::printf("got %d\n", queue.front());
//   });
//   {
//     std::lock_guard lk(mu);
//     queue.push_back(7);
//   }
//   cv.notify_one();
//   consumer.join().value();
//
// The std::condition_variable interface over std::unique_lock<weft::Mutex>: wait, wait(pred),
// wait_for, wait_until (with and without a predicate), notify_one, notify_all. Waits are FIFO and
// suspension points: they throw weft::Cancelled — and, like std::condition_variable, return or
// throw with the mutex locked again (the relock itself is not cancellable, so that promise holds).
// Spurious wake-ups do not happen, but use the predicate forms anyway: another fiber may change
// the state between the notify and the relock. Cancel-safe: a notify_one() that reaches a waiter
// being cancelled or timing out passes to the next waiter, so no wake-up is lost.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/chrono.hpp>
#include <weft/detail/waiter.hpp>
#include <weft/mutex.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>

WEFT_API_BEGIN

namespace weft {

class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;
  // Destroying a CondVar with waiters is undefined.
  ~CondVar() = default;

  void notify_one() noexcept;
  void notify_all() noexcept;

  void wait(std::unique_lock<Mutex>& lk) { wait_impl(lk, nullptr); }
  template <class Pred>
  void wait(std::unique_lock<Mutex>& lk, Pred pred) {
    while (!pred()) wait(lk);
  }

  template <class Clock, class Duration>
  std::cv_status wait_until(std::unique_lock<Mutex>& lk, const std::chrono::time_point<Clock, Duration>& t) {
    const auto d = detail::to_steady_deadline(t);
    return wait_impl(lk, &d);
  }
  template <class Clock, class Duration, class Pred>
  bool wait_until(std::unique_lock<Mutex>& lk, const std::chrono::time_point<Clock, Duration>& t, Pred pred) {
    const auto d = detail::to_steady_deadline(t);
    while (!pred()) {
      if (wait_impl(lk, &d) == std::cv_status::timeout) return pred();
    }
    return true;
  }
  template <class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<Mutex>& lk, const std::chrono::duration<Rep, Period>& d) {
    return wait_until(lk, detail::steady_deadline_after(d));
  }
  template <class Rep, class Period, class Pred>
  bool wait_for(std::unique_lock<Mutex>& lk, const std::chrono::duration<Rep, Period>& d, Pred pred) {
    return wait_until(lk, detail::steady_deadline_after(d), std::move(pred));
  }

 private:
  std::cv_status wait_impl(std::unique_lock<Mutex>& lk, const detail::SyncClock::time_point* deadline);

  detail::SpinLock lock_;
  detail::WaitList waiters_;
};

}  // namespace weft

WEFT_API_END
