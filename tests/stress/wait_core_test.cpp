// The wait core's promises (lib/sched/wait.hpp), checked from the outside:
//  - a wait without a deadline of its own ends only when its condition holds or when it is
//    cancelled: inside timeout(), a never-satisfiable wait ends in the timeout, never in success;
//  - so no primitive hands out what it does not have: mutual exclusion and permit conservation hold
//    while timeouts cancel waiters at random moments;
//  - a scope entered inside a shield (or a cleanup) still fires for the code inside it;
//  - spawns racing a shutdown are never lost; a failed JoinSet spawn leaks nothing.
// Run it with WEFT_CHAOS=<seed> too (meson registers `wait_core_chaos`): clock reads and timer
// arming stall, run order shuffles and suspension points yield, which is how a loaded machine
// preempts a worker between any two instructions.
#include "cancel_util.hpp"
#include "test_util.hpp"

#include <weft/weft.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using weft_test::for_each_worker_count;
using weft_test::scaled;

namespace {

// Two plain threads spinning for the whole test: the workers lose their CPU at random moments.
struct BusyThreads {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  explicit BusyThreads(int n = 2) {
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([this] {
        volatile std::uint64_t x = 0;
        while (!stop.load(std::memory_order_relaxed)) x = x + 1;
      });
    }
  }
  ~BusyThreads() {
    stop = true;
    for (auto& t : threads) t.join();
  }
};

// A random duration in [lo, hi] microseconds, per fiber.
std::chrono::microseconds random_us(std::minstd_rand& rng, int lo, int hi) {
  return std::chrono::microseconds(std::uniform_int_distribution<int>(lo, hi)(rng));
}

// Counts the holders of a resource for as long as it lives (RAII: a cancellation that unwinds
// through the critical section still leaves it), and counts a violation if more than `max` hold it.
struct Occupant {
  std::atomic<long>& holders;
  long n;
  Occupant(std::atomic<long>& h, long count, long max, std::atomic<long>& violations) : holders(h), n(count) {
    if (holders.fetch_add(n) + n > max) violations.fetch_add(1);
  }
  ~Occupant() { holders.fetch_sub(n); }
  Occupant(const Occupant&) = delete;
  Occupant& operator=(const Occupant&) = delete;
};

struct WaitKind {
  const char* name;
  std::function<void()> wait;  // must never return while the test holds its condition false
};

}  // namespace

TEST_CASE("every kind of wait inside timeout() with a condition that never holds ends in the timeout") {
  BusyThreads busy;
  for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      // Held for the whole test by this (root) fiber: nobody else may ever get them.
      weft::Mutex held;
      held.lock();
      weft::RwLock rw;
      rw.lock();
      weft::Semaphore none(0);
      auto none_owned = std::make_shared<weft::Semaphore>(0);
      weft::Notify never;
      weft::WaitGroup wg;
      wg.add(1);
      weft::CancellationToken token;
      weft_test::Pipe pipe;
      auto [wtx, wrx] = weft::watch::channel<int>(0);

      const std::vector<WaitKind> kinds = {
          {"Mutex::lock", [&] { held.lock(); }},
          {"Mutex::try_lock_for(1h)", [&] { (void)held.try_lock_for(1h); }},
          {"std::lock_guard<Mutex>", [&] { std::lock_guard g(held); }},
          {"RwLock::lock", [&] { rw.lock(); }},
          {"RwLock::lock_shared", [&] { rw.lock_shared(); }},
          {"Semaphore::acquire", [&] { (void)none.acquire(); }},
          {"Semaphore::acquire_many", [&] { (void)none.acquire_many(3); }},
          {"Semaphore::acquire_owned", [&] { (void)none_owned->acquire_owned(); }},
          {"Semaphore::try_acquire_for(1h)", [&] { (void)none.try_acquire_for(1h); }},
          {"Notify::notified", [&] { never.notified(); }},
          {"Notify::notified_for(1h)", [&] { (void)never.notified_for(1h); }},
          {"WaitGroup::wait", [&] { wg.wait(); }},
          {"CancellationToken::cancelled", [&] { token.cancelled(); }},
          {"CondVar::wait",
           [&] {
             weft::Mutex m;
             weft::CondVar cv;
             std::unique_lock lk(m);
             cv.wait(lk);
           }},
          {"Barrier::wait",
           [&] {
             weft::Barrier b(2);
             (void)b.wait();
           }},
          {"mpsc recv",
           [&] {
             auto [tx, rx] = weft::mpsc::channel<int>(1);
             (void)rx.recv();
           }},
          {"mpsc send (full)",
           [&] {
             auto [tx, rx] = weft::mpsc::channel<int>(1);
             (void)tx.send(1);
             (void)tx.send(2);
           }},
          {"oneshot recv",
           [&] {
             auto [tx, rx] = weft::oneshot::channel<int>();
             (void)rx.recv();
           }},
          {"broadcast recv",
           [&] {
             auto [tx, rx] = weft::broadcast::channel<int>(4);
             (void)rx.recv();
           }},
          {"watch changed",
           [&] {
             auto rx = wrx;
             (void)rx.changed();
           }},
          {"Select without a timeout branch",
           [&] {
             auto [tx, rx] = weft::mpsc::channel<int>(1);
             (void)weft::Select().recv(rx, [](std::optional<int>) {}).notified(never, [] {}).run();
           }},
          {"sleep(1h)", [] { weft::sleep(1h); }},
          {"wait_readable", [&] { weft::wait_readable(pipe.r); }},
          {"wait_readable(fd, 1h)", [&] { (void)weft::wait_readable(pipe.r, 1h); }},
          {"join",
           [&] {
             auto h = weft::spawn([&] { never.notified(); });
             // The child waits on `never`, which the root destroys when the test ends: it must be
             // gone by then, not merely aborted (an aborted child still queued was in never's wait
             // list at its destruction: a fatal report, 3 runs in 16 on a loaded machine). So
             // abort it and wait for it, shielded (this runs while the timeout's Cancelled unwinds).
             struct AbortOnExit {
               weft::JoinHandle<void>& h;
               ~AbortOnExit() {
                 h.abort();
                 weft::shield([&] {
                   if (h.valid()) (void)h.join();
                 });
               }
             } guard{h};
             (void)h.join();
           }},
          {"JoinSet::join_next",
           [&] {
             weft::JoinSet<void> js;
             js.spawn([&] { never.notified(); });
             (void)js.join_next();
           }},
          {"scope",
           [&] {
             weft::scope([&](weft::Scope& s) { s.spawn([&] { never.notified(); }); });
           }},
          {"timeout(1h) nested",
           [&] { (void)weft::timeout(1h, [&] { never.notified(); }); }},
      };

      const long rounds = scaled(60, 5);
      std::atomic<long> successes{0}, escapes{0}, elapsed{0};
      std::vector<std::string> lied;
      weft::Mutex lied_mu;
      weft::JoinSet<void> js;
      for (std::size_t k = 0; k < kinds.size(); ++k) {
        for (int copy = 0; copy < 2; ++copy) {
          js.spawn([&, k, copy] {
            std::minstd_rand rng(static_cast<unsigned>(k * 7919 + static_cast<std::size_t>(copy) + 1));
            for (long i = 0; i < rounds; ++i) {
              try {
                const bool finished = weft::timeout(random_us(rng, 0, 1500), kinds[k].wait);
                if (finished) {
                  successes.fetch_add(1);
                  std::lock_guard g(lied_mu);
                  lied.push_back(kinds[k].name);
                } else {
                  elapsed.fetch_add(1);
                }
              } catch (const weft::Cancelled&) {
                escapes.fetch_add(1);  // a cancellation that no timeout caught: invented
                std::lock_guard g(lied_mu);
                lied.push_back(std::string(kinds[k].name) + " (Cancelled escaped)");
              }
            }
          });
        }
      }
      while (js.join_next()) {
      }
      for (const auto& name : lied) CHECK_MESSAGE(false, "wait ended without its condition: " << name);
      CHECK(successes.load() == 0);
      CHECK(escapes.load() == 0);
      CHECK(elapsed.load() == rounds * static_cast<long>(kinds.size()) * 2);
      held.unlock();
      rw.unlock();
      wg.done();
    });
  });
}

TEST_CASE("mutual exclusion and permit conservation hold while timeouts cancel waiters at random") {
  BusyThreads busy;
  for_each_worker_count([](weft::Runtime& rt) {
    weft::Mutex m;
    weft::RwLock rw;
    weft::Semaphore sem(7);
    std::atomic<long> in_mutex{0}, writers{0}, readers{0}, held_permits{0};
    std::atomic<long> violations{0}, entered{0};
    const long rounds = scaled(400, 20);
    // Asserts, while held, that `other` is zero (no writer while reading, no reader while writing).
    auto expect_none = [&](std::atomic<long>& other) {
      if (other.load() != 0) violations.fetch_add(1);
    };
    rt.block_on([&] {
      weft::JoinSet<void> js;
      for (int i = 0; i < 24; ++i) {
        js.spawn([&, i] {
          std::minstd_rand rng(static_cast<unsigned>(i + 1));
          for (long r = 0; r < rounds; ++r) {
            const auto d = random_us(rng, 0, 300);
            switch ((i + r) % 4) {
              case 0:
                (void)weft::timeout(d, [&] {
                  std::lock_guard g(m);
                  Occupant o(in_mutex, 1, 1, violations);
                  entered.fetch_add(1);
                  if (r % 3 == 0) weft::yield_now();
                });
                break;
              case 1:
                (void)weft::timeout(d, [&] {
                  std::unique_lock g(rw);
                  Occupant o(writers, 1, 1, violations);
                  expect_none(readers);
                  if (r % 3 == 0) weft::yield_now();
                  expect_none(readers);
                });
                break;
              case 2:
                (void)weft::timeout(d, [&] {
                  std::shared_lock g(rw);
                  Occupant o(readers, 1, 1L << 20, violations);
                  expect_none(writers);
                  if (r % 3 == 0) weft::yield_now();
                  expect_none(writers);
                });
                break;
              default:
                (void)weft::timeout(d, [&] {
                  const long n = 1 + r % 3;
                  weft::Permit p = sem.acquire_many(static_cast<std::size_t>(n));
                  Occupant o(held_permits, n, 7, violations);
                  if (r % 2 == 0) weft::yield_now();
                });
            }
          }
        });
      }
      // Plain threads contend for the same mutex and semaphore.
      std::vector<std::thread> threads;
      for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&] {
          for (long r = 0; r < rounds; ++r) {
            {
              std::lock_guard g(m);
              Occupant o(in_mutex, 1, 1, violations);
            }
            if (auto p = sem.try_acquire_for(100us)) {
              Occupant o(held_permits, 1, 7, violations);
            }
          }
        });
      }
      while (js.join_next()) {
      }
      for (auto& t : threads) t.join();
    });
    CHECK(violations.load() == 0);
    CHECK(entered.load() > 0);
    CHECK(sem.available() == 7);  // no permit invented, none lost
    CHECK(m.try_lock());
    m.unlock();
    CHECK(rw.try_lock());
    rw.unlock();
  });
}

TEST_CASE("a timeout entered inside a shield fires for the code inside it (Trio's rule)") {
  for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      // The inner timeout interrupts the sleep although it runs inside a shield.
      const bool finished = weft::shield([] { return weft::timeout(20ms, [] { weft::sleep(1h); }); });
      CHECK_FALSE(finished);

      // A token scope inside a shield likewise.
      weft::CancellationToken tok;
      auto canceller = weft::spawn([tok] {
        weft::sleep(5ms);
        tok.cancel();
      });
      const bool ran_to_end = weft::shield([&] { return tok.run_until_cancelled([] { weft::sleep(1h); }); });
      (void)canceller.join();
      CHECK_FALSE(ran_to_end);
      CHECK(tok.is_cancelled());

      // The shield still holds off the scope outside it: the shielded sleep completes.
      bool shielded_done = false;
      (void)weft::timeout(2ms, [&] {
        weft::shield([&] {
          weft::sleep(20ms);
          shielded_done = true;
        });
        weft::sleep(1h);  // the outer timeout is delivered here
      });
      CHECK(shielded_done);

      // Bounded cleanup in a destructor that runs while the fiber unwinds: its timeout fires.
      struct BoundedCleanup {
        bool* fired;
        ~BoundedCleanup() { *fired = !weft::timeout(10ms, [] { weft::sleep(1h); }); }
      };
      // The abort must reach the fiber inside the guard: aborted before its first run, a fiber never
      // runs at all (no guard, nothing to fire), so wait for it to say it is in there.
      bool fired = false;
      auto [in_tx, in_rx] = weft::oneshot::channel<int>();
      auto h = weft::spawn([&fired, in_tx = std::move(in_tx)]() mutable {
        BoundedCleanup c{&fired};
        (void)in_tx.send(1);
        weft::sleep(1h);
      });
      REQUIRE(in_rx.recv().has_value());
      h.abort();
      CHECK(h.join().error().is_cancelled());
      CHECK(fired);
    });
  });
}

TEST_CASE("spawns from 8 threads racing the runtime's shutdown are never lost") {
  const long iterations = scaled(400, 20);  // 4cd2dbc lost a fiber within ~600 iterations
  for (long it = 0; it < iterations; ++it) {
    std::vector<std::vector<weft::JoinHandle<int>>> handles(8);
    std::vector<std::thread> threads;
    std::atomic<long> spawned{0};
    {
      weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
      weft::Handle h = rt.handle();
      for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t, h] {
          for (;;) {
            try {
              handles[static_cast<std::size_t>(t)].push_back(h.spawn([] { return 7; }));
              spawned.fetch_add(1);
            } catch (const weft::Error&) {
              return;  // the runtime is gone: every later spawn fails too
            }
          }
        });
      }
      while (spawned.load() < 16) std::this_thread::yield();  // shut down mid-stream
    }
    for (auto& t : threads) t.join();
    long lost = 0;
    for (auto& per_thread : handles) {
      for (auto& jh : per_thread) {
        if (!jh.is_finished()) ++lost;
      }
    }
    CHECK_MESSAGE(lost == 0, "iteration " << it << ": " << lost << " spawned fiber(s) never ran or ended");
    if (lost) break;
  }
}

TEST_CASE("JoinSet::spawn on a moved-from set throws and leaks nothing") {
  weft::Runtime rt = weft_test::make_runtime(1);
  rt.block_on([] {
    weft::JoinSet<int> a;
    weft::JoinSet<int> b = std::move(a);
    auto captured = std::make_shared<int>(5);
    CHECK_THROWS_AS(a.spawn([captured] { return *captured; }), weft::Error);  // NOLINT(bugprone-use-after-move)
    CHECK(captured.use_count() == 1);  // the task and its copy of `captured` were never made
    b.spawn([captured] { return *captured; });
    auto r = b.join_next();
    REQUIRE(r);
    CHECK(**r == 5);
  });
}

// The README's cleanup rule (README "Cancellation", doc/design.md §2.1): a destructor that
// waits wraps its waits in weft::shield. Then it runs to the end whether the fiber unwinds from a
// Cancelled or leaves the scope normally after being cancelled while it ran (no suspension point in
// between), and whether the cause is abort() or shutdown. Unshielded, the second case terminates
// (misuse_test checks the report).
namespace cleanup {
std::atomic<long> closed{0};
std::atomic<long> locked_cleanups{0};

// README "Cancellation": the Connection whose destructor waits.
struct Connection {
  ~Connection() {
    weft::shield([] { weft::sleep(1ms); });
    closed.fetch_add(1);
  }
};

// A destructor that takes a weft::Mutex.
struct Registered {
  weft::Mutex* m;
  long* count;
  ~Registered() {
    weft::shield([this] {
      std::lock_guard<weft::Mutex> g(*m);
      ++*count;
    });
    locked_cleanups.fetch_add(1);
  }
};
}  // namespace cleanup

TEST_CASE("cleanup in a shield runs to the end under abort, whether the fiber unwinds or exits normally") {
  for_each_worker_count([](weft::Runtime& rt) {
    if (rt.metrics().workers.size() < 2) return;  // the fiber below spins; the aborter needs a worker
    rt.block_on([] {
      const long rounds = scaled(20, 4);
      weft::Mutex m;
      long count = 0;
      for (long i = 0; i < rounds; ++i) {
        cleanup::closed = 0;
        cleanup::locked_cleanups = 0;
        // Both abort only after their guards exist (a fiber aborted before it ran never runs).
        std::atomic<int> started{0};
        std::atomic<bool> aborted{false};
        // (a) aborted while suspended: the destructors run while the fiber unwinds.
        auto sleeping = weft::spawn([&] {
          cleanup::Connection c;
          cleanup::Registered r{&m, &count};
          started.fetch_add(1);
          weft::sleep(1h);
        });
        // (b) aborted while running: the scope then ends normally, with the cancellation pending.
        auto running = weft::spawn([&] {
          {
            cleanup::Connection c;
            cleanup::Registered r{&m, &count};
            started.fetch_add(1);
            while (!aborted.load()) {
            }
          }
          weft::yield_now();  // the pending abort is delivered here, after the cleanup
        });
        while (started.load() < 2) weft::yield_now();
        weft::yield_now();
        sleeping.abort();
        running.abort();
        aborted = true;
        CHECK(sleeping.join().error().is_cancelled());
        CHECK(running.join().error().is_cancelled());
        CHECK(cleanup::closed.load() == 2);
        CHECK(cleanup::locked_cleanups.load() == 2);
      }
      std::lock_guard<weft::Mutex> g(m);
      CHECK(count == 2 * rounds);
    });
  });
}

TEST_CASE("cleanup in a shield runs to the end when the runtime shuts down under running and parked fibers") {
  for (unsigned workers : {2u, 4u}) {
    const long per_kind = 8;
    cleanup::closed = 0;
    cleanup::locked_cleanups = 0;
    weft::Mutex m;
    long count = 0;
    std::atomic<long> started{0};
    {
      weft::Runtime rt = weft_test::make_runtime(workers);
      weft::Handle h = rt.handle();
      // Parked in a sleep: shutdown unwinds them.
      for (long i = 0; i < per_kind; ++i) {
        h.spawn([&] {
          cleanup::Connection c;
          cleanup::Registered r{&m, &count};
          started.fetch_add(1);
          weft::sleep(1h);
        }).detach();
      }
      while (started.load() < per_kind) std::this_thread::yield();
      // Running (spinning, never suspending) on all workers but one: shutdown's cancellation is
      // pending when they leave the scope normally.
      const long spinners = static_cast<long>(workers) - 1;
      for (long i = 0; i < spinners; ++i) {
        h.spawn([&] {
          {
            cleanup::Connection c;
            cleanup::Registered r{&m, &count};
            started.fetch_add(1);
            while (!weft::this_fiber::is_cancelled()) {
            }
          }
          weft::yield_now();
        }).detach();
      }
      while (started.load() < per_kind + spinners) std::this_thread::yield();
    }  // ~Runtime: shutdown cancels everything and waits
    const long s = started.load();
    CHECK(s == per_kind + static_cast<long>(workers) - 1);
    CHECK(cleanup::closed.load() == s);
    CHECK(cleanup::locked_cleanups.load() == s);
    CHECK(count == s);
  }
}
