// The trace recorder's API: start/stop, what a recording holds, errors.
#include "test_util.hpp"

#include <weft/trace.hpp>

#include <sstream>

TEST_CASE("a recording has slices, spawns and wakes; stop ends it") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::trace_start(1 << 12);
    CHECK(weft::tracing());
    CHECK(weft::fiber_timing() == false);  // tracing times fibers without turning the switch on
    rt.block_on([] {
      weft::Notify n;
      auto h = weft::spawn(weft::Options{.name = "traced-child"}, [&] { n.notified(); });
      // Notify only once the child parked, so the trace has its park and the wake-up.
      for (bool parked = false; !parked; weft::yield_now()) {
        for (auto& f : weft::Handle::current().fibers()) {
          parked = parked || (f.name == "traced-child" && f.status == weft::FiberStatus::Suspended && !f.wait.empty());
        }
      }
      n.notify_one();
      h.join().value();
    });
    weft::trace_stop();
    CHECK_FALSE(weft::tracing());
    std::ostringstream os;
    weft::trace_write_json(os);
    const std::string j = os.str();
    CHECK(weft_test::contains(j, "\"traceEvents\""));
    CHECK(weft_test::contains(j, "\"name\":\"traced-child #"));
    CHECK(weft_test::contains(j, "\"cat\":\"spawn\""));
    CHECK(weft_test::contains(j, "\"cat\":\"wake\""));
    CHECK(weft_test::contains(j, "\"waits on\":\"notify\""));
    // Nothing is recorded after stop.
    rt.block_on([] { weft::spawn(weft::Options{.name = "after-stop"}, [] {}).join().value(); });
    std::ostringstream again;
    weft::trace_write_json(again);
    CHECK_FALSE(weft_test::contains(again.str(), "after-stop"));
  });
}

TEST_CASE("a full ring keeps the newest events") {
  weft::Runtime rt = weft::Runtime::Builder().workers(1).build();
  weft::trace_start(64);
  rt.block_on([] {
    for (int i = 0; i < 1000; ++i) weft::yield_now();
    weft::spawn(weft::Options{.name = "last-one"}, [] {}).join().value();
  });
  weft::trace_stop();
  std::ostringstream os;
  weft::trace_write_json(os);
  CHECK(weft_test::contains(os.str(), "last-one"));
  CHECK(os.str().size() < 64 * 1024);
}

TEST_CASE("trace errors are clear") {
  CHECK_THROWS_AS(weft::trace_start(1), weft::Error);
  CHECK_THROWS_WITH_AS(weft::trace_write_json(std::string("/nonexistent-dir/x.json")),
                       doctest::Contains("cannot open '/nonexistent-dir/x.json'"), weft::Error);
}
