// Metrics: counters match known workloads exactly where they are exact.
#include "sched/chaos.hpp"
#include "test_util.hpp"

#include <weft/trace.hpp>

#include <chrono>

using namespace std::chrono_literals;

namespace {
std::uint64_t sum_runs(const weft::RuntimeMetrics& m) {
  std::uint64_t n = 0;
  for (auto& w : m.workers) n += w.fibers_run;
  return n;
}

// Polls (bounded) until the named fiber is suspended; returns its metrics.
weft::FiberMetrics wait_suspended(weft::Runtime& rt, const std::string& name) {
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    for (auto& f : rt.fibers()) {
      if (f.name == name && f.status == weft::FiberStatus::Suspended && !f.wait.empty()) return f;
    }
    if (std::chrono::steady_clock::now() > give_up) return {};
    std::this_thread::yield();
  }
}
}  // namespace

TEST_CASE("spawned_total and fibers_run count exactly") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const auto before = rt.metrics();
    const long n = weft_test::scaled(1000, 10);
    const int yields = 5;
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (long i = 0; i < n; ++i) hs.push_back(weft::spawn([] {
        for (int y = 0; y < yields; ++y) weft::yield_now();
      }));
      for (auto& h : hs) h.join().value();
    });
    const auto after = rt.metrics();
    // block_on's root fiber plus n children.
    CHECK(after.spawned_total - before.spawned_total == static_cast<std::uint64_t>(n + 1));
    // Each child runs yields + 1 times; the root at least once (more if a join parked it).
    CHECK(sum_runs(after) - sum_runs(before) >= static_cast<std::uint64_t>(n * (yields + 1) + 1));
    CHECK(after.live_fibers == 0);
    std::uint64_t stolen = 0, steals = 0;
    for (auto& w : after.workers) {
      CHECK(w.unparks <= w.parks);
      CHECK(w.busy_ns <= w.uptime_ns);
      stolen += w.stolen;
      steals += w.steals;
    }
    CHECK(stolen >= steals);
  });
}

TEST_CASE("per-fiber runs, wait and watchers") {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  weft::Notify go;
  auto h = rt.spawn(weft::Options{.name = "counted"}, [&] {
    for (int i = 0; i < 10; ++i) weft::yield_now();
    go.notified();
  });
  weft::FiberMetrics f = wait_suspended(rt, "counted");
  // First run + 10 resumptions after yields; chaos mode injects yields at suspension points, and an
  // injected yield is a run too.
  if (weft::detail::chaos::enabled()) CHECK(f.runs >= 11);
  else CHECK(f.runs == 11);
  CHECK(f.status == weft::FiberStatus::Suspended);
  CHECK(weft_test::contains(f.wait, "notify at 0x"));
  CHECK(f.worker >= 0);
  CHECK(f.id == h.id());
  go.notify_one();
  CHECK(h.join());

  auto sleeper = rt.spawn(weft::Options{.name = "sleeper"}, [] { weft::sleep(1h); });
  wait_suspended(rt, "sleeper");
  CHECK(rt.metrics().reactor_watchers == 1);
  sleeper.abort();
  CHECK(sleeper.join().error().is_cancelled());
  CHECK(rt.metrics().reactor_watchers == 0);
}

TEST_CASE("fiber timing measures slices and scheduling delay when on") {
  weft::Runtime rt = weft::Runtime::Builder().workers(1).build();
  weft::set_fiber_timing(true);
  weft::Notify go;
  auto h = rt.spawn(weft::Options{.name = "timed"}, [&] {
    const auto until = std::chrono::steady_clock::now() + 20ms;
    while (std::chrono::steady_clock::now() < until) {
    }
    weft::yield_now();
    go.notified();
  });
  weft::FiberMetrics f = wait_suspended(rt, "timed");
  weft::set_fiber_timing(false);
  if (weft::detail::chaos::enabled()) CHECK(f.timed_runs >= 2);  // + injected yields
  else CHECK(f.timed_runs == 2);
  CHECK(f.max_slice_ns >= 20'000'000);
  CHECK(f.run_ns >= f.max_slice_ns);
  CHECK(f.max_delay_ns <= f.delay_ns);
  go.notify_one();
  CHECK(h.join());
}
