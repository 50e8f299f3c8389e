// weft::sleep / weft::sleep_until: never return early (checked against steady_clock by every
// sleeper), suspend only the fiber (sleepers overlap), and block a plain thread as documented.
#include "test_util.hpp"

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// What the sleepers of one run report.
struct Tally {
  std::atomic<long> woke{0};
  std::atomic<long> early{0};  // returned before the requested time: the bug we look for
};

TEST_CASE("thousands of concurrent sleepers with random durations never wake early") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(10'000, 1'000));
    Tally t;
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      hs.reserve(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) {
        hs.push_back(weft::spawn([&t, i] {
          std::mt19937 rng(static_cast<unsigned>(i));
          // 0..20 ms in microseconds, so durations are not whole ticks of libev's clock.
          const auto d = std::chrono::microseconds(std::uniform_int_distribution<int>(0, 20'000)(rng));
          const auto start = Clock::now();
          weft::sleep(d);
          if (Clock::now() < start + d) t.early.fetch_add(1, std::memory_order_relaxed);
          t.woke.fetch_add(1, std::memory_order_relaxed);
        }));
      }
      for (auto& h : hs) CHECK(h.join().has_value());
    });
    CHECK(t.woke.load() == n);
    CHECK(t.early.load() == 0);
  });
}

TEST_CASE("sleep_until never returns before its deadline, also after migrating between sleeps") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(2'000, 200));
    constexpr int kRounds = 5;
    Tally t;
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < n; ++i) {
        hs.push_back(weft::spawn([&t, i] {
          std::mt19937 rng(static_cast<unsigned>(i) * 7919u);
          std::uniform_int_distribution<int> us(0, 5'000);
          for (int k = 0; k < kRounds; ++k) {
            const auto deadline = Clock::now() + std::chrono::microseconds(us(rng));
            weft::sleep_until(deadline);
            if (Clock::now() < deadline) t.early.fetch_add(1, std::memory_order_relaxed);
            t.woke.fetch_add(1, std::memory_order_relaxed);
            weft::yield_now();  // may resume on another worker; the next timer is armed there
          }
        }));
      }
      for (auto& h : hs) CHECK(h.join().has_value());
    });
    CHECK(t.woke.load() == static_cast<long>(n) * kRounds);
    CHECK(t.early.load() == 0);
  });
}

TEST_CASE("sleeping suspends only the fiber: many sleepers overlap instead of running one by one") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(1'000, 100));
    constexpr auto kNap = 50ms;
    const auto t0 = Clock::now();
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < n; ++i) hs.push_back(weft::spawn([kNap] { weft::sleep(kNap); }));
      for (auto& h : hs) CHECK(h.join().has_value());
    });
    const auto took = Clock::now() - t0;
    CHECK(took >= kNap);
    // If sleep blocked the worker thread, this would take n * 50 ms / workers (>= 5 s for 1
    // worker at the smallest scale). The bound is loose on purpose: it only catches serialisation.
    CHECK(took < kNap * n / 8);
  });
}

TEST_CASE("a sleeping fiber does not hold up the other fibers of its worker") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    // One fiber sleeps for an hour; many others must run to completion meanwhile. The sleeper is
    // then aborted so the test does not take an hour (abort is tested in cancel_test).
    const int n = static_cast<int>(weft_test::scaled(10'000, 1'000));
    auto sleeper = rt.spawn([] { weft::sleep(1h); });
    const long sum = rt.block_on([n] {
      std::vector<weft::JoinHandle<int>> hs;
      for (int i = 0; i < n; ++i) hs.push_back(weft::spawn([i] { return i % 3; }));
      long s = 0;
      for (auto& h : hs) s += *h.join();
      return s;
    });
    long expected = 0;
    for (int i = 0; i < n; ++i) expected += i % 3;
    CHECK(sum == expected);
    CHECK_FALSE(sleeper.is_finished());
    sleeper.abort();
    weft::Result<void> r = sleeper.join();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is_cancelled());
  });
}

TEST_CASE("zero, negative and past deadlines return at once") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(1'000, 100));
    const int done = rt.block_on([n] {
      int k = 0;
      for (int i = 0; i < n; ++i) {
        weft::sleep(0ns);
        weft::sleep(-5ms);
        weft::sleep_until(Clock::now() - 1s);
        weft::sleep_until(Clock::time_point::min());
        ++k;
      }
      return k;
    });
    CHECK(done == n);
  });
}

TEST_CASE("the longest durations mean 'until cancelled', not an overflowed deadline in the past") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    // A user writing sleep(nanoseconds::max()) for "forever" must not get an instant return
    // (now + max overflows if computed naively).
    std::atomic<bool> sleep_returned{false}, sleep_until_returned{false};
    auto a = rt.spawn([&] {
      weft::sleep(std::chrono::nanoseconds::max());
      sleep_returned.store(true);
    });
    auto b = rt.spawn([&] {
      weft::sleep_until(Clock::time_point::max());
      sleep_until_returned.store(true);
    });
    // A wrongly computed deadline fires at once; 20 ms is ample for that to show. (A correct
    // implementation can never fail this, whatever the timing.)
    weft::sleep(20ms);
    CHECK_FALSE(sleep_returned.load());
    CHECK_FALSE(sleep_until_returned.load());
    a.abort();
    b.abort();
    weft::Result<void> ra = a.join(), rb = b.join();
    CHECK((!ra && ra.error().is_cancelled()));
    CHECK((!rb && rb.error().is_cancelled()));
  });
}

TEST_CASE("sleep from a plain thread blocks that thread for at least the duration") {
  // The documented fallback outside fibers; no runtime involved.
  std::vector<std::thread> threads;
  std::atomic<long> early{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&early, i] {
      const auto d = std::chrono::milliseconds(5 + 5 * i);
      const auto start = Clock::now();
      weft::sleep(d);
      if (Clock::now() < start + d) early.fetch_add(1);
      const auto deadline = Clock::now() + 3ms;
      weft::sleep_until(deadline);
      if (Clock::now() < deadline) early.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  CHECK(early.load() == 0);
  CHECK_FALSE(weft::this_fiber::in_fiber());
}

}  // namespace
