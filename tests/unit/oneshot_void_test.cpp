// oneshot::channel<void>(): a value-less signal with the same guarantees as a oneshot of a value.
#include "test_util.hpp"

#include <atomic>
#include <thread>
#include <variant>
#include <vector>

TEST_CASE("oneshot<void>: every signal reaches its receiver, fibers and plain threads") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(5'000, 200));
    std::atomic<int> signalled{0}, refused{0};
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < n; ++i) {
        auto [tx, rx] = weft::oneshot::channel<void>();
        hs.push_back(weft::spawn([rx = std::move(rx), &signalled] {
          if (rx.recv()) signalled++;
        }));
        if (i % 2) {
          weft::spawn([tx = std::move(tx), &refused]() mutable {
            if (!tx.send()) refused++;
          }).detach();
        } else {
          if (!tx.send()) refused++;
        }
      }
      for (auto& h : hs) CHECK(h.join().has_value());
    });
    CHECK(signalled.load() == n);
    CHECK(refused.load() == 0);
    // A plain thread waits for a fiber's signal.
    auto [tx, rx] = weft::oneshot::channel<void>();
    std::thread t([rx = std::move(rx)] { CHECK(rx.recv()); });
    rt.block_on([tx = std::move(tx)]() mutable { CHECK(tx.send()); });
    t.join();
  });
}

TEST_CASE("oneshot<void>: dropped sender, closed receiver, misuse, Select") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    {
      auto [tx, rx] = weft::oneshot::channel<void>();
      auto waiter = weft::spawn([rx = std::move(rx)] { return rx.recv(); });
      { auto gone = std::move(tx); }  // dropped without sending
      CHECK(waiter.join().value() == false);
    }
    {
      auto [tx, rx] = weft::oneshot::channel<void>();
      rx.close();
      CHECK(tx.is_closed());
      CHECK_FALSE(tx.send());
      CHECK_THROWS_AS((void)tx.send(), weft::Error);  // a sender sends once
    }
    {
      auto [tx, rx] = weft::oneshot::channel<void>();
      CHECK_FALSE(rx.try_recv());
      CHECK_FALSE(rx.is_finished());
      CHECK(tx.send());
      CHECK(rx.is_finished());
      CHECK(rx.recv());
      CHECK_THROWS_AS((void)rx.recv(), weft::Error);  // the signal was received already
    }
    {
      auto [tx, rx] = weft::oneshot::channel<void>();
      weft::Notify never;
      weft::spawn([tx = std::move(tx)]() mutable { (void)tx.send(); }).detach();
      bool fired = false;
      const std::size_t which = weft::Select()
                                    .notified(never, [] {})
                                    .recv(rx, [&](std::optional<std::monostate> v) { fired = v.has_value(); })
                                    .run();
      CHECK(which == 1);
      CHECK(fired);
    }
    weft::oneshot::Receiver<void> empty;
    CHECK_THROWS_AS((void)empty.recv(), weft::Error);
  });
}
