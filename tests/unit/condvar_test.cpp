// weft::CondVar with std::unique_lock<weft::Mutex> and with any other lock (std::mutex, a bare
// weft::Mutex): producer/consumer between fibers and plain threads, predicates and timeouts, the
// lock held again after a cancelled wait, and no lost notify_one when the notified waiter is being
// cancelled.
#include "sync_util.hpp"

#include <weft/condvar.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using weft_sync_test::Rng;

namespace {

TEST_CASE("condvar: the header's usage example") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      int got = 0;
      weft::Mutex mu;
      weft::CondVar cv;
      std::deque<int> queue;
      auto consumer = weft::spawn([&] {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return !queue.empty(); });  // unlocks while waiting, relocks before return
        got = queue.front();
      });
      {
        std::lock_guard lk(mu);
        queue.push_back(7);
      }
      cv.notify_one();
      consumer.join().value();
      CHECK(got == 7);
    });
  });
}

// A bounded queue built from one mutex and two condition variables; fibers and threads on both
// sides; every item arrives exactly once.
TEST_CASE("condvar: bounded queue — fiber and thread producers and consumers") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::Mutex mu;
    weft::CondVar not_empty, not_full;
    std::deque<long> q;
    const std::size_t cap = 4;
    bool done = false;
    const long producers = 8, per = weft_test::scaled(3000, 50);
    std::atomic<long> sum{0}, count{0};
    auto produce = [&](long id) {
      for (long i = 0; i < per; ++i) {
        std::unique_lock lk(mu);
        not_full.wait(lk, [&] { return q.size() < cap; });
        q.push_back(id * per + i);
        lk.unlock();
        not_empty.notify_one();
      }
    };
    auto consume = [&] {
      for (;;) {
        std::unique_lock lk(mu);
        if (!not_empty.wait_for(lk, 50ms, [&] { return !q.empty() || done; })) continue;
        if (q.empty()) return;  // done and drained
        sum += q.front();
        ++count;
        q.pop_front();
        lk.unlock();
        not_full.notify_one();
      }
    };
    std::thread thread_consumer(consume);
    std::thread thread_producer([&] { produce(producers); });
    std::vector<weft::JoinHandle<void>> ps, cs;
    rt.block_on([&] {
      for (long p = 0; p < producers; ++p) ps.push_back(weft::spawn([&, p] { produce(p); }));
      for (int c = 0; c < 3; ++c) cs.push_back(weft::spawn(consume));
      for (auto& h : ps) h.join().value();
    });
    thread_producer.join();  // never inside a fiber: it would block a worker the others need
    {
      std::lock_guard lk(mu);
      done = true;
    }
    not_empty.notify_all();
    for (auto& h : cs) h.join().value();  // from this plain thread: blocks it, not a worker
    thread_consumer.join();
    const long n = (producers + 1) * per;
    CHECK(count.load() == n);
    CHECK(sum.load() == n * (n - 1) / 2);
  });
}

TEST_CASE("condvar: wait_for / wait_until time out with the lock held again") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Mutex mu;
      weft::CondVar cv;
      std::unique_lock lk(mu);
      auto t0 = std::chrono::steady_clock::now();
      CHECK(cv.wait_for(lk, 10ms) == std::cv_status::timeout);
      CHECK(std::chrono::steady_clock::now() - t0 >= 10ms);
      CHECK(lk.owns_lock());
      CHECK_FALSE(cv.wait_until(lk, std::chrono::steady_clock::now() + 5ms, [] { return false; }));
      CHECK(lk.owns_lock());
      lk.unlock();
      CHECK_THROWS_WITH_AS(cv.wait(lk), doctest::Contains("does not hold"), weft::Error);
    });
  });
}

TEST_CASE("condvar: a cancelled wait rethrows with the mutex locked again") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Mutex mu;
      weft::CondVar cv;
      weft::Notify waiting;
      bool owned_in_handler = false;
      auto h = weft::spawn([&] {
        std::unique_lock lk(mu);
        try {
          waiting.notify_one();
          cv.wait(lk);
        } catch (const weft::Cancelled&) {
          owned_in_handler = lk.owns_lock();
          throw;
        }
      });
      waiting.notified();
      // Hold the mutex while cancelling: the relock inside wait() must wait for us, not throw.
      {
        std::lock_guard g(mu);
        h.abort();
        weft::yield_now();
      }
      CHECK(h.join().error().is_cancelled());
      CHECK(owned_in_handler);
      CHECK(mu.try_lock());
      mu.unlock();
    });
  });
}

TEST_CASE("condvar: any lock — fibers wait under a std::mutex that plain threads notify under") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const long items = weft_test::scaled(2000, 100);
    std::mutex m;  // the state is shared with plain threads, which cannot take a weft::Mutex cheaply
    weft::CondVar cv;
    std::deque<long> queue;
    long consumed = 0, sum = 0;
    std::thread producer([&] {
      for (long i = 1; i <= items; ++i) {
        {
          std::lock_guard g(m);
          queue.push_back(i);
        }
        cv.notify_one();
      }
    });
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> consumers;
      for (int c = 0; c < 4; ++c) {
        consumers.push_back(weft::spawn([&] {
          std::unique_lock lk(m);
          for (;;) {
            cv.wait(lk, [&] { return !queue.empty() || consumed == items; });
            CHECK(lk.owns_lock());
            if (queue.empty()) break;
            sum += queue.front();
            queue.pop_front();
            if (++consumed == items) cv.notify_all();  // release the other consumers
          }
        }));
      }
      for (auto& h : consumers) h.join().value();
    });
    producer.join();
    CHECK(consumed == items);
    CHECK(sum == items * (items + 1) / 2);
  });
}

TEST_CASE("condvar: any lock — timeouts and cancellation return with the lock held again") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      std::mutex m;
      weft::CondVar cv;
      {
        std::unique_lock lk(m);
        CHECK(cv.wait_for(lk, 2ms) == std::cv_status::timeout);
        CHECK(lk.owns_lock());
        CHECK_FALSE(cv.wait_for(lk, 1ms, [] { return false; }));
        CHECK(lk.owns_lock());
      }
      // A weft::Mutex used directly as the lock: the relock after a cancelled wait is not cancellable.
      weft::Mutex mu;
      auto h = weft::spawn([&] {
        mu.lock();
        try {
          cv.wait(mu);
        } catch (const weft::Cancelled&) {
          mu.unlock();  // a fatal report if the wait had returned without the mutex
          throw;
        }
        mu.unlock();
      });
      weft_test::yield_until_suspended(h.id());
      {
        std::lock_guard g(mu);  // the relock must wait for us
        h.abort();
        weft::yield_now();
      }
      CHECK(h.join().error().is_cancelled());
      CHECK(mu.try_lock());
      mu.unlock();
    });
  });
}

TEST_CASE("condvar: any lock — a lock that holds nothing is a weft::Error and leaves no waiter behind") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      std::mutex m;
      weft::CondVar cv;
      std::unique_lock lk(m, std::defer_lock);
      std::string msg;
      try {
        cv.wait(lk);
      } catch (const weft::Error& e) {
        msg = e.what();
      }
      CHECK(weft_test::contains(msg, "does not hold its mutex"));
      // Nothing enrolled: destroying cv now must not report waiters.
    });
  });
}

// Waiters get aborted at random points while notify_one() is called once per item; each item must
// be taken by somebody (a notify that hit a cancelled waiter must reach another one).
TEST_CASE("condvar: cancel-safety — notify_one reaching a cancelled waiter is not lost") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Mutex mu;
      weft::CondVar cv;
      long items = 0;
      long taken = 0;
      const long rounds = weft_test::scaled(100, 3);
      for (long round = 0; round < rounds; ++round) {
        const int n = 16;
        std::vector<weft::JoinHandle<void>> hs;
        std::atomic<int> finished{0};
        for (int i = 0; i < n; ++i) {
          hs.push_back(weft::spawn([&] {
            std::unique_lock lk(mu);
            cv.wait(lk, [&] { return items > 0; });
            --items;
            ++taken;
            finished.fetch_add(1);
          }));
        }
        Rng rng(static_cast<std::uint64_t>(round));
        int aborts = 0;
        for (int i = 0; i < n; ++i) {
          if (rng.chance(30)) {
            hs[static_cast<std::size_t>(i)].abort();
            ++aborts;
          }
          weft_sync_test::random_yields(rng, 3);
          {
            std::lock_guard lk(mu);
            ++items;
          }
          cv.notify_one();
        }
        // Everybody who survived took one item; the rest stay in `items`. No survivor may be
        // stuck waiting while an item is available.
        CHECK(weft_sync_test::join_all_within(hs));
        std::lock_guard lk(mu);
        CHECK(items + taken == (round + 1) * n);
        CHECK(finished.load() + aborts >= n);
      }
    });
  });
}

}  // namespace
