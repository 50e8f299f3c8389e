// weft::broadcast: every receiver sees every value in the same order unless told it lagged (and
// then by exactly how many), closing, subscribe/clone positions, plain threads, cancel-safety.
#include "sync_util.hpp"

#include <weft/broadcast.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

using weft_sync_test::Rng;

namespace {

TEST_CASE("broadcast: the header's usage example") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      auto [tx, rx1] = weft::broadcast::channel<std::string>(16);
      weft::broadcast::Receiver<std::string> rx2 = tx.subscribe();   // sees values sent from now on
      (void)tx.send("hello");
      auto a = rx1.recv();                        // both receive "hello"
      auto b = rx2.recv();
      CHECK((a && b));
      CHECK(*a == "hello");
      CHECK(*b == "hello");

      // A receiver that fell more than `capacity` values behind is told so, never silently skipped:
      for (int i = 0; i < 20; ++i) (void)tx.send(std::to_string(i));   // rx1 is now 20 behind, 16 kept
      auto r = rx1.recv();
      CHECK(r.is_lagged());
      CHECK(r.lagged() == 4);
      CHECK(weft_test::contains(r.what(), "lagged by 4"));
      CHECK(*rx1.recv() == "4");  // continues with the oldest value kept
    });
  });
}

// Each receiver records what it saw as (value | lag marker). Values are 0..N-1 in send order, so
// "identical sequences unless told they lagged" means: strictly consecutive values, and a gap is
// exactly the lag that was reported just before it.
struct SeqCheck {
  long next = 0;
  long bad = 0;
  long lagged_total = 0;
  long values = 0;
  void value(long v) {
    if (v != next) ++bad;
    next = v + 1;
    ++values;
  }
  void lagged(std::uint64_t n) {
    next += static_cast<long>(n);
    lagged_total += static_cast<long>(n);
  }
};

template <class Rx>
void drain(Rx& rx, SeqCheck& c) {
  for (;;) {
    auto r = rx.recv();
    if (r.is_closed()) return;
    if (r.is_lagged()) {
      c.lagged(r.lagged());
    } else {
      c.value(r.value());
    }
  }
}

TEST_CASE("broadcast: model stress — fast and slow receivers, fibers and a thread") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const long n = weft_test::scaled(50000, 1000);
    auto [tx, rx] = weft::broadcast::channel<long>(8);
    const int fiber_rx = 6;
    std::vector<SeqCheck> checks(fiber_rx + 1);
    std::vector<weft::broadcast::Receiver<long>> rxs;
    for (int i = 0; i < fiber_rx + 1; ++i) rxs.push_back(tx.subscribe());
    rx = {};
    std::thread t([&] { drain(rxs[fiber_rx], checks[fiber_rx]); });
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < fiber_rx; ++i) {
        hs.push_back(weft::spawn([&, i] {
          Rng rng(static_cast<std::uint64_t>(i));
          for (;;) {
            auto r = rxs[static_cast<std::size_t>(i)].recv();
            if (r.is_closed()) return;
            if (r.is_lagged()) checks[static_cast<std::size_t>(i)].lagged(r.lagged());
            else checks[static_cast<std::size_t>(i)].value(r.value());
            if (i % 2 && rng.chance(20)) weft::yield_now();  // slow ones lag
          }
        }));
      }
      auto sender = weft::spawn([tx = std::move(tx), n] {
        for (long v = 0; v < n; ++v) {
          CHECK(tx.send(v));
          if (v % 64 == 0) weft::yield_now();
        }
      });
      sender.join().value();
      CHECK(weft_sync_test::join_all_within(hs));
    });
    t.join();
    for (auto& c : checks) {
      CHECK(c.bad == 0);
      CHECK(c.next == n);                    // everything seen or reported as lagged
      CHECK(c.values + c.lagged_total == n);
    }
  });
}

TEST_CASE("broadcast: closing, clones and sends without receivers") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      auto [tx, rx] = weft::broadcast::channel<int>(4);
      CHECK(tx.send(1));
      auto copy = rx;                      // continues from the same position
      CHECK(*rx.recv() == 1);
      CHECK(*copy.recv() == 1);
      CHECK(rx.try_recv().is_empty());
      auto tx2 = tx;
      tx = {};
      CHECK(tx2.send(2));
      tx2 = {};
      CHECK(*rx.recv() == 2);
      CHECK(rx.recv().is_closed());        // all senders gone and everything read
      CHECK(*copy.recv() == 2);
      auto [tx3, rx3] = weft::broadcast::channel<int>(1);
      rx3 = {};
      weft::SendResult<int> r = tx3.send(9);
      CHECK(r.is_closed());
      CHECK(r.value() == 9);
    });
  });
}

// Receivers get aborted mid-recv at random; a replacement continues with the same Receiver object.
// The sequence it sees must still be consecutive: a cancelled recv moved nothing.
TEST_CASE("broadcast: cancel-safety — an aborted recv does not move the receiver") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const long n = weft_test::scaled(6000, 200);
      auto [tx, rx] = weft::broadcast::channel<long>(static_cast<std::size_t>(n));  // never lags here
      SeqCheck check;
      auto sender = weft::spawn([tx = std::move(tx), n] {
        for (long v = 0; v < n; ++v) {
          CHECK(tx.send(v));
          weft::yield_now();
        }
      });
      Rng rng(17);
      for (;;) {
        auto consumer = weft::spawn([&] { drain(rx, check); });
        weft_sync_test::random_yields(rng, 10);
        consumer.abort();
        if (consumer.join()) break;
      }
      sender.join().value();
      CHECK(check.bad == 0);
      CHECK(check.lagged_total == 0);
      CHECK(check.values == n);
    });
  });
}

}  // namespace
