// weft::Semaphore: the seed's bounded-spawn pattern with owned permits, FIFO fairness for
// acquire_many, close(), plain threads, and permit conservation under random aborts and timeouts.
#include "sync_util.hpp"

#include <weft/semaphore.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using weft_sync_test::Rng;

namespace {

std::atomic<long> g_processed{0};
std::atomic<int> g_in_flight{0};
std::atomic<int> g_max_in_flight{0};

// The work of one item: records the concurrency gauge and suspends a little.
void process(int item) {
  const int now = g_in_flight.fetch_add(1) + 1;
  int prev = g_max_in_flight.load();
  while (now > prev && !g_max_in_flight.compare_exchange_weak(prev, now)) {}
  if (item % 3 == 0) weft::yield_now();
  if (item % 101 == 0) weft::sleep(1ms);
  g_in_flight.fetch_sub(1);
  g_processed.fetch_add(1);
}

void use_connection() { weft::yield_now(); }

TEST_CASE("semaphore: the seed's bounded spawn — 10,000 items, at most 100 in flight (header example)") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    g_processed = 0;
    g_in_flight = 0;
    g_max_in_flight = 0;
    const int items = static_cast<int>(weft_test::scaled(10'000, 2'000));
    rt.block_on([&] {
      // Bounded spawn: at most 100 items in flight. The owned permit moves into the fiber and is
      // released when that fiber finishes (or unwinds).
      auto sem = std::make_shared<weft::Semaphore>(100);
      for (int item = 0; item < items; ++item) {
        weft::OwnedPermit permit = sem->acquire_owned();     // suspends while 100 are in flight
        weft::spawn([permit = std::move(permit), item] { process(item); }).detach();
      }

      weft::Semaphore pool(4);
      {
        weft::Permit p = pool.acquire();                     // released at the end of the scope
        use_connection();
      }
      if (std::optional<weft::Permit> p = pool.try_acquire()) { /* got one without waiting */ }

      // Every item done: all 100 permits come back.
      weft::Permit all = sem->acquire_many(100);
      CHECK(all.count() == 100);
      CHECK(pool.available() == 4);
    });
    CHECK(g_processed.load() == items);
    CHECK(g_max_in_flight.load() <= 100);
    CHECK(g_max_in_flight.load() >= 1);
  });
}

TEST_CASE("semaphore: acquire_many is FIFO — a big request is not starved by small ones") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Semaphore sem(0);
      std::vector<weft::JoinHandle<std::size_t>> hs;
      // Queue a request for 5, then three requests for 1, each after the previous is queued.
      // Grants happen inside add_permits(), so waiting() tells exactly who was served.
      const std::size_t wants[] = {5, 1, 1, 1};
      for (std::size_t i = 0; i < 4; ++i) {
        hs.push_back(weft::spawn([&sem, n = wants[i]] {
          weft::Permit p = sem.acquire_many(n);
          p.forget();  // keep the count observable: granted permits do not come back
          return n;
        }));
        while (sem.waiting() != i + 1) weft::yield_now();
      }
      sem.add_permits(3);  // not enough for the head (5): nobody behind it may overtake
      CHECK(sem.waiting() == 4);
      CHECK(sem.available() == 3);
      sem.add_permits(2);  // 5: exactly the head
      CHECK(sem.waiting() == 3);
      CHECK(sem.available() == 0);
      sem.add_permits(3);  // the three small ones
      CHECK(sem.waiting() == 0);
      CHECK(sem.available() == 0);
      std::size_t total = 0;
      for (auto& h : hs) total += h.join().value();
      CHECK(total == 8);
    });
  });
}

TEST_CASE("semaphore: close() wakes waiters with SemaphoreClosed; later acquires fail too") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Semaphore sem(1);
      weft::Permit held = sem.acquire();
      weft::Notify started;
      auto h = weft::spawn([&] {
        started.notify_one();
        try {
          (void)sem.acquire();
          return std::string("acquired");
        } catch (const weft::SemaphoreClosed& e) {
          return std::string(e.what());
        }
      });
      started.notified();
      sem.close();
      const std::string msg = h.join().value();
      CHECK(weft_test::contains(msg, "closed"));
      CHECK(sem.is_closed());
      CHECK_THROWS_AS((void)sem.acquire(), weft::SemaphoreClosed);
      CHECK_FALSE(sem.try_acquire().has_value());
      held.release();  // releasing after close is fine
      CHECK(sem.available() == 1);
    });
  });
}

TEST_CASE("semaphore: acquire_owned needs a shared_ptr-owned semaphore (clear error otherwise)") {
  weft::Semaphore sem(1);
  try {
    (void)sem.acquire_owned();
    CHECK(false);
  } catch (const weft::Error& e) {
    CHECK(weft_test::contains(e.what(), "make_shared"));
  }
}

TEST_CASE("semaphore: plain threads and fibers share permits; the count is conserved") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int permits = 3;
    weft::Semaphore sem(permits);
    std::atomic<int> holders{0}, max_holders{0};
    auto hold = [&] {
      const int now = holders.fetch_add(1) + 1;
      int prev = max_holders.load();
      while (now > prev && !max_holders.compare_exchange_weak(prev, now)) {}
      holders.fetch_sub(1);
    };
    const long iters = weft_test::scaled(3000, 200);
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&] {
        for (long i = 0; i < iters; ++i) {
          if (i % 2) {
            weft::Permit p = sem.acquire();
            hold();
          } else if (auto p = sem.try_acquire_for(100us)) {
            hold();
          }
        }
      });
    }
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (int f = 0; f < 50; ++f) {
        hs.push_back(weft::spawn([&, f] {
          Rng rng(static_cast<std::uint64_t>(f));
          for (long i = 0; i < iters / 10; ++i) {
            weft::Permit p = sem.acquire_many(1 + rng.below(2));
            hold();
            if (rng.chance(20)) weft::yield_now();
          }
        }));
      }
      CHECK(weft_sync_test::join_all_within(hs));
    });
    for (auto& t : threads) t.join();
    CHECK(max_holders.load() <= permits);
    CHECK(sem.available() == permits);
  });
}

TEST_CASE("semaphore: cancel-safety — random aborts and timeouts leave every permit accounted for") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const std::size_t permits = 5;
      weft::Semaphore sem(permits);
      std::atomic<long> granted{0}, cancelled{0}, timed_out{0};
      std::atomic<long> held{0};
      std::atomic<long> over{0};
      const long rounds = weft_test::scaled(30, 3);
      for (long round = 0; round < rounds; ++round) {
        std::vector<weft::JoinHandle<void>> hs;
        for (int i = 0; i < 30; ++i) {
          hs.push_back(weft::spawn([&, i, round] {
            Rng rng(static_cast<std::uint64_t>(round * 1000 + i));
            try {
              for (int k = 0; k < 10; ++k) {
                const std::size_t n = 1 + rng.below(3);
                std::optional<weft::Permit> p;
                if (rng.chance(30)) {
                  p = sem.try_acquire_for(std::chrono::microseconds(rng.below(500)), n);
                  if (!p) {
                    timed_out.fetch_add(1);
                    continue;
                  }
                } else {
                  p = sem.acquire_many(n);
                }
                granted.fetch_add(1);
                if (held.fetch_add(static_cast<long>(n)) + static_cast<long>(n) > static_cast<long>(permits)) {
                  over.fetch_add(1);
                }
                struct Give {
                  std::atomic<long>& h;
                  long n;
                  ~Give() { h.fetch_sub(n); }
                } give{held, static_cast<long>(n)};
                weft_sync_test::random_yields(rng, 2);
              }
            } catch (const weft::Cancelled&) {
              cancelled.fetch_add(1);
              throw;
            }
          }));
        }
        Rng rng(static_cast<std::uint64_t>(round) + 5);
        for (auto& h : hs) {
          if (rng.chance(40)) {
            weft_sync_test::random_yields(rng, 4);
            h.abort();
          }
        }
        CHECK(weft_sync_test::join_all_within(hs));
        CHECK(sem.available() == permits);  // no permit leaked by a cancelled or timed-out acquire
      }
      CHECK(over.load() == 0);
      MESSAGE("granted " << granted.load() << ", cancelled " << cancelled.load() << ", timed out " << timed_out.load());
    });
  });
}

TEST_CASE("semaphore: a waiter at the head that gives up lets the smaller requests behind it through") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Semaphore sem(3);
      weft::Notify started;
      auto big = weft::spawn([&] {
        started.notify_one();
        return sem.try_acquire_for(30ms, 5).has_value();  // can never be served: 5 > 3
      });
      started.notified();
      while (sem.waiting() != 1) weft::yield_now();
      // Queued behind the big request (FIFO), this one is served once the head times out.
      auto small = weft::spawn([&] { return sem.acquire_many(2).count(); });
      CHECK_FALSE(big.join().value());
      CHECK(small.join().value() == 2);
      CHECK(sem.available() == 3);
    });
  });
}

}  // namespace
