// Range-for over an mpsc::Receiver: every message arrives exactly once, the loop ends when the
// channel is closed and drained, and cancelling the loop consumes nothing.
#include "test_util.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

TEST_CASE("range-for receives every message from many producers and ends when all senders are gone") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int producers = 16;
    const int per = static_cast<int>(weft_test::scaled(2'000, 100));
    auto [tx, rx] = weft::mpsc::channel<std::int64_t>(8);
    std::vector<int> seen(static_cast<std::size_t>(producers * per), 0);
    for (int p = 0; p < producers; ++p) {
      rt.spawn([tx = tx, p, per] {
        for (int i = 0; i < per; ++i) {
          if (!tx.send(static_cast<std::int64_t>(p) * per + i)) throw std::runtime_error("receiver gone");
        }
      }).detach();
    }
    // A plain thread feeds too: the loop must wait for it as well.
    std::thread feeder([tx = tx] {
      for (int i = 0; i < 100; ++i) {
        if (!tx.send(-1)) return;
      }
    });
    tx = {};  // ours gone: the loop ends once the fibers and the thread have dropped theirs
    long minus = 0;
    rt.block_on([&, rx = std::move(rx)] {
      for (std::int64_t& v : rx) {
        if (v < 0) ++minus;
        else seen[static_cast<std::size_t>(v)]++;
      }
      CHECK(rx.is_closed());
    });
    feeder.join();
    CHECK(minus == 100);
    long wrong = 0;
    for (int c : seen) wrong += c != 1;
    CHECK(wrong == 0);
  });
}

TEST_CASE("range-for over a closed receiver drains what is buffered; move-only messages move out") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    auto [tx, rx] = weft::mpsc::unbounded_channel<std::unique_ptr<int>>();
    for (int i = 0; i < 10; ++i) CHECK(tx.send(std::make_unique<int>(i)).is_sent());
    rx.close();  // senders fail from now on; the ten buffered messages stay
    CHECK(tx.send(std::make_unique<int>(99)).is_closed());
    int expect = 0;
    for (auto& p : rx) {
      std::unique_ptr<int> mine = std::move(p);
      CHECK(*mine == expect++);
    }
    CHECK(expect == 10);
  });
}

TEST_CASE("a range-for cancelled while it waits consumed nothing: the next receiver gets everything") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      auto [tx, rx] = weft::mpsc::channel<int>(4);
      std::atomic<int> got{0};
      weft::Notify first;
      auto loop = weft::spawn([&] {
        for (int& v : rx) {
          got += v;
          first.notify_one();
        }
      });
      CHECK(tx.send(1).is_sent());
      first.notified();   // the loop took message 1 and is waiting (or about to wait) for more
      loop.abort();
      auto r = loop.join();
      CHECK(r.error().is_cancelled());
      CHECK(tx.send(2).is_sent());
      CHECK(tx.send(3).is_sent());
      tx = {};
      int rest = 0;
      for (int& v : rx) rest += v;  // the same receiver, iterated again
      CHECK(got.load() == 1);
      CHECK(rest == 5);
    });
  });
}

TEST_CASE("range-for over a moved-from or empty receiver is a weft::Error, not a silent empty loop") {
  weft::mpsc::Receiver<int> empty;
  CHECK_THROWS_AS((void)empty.begin(), weft::Error);
  auto [tx, rx] = weft::mpsc::channel<int>(1);
  weft::mpsc::Receiver<int> taken = std::move(rx);
  CHECK_THROWS_AS((void)rx.begin(), weft::Error);  // NOLINT(bugprone-use-after-move): the misuse under test
  tx = {};
  int n = 0;
  for (int& v : taken) n += v;
  CHECK(n == 0);
}
