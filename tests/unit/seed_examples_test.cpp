// The seed's examples, written in weft (the same programs as the tour). Output lines are collected
// in an EventLog instead of printed, so their order can be checked.
#include "cancel_util.hpp"

#include <weft/join_set.hpp>
#include <weft/race.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using weft_test::EventLog;
using weft_test::wait_for;
using Lines = std::vector<std::string>;

TEST_CASE("seed: spawn a task and join it: it returns 42") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    int got = rt.block_on([] {
      weft::JoinHandle<int> h = weft::spawn([] {
        weft::sleep(10ms);
        return 42;
      });
      weft::Result<int> r = h.join();
      CHECK(r.has_value());
      return r ? *r : -1;
    });
    CHECK(got == 42);
  });
}

TEST_CASE("seed: spawn 5 tasks and join them in order") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    std::vector<int> results = rt.block_on([] {
      std::vector<weft::JoinHandle<int>> handles;
      for (int i = 0; i < 5; ++i) {
        handles.push_back(weft::spawn([i] {
          weft::sleep(std::chrono::milliseconds(5 * (5 - i)));  // later tasks finish first
          return i * 10;
        }));
      }
      std::vector<int> out;
      for (auto& h : handles) out.push_back(h.join().value());  // join order = handle order
      return out;
    });
    CHECK(results == std::vector<int>{0, 10, 20, 30, 40});
  });
}

TEST_CASE("seed: a JoinSet yields the 5 results in completion order") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    std::atomic<int> tickets{0};
    std::vector<int> finished(5, -1);  // finished[i]: the position in which task i completed
    std::vector<int> order = rt.block_on([&] {
      weft::JoinSet<int> set;
      // The seed's program: task i sleeps (5 - i) units, so they complete 4, 3, 2, 1, 0.
      for (int i = 0; i < 5; ++i) {
        set.spawn([i, &tickets, &finished] {
          weft::sleep(std::chrono::milliseconds(20 * (5 - i)));
          finished[static_cast<std::size_t>(i)] = tickets.fetch_add(1);  // its last act
          return i;
        });
      }
      std::vector<int> out;
      while (auto r = set.join_next()) out.push_back(r->value());
      return out;
    });
    // join_next's order is the order the tasks actually completed in, whatever the timing was.
    std::vector<int> by_completion(5, -1);
    for (int i = 0; i < 5; ++i) {
      const int t = finished[static_cast<std::size_t>(i)];
      if (t >= 0 && t < 5) by_completion[static_cast<std::size_t>(t)] = i;
    }
    CHECK(order == by_completion);
    // What the seed prints; only a machine stalled for 20 ms between two wake-ups changes it.
    WARN(order == std::vector<int>{4, 3, 2, 1, 0});
  });
}

// The seed's ResourceGuard: announces acquisition and release.
struct ResourceGuard {
  EventLog& log;
  explicit ResourceGuard(EventLog& l) : log(l) { log.add("Resource acquired"); }
  ~ResourceGuard() { log.add("Resource released"); }
};

TEST_CASE("seed: race of a long operation holding a ResourceGuard against a short sleep") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    EventLog log;
    std::atomic<bool> acquired{false};
    rt.block_on([&] {
      auto r = weft::race(
          [&] {
            ResourceGuard guard(log);
            acquired.store(true);
            weft::sleep(10s);  // the long operation
            log.add("long operation finished");
            return std::string("done");
          },
          [&] {
            // Handshake so "acquired" precedes the race in every schedule; the sleep is the seed's.
            weft_test::expect_eventually([&] { return acquired.load(); }, "handshake");
            weft::sleep(50ms);
          });
      if (r.index() == 1) log.add("Operation timed out");
      else log.add("Operation completed: " + std::get<0>(r));
    });
    CHECK(log.snapshot() == Lines{"Resource acquired", "Resource released", "Operation timed out"});
  });
}

TEST_CASE("seed: explicitly aborting a sleeping task: join says it was cancelled") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    EventLog log;
    rt.block_on([&] {
      std::atomic<bool> sleeping{false};
      auto h = weft::spawn([&] {
        sleeping.store(true);
        weft::sleep(1h);
        log.add("woke up");  // never: the abort unwinds the sleep
      });
      CHECK(wait_for([&] { return sleeping.load(); }));
      h.abort();
      weft::Result<void> r = h.join();
      CHECK(!r.has_value());
      if (!r && r.error().is_cancelled()) log.add("Task was cancelled");
    });
    CHECK(log.snapshot() == Lines{"Task was cancelled"});
  });
}

TEST_CASE("seed: dropping a JoinHandle detaches: the task still completes") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    EventLog log;
    std::atomic<bool> go{false}, done{false}, was_cancelled{true};
    rt.block_on([&] {
      {
        weft::JoinHandle<void> h = weft::spawn([&] {
          ResourceGuard guard(log);
          while (!go.load()) weft::sleep(200us);  // keeps passing suspension points
          was_cancelled.store(weft::this_fiber::is_cancelled());
          log.add("Task completed");
          done.store(true);
        });
        CHECK(wait_for([&] { return !log.snapshot().empty(); }));
      }  // ~JoinHandle: detach, not cancel ("Mistake 1")
      go.store(true);
      CHECK(wait_for([&] { return done.load(); }));
    });
    CHECK_FALSE(was_cancelled.load());
    CHECK(wait_for([&] { return log.snapshot().size() == 3; }));
    CHECK(log.snapshot() == Lines{"Resource acquired", "Task completed", "Resource released"});
  });
}

TEST_CASE("seed: dropping a JoinSet cancels its task and releases its resource") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    EventLog log;
    rt.block_on([&] {
      {
        weft::JoinSet<void> set;
        set.spawn([&] {
          ResourceGuard guard(log);
          weft::sleep(1h);
          log.add("Task completed");  // never
        });
        CHECK(wait_for([&] { return !log.snapshot().empty(); }));
      }  // ~JoinSet: cancels the task and waits for it
      log.add("JoinSet dropped");
    });
    CHECK(log.snapshot() == Lines{"Resource acquired", "Resource released", "JoinSet dropped"});
  });
}

}  // namespace
