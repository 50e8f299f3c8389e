// weft::watch: latest value, changed() wakes every receiver, the end when the sender goes,
// subscribe/clone "seen" positions, plain threads, and cancel-safety (a cancelled changed()
// marks nothing seen).
#include "sync_util.hpp"

#include <weft/watch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace {

TEST_CASE("watch: the header's usage example") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      std::string last;
      auto [tx, rx] = weft::watch::channel<std::string>("starting");
      auto watcher = weft::spawn([rx = rx, &last]() mutable {
        while (rx.changed()) {                             // suspends until a newer value is sent;
          last = rx.borrow_and_update();                   // false: sender is gone
        }
      });
      tx.send("running");
      tx.send("stopped");                                 // a slow watcher may only see the last
      tx = {};                                            // one: watch keeps the latest value only
      watcher.join().value();
      CHECK(last == "stopped");
    });
  });
}

TEST_CASE("watch: every receiver eventually sees the final value; values are monotonic") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const long n = weft_test::scaled(20000, 200);
    auto [tx, rx] = weft::watch::channel<long>(0);
    std::atomic<long> non_monotonic{0};
    std::atomic<long> final_seen{0};
    auto watch_loop = [&](weft::watch::Receiver<long> r) {
      long prev = -1;
      while (r.changed()) {
        const long v = r.borrow();
        if (v < prev) non_monotonic.fetch_add(1);
        prev = v;
      }
      if (r.borrow() == n) final_seen.fetch_add(1);
    };
    std::thread t(watch_loop, tx.subscribe());
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < 8; ++i) hs.push_back(weft::spawn([&, r = tx.subscribe()]() mutable { watch_loop(std::move(r)); }));
      rx = {};
      auto sender = weft::spawn([tx = std::move(tx), n] {
        for (long v = 1; v <= n; ++v) {
          tx.send(v);
          if (v % 16 == 0) weft::yield_now();
        }
      });
      sender.join().value();
      CHECK(weft_sync_test::join_all_within(hs));
    });
    t.join();
    CHECK(non_monotonic.load() == 0);
    CHECK(final_seen.load() == 9);
  });
}

TEST_CASE("watch: seen positions — subscribe, clone, has_changed, send_modify") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      auto [tx, rx] = weft::watch::channel<int>(1);
      CHECK_FALSE(rx.has_changed());   // the initial value counts as seen
      tx.send(2);
      auto fresh = tx.subscribe();     // has seen 2 already
      CHECK(rx.has_changed());
      CHECK_FALSE(fresh.has_changed());
      auto copy = rx;                  // has not seen 2 either
      CHECK(rx.changed());
      CHECK(rx.borrow() == 2);
      CHECK(copy.has_changed());
      CHECK(tx.send_modify([](int& v) { v *= 10; }));
      CHECK(copy.changed());
      CHECK(copy.borrow_and_update() == 20);
      CHECK(tx.receiver_count() == 3);
    });
  });
}

TEST_CASE("watch: cancel-safety — a cancelled changed() marks nothing seen") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const long rounds = weft_test::scaled(1000, 30);
      auto [tx, rx] = weft::watch::channel<long>(0);
      for (long r = 1; r <= rounds; ++r) {
        auto waiter = weft::spawn([&rx] { return rx.changed(); });
        waiter.abort();
        tx.send(r);
        weft::Result<bool> res = waiter.join();
        if (res) {
          CHECK(res.value());       // it won: it saw the new value and marked it
          CHECK_FALSE(rx.has_changed());
        } else {
          CHECK(rx.has_changed());  // cancelled: the new value is still unseen
          CHECK(rx.changed());
        }
      }
    });
  });
}

}  // namespace
