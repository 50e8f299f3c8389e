// Runtime shutdown and the panic policy. Shutdown (rt.shutdown() or ~Runtime) cancels every fiber
// wherever it waits — in JoinSets, scopes, races, timeouts, token waits, LocalSets — and waits
// until all have unwound; Builder::shutdown_timeout bounds the wait and reports what is left.
// PanicPolicy::Abort aborts the process on an unobserved panic of a detached fiber.
//
// The death tests fork, which is only safe while no runtime (no worker thread) exists in this
// process: they come first, and doctest runs a file's test cases in order.
#include "cancel_util.hpp"

#include <weft/cancellation_token.hpp>
#include <weft/join_set.hpp>
#include <weft/local_set.hpp>
#include <weft/notify.hpp>
#include <weft/scope.hpp>
#include <weft/race.hpp>
#include <weft/shield.hpp>
#include <weft/timeout.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <latch>
#include <stdexcept>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using weft_test::CountedGuard;
using weft_test::GuardCounter;
using weft_test::wait_for;

weft::Runtime runtime_with(weft::PanicPolicy p, unsigned workers = 2) {
  return weft::Runtime::Builder().workers(workers).panic_policy(p).build();
}

TEST_CASE("PanicPolicy::Abort: an unobserved panic in a detached fiber aborts the process, naming the fiber") {
  weft_test::ChildResult c = weft_test::run_in_child([] {
    weft::Runtime rt = runtime_with(weft::PanicPolicy::Abort);
    std::latch running(1);  // else shutdown could cancel it before it ever runs (and panics)
    rt.spawn(weft::Options{.name = "doomed-fiber"}, [&] {
      running.count_down();
      throw std::runtime_error("kaboom");
    }).detach();
    running.wait();
    rt.shutdown();  // joins the workers: the one reporting the panic has aborted by then
  });
  CAPTURE(c.exit_code);
  CAPTURE(c.err);
  CHECK(c.signal == SIGABRT);
  CHECK(weft_test::contains(c.err, "doomed-fiber"));
  CHECK(weft_test::contains(c.err, "kaboom"));
}

TEST_CASE("PanicPolicy::KeepGoing (the default): the panic is reported with the fiber's name, the process goes on") {
  weft_test::ChildResult c = weft_test::run_in_child([] {
    weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
    std::latch running(1);
    rt.spawn(weft::Options{.name = "careless-fiber"}, [&] {
      running.count_down();
      throw std::runtime_error("oops");
    }).detach();
    running.wait();
    if (rt.block_on([] { return weft::spawn([] { return 1; }).join().value(); }) != 1) ::_exit(4);
    rt.shutdown();
  });
  CHECK(c.exit_code == 0);
  CHECK(c.signal == 0);
  CHECK(weft_test::contains(c.err, "careless-fiber"));
  CHECK(weft_test::contains(c.err, "oops"));
}

TEST_CASE("a JoinSet dropped with a panicked child reports the panic as the JoinSet's, not a JoinHandle's") {
  weft_test::ChildResult c = weft_test::run_in_child([] {
    weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
    rt.block_on([] {
      weft::JoinSet<int> set;
      weft::Notify panicked;
      set.spawn(weft::Options{.name = "set-child"}, [&]() -> int {
        panicked.notify_one();
        throw std::runtime_error("lost-in-set");
      });
      panicked.notified();
    });  // the set is dropped here, its child's panic never taken
    rt.shutdown();
  });
  CAPTURE(c.err);
  CHECK(c.exit_code == 0);
  CHECK(weft_test::contains(c.err, "set-child"));
  CHECK(weft_test::contains(c.err, "lost-in-set"));
  CHECK(weft_test::contains(c.err, "its JoinSet was dropped"));
  CHECK_FALSE(weft_test::contains(c.err, "JoinHandle"));
}

TEST_CASE("PanicPolicy::Abort leaves observed panics alone: join, join_next, scope and race") {
  weft_test::ChildResult c = weft_test::run_in_child([] {
    weft::Runtime rt = runtime_with(weft::PanicPolicy::Abort);
    rt.block_on([] {
      auto fail = []() -> int { throw std::runtime_error("observed"); };
      if (weft::spawn(fail).join().has_value()) ::_exit(4);
      weft::JoinSet<int> set;
      set.spawn(fail);
      if (set.join_next()->has_value()) ::_exit(5);
      try {
        weft::scope([&](weft::Scope& s) { s.spawn(fail); });
        ::_exit(6);
      } catch (const weft::ScopeError&) {
      }
      try {
        (void)weft::race(fail);
        ::_exit(7);
      } catch (const std::runtime_error&) {
      }
    });
    rt.shutdown();
  });
  CHECK(c.signal == 0);
  CHECK(c.exit_code == 0);
  CHECK_FALSE(weft_test::contains(c.err, "observed"));  // nothing reported either
}

TEST_CASE("shutdown_timeout: fibers still alive when it passes are reported by name, not silently leaked") {
  weft_test::ChildResult c = weft_test::run_in_child([] {
    weft::Runtime rt = weft::Runtime::Builder().workers(2).shutdown_timeout(50ms).build();
    std::latch in_shield(1);
    rt.spawn(weft::Options{.name = "stubborn-fiber"}, [&] {
      weft::shield([&] {  // cannot be cancelled: shutdown must give up on it
        in_shield.count_down();
        weft::sleep(1h);
      });
    }).detach();
    in_shield.wait();
    const auto t0 = Clock::now();
    rt.shutdown();
    if (Clock::now() - t0 > 20s) ::_exit(4);  // it gave up after the timeout, not after the hour
  });
  CHECK(c.signal == 0);
  CHECK(c.exit_code == 0);
  CHECK(weft_test::contains(c.err, "stubborn-fiber"));
  CHECK(weft_test::contains(c.err, "timed out"));
}

// A destructor may sleep and join while its fiber unwinds (doc/design.md §2); race is a join of
// several fibers. Today, during shutdown, fibers spawned by an unwinding fiber start cancelled, so
// race finds no winner with a value and throws weft::Error — out of a destructor running during
// unwinding, which is std::terminate for the whole process.
TEST_CASE("a destructor that runs race while its fiber unwinds from shutdown does not terminate the process") {
  weft_test::ChildResult c = weft_test::run_in_child([] {
    std::latch started(1);
    weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
    rt.spawn([&] {
      struct GracefulClose {  // e.g. "say goodbye, but give up after a while"
        ~GracefulClose() {
          (void)weft::race([] { weft::sleep(1ms); return 1; }, [] { weft::sleep(1h); });
        }
      } close;
      started.count_down();
      weft::sleep(1h);
    }).detach();
    started.wait();
    rt.shutdown();
  });
  CAPTURE(c.err);
  CHECK(c.signal == 0);
  CHECK(c.exit_code == 0);
  CHECK_FALSE(weft_test::contains(c.err, "terminate"));
}

// ---- no forking below this line

TEST_CASE("runtime shutdown cancels fibers waiting in every structure and releases every guard") {
  for (unsigned workers : weft_test::kWorkerCounts) {
    CAPTURE(workers);
    GuardCounter guards;
    std::atomic<int> past{0}, shielded_cleanup{0};
    constexpr int kShapes = 10;  // the shape() calls below, plus one detached fiber
    std::latch started(kShapes);
    weft_test::Pipe never;
    std::vector<weft::JoinHandle<void>> kept;
    weft::Runtime rt = weft_test::make_runtime(workers);
    auto sleeper = [&] {
      CountedGuard g(guards);
      weft::sleep(1h);
      past.fetch_add(1);
    };
    auto shape = [&](auto body) {
      kept.push_back(rt.spawn([&, body] {
        CountedGuard g(guards);
        body();
        past.fetch_add(1);
      }));
    };
    shape([&] {
      weft::JoinSet<void> set;
      for (int i = 0; i < 4; ++i) set.spawn(sleeper);
      started.count_down();
      (void)set.join_next();
    });
    shape([&] {
      weft::scope([&](weft::Scope& s) {
        for (int i = 0; i < 4; ++i) s.spawn(sleeper);
        started.count_down();
      });
    });
    // (race is left out here: race_test has its own shutdown test.)
    shape([&] {
      started.count_down();
      (void)weft::timeout(1h, sleeper);
    });
    shape([&] {
      weft::CancellationToken t;
      started.count_down();
      t.cancelled();
    });
    shape([&] {
      weft::CancellationToken t;
      started.count_down();
      (void)t.run_until_cancelled(sleeper);
    });
    shape([&] {
      weft::LocalSet local;
      local.run_until([&] {
        for (int i = 0; i < 4; ++i) weft::spawn_local(sleeper).detach();
        started.count_down();
        weft::spawn_local(sleeper).join().value();
      });
    });
    shape([&] {  // swallows Cancelled: level-triggered, it still ends
      started.count_down();
      for (int i = 0; i < 3; ++i) {
        try {
          weft::sleep(1h);
        } catch (...) {
        }
      }
      weft::wait_readable(never.r);
    });
    shape([&] {  // its destructor sleeps and joins while unwinding from the shutdown
      struct Cleanup {
        GuardCounter& g;
        ~Cleanup() {
          weft::sleep(1ms);
          auto h = weft::spawn([] { return 1; });
          (void)h.join();  // completes, whether the late child runs or starts cancelled (today)
          CountedGuard inner(g);
        }
      } cleanup{guards};
      started.count_down();
      weft::sleep(1h);
    });
    shape([&] {  // shielded cleanup delays shutdown until it is done
      started.count_down();
      weft::shield([&] {
        weft_test::expect_eventually([&] { return weft::this_fiber::is_cancelled(); }, "handshake");
        weft::sleep(2ms);
        shielded_cleanup.fetch_add(1);
      });
      weft::yield_now();
    });
    rt.spawn([&] {  // detached
      CountedGuard g(guards);
      started.count_down();
      weft::sleep(1h);
      past.fetch_add(1);
    }).detach();
    started.wait();
    rt.shutdown();
    // Right after shutdown() returned: everything has unwound and nothing is left.
    CHECK(guards.balanced());
    CHECK(guards.created.load() >= kShapes);  // children that never ran made none
    CHECK(past.load() == 0);
    CHECK(shielded_cleanup.load() == 1);
    CHECK(rt.metrics().live_fibers == 0);
    CHECK(rt.metrics().live_stacks == 0);
    for (auto& h : kept) {
      weft::Result<void> r = h.join();
      CHECK((!r && r.error().is_cancelled()));
    }
  }
}

// A destructor may spawn and join while its fiber unwinds from the shutdown: the join completes
// (whether the runtime lets the late child run or starts it cancelled, which is what it does now),
// and shutdown still finishes.
TEST_CASE("a fiber unwinding from shutdown can spawn and join in a destructor; shutdown completes") {
  for (unsigned workers : weft_test::kWorkerCounts) {
    CAPTURE(workers);
    std::atomic<int> child_ran{0}, joined_value{0}, joined_cancelled{0};
    std::latch started(1);
    {
      weft::Runtime rt = weft_test::make_runtime(workers);
      rt.spawn([&] {
        struct SpawnOnUnwind {
          std::atomic<int>& ran;
          std::atomic<int>& value;
          std::atomic<int>& cancelled;
          ~SpawnOnUnwind() {
            auto h = weft::spawn([&] {
              ran.fetch_add(1);
              return 5;
            });
            weft::Result<int> r = h.join();
            if (r && *r == 5) value.fetch_add(1);
            if (!r && r.error().is_cancelled()) cancelled.fetch_add(1);
          }
        } s{child_ran, joined_value, joined_cancelled};
        started.count_down();
        weft::sleep(1h);
      }).detach();
      started.wait();
    }  // ~Runtime
    CHECK(joined_value.load() + joined_cancelled.load() == 1);
    CHECK(child_ran.load() == joined_value.load());  // cancelled before it ran: it never ran
  }
}

TEST_CASE("shutdown with many fibers mid-flight in nested structures completes and leaves nothing") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::fibers_scaled(500, 50));
    GuardCounter guards;
    std::atomic<int> started{0};
    for (int i = 0; i < n; ++i) {
      rt.spawn([&, i] {
        CountedGuard g(guards);
        started.fetch_add(1);
        weft::scope([&](weft::Scope& s) {
          s.spawn([&] {
            CountedGuard cg(guards);
            weft::JoinSet<int> set;
            for (int k = 0; k < 3; ++k) {
              set.spawn([&, k] {
                CountedGuard kg(guards);
                (void)weft::timeout(std::chrono::microseconds(100 * (k + 1)), [] { weft::sleep(1h); });
                for (;;) weft::sleep(std::chrono::microseconds(10 + i % 90));
                return k;
              });
            }
            while (set.join_next()) {
            }
          });
        });
      }).detach();
    }
    CHECK(wait_for([&] { return started.load() == n; }));
    rt.shutdown();
    CHECK(guards.balanced());
    CHECK(guards.created.load() >= n);
    CHECK(rt.metrics().live_fibers == 0);
    CHECK(rt.metrics().live_stacks == 0);
  });
}

}  // namespace
