// weft::TaskTracker: wait() returns exactly when the tracker is closed and every tracked fiber has
// ended — returned, panicked, aborted while running, or aborted before it ever ran — and not
// before; captures are destroyed before it returns; close/reopen/len behave; threads can wait.
#include "test_util.hpp"

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
// Counts live copies-that-matter: destroyed captures must be gone when wait() returns.
struct Canary {
  std::atomic<long>* live;
  explicit Canary(std::atomic<long>* l) : live(l) { ++*live; }
  Canary(const Canary& o) : live(o.live) { ++*live; }
  ~Canary() { --*live; }
};
}  // namespace

TEST_CASE("wait() returns once closed and every fiber ended, however it ended") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(4'000, 200));
    std::atomic<long> live{0};
    std::atomic<int> finished_bodies{0};
    rt.block_on([&] {
      weft::TaskTracker tracker;
      weft::Notify gate;  // never notified: the aborted ones wait here until cancelled
      std::vector<weft::AbortHandle> to_abort;
      for (int i = 0; i < n; ++i) {
        Canary c(&live);
        switch (i % 4) {
          case 0:  // returns
            tracker.spawn([c, &finished_bodies] { finished_bodies++; }).detach();
            break;
          case 1:  // panics
            tracker.spawn([c]() { throw std::runtime_error("tracked panic"); }).detach();
            break;
          case 2: {  // cancelled while running (waiting)
            auto h = tracker.spawn([c, &gate] { gate.notified(); });
            to_abort.push_back(h.abort_handle());
            h.detach();
            break;
          }
          case 3: {  // cancelled before it ever ran: aborted right away
            auto h = tracker.spawn([c, &finished_bodies] { finished_bodies++; });
            h.abort();
            h.detach();
            break;
          }
        }
      }
      CHECK_FALSE(tracker.wait_for(1ms));  // still open: wait() cannot return yet
      tracker.close();
      for (auto& a : to_abort) a.abort();
      tracker.wait();
      CHECK(tracker.is_empty());
      CHECK(live.load() == 0);  // every capture was destroyed before wait() returned
    });
    // Case 3 fibers may have run before abort() reached them; none may run twice.
    CHECK(finished_bodies.load() >= n / 4);
    CHECK(finished_bodies.load() <= n / 4 + n / 4);
  });
}

TEST_CASE("wait() does not return while a tracked fiber is still running; plain threads wait too") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::TaskTracker tracker;
    weft::Notify release;
    std::atomic<bool> ended{false};
    auto h = tracker.spawn_on(rt.handle(), [&] {
      release.notified();
      ended = true;
    });
    tracker.close();
    CHECK(tracker.len() == 1);
    std::atomic<bool> waited{false};
    std::thread waiter([&] {
      tracker.wait();  // a plain thread blocks
      CHECK(ended.load());
      waited = true;
    });
    CHECK_FALSE(tracker.wait_for(5ms));  // the fiber is parked on `release`
    CHECK_FALSE(waited.load());
    release.notify_one();
    waiter.join();
    CHECK(waited.load());
    CHECK(h.join().has_value());
  });
}

TEST_CASE("close, reopen, tokens, len, and spawn through track()") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    weft::TaskTracker tracker;
    CHECK(tracker.is_empty());
    CHECK_FALSE(tracker.is_closed());
    CHECK(tracker.close());
    CHECK_FALSE(tracker.close());  // idempotent
    CHECK(tracker.wait_for(0ms));   // closed and empty
    CHECK(tracker.reopen());
    CHECK_FALSE(tracker.reopen());
    CHECK_FALSE(tracker.wait_for(1ms));  // open again

    weft::TrackerToken tok = tracker.token();
    CHECK(tracker.len() == 1);
    tracker.close();
    CHECK_FALSE(tracker.wait_for(1ms));  // the token still counts
    weft::TrackerToken moved = std::move(tok);
    CHECK(tracker.len() == 1);
    moved.reset();
    CHECK(tracker.len() == 0);
    tracker.wait();

    // Spawning on a closed tracker still tracks (and wait() waits for it).
    weft::JoinSet<int> set;
    weft::CancellationToken go;  // both stay tracked until released, so len() is not racing them
    set.spawn(tracker.track([go] { go.cancelled(); return 7; }));
    auto bound = tracker.spawn([](weft::CancellationToken g, int a, int b) { g.cancelled(); return a + b; }, go, 2, 3);
    CHECK(tracker.len() == 2);
    CHECK_FALSE(tracker.wait_for(1ms));
    go.cancel();  // releases both, now or whenever they get to wait
    tracker.wait();
    CHECK(tracker.is_empty());
    CHECK(bound.join().value() == 5);
    // With Options and bound arguments too (one overload generator serves every spawn entry point).
    auto named = tracker.spawn(weft::Options{.name = "named"}, [](int a, int b) {
      return std::string(weft::this_fiber::name()) + std::to_string(a * b);
    }, 6, 7);
    CHECK(named.join().value() == "named42");
    tracker.wait();
    auto r = set.join_next();
    REQUIRE(r);
    CHECK(r->value() == 7);

    // A copy tracks together with the original.
    weft::TaskTracker copy = tracker;
    copy.reopen();
    CHECK_FALSE(tracker.is_closed());
    copy.spawn([] {}).detach();
    tracker.close();
    tracker.wait();
  });
}

TEST_CASE("a spawn that throws counts nothing") {
  weft::TaskTracker tracker;
  // From a plain thread weft::spawn throws weft::Error: the tracker must not keep a phantom task.
  CHECK_THROWS_AS((void)tracker.spawn([] {}), weft::Error);
  CHECK(tracker.is_empty());
  tracker.close();
  CHECK(tracker.wait_for(0ms));
}
