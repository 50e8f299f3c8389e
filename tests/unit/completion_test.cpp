// weft::Completion: many fibers' waits completed by plain std::threads through std::function
// copies (first call wins, exactly once), every copy dropped uncalled (the waiter gets
// NeverCompleted, never a hang), plain-thread waiters, and misuse as weft::Error.
#include "test_util.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace {
// A work queue of callbacks that plain threads run (or drop) — the "foreign event loop".
struct Foreign {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> q;
  bool closed = false;
  void push(std::function<void()> f) {
    {
      std::lock_guard lk(mu);
      q.push_back(std::move(f));
    }
    cv.notify_one();
  }
  void close() {
    {
      std::lock_guard lk(mu);
      closed = true;
    }
    cv.notify_all();
  }
  void run() {
    for (;;) {
      std::function<void()> f;
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return closed || !q.empty(); });
        if (q.empty()) return;
        f = std::move(q.front());
        q.pop_front();
      }
      f();  // runs (or just destroys) the callback on this thread
    }
  }
};
}  // namespace

TEST_CASE("Completion: plain threads complete many fiber waits through std::function copies; first call wins") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(2'000, 100));
    Foreign foreign;
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) threads.emplace_back([&] { foreign.run(); });
    std::unique_ptr<std::atomic<int>[]> wins(new std::atomic<int>[n]);
    std::unique_ptr<std::atomic<int>[]> winner(new std::atomic<int>[n]);
    for (int i = 0; i < n; ++i) wins[i] = 0, winner[i] = -1;
    std::atomic<int> never{0};
    rt.block_on([&] {
      std::vector<weft::JoinHandle<int>> hs;
      for (int i = 0; i < n; ++i) {
        hs.push_back(weft::spawn([&, i] {
          auto [done, waiter] = weft::completion<int>();
          std::function<bool(int)> cb = done;  // a copyable handle in a std::function
          if (i % 5 == 0) {
            // The foreign side drops every copy without calling: the wait must fail, not hang.
            foreign.push([cb] { (void)cb; });
            foreign.push([cb] { (void)cb; });
          } else {
            // Two copies raced by different threads, each with its own value.
            for (int k = 0; k < 2; ++k) {
              foreign.push([cb, i, k, &wins, &winner] {
                if (cb(2 * i + k)) {
                  wins[i]++;
                  winner[i] = 2 * i + k;
                }
              });
            }
          }
          cb = nullptr;
          done = {};  // only the queued copies remain
          try {
            return waiter.wait();
          } catch (const weft::NeverCompleted&) {
            never++;
            return -1;
          }
        }));
      }
      for (int i = 0; i < n; ++i) {
        const int v = hs[i].join().value();
        if (i % 5 == 0) {
          CHECK(v == -1);
        } else {
          CHECK((v == 2 * i || v == 2 * i + 1));
          // The winner records itself after its call returned: wait for it.
          while (winner[i].load() == -1) weft::yield_now();
          CHECK(v == winner[i].load());
        }
      }
    });
    foreign.close();
    for (auto& t : threads) t.join();
    int expect_never = 0;
    for (int i = 0; i < n; ++i) {
      if (i % 5 == 0) {
        ++expect_never;
        CHECK(wins[i].load() == 0);
      } else {
        CHECK(wins[i].load() == 1);
      }
    }
    CHECK(never.load() == expect_never);
  });
}

TEST_CASE("Completion: the last copy dropped uncalled wakes the waiter (waiting or not); a plain thread can wait") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(200, 20));
    rt.block_on([&] {
      for (int i = 0; i < n; ++i) {
        auto [done, waiter] = weft::completion<void>();
        std::thread t([d = std::move(done)]() mutable {
          std::function<bool()> f = d;
          d = {};
          f = nullptr;  // the last copy goes, uncalled, on this thread
        });
        CHECK_THROWS_AS(waiter.wait(), weft::NeverCompleted);
        t.join();
        CHECK(waiter.is_ready());
        CHECK_THROWS_AS(waiter.wait(), weft::NeverCompleted);  // stays failed
      }
    });
    // A plain thread waits; a fiber completes.
    auto [done, waiter] = weft::completion<std::unique_ptr<int>>();
    auto h = rt.spawn([d = done] { return d(std::make_unique<int>(9)); });
    std::unique_ptr<int> v = waiter.wait();
    CHECK(*v == 9);
    CHECK(h.join().value());
    CHECK_FALSE(done(std::make_unique<int>(1)));  // later calls report false
  });
}

TEST_CASE("Completion: a call after the waiter is gone reports false; an aborted waiter ends cancelled") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Completion<int> keep;
      std::atomic<bool> kept{false};  // `keep` is written by the fiber: read it only after this
      auto h = weft::spawn([&keep, &kept] {
        auto [done, waiter] = weft::completion<int>();
        keep = done;
        kept.store(true);
        return waiter.wait();
      });
      while (!kept.load()) weft::yield_now();
      weft_test::yield_until_suspended(h.id());
      h.abort();
      weft::Result<int> r = h.join();
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().is_cancelled());
      CHECK_FALSE(keep(1));  // the waiter was destroyed by the unwinding
    });
  });
}

TEST_CASE("Completion misuse is a weft::Error") {
  weft::Completion<int> empty;
  CHECK_THROWS_AS(empty(1), weft::Error);
  weft::CompletionWaiter<int> no_waiter;
  CHECK_THROWS_AS(no_waiter.wait(), weft::Error);
  auto [done, waiter] = weft::completion<int>();
  CHECK(done(5));
  CHECK(waiter.wait() == 5);
  try {
    (void)waiter.wait();  // the value was already taken
    FAIL("a second wait() must throw");
  } catch (const weft::NeverCompleted&) {
    FAIL("a second wait() is misuse, not a lost callback");
  } catch (const weft::Error& e) {
    CHECK(weft_test::contains(e.what(), "already received"));
  }
}
