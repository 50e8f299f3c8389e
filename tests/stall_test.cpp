// The stall watchdog: fires for a fiber that busy-loops 300 ms, stays silent for one that yields.
#include "test_util.hpp"

#include <weft/stall.hpp>

#include <chrono>
#include <mutex>

using namespace std::chrono_literals;

volatile int stall_test_sink = 0;

[[gnu::noinline]] void busy_loop_without_suspending(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) stall_test_sink = stall_test_sink + 1;
}

[[gnu::noinline]] void busy_loop_yielding(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) weft::yield_now();
}

TEST_CASE("the stall detector reports a fiber that runs 300 ms without suspending") {
  for (unsigned workers : {1u, 2u}) {
    CAPTURE(workers);
    weft::Runtime rt = weft::Runtime::Builder().workers(workers).build();
    std::mutex mu;
    std::vector<weft::StallReport> reports;
    {
      weft::StallDetector watchdog(rt.handle(), {.threshold = 100ms, .on_stall = [&](const weft::StallReport& r) {
                                                   std::lock_guard lk(mu);
                                                   reports.push_back(r);
                                                 }});
      auto h = rt.spawn(weft::Options{.name = "hog"}, [] { busy_loop_without_suspending(300ms); });
      CHECK(h.join());
    }
    std::lock_guard lk(mu);
    REQUIRE(reports.size() == 1);
    const auto& r = reports[0];
    CHECK(r.name == "hog");
    CHECK(weft_test::contains(r.spawn_site, "stall_test.cpp"));
    CHECK(r.running_for >= 100ms);
    CHECK(r.worker < workers);
    bool found = false;
    for (auto& line : r.backtrace) found = found || weft_test::contains(line, "busy_loop_without_suspending");
#if defined(__SANITIZE_THREAD__)
    // TSan defers asynchronous signals to its own safe points, which a loop may not reach in time:
    // then the report comes without a backtrace.
    if (!r.backtrace.empty()) CHECK(found);
#else
    CHECK(found);
#endif
  }
}

TEST_CASE("the stall detector stays silent for a fiber that yields") {
  weft::Runtime rt = weft::Runtime::Builder().workers(1).build();
  std::atomic<int> reported{0};
  weft::StallDetector watchdog(rt.handle(), {.threshold = 100ms, .on_stall = [&](const weft::StallReport&) { ++reported; }});
  auto h = rt.spawn(weft::Options{.name = "polite"}, [] { busy_loop_yielding(300ms); });
  CHECK(h.join());
  CHECK(watchdog.reports() == 0);
  CHECK(reported == 0);
}

TEST_CASE("the stall detector rejects bad options") {
  weft::Runtime rt = weft::Runtime::Builder().workers(1).build();
  CHECK_THROWS_AS(weft::StallDetector(rt.handle(), {.threshold = 0ms, .on_stall = {}, .signal = 0}), weft::Error);
}
