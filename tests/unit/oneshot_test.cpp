// weft::oneshot: one value, delivered once; sender dropped means nullopt; receiver gone means the
// value comes back; a cancelled recv leaves the value for a later recv; threads on either side.
#include "sync_util.hpp"

#include <weft/oneshot.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

using weft_sync_test::Rng;

namespace {

TEST_CASE("oneshot: the header's usage example") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      auto [tx, rx] = weft::oneshot::channel<int>();
      weft::spawn([tx = std::move(tx)]() mutable { (void)tx.send(42); }).detach();
      std::optional<int> v = rx.recv();      // suspends until sent; nullopt if the sender was
      CHECK(*v == 42);                       // dropped without sending
    });
  });
}

TEST_CASE("oneshot: closing semantics and misuse") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      {
        auto [tx, rx] = weft::oneshot::channel<int>();
        auto waiter = weft::spawn([&rx] { return rx.recv(); });
        tx = {};  // dropped without sending
        CHECK_FALSE(waiter.join().value().has_value());
        CHECK(rx.is_finished());
      }
      {
        auto [tx, rx] = weft::oneshot::channel<std::unique_ptr<int>>();
        rx = {};
        weft::SendResult<std::unique_ptr<int>> r = tx.send(std::make_unique<int>(5));
        CHECK(r.is_closed());
        CHECK(*r.value() == 5);
      }
      {
        auto [tx, rx] = weft::oneshot::channel<int>();
        CHECK(tx.send(1));
        CHECK_FALSE(static_cast<bool>(tx));  // used up
        CHECK_THROWS_WITH_AS((void)tx.send(2), doctest::Contains("no channel"), weft::Error);
        CHECK(*rx.try_recv() == 1);
        CHECK_THROWS_WITH_AS(rx.recv(), doctest::Contains("already received"), weft::Error);
      }
      {
        auto [tx, rx] = weft::oneshot::channel<int>();
        rx.close();
        CHECK(tx.is_closed());
        CHECK(tx.send(3).is_closed());
      }
    });
  });
}

TEST_CASE("oneshot: a recv() waiting on a closed receiver ends when the send is refused") {
  // Found by the simulation (sim_sync_test): the refused send woke nobody, so this recv() hung.
  for (int workers : {1, 2, 4}) {
    weft::Runtime rt = weft::Runtime::Builder().workers(workers).build();
    rt.block_on([] {
      for (int i = 0; i < weft_test::scaled(200, 20); ++i) {
        auto [tx, rx] = weft::oneshot::channel<int>();
        auto shared_rx = std::make_shared<weft::oneshot::Receiver<int>>(std::move(rx));
        shared_rx->close();
        auto receiver = weft::spawn([shared_rx] { return shared_rx->recv(); });
        if (i % 2) weft::yield_now();  // mostly lets the receiver start waiting first
        auto res = tx.send(7);  // it may or may not be waiting yet: both must end
        CHECK(res.is_closed());
        auto got = weft::timeout(std::chrono::seconds(60), [&] { return receiver.join().value(); });
        REQUIRE(got.has_value());  // a hang is a failure, not a stuck test
        CHECK_FALSE(got->has_value());
      }
    });
  }
}

TEST_CASE("oneshot: many pairs across fibers and threads; cancelled receives leave the value") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const long pairs = weft_test::scaled(5000, 100);
      std::atomic<long> delivered{0}, lost{0}, dup{0};
      std::vector<std::thread> threads;
      Rng rng(4);
      for (long i = 0; i < pairs; ++i) {
        auto [tx, rx] = weft::oneshot::channel<long>();
        auto rxp = std::make_shared<weft::oneshot::Receiver<long>>(std::move(rx));
        // A first receiver that may be aborted while waiting...
        auto first = weft::spawn([rxp] { return rxp->recv(); });
        if (i % 100 == 0) {
          threads.emplace_back([tx = std::move(tx), i]() mutable { (void)tx.send(i); });
        } else {
          weft::spawn([tx = std::move(tx), i]() mutable {
            weft::yield_now();
            (void)tx.send(i);
          }).detach();
        }
        if (rng.chance(50)) first.abort();
        weft::Result<std::optional<long>> r = first.join();
        std::optional<long> got;
        if (r) {
          got = r.value();
        } else {
          got = rxp->recv();  // ...then the value must still be there
        }
        if (!got) lost.fetch_add(1);
        else if (*got != i) dup.fetch_add(1);
        else delivered.fetch_add(1);
      }
      for (auto& t : threads) t.join();
      CHECK(lost.load() == 0);
      CHECK(dup.load() == 0);
      CHECK(delivered.load() == pairs);
    });
  });
}

}  // namespace
