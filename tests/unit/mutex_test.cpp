// weft::Mutex and weft::Synchronized: mutual exclusion between fibers and plain threads, the
// standard lock adaptors, timed locking, both fairness modes, and cancel-safety (a lock() that
// throws Cancelled, or a try_lock_for that times out, never leaves the mutex held or a waiter
// stranded).
#include "sync_util.hpp"

#include <weft/mutex.hpp>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using weft_sync_test::Rng;

namespace {

TEST_CASE("mutex: the seed's shared-state example (the header's usage example)") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      struct SharedState { int counter = 0; std::vector<std::string> results; };
      SharedState state;
      weft::Mutex mu;
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < 10; ++i) {
        hs.push_back(weft::spawn([&, i] {
          std::scoped_lock lk(mu);                  // std::lock_guard / std::unique_lock work too
          state.counter += 1;
          state.results.push_back("fiber " + std::to_string(i));
        }));
      }
      for (auto& h : hs) h.join().value();

      weft::Synchronized<std::vector<int>> log;      // the value-owning form
      log.lock()->push_back(1);                      // locked for the full expression
      log.with_lock([](std::vector<int>& v) { v.push_back(2); });

      CHECK(state.counter == 10);
      CHECK(state.results.size() == 10);
      CHECK(log.lock()->size() == 2);
    });
  });
}

// Many fibers and two plain threads increment a plain counter under the mutex; an `inside` flag
// catches any overlap. Fibers sometimes yield while holding the lock, so waiters really queue.
void exclusion_stress(weft::Runtime& rt, bool fair) {
  const long fibers = weft_test::scaled(200, 8);
  const long iters = weft_test::scaled(500, 20);
  const long thread_iters = weft_test::scaled(20000, 500);
  weft::Mutex plain;
  weft::Mutex fair_mu(weft::Mutex::fair);
  weft::Mutex& mu = fair ? fair_mu : plain;
  long counter = 0;
  std::atomic<int> inside{0};
  std::atomic<long> overlaps{0};
  auto critical = [&](bool may_yield, Rng& rng) {
    if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
    ++counter;
    if (may_yield && rng.chance(5)) weft::yield_now();
    inside.fetch_sub(1);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      Rng rng(1000 + t);
      for (long i = 0; i < thread_iters; ++i) {
        if (i % 3 == 0) {
          while (!mu.try_lock_for(50us)) {}
        } else {
          mu.lock();
        }
        critical(false, rng);
        mu.unlock();
      }
    });
  }
  rt.block_on([&] {
    std::vector<weft::JoinHandle<void>> hs;
    for (long f = 0; f < fibers; ++f) {
      hs.push_back(weft::spawn([&, f] {
        Rng rng(static_cast<std::uint64_t>(f));
        for (long i = 0; i < iters; ++i) {
          if (rng.chance(10)) {
            if (!mu.try_lock()) continue;
            std::lock_guard lk(mu, std::adopt_lock);
            critical(true, rng);
          } else {
            std::unique_lock lk(mu);
            critical(true, rng);
          }
        }
      }));
    }
    CHECK(weft_sync_test::join_all_within(hs));
  });
  for (auto& t : threads) t.join();
  CHECK(overlaps.load() == 0);
  CHECK(counter >= 2 * thread_iters);
  CHECK(mu.try_lock());
  mu.unlock();
}

TEST_CASE("mutex: mutual exclusion between many fibers and plain threads (barging)") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) { exclusion_stress(rt, false); });
}

TEST_CASE("mutex: mutual exclusion between many fibers and plain threads (fair hand-off)") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) { exclusion_stress(rt, true); });
}

TEST_CASE("mutex: exact count under heavy contention (the mutex_contended shape)") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const long tasks = weft_test::scaled(1000, 50), locks = weft_test::scaled(1000, 50);
      weft::Mutex mu;
      long counter = 0;
      std::vector<weft::JoinHandle<void>> hs;
      for (long t = 0; t < tasks; ++t) {
        hs.push_back(weft::spawn([&] {
          for (long k = 0; k < locks; ++k) {
            std::lock_guard lk(mu);
            ++counter;
          }
        }));
      }
      // Bounded, so a lost wake-up fails with a diagnosis instead of hanging the suite.
      const bool all_done = weft_sync_test::join_all_within(hs, std::chrono::seconds(120));
      CHECK(all_done);
      if (!all_done) {
        long finished = 0;
        for (auto& h : hs) finished += (!h.valid() || h.is_finished()) ? 1 : 0;
        const bool free_now = mu.try_lock();
        if (free_now) mu.unlock();
        MESSAGE("stuck: " << finished << " of " << tasks << " fibers finished, counter " << counter
                          << ", mutex free: " << free_now);
      }
      CHECK(counter == tasks * locks);
    });
  });
}

TEST_CASE("mutex: std::scoped_lock over two weft mutexes does not deadlock against the reverse order") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Mutex a, b;
      long n = 0;
      const long iters = weft_test::scaled(2000, 100);
      auto h1 = weft::spawn([&] {
        for (long i = 0; i < iters; ++i) {
          std::scoped_lock lk(a, b);
          ++n;
          if (i % 7 == 0) weft::yield_now();
        }
      });
      auto h2 = weft::spawn([&] {
        for (long i = 0; i < iters; ++i) {
          std::scoped_lock lk(b, a);
          ++n;
          if (i % 5 == 0) weft::yield_now();
        }
      });
      h1.join().value();
      h2.join().value();
      CHECK(n == 2 * iters);
    });
  });
}

TEST_CASE("mutex: locking it again from its holder throws weft::Error instead of waiting forever") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Mutex m;
      std::lock_guard<weft::Mutex> g(m);
      std::string what;
      try {
        m.lock();
      } catch (const weft::Error& e) {
        what = e.what();
      }
      CHECK(weft_test::contains(what, "already holds this mutex"));
      CHECK(weft_test::contains(what, "not recursive"));
      CHECK_FALSE(m.try_lock());  // still held once, by us: the guard releases it
      CHECK_THROWS_AS((void)m.try_lock_for(1ms), weft::Error);  // a timed wait for itself, too
      // Another fiber still waits normally (and gets it when the guard goes).
      weft::JoinHandle<bool> other = weft::spawn([&m] { return m.try_lock_for(1ms); });
      CHECK(other.join().value() == false);
    });
  });
  // A plain thread is an owner too.
  weft::Mutex m;
  m.lock();
  CHECK_THROWS_AS(m.lock(), weft::Error);
  m.unlock();
}

TEST_CASE("mutex: try_lock_for times out while held, and succeeds once released") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Mutex mu;
      mu.lock();
      auto t0 = std::chrono::steady_clock::now();
      bool got = weft::spawn([&] { return mu.try_lock_for(20ms); }).join().value();
      CHECK_FALSE(got);
      CHECK(std::chrono::steady_clock::now() - t0 >= 20ms);
      weft::Notify started;
      auto waiter = weft::spawn([&] {
        started.notify_one();
        bool ok = mu.try_lock_until(std::chrono::steady_clock::now() + 10s);
        if (ok) mu.unlock();
        return ok;
      });
      started.notified();
      weft::yield_now();
      mu.unlock();
      CHECK(waiter.join().value());
      // A plain thread times out the same way.
      mu.lock();
      std::thread th([&] { CHECK_FALSE(mu.try_lock_for(5ms)); });
      th.join();
      mu.unlock();
    });
  });
}

// A plain thread that re-locks in a tight loop would win every barging race against a fiber that
// has to be woken and scheduled first; the starvation guard hands the lock to a waiter that has lost
// for more than 1 ms. The wall-clock bound only detects a starved waiter.
TEST_CASE("mutex: a waiter is not starved by a thread that re-locks in a tight loop") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::Mutex mu;
    std::atomic<bool> victim_done{false};
    std::atomic<long> hog_rounds{0};
    std::thread hog([&] {
      const auto give_up = std::chrono::steady_clock::now() + 20s;
      while (!victim_done.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < give_up) {
        for (int i = 0; i < 64; ++i) {
          mu.lock();
          hog_rounds.fetch_add(1, std::memory_order_relaxed);
          mu.unlock();
        }
      }
    });
    const auto waited = rt.block_on([&] {
      while (hog_rounds.load() < 1000) weft::yield_now();
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < 20; ++i) {
        mu.lock();
        mu.unlock();
      }
      victim_done = true;
      return std::chrono::steady_clock::now() - t0;
    });
    hog.join();
    CHECK(waited < 10s);
    MESSAGE("20 locks against the hog took " << std::chrono::duration<double, std::milli>(waited).count() << " ms");
  });
}

// Waiters are aborted at random points (queued, just woken, or about to be) and others time out;
// afterwards the lock must be free and every survivor must have finished: no grant was lost.
void cancel_stress(weft::Runtime& rt, bool fair) {
  const long rounds = weft_test::scaled(40, 4);
  const int waiters = 24;
  rt.block_on([&] {
    weft::Mutex plain;
    weft::Mutex fair_mu(weft::Mutex::fair);
    weft::Mutex& mu = fair ? fair_mu : plain;
    std::atomic<int> inside{0};
    std::atomic<long> overlaps{0}, acquired{0}, cancelled{0}, timed_out{0};
    for (long round = 0; round < rounds; ++round) {
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < waiters; ++i) {
        hs.push_back(weft::spawn([&, i, round] {
          Rng rng(static_cast<std::uint64_t>(round * 100 + i));
          try {
            for (int k = 0; k < 20; ++k) {
              bool got = true;
              if (rng.chance(30)) {
                got = mu.try_lock_for(std::chrono::microseconds(rng.below(300)));
                if (!got) timed_out.fetch_add(1);
              } else {
                mu.lock();
              }
              if (!got) continue;
              std::lock_guard lk(mu, std::adopt_lock);
              struct Inside {  // leaves the section even when an abort unwinds from inside it
                std::atomic<int>& n;
                ~Inside() { n.fetch_sub(1); }
              } in{inside};
              if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
              acquired.fetch_add(1);
              weft_sync_test::random_yields(rng, 2);  // hold it across switches sometimes
            }
          } catch (const weft::Cancelled&) {
            cancelled.fetch_add(1);
            throw;
          }
        }));
      }
      Rng rng(static_cast<std::uint64_t>(round) + 77);
      for (int i = 0; i < waiters; ++i) {
        if (rng.chance(40)) {
          weft_sync_test::random_yields(rng, 6);
          hs[static_cast<std::size_t>(i)].abort();
        }
      }
      CHECK(weft_sync_test::join_all_within(hs));
      CHECK(mu.try_lock());  // free: no aborted or timed-out waiter kept it
      mu.unlock();
    }
    CHECK(overlaps.load() == 0);
    CHECK(acquired.load() > 0);
    MESSAGE("acquired " << acquired.load() << ", cancelled " << cancelled.load() << ", timed out "
                        << timed_out.load());
  });
}

TEST_CASE("mutex: cancel-safety under random aborts and timeouts (barging)") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) { cancel_stress(rt, false); });
}

TEST_CASE("mutex: cancel-safety under random aborts and timeouts (fair hand-off)") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) { cancel_stress(rt, true); });
}

// lock() inside weft::timeout scopes that expire while waiting: the expired lock() holds nothing,
// and the fibers that do get it still exclude each other.
TEST_CASE("mutex: cancel-safety — lock() cut short by weft::timeout") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Mutex mu;
      std::atomic<int> inside{0};
      std::atomic<long> overlaps{0}, got{0}, expired{0};
      std::vector<weft::JoinHandle<void>> hs;
      for (int f = 0; f < 16; ++f) {
        hs.push_back(weft::spawn([&, f] {
          Rng rng(static_cast<std::uint64_t>(f) + 300);
          for (long i = 0; i < weft_test::scaled(200, 20); ++i) {
            const bool ok = weft::timeout(std::chrono::microseconds(rng.below(300)), [&] {
              std::lock_guard lk(mu);
              if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
              got.fetch_add(1);
              inside.fetch_sub(1);
            });
            if (!ok) expired.fetch_add(1);
            if (rng.chance(30)) {
              std::lock_guard lk(mu);
              weft::sleep(std::chrono::microseconds(rng.below(200)));  // hold it a while
            }
          }
        }));
      }
      CHECK(weft_sync_test::join_all_within(hs));
      CHECK(overlaps.load() == 0);
      CHECK(mu.try_lock());
      mu.unlock();
      MESSAGE("got " << got.load() << ", expired " << expired.load());
    });
  });
}

TEST_CASE("mutex: lock() of a cancelled fiber throws even when free, and holds nothing") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Mutex mu;
      weft::Notify started, go;
      bool reached_lock = false, locked = false;
      auto h = weft::spawn([&] {
        weft::shield([&] {
          started.notify_one();
          go.notified();                       // cancelled while shielded: not thrown yet
        });
        reached_lock = true;
        mu.lock();                             // free, but a suspension point: throws here
        locked = true;
      });
      started.notified();
      h.abort();
      go.notify_one();
      CHECK(h.join().error().is_cancelled());
      CHECK(reached_lock);
      CHECK_FALSE(locked);
      CHECK(mu.try_lock());
      mu.unlock();
      // Blocked in lock() (or just about to be) when aborted.
      mu.lock();
      weft::Notify w_started;
      auto w = weft::spawn([&] {
        w_started.notify_one();
        std::lock_guard lk(mu);
      });
      w_started.notified();
      w.abort();
      CHECK(w.join().error().is_cancelled());
      mu.unlock();
      CHECK(mu.try_lock());
      mu.unlock();
    });
  });
}

TEST_CASE("mutex: a guard released while unwinding from cancellation can still lock (no throw in cleanup)") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Mutex mu;
      int cleanups = 0;
      struct Cleanup {
        weft::Mutex& mu;
        int& n;
        ~Cleanup() {
          std::lock_guard lk(mu);  // a suspension point reached while unwinding: must not throw
          ++n;
        }
      };
      weft::Notify started;
      mu.lock();
      auto h = weft::spawn([&] {
        Cleanup c{mu, cleanups};
        started.notify_one();
        weft::sleep(10s);
      });
      started.notified();
      h.abort();
      weft::yield_now();
      mu.unlock();  // the unwinding fiber's destructor (maybe already waiting) takes it now
      CHECK(h.join().error().is_cancelled());
      CHECK(cleanups == 1);
    });
  });
}

}  // namespace
