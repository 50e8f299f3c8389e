// The stall watchdog: fires for a fiber that busy-loops 300 ms, stays silent for one that yields.
#include "test_util.hpp"

#include <weft/stall.hpp>

#include <chrono>
#include <mutex>

using namespace std::chrono_literals;

volatile unsigned stall_test_sink = 0;  // unsigned: it wraps, never overflows

// Reads the clock only every 100k iterations: the signal almost always lands in this very frame,
// so the report's first frame is this function when the handler's frames are left out.
[[gnu::noinline]] void busy_loop_without_suspending(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  do {
    for (int i = 0; i < 100'000; ++i) stall_test_sink = stall_test_sink + 1;
  } while (std::chrono::steady_clock::now() < until);
}

[[gnu::noinline]] void busy_loop_yielding(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) weft::yield_now();
}

namespace {
struct Collected {
  std::mutex mu;
  std::vector<weft::StallReport> reports;
  auto sink() {
    return [this](const weft::StallReport& r) {
      std::lock_guard lk(mu);
      reports.push_back(r);
    };
  }
  // The end of a stall is seen at the detector's next sample after the fiber stopped: waits
  // (bounded) until the last report is that end report.
  void wait_for_end() {
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    for (;;) {
      {
        std::lock_guard lk(mu);
        if (!reports.empty() && reports.back().ended) return;
      }
      if (std::chrono::steady_clock::now() > give_up) return;
      std::this_thread::yield();
    }
  }
};
}  // namespace

TEST_CASE("the stall detector reports a fiber that runs 300 ms without suspending, then its final length") {
  for (unsigned workers : {1u, 2u}) {
    CAPTURE(workers);
    weft::Runtime rt = weft::Runtime::Builder().workers(workers).build();
    Collected c;
    std::uint64_t delivered = 0;
    {
      weft::StallDetector watchdog(rt.handle(), {.threshold = 100ms, .on_stall = c.sink()});
      auto h = rt.spawn(weft::Options{.name = "hog"}, [] { busy_loop_without_suspending(300ms); });
      CHECK(h.join());
      c.wait_for_end();
      delivered = watchdog.reports();
    }
    std::lock_guard lk(c.mu);
    CHECK(delivered == c.reports.size());
    // At 100 ms, again at 200 ms (Seastar's doubling), and the end: 2 or 3 reports (a loaded
    // machine may sample 200 ms late), the last one the end.
    REQUIRE(c.reports.size() >= 2);
    CHECK(c.reports.size() <= 3);
    const auto& r = c.reports[0];
    CHECK_FALSE(r.ended);
    CHECK(r.name == "hog");
    CHECK(weft_test::contains(r.spawn_site, "stall_test.cpp"));
    CHECK(r.running_for >= 100ms);
    CHECK(r.worker < workers);
    CHECK(r.suppressed == 0);
    const auto& end = c.reports.back();
    CHECK(end.ended);
    CHECK(end.name == "hog");
    CHECK(end.fiber_id == r.fiber_id);
    CHECK(end.running_for >= 300ms - 50ms);  // measured between samples: two periods (threshold / 4)
    CHECK(end.running_for < 20s);
    CHECK(end.backtrace.empty());
    for (std::size_t i = 1; i + 1 < c.reports.size(); ++i) {
      CHECK_FALSE(c.reports[i].ended);
      CHECK(c.reports[i].running_for >= 200ms);
    }
#if WEFT_TSAN
    // TSan defers asynchronous signals to its own safe points, which a loop may not reach in time:
    // then the report comes without a backtrace.
    if (r.backtrace.empty()) continue;
#endif
    REQUIRE_FALSE(r.backtrace.empty());
    CAPTURE(r.backtrace[0]);
    // The handler's own frames (the signal handler, the kernel's trampoline) are left out: the
    // first frame is where the fiber was interrupted. Not under TSan: it runs the handler later,
    // from its own frames, so the interrupted instruction is not in the signal's context.
#if !WEFT_TSAN
    CHECK(weft_test::contains(r.backtrace[0], "busy_loop_without_suspending"));
#endif
    for (auto& line : r.backtrace) {
      CHECK_FALSE(weft_test::contains(line, "on_capture_signal"));
      CHECK_FALSE(weft_test::contains(line, "__restore_rt"));
    }
  }
}

TEST_CASE("stall reports are rate-limited per worker, and the next delivered report counts the dropped ones") {
  weft::Runtime rt = weft::Runtime::Builder().workers(1).build();
  Collected c;
  {
    // Reports due at 20, 40, 80, 160, 320, 640 ms of a 700 ms stall; one per minute gets through.
    weft::StallDetector watchdog(rt.handle(), {.threshold = 20ms, .on_stall = c.sink(), .reports_per_minute = 1});
    auto h = rt.spawn(weft::Options{.name = "hog"}, [] { busy_loop_without_suspending(700ms); });
    CHECK(h.join());
    c.wait_for_end();
  }
  std::lock_guard lk(c.mu);
  REQUIRE(c.reports.size() == 2);  // the first report and the end, nothing between
  CHECK_FALSE(c.reports[0].ended);
  CHECK(c.reports[0].suppressed == 0);
  CHECK(c.reports[1].ended);
  CHECK(c.reports[1].suppressed >= 1);  // the repeats at 40, 80, ... ms were dropped and counted
  CHECK(c.reports[1].suppressed <= 5);  // 40, 80, 160, 320 and 640 ms at most
  CAPTURE(c.reports[1].running_for.count());
  // Measured between samples (every threshold / 4 = 5 ms): the header promises two periods.
  CHECK(c.reports[1].running_for >= 700ms - 10ms);
  CHECK(c.reports[1].running_for < 700ms + 10s);
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
  CHECK_THROWS_AS(weft::StallDetector(rt.handle(), {.threshold = 0ms, .on_stall = {}, .reports_per_minute = 5, .signal = 0}),
                  weft::Error);
}
