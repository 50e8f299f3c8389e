// weft::Interval: the first tick is immediate, ticks follow a fixed schedule and never complete
// early, each MissedTickBehavior handles falling behind as documented, and a cancelled tick()
// consumes no tick. Falling behind is produced by blocking the worker thread for a while (the
// fiber does not yield): that simulates a busy loop body, it synchronises nothing.
#include "test_util.hpp"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("ticks: first immediate, then on a fixed schedule, never early; many fibers") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    std::atomic<int> early{0}, off_schedule{0}, ticks{0};
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (int f = 0; f < 50; ++f) {
        hs.push_back(weft::spawn([&, f] {
          const auto period = std::chrono::milliseconds(2 + f % 3);
          const auto t0 = Clock::now();
          weft::Interval iv(period);
          const auto first = iv.tick();
          // The first tick is scheduled at construction, so it completes at once.
          if (first < t0 || first > Clock::now()) off_schedule++;
          for (int k = 1; k <= 5; ++k) {
            const auto at = iv.tick();
            if (Clock::now() < at) early++;
            if (at != first + k * period) off_schedule++;  // Burst keeps start + k*period
            ticks++;
          }
        }));
      }
      for (auto& h : hs) CHECK(h.join().has_value());
    });
    CHECK(early.load() == 0);
    CHECK(off_schedule.load() == 0);
    CHECK(ticks.load() == 250);
  });
}

TEST_CASE("MissedTickBehavior: burst catches up, delay restarts from now, skip drops missed ticks") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    const auto p = 20ms;
    SUBCASE("burst") {
      weft::Interval iv(p, weft::MissedTickBehavior::Burst);
      const auto t0 = iv.tick();
      std::this_thread::sleep_for(75ms);  // behind by three and a half periods
      const auto before = Clock::now();
      CHECK(iv.tick() == t0 + p);
      CHECK(iv.tick() == t0 + 2 * p);
      CHECK(iv.tick() == t0 + 3 * p);
      CHECK(Clock::now() - before < p);  // the missed ones completed at once
      CHECK(iv.tick() == t0 + 4 * p);    // then back on the original schedule
      CHECK(Clock::now() >= t0 + 4 * p);
    }
    SUBCASE("delay") {
      weft::Interval iv(p, weft::MissedTickBehavior::Delay);
      const auto t0 = iv.tick();
      std::this_thread::sleep_for(75ms);
      const auto before = Clock::now();
      CHECK(iv.tick() == t0 + p);  // the late tick, at once
      const auto next = iv.tick();
      CHECK(next >= before + p);  // a full period after the late tick (burst would say t0 + 2p)
      CHECK(Clock::now() >= next);
    }
    SUBCASE("skip") {
      weft::Interval iv(p, weft::MissedTickBehavior::Skip);
      const auto t0 = iv.tick();
      std::this_thread::sleep_for(75ms);
      const auto before_late = Clock::now();
      CHECK(iv.tick() == t0 + p);       // the late tick, at once
      const auto after_late = Clock::now();
      const auto next = iv.tick();      // t0+2p and t0+3p passed: skipped
      // The first t0 + k*p strictly after the moment the late tick was taken — t0 + 4p unless
      // that moment came more than 5 ms after the sleep (a loaded sanitizer run: it did).
      CHECK((next - t0) % p == Clock::duration::zero());
      CHECK(next >= t0 + 4 * p);
      CHECK(next > before_late);
      CHECK(next <= after_late + p);
      CHECK(Clock::now() >= next);
    }
  });
}

TEST_CASE("a cancelled or timed-out tick() consumes no tick; reset moves the schedule") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Interval iv(50ms);
      const auto t0 = iv.tick();
      CHECK_FALSE(weft::timeout(5ms, [&] { (void)iv.tick(); }));
      CHECK(iv.deadline() == t0 + 50ms);  // still waiting for the same tick
      CHECK(iv.tick() == t0 + 50ms);

      // Aborted from another fiber while waiting: the same.
      auto h = weft::spawn([&] { (void)iv.tick(); });
      weft::yield_now();
      h.abort();
      auto r = h.join();
      if (!r) {
        CHECK(r.error().is_cancelled());
        CHECK(iv.deadline() == t0 + 100ms);
      }
      iv.reset();
      const auto after_reset = Clock::now();
      CHECK(iv.tick() >= after_reset + 50ms - 1ms);
      iv.reset_immediately();
      const auto quick = Clock::now();
      (void)iv.tick();
      CHECK(Clock::now() - quick < 50ms);
      iv.reset_at(std::chrono::system_clock::now() + 3ms);
      const auto at = iv.tick();
      CHECK(Clock::now() >= at);
    });
  });
}

TEST_CASE("Interval: any duration type, a start time point, from a plain thread; bad periods are errors") {
  weft::Interval iv(std::chrono::duration<double, std::milli>(1.5));
  CHECK(iv.period() == 1500us);
  const auto a = iv.tick();
  const auto b = iv.tick();
  CHECK(b - a == 1500us);
  CHECK(Clock::now() >= b);
  const auto start = Clock::now() + 10ms;
  weft::Interval later(start, 1ms);
  CHECK(later.tick() == start);
  CHECK(Clock::now() >= start);
  CHECK_THROWS_AS(weft::Interval(0ms), weft::Error);
  CHECK_THROWS_AS(weft::Interval(-5s), weft::Error);
  CHECK_THROWS_AS(weft::Interval(std::chrono::duration<double>(-0.5)), weft::Error);
  CHECK(later.missed_tick_behavior() == weft::MissedTickBehavior::Burst);
  later.set_missed_tick_behavior(weft::MissedTickBehavior::Skip);
  CHECK(later.missed_tick_behavior() == weft::MissedTickBehavior::Skip);
}
