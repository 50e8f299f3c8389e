// weft::WaitGroup: waits for the count to reach zero (fibers and plain threads), reuse, timeouts,
// misuse, and that cancelling a wait does not disturb the count.
#include "sync_util.hpp"

#include <weft/wait_group.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

TEST_CASE("wait_group: the header's usage example") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      std::atomic<int> jobs{0};
      weft::WaitGroup wg;
      for (int i = 0; i < 10; ++i) {
        wg.add(1);                                   // before spawning, so wait() cannot miss it
        weft::spawn([&wg, &jobs] {
          jobs.fetch_add(1);
          wg.done();
        }).detach();
      }
      wg.wait();                                     // suspends until all 10 called done()
      CHECK(jobs.load() == 10);
      CHECK(wg.count() == 0);
    });
  });
}

TEST_CASE("wait_group: fibers and threads on both sides, reused for many rounds") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::WaitGroup wg;
      const long rounds = weft_test::scaled(200, 20);
      for (long r = 0; r < rounds; ++r) {
        std::atomic<int> done{0};
        wg.add(8);
        std::thread t([&] {
          done.fetch_add(1);
          wg.done();
        });
        for (int i = 0; i < 7; ++i) {
          weft::spawn([&] {
            done.fetch_add(1);
            wg.done();
          }).detach();
        }
        std::thread watcher([&] { wg.wait(); });  // a plain thread waits too
        wg.wait();
        CHECK(done.load() == 8);
        watcher.join();
        t.join();
      }
    });
  });
}

TEST_CASE("wait_group: timeouts, cancellation and misuse") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::WaitGroup wg;
      CHECK(wg.wait_for(0ms));  // zero: returns at once
      wg.add(2);
      CHECK_FALSE(wg.wait_for(5ms));
      auto waiter = weft::spawn([&] { wg.wait(); });
      waiter.abort();
      CHECK(waiter.join().error().is_cancelled());
      CHECK(wg.count() == 2);  // the cancelled wait changed nothing
      wg.done();
      wg.done();
      CHECK(wg.wait_until(std::chrono::steady_clock::now() + 1s));
      CHECK_THROWS_WITH_AS(wg.done(), doctest::Contains("every done() must match"), weft::Error);
      CHECK(wg.count() == 0);
    });
  });
}

}  // namespace
