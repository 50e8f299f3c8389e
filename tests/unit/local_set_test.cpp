// LocalSet + spawn_local (weft/local_set.hpp): fibers pinned to one worker for life (and the
// run_until caller pinned while inside), while ordinary fibers keep migrating; spawn_local outside
// a LocalSet is a weft::Error; destroying a LocalSet aborts its local fibers and waits for them.
#include "cancel_util.hpp"

#include <weft/local_set.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using weft_test::CountedGuard;
using weft_test::GuardCounter;
using weft_test::thread_id;
using weft_test::wait_for;

// Distinct threads that ordinary fibers were seen running on.
struct ThreadSet {
  std::mutex mu;
  std::set<std::thread::id> ids;
  void add(std::thread::id id) {
    std::lock_guard lk(mu);
    ids.insert(id);
  }
  std::size_t size() {
    std::lock_guard lk(mu);
    return ids.size();
  }
};

TEST_CASE("a LocalSet fiber sees the same thread at every resume while ordinary fibers migrate") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const long yields = weft_test::scaled(100'000, 10'000);
    const bool multi = rt.workers() > 1;
    ThreadSet normal_threads;
    std::atomic<long> local_moved{0}, caller_moved{0}, local_resumes{0};
    std::atomic<bool> local_done{false};
    rt.block_on([&] {
      weft::LocalSet local;
      local.run_until([&] {
        const std::thread::id caller_home = thread_id();
        // Ordinary fibers that yield alongside, recording the threads they run on. They stop once
        // the local fiber is done *and* (with 2+ workers) a migration was observed; the bound only
        // turns "never migrated" into a failure instead of a hang.
        std::vector<weft::JoinHandle<void>> normals;
        for (unsigned i = 0; i < 2 * rt.workers() + 2; ++i) {
          normals.push_back(weft::spawn([&] {
            const auto give_up = std::chrono::steady_clock::now() + 30s;
            for (;;) {
              normal_threads.add(thread_id());
              const bool migrated = !multi || normal_threads.size() > 1;
              if ((local_done.load() && migrated) || std::chrono::steady_clock::now() > give_up) return;
              weft::yield_now();
            }
          }));
        }
        auto h = weft::spawn_local([&] {
          const std::thread::id home = thread_id();
          for (long i = 0; i < yields; ++i) {
            weft::yield_now();
            local_resumes.fetch_add(1, std::memory_order_relaxed);
            if (thread_id() != home) local_moved.fetch_add(1, std::memory_order_relaxed);
          }
          return home;
        });
        // The caller is pinned too while inside run_until, across every suspension point.
        while (!h.is_finished()) {
          weft::yield_now();
          if (thread_id() != caller_home) caller_moved.fetch_add(1);
        }
        weft::Result<std::thread::id> home = h.join();
        CHECK((home && *home == caller_home));  // spawn_local runs on the caller's worker
        local_done.store(true);
        for (auto& n : normals) (void)n.join();
        if (thread_id() != caller_home) caller_moved.fetch_add(1);
      });
    });
    CHECK(local_resumes.load() == yields);
    CHECK(local_moved.load() == 0);
    CHECK(caller_moved.load() == 0);
    if (multi) CHECK(normal_threads.size() > 1);
  });
}

TEST_CASE("local fibers stay put across sleeps, fd waits and joins, and may spawn_local more") {
  const int n = static_cast<int>(weft_test::scaled(50, 10));
  // fds outlive each runtime (libev drops an fd from its epoll set lazily, on the worker's thread:
  // closing it while the runtime runs is an fd-level race TSan reports).
  std::vector<std::unique_ptr<weft_test::Pipe>> pipes;
  for (int i = 0; i < n; ++i) pipes.push_back(std::make_unique<weft_test::Pipe>());
  weft_test::for_each_worker_count([&](weft::Runtime& rt) {
    std::atomic<int> moved{0}, ran{0};
    rt.block_on([&] {
      weft::LocalSet local;
      local.run_until([&] {
        const std::thread::id home = thread_id();
        std::vector<weft::JoinHandle<void>> hs;
        for (int i = 0; i < n; ++i) {
          hs.push_back(weft::spawn_local([&, i] {
            auto check = [&] {
              if (thread_id() != home) moved.fetch_add(1);
            };
            weft_test::Pipe& p = *pipes[static_cast<std::size_t>(i)];
            weft::sleep(std::chrono::microseconds(50 * (i % 7)));
            check();
            // A writer elsewhere (an ordinary fiber, free to run on any worker) wakes our fd wait.
            auto writer = weft::spawn([&p] { CHECK(weft_test::put_byte(p.w)); });
            CHECK(weft_test::get_byte(p.r) == 'x');
            check();
            (void)writer.join();
            check();
            auto grandchild = weft::spawn_local([&] {  // nested: still in the same LocalSet
              weft::yield_now();
              check();
              return 1;
            });
            CHECK(grandchild.join().value() == 1);
            check();
            ran.fetch_add(1);
          }));
        }
        for (auto& h : hs) CHECK(h.join().has_value());
      });
    });
    CHECK(ran.load() == n);
    CHECK(moved.load() == 0);
  });
}

TEST_CASE("spawn_local outside a LocalSet is a weft::Error") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      CHECK_THROWS_AS((void)weft::spawn_local([] {}), weft::Error);  // an ordinary fiber
      weft::LocalSet local;
      local.run_until([] { CHECK_NOTHROW(weft::spawn_local([] {}).join()); });
      CHECK_THROWS_AS((void)weft::spawn_local([] {}), weft::Error);  // after run_until returned
      // An ordinary fiber spawned from inside the LocalSet is not part of it.
      local.run_until([] {
        weft::Result<bool> r = weft::spawn([] {
          try {
            (void)weft::spawn_local([] {});
            return false;
          } catch (const weft::Error&) {
            return true;
          }
        }).join();
        CHECK((r && *r));
      });
    });
    CHECK_THROWS_AS((void)weft::spawn_local([] {}), weft::Error);  // a plain thread
  });
  weft::LocalSet outside;
  CHECK_THROWS_AS(outside.run_until([] {}), weft::Error);  // run_until needs a fiber
}

TEST_CASE("destroying a LocalSet aborts its running local fibers and waits until they unwound") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(100, 10));
    GuardCounter guards;
    std::atomic<int> started{0}, slow_done{0}, past_sleep{0};
    rt.block_on([&] {
      {
        weft::LocalSet local;
        local.run_until([&] {
          for (int i = 0; i < n; ++i) {
            weft::spawn_local([&] {
              CountedGuard g(guards);
              struct Slow {  // suspends while unwinding: ~LocalSet must wait for it to complete
                std::atomic<int>& d;
                ~Slow() {
                  weft::sleep(1ms);
                  d.fetch_add(1);
                }
              } slow{slow_done};
              started.fetch_add(1);
              weft::sleep(1h);
              past_sleep.fetch_add(1);
            }).detach();  // detached: only the LocalSet still owns them
          }
          CHECK(wait_for([&] { return started.load() == n; }));
        });
        CHECK(local.size() == static_cast<std::size_t>(n));  // still running after run_until
      }  // ~LocalSet
      CHECK(guards.balanced());
      CHECK(slow_done.load() == n);
    });
    CHECK(guards.created.load() == n);
    CHECK(past_sleep.load() == 0);
  });
}

TEST_CASE("run_until returns f's value; finished local fibers leave the set") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::LocalSet local;
      CHECK(local.size() == 0);
      int v = local.run_until([] {
        auto h = weft::spawn_local([] { return 20; });
        return h.join().value() + 1;
      });
      CHECK(v == 21);
      CHECK(wait_for([&] { return local.size() == 0; }));
    });
  });
}

}  // namespace
