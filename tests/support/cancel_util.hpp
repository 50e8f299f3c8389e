// Helpers for the cancellation and structured-concurrency tests (issue 3): RAII guard counters that
// prove a stack was unwound, and bounded handshakes that work in fibers and on plain threads.
#pragma once

#include "test_util.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace weft_test {

#if WEFT_TSAN
inline constexpr bool kTsan = true;
#else
inline constexpr bool kTsan = false;
#endif

// For counts of *fibers created*: scaled() as usual, and a further tenth under ThreadSanitizer,
// where every new fiber costs ~3 ms on this machine kind (__tsan_create_fiber zero-fills a large
// per-fiber state: 78% of a spawn+join loop's time is that memset and its page faults). Nothing is
// skipped under TSan; the stress tests only run shorter.
inline long fibers_scaled(long n, long min = 1) {
  const long r = scaled(n, min);
  return kTsan ? std::max(r / 10, min) : r;
}

// Counts guards made and destroyed. created == destroyed proves every guard on every cancelled
// stack ran its destructor (a leaked or abandoned stack would leave destroyed short).
struct GuardCounter {
  std::atomic<long> created{0};
  std::atomic<long> destroyed{0};
  long live() const { return created.load() - destroyed.load(); }
  bool balanced() const { return created.load() == destroyed.load(); }
};

struct CountedGuard {
  GuardCounter& c;
  explicit CountedGuard(GuardCounter& counter) : c(counter) { c.created.fetch_add(1); }
  ~CountedGuard() { c.destroyed.fetch_add(1); }
  CountedGuard(const CountedGuard&) = delete;
  CountedGuard& operator=(const CountedGuard&) = delete;
};

// Waits until `pred()` holds: yield_now-polling inside a fiber (a suspension point, so a cancelled
// waiter unwinds), thread-yield polling on a plain thread. The wall-clock bound only turns a hang
// into a failed CHECK; it never orders anything. Returns whether `pred` became true.
template <class Pred>
bool wait_for(Pred&& pred, std::chrono::seconds bound = std::chrono::seconds(60)) {
  const auto give_up = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    if (weft::this_fiber::in_fiber()) {
      weft::yield_now();
    } else {
      std::this_thread::yield();
    }
  }
  return true;
}

// wait_for for fibers that may be cancelled while waiting. Never wrap a suspension point in CHECK
// inside such a fiber: doctest's CHECK catches *every* exception its expression throws — Cancelled
// included — records a failure and swallows it.
template <class Pred>
void expect_eventually(Pred&& pred, const char* what) {
  if (!wait_for(std::forward<Pred>(pred))) FAIL_CHECK(what);
}

// A thread-safe log of events, to check their order.
struct EventLog {
  std::mutex mu;
  std::vector<std::string> events;
  void add(std::string e) {
    std::lock_guard lk(mu);
    events.push_back(std::move(e));
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lk(mu);
    return events;
  }
};

// Captures the reason of a Cancelled passing through, then lets it go on.
template <class F>
void note_cancel_reason(std::atomic<int>& reason, F&& f) {
  try {
    f();
  } catch (const weft::Cancelled& c) {
    reason.store(static_cast<int>(c.reason()));
    throw;
  }
}

inline int reason_code(weft::Cancelled::Reason r) { return static_cast<int>(r); }

}  // namespace weft_test
