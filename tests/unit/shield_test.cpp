// weft::shield (weft/shield.hpp): cancellation is deferred while f runs — its suspension points
// complete normally — and delivered at the first suspension point after it. Applies to abort,
// timeouts and tokens alike; shields nest.
#include "cancel_util.hpp"

#include <weft/cancellation_token.hpp>
#include <weft/channel_select.hpp>
#include <weft/mpsc.hpp>
#include <weft/mutex.hpp>
#include <weft/shield.hpp>
#include <weft/timeout.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using weft_test::CountedGuard;
using weft_test::GuardCounter;
using weft_test::wait_for;

// The first suspension point after the shield, of each kind: each must deliver the cancellation.
struct After {
  const char* name;
  std::function<void()> point;
};

std::vector<After> after_points() {
  return {
      {"yield_now", [] { weft::yield_now(); }},
      {"sleep(0)", [] { weft::sleep(0ns); }},
      {"sleep", [] { weft::sleep(1h); }},
      {"check_cancelled", [] { weft::this_fiber::check_cancelled(); }},
      {"join", [] {
         auto h = weft::spawn([] { weft::sleep(1h); });
         struct AbortOnExit {
           weft::JoinHandle<void>& h;
           ~AbortOnExit() { h.abort(); }
         } stop{h};
         (void)h.join();
       }},
  };
}

TEST_CASE("shielded cleanup completes; cancellation arrives at the first suspension point after it") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    for (const After& a : after_points()) {
      const std::string name = a.name;
      CAPTURE(name);
      GuardCounter guards;
      std::atomic<bool> in_shield{false}, aborted{false};
      std::atomic<int> cleanup_steps{0}, after_shield{0}, after_point{0};
      std::atomic<bool> saw_cancel_requested{false};
      auto h = rt.spawn([&] {
        CountedGuard g(guards);
        weft::shield([&] {
          in_shield.store(true);
          // Every suspension point in here completes although the fiber is cancelled.
          while (!aborted.load()) weft::yield_now();
          saw_cancel_requested.store(weft::this_fiber::is_cancelled());
          weft::sleep(2ms);
          cleanup_steps.fetch_add(1);
          weft::yield_now();
          cleanup_steps.fetch_add(1);
          auto child = weft::spawn([] {
            weft::sleep(1ms);
            return 5;
          });
          if (child.join().value() == 5) cleanup_steps.fetch_add(1);
          weft::this_fiber::check_cancelled();
          cleanup_steps.fetch_add(1);
        });
        after_shield.fetch_add(1);  // plain code between the shield and the next point runs
        a.point();
        after_point.fetch_add(1);
      });
      CHECK(wait_for([&] { return in_shield.load(); }));
      h.abort();
      aborted.store(true);
      weft::Result<void> r = h.join();
      CHECK((!r && r.error().is_cancelled()));
      CHECK(saw_cancel_requested.load());
      CHECK(cleanup_steps.load() == 4);
      CHECK(after_shield.load() == 1);
      CHECK(after_point.load() == 0);
      CHECK(guards.balanced());
    }
  });
}

TEST_CASE("abort does not cut a shielded sleep short") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    std::atomic<bool> in_shield{false};
    std::atomic<long> slept_us{0};
    auto h = rt.spawn([&] {
      weft::shield([&] {
        const auto t0 = Clock::now();
        in_shield.store(true);
        weft::sleep(20ms);
        slept_us.store(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
      });
      weft::sleep(1h);
    });
    CHECK(wait_for([&] { return in_shield.load(); }));
    h.abort();
    CHECK(!h.join().has_value());
    CHECK(slept_us.load() >= 20'000);
  });
}

TEST_CASE("shields nest: only leaving the outermost one lets the cancellation through") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    std::atomic<bool> in_inner{false}, go{false};
    std::atomic<int> between{0}, after{0};
    auto h = rt.spawn([&] {
      weft::shield([&] {
        weft::shield([&] {
          in_inner.store(true);
          while (!go.load()) weft::yield_now();
        });
        weft::yield_now();  // still inside the outer shield: completes
        weft::sleep(1ms);
        between.fetch_add(1);
      });
      weft::yield_now();
      after.fetch_add(1);
    });
    CHECK(wait_for([&] { return in_inner.load(); }));
    h.abort();
    go.store(true);
    CHECK(!h.join().has_value());
    CHECK(between.load() == 1);
    CHECK(after.load() == 0);
  });
}

TEST_CASE("a timeout expiring inside a shield is delivered right after it") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      bool shield_done = false, after_point = false;
      const auto t0 = Clock::now();
      bool finished = weft::timeout(2ms, [&] {
        weft::shield([&] {
          weft::sleep(20ms);  // outlives the deadline, and is not cut short
          shield_done = true;
        });
        weft::yield_now();
        after_point = true;
      });
      CHECK_FALSE(finished);
      CHECK(shield_done);
      CHECK_FALSE(after_point);
      CHECK(Clock::now() - t0 >= 20ms);
    });
  });
}

TEST_CASE("a token cancelled during a shield inside run_until_cancelled is delivered right after it") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::CancellationToken token;
    std::atomic<bool> in_shield{false};
    std::atomic<int> shield_done{0}, after_point{0}, returned_false{0};
    auto h = rt.spawn([&] {
      bool finished = token.run_until_cancelled([&] {
        weft::shield([&] {
          in_shield.store(true);
          while (!token.is_cancelled()) weft::yield_now();
          weft::sleep(1ms);
          shield_done.fetch_add(1);
        });
        weft::sleep(1h);
        after_point.fetch_add(1);
      });
      if (!finished) returned_false.fetch_add(1);
    });
    CHECK(wait_for([&] { return in_shield.load(); }));
    token.cancel();
    CHECK(h.join().has_value());  // the fiber itself was never cancelled
    CHECK(shield_done.load() == 1);
    CHECK(after_point.load() == 0);
    CHECK(returned_false.load() == 1);
  });
}

// Like a shield, a catch block defers cancellation (doc/design.md §2: never thrown while handling an
// exception): cleanup in a handler may suspend; the cancellation comes after the handler is left.
TEST_CASE("inside a catch block suspension points complete; cancellation comes after the handler") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    std::atomic<bool> in_handler{false}, aborted{false};
    std::atomic<int> handler_done{0}, after{0};
    auto h = rt.spawn([&] {
      try {
        throw std::runtime_error("failure to clean up after");
      } catch (const std::exception&) {
        in_handler.store(true);
        while (!aborted.load()) weft::yield_now();
        weft::sleep(1ms);
        (void)weft::spawn([] { return 1; }).join();
        handler_done.fetch_add(1);
      }
      weft::yield_now();  // the first suspension point outside the handler
      after.fetch_add(1);
    });
    CHECK(wait_for([&] { return in_handler.load(); }));
    h.abort();
    aborted.store(true);
    weft::Result<void> r = h.join();
    CHECK((!r && r.error().is_cancelled()));
    CHECK(handler_done.load() == 1);
    CHECK(after.load() == 0);
  });
}

TEST_CASE("shield returns f's value and forwards its exceptions; from a plain thread f just runs") {
  CHECK(weft::shield([] { return 11; }) == 11);
  weft::Runtime rt = weft_test::make_runtime(1);
  rt.block_on([] {
    CHECK(weft::shield([] {
      weft::yield_now();
      return 12;
    }) == 12);
    CHECK_THROWS_AS(weft::shield([]() -> int { throw std::logic_error("x"); }), std::logic_error);
    weft::yield_now();  // the shield depth was restored on the exception path: nothing pending here
  });
}

}  // namespace

// What timeout.hpp and shield.hpp recommend for bounded cleanup: deadline-taking operations still
// time out inside a shield, also after the fiber was aborted.
TEST_CASE("inside a shield, try_lock_for and a Select timeout still time out") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Mutex mu;
      mu.lock();
      auto [tx, rx] = weft::mpsc::channel<int>(1);
      std::atomic<bool> in_shield{false};
      weft::JoinHandle<int> h = weft::spawn([&, rx = std::move(rx)]() mutable {
        return weft::shield([&] {
          in_shield = true;
          int outcomes = 0;
          if (!mu.try_lock_for(5ms)) outcomes += 1;  // held by the parent: times out
          bool timed_out = false;
          weft::Select().recv(rx, [](std::optional<int>) {}).timeout(5ms, [&] { timed_out = true; }).run();
          if (timed_out) outcomes += 10;
          return outcomes;
        });
      });
      while (!in_shield.load()) weft::yield_now();
      h.abort();  // deferred by the shield: the bounded waits still end by their own deadlines
      weft::Result<int> r = h.join();
      mu.unlock();
      // The fiber finished inside the shield; its value is kept (abort came too late to matter).
      REQUIRE(r.has_value());
      CHECK(r.value() == 11);
      (void)tx;
    });
  });
}
