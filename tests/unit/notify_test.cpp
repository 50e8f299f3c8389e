// weft::Notify: the stored permit, notify_waiters, timeouts, plain threads, and cancel-safety: a
// notify_one() that reaches a waiter being cancelled or timing out passes on (to the next waiter,
// or into the stored permit), so every notification is consumed exactly once.
#include "sync_util.hpp"

#include <weft/notify.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using weft_sync_test::Rng;

namespace {

TEST_CASE("notify: the header's usage example") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      bool done = false;
      weft::Notify ready;
      auto consumer = weft::spawn([&] {
        ready.notified();              // suspends until notify_one() (or returns at once if a
        done = true;                   // notification was stored before it got here)
      });
      ready.notify_one();
      consumer.join().value();
      CHECK(done);
    });
  });
}

TEST_CASE("notify: one stored permit, consumed once; notify_waiters stores nothing") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Notify n;
      n.notify_one();
      n.notify_one();                 // still one permit
      CHECK(n.notified_for(0ms));     // consumes it at once
      CHECK_FALSE(n.notified_for(2ms));
      n.notify_waiters();             // nobody waits: nothing stored
      CHECK_FALSE(n.notified_for(1ms));

      std::atomic<int> woken{0};
      std::vector<weft::JoinHandle<void>> hs;
      weft::WaitGroup started;
      for (int i = 0; i < 5; ++i) {
        started.add(1);
        hs.push_back(weft::spawn([&] {
          started.done();
          n.notified();
          woken.fetch_add(1);
        }));
      }
      started.wait();
      // They are about to wait or waiting; keep broadcasting until all five have gone through.
      while (woken.load() < 5) {
        n.notify_waiters();
        weft::yield_now();
      }
      for (auto& h : hs) h.join().value();
      CHECK_FALSE(n.notified_for(1ms));  // notify_waiters never left a permit behind
    });
  });
}

TEST_CASE("notify: plain threads wait and notify too") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::Notify to_thread, to_fiber;
    const long rounds = weft_test::scaled(2000, 100);
    std::thread t([&] {
      for (long i = 0; i < rounds; ++i) {
        to_thread.notified();
        to_fiber.notify_one();
      }
    });
    rt.block_on([&] {
      for (long i = 0; i < rounds; ++i) {
        to_thread.notify_one();
        to_fiber.notified();
      }
    });
    t.join();
    CHECK_FALSE(to_fiber.notified_for(1ms));
  });
}

// Waiters (some with timeouts) consume notifications in a loop and are aborted at random points;
// the main fiber calls notify_one() N times. After each call it waits until that notification is
// accounted for — consumed by a waiter, or found stored as the permit (which it takes itself) — and
// checks nothing was counted twice. A lost notification would never be accounted for.
TEST_CASE("notify: cancel-safety — every notify_one is consumed exactly once") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const long rounds = weft_test::scaled(60, 2);
      for (long round = 0; round < rounds; ++round) {
        weft::Notify n;
        std::atomic<long> consumed{0};
        const int waiters = 12;
        std::vector<weft::JoinHandle<void>> hs;
        for (int i = 0; i < waiters; ++i) {
          hs.push_back(weft::spawn([&, i] {
            Rng rng(static_cast<std::uint64_t>(round * 50 + i));
            for (;;) {
              // No suspension point between a successful wait and the count.
              if (rng.chance(30) ? n.notified_for(std::chrono::microseconds(rng.below(300))) : (n.notified(), true)) {
                consumed.fetch_add(1);
              }
            }
          }));
        }
        Rng rng(static_cast<std::uint64_t>(round) + 1000);
        long by_main = 0;
        long double_counted = 0, unaccounted = 0;
        const long notifies = weft_test::scaled(400, 40);
        for (long k = 1; k <= notifies; ++k) {
          if (rng.chance(5)) hs[rng.below(waiters)].abort();
          n.notify_one();
          const auto give_up = std::chrono::steady_clock::now() + 30s;
          while (consumed.load() + by_main < k) {
            if (n.notified_for(0ms)) {
              ++by_main;  // it had become the stored permit
            } else if (std::chrono::steady_clock::now() > give_up) {
              ++unaccounted;
              break;
            } else {
              weft::yield_now();
            }
          }
          if (consumed.load() + by_main > k) ++double_counted;
        }
        for (auto& h : hs) h.abort();
        CHECK(weft_sync_test::join_all_within(hs));
        CHECK(unaccounted == 0);
        CHECK(double_counted == 0);
        CHECK(consumed.load() + by_main == notifies);
      }
    });
  });
}

// The lifetime rule in the header: the waiter frees the Notify the moment notified() returns,
// while the notifying thread may still be inside notify_one(). ASan turns a touch after the free
// into a failure; fibers and plain threads both wait.
TEST_CASE("notify: the waiter may destroy the Notify as soon as notified() returns") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const long rounds = weft_test::scaled(2000, 100);
    long returned = 0;
    for (long r = 0; r < rounds; ++r) {
      auto* n = new weft::Notify;
      std::atomic<bool> waiting{false};
      std::thread notifier([&] {
        while (!waiting.load()) std::this_thread::yield();
        n->notify_one();  // may still be returning when the waiter deletes n
      });
      if (r % 2 == 0) {
        rt.block_on([&] {
          waiting = true;
          n->notified();
          delete n;
          ++returned;
        });
      } else {
        waiting = true;
        n->notified();  // a plain thread waits
        delete n;
        ++returned;
      }
      notifier.join();
    }
    CHECK(returned == rounds);
  });
}

TEST_CASE("notify: a notify_one that hits a cancelled waiter passes to the next one") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const long rounds = weft_test::scaled(600, 20);
      for (long r = 0; r < rounds; ++r) {
        weft::Notify n;
        weft::WaitGroup ready;
        ready.add(2);
        auto first = weft::spawn([&] {
          ready.done();
          n.notified();
        });
        auto second = weft::spawn([&] {
          ready.done();
          n.notified();
          return true;
        });
        ready.wait();
        // `first` must be suspended in notified() when aborted: a fiber aborted while it is still
        // running may finish its wait first (it keeps its result, and the notification with it).
        weft_test::yield_until_suspended(first.id());
        first.abort();   // wakes `first` Cancelled; `second` may or may not be enrolled yet
        n.notify_one();  // if it reaches `first`'s node, it must pass to `second` (or the permit)
        CHECK(second.join().value());
        CHECK(first.join().error().is_cancelled());
      }
    });
  });
}

}  // namespace
