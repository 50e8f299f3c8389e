// weft::mpsc: every message received exactly once and in per-sender order (fibers and plain
// threads on both sides, bounded and unbounded), closing semantics, and cancel-safety: aborted or
// timed-out receives consume nothing, aborted or timed-out sends send nothing.
#include "sync_util.hpp"

#include <weft/mpsc.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using weft_sync_test::Rng;

namespace {

TEST_CASE("mpsc: the header's usage example") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      int received = 0;
      auto [tx, rx] = weft::mpsc::channel<int>(32);            // bounded: send waits while full
      for (int id = 0; id < 3; ++id) {
        weft::spawn([tx = tx, id] {                            // Sender is copyable
          for (int i = 0; i < 5; ++i) (void)tx.send(id * 100 + i); // suspends while the channel is full
        }).detach();
      }
      tx = {};                                                 // drop ours: the channel closes when
                                                               // the last sender is gone
      while (std::optional<int> v = rx.recv()) ++received;     // nullopt: closed

      auto [utx, urx] = weft::mpsc::unbounded_channel<std::string>();   // send never waits
      CHECK(utx.send("x"));
      CHECK(*urx.recv() == "x");
      CHECK(received == 15);
    });
  });
}

struct Msg {
  std::uint32_t sender;
  std::uint32_t seq;
};

// Checks per-sender order and exactly-once delivery as messages arrive.
struct Ledger {
  explicit Ledger(std::size_t senders) : next(senders, 0) {}
  std::vector<std::uint32_t> next;  // next expected seq per sender (only the consumer touches it)
  long out_of_order = 0;
  long total = 0;
  void record(const Msg& m) {
    if (m.sender >= next.size() || m.seq != next[m.sender]) {
      ++out_of_order;
    } else {
      ++next[m.sender];
    }
    ++total;
  }
};

// `fibers` sender fibers and `threads` sender threads each send `per` messages; one consumer
// (a fiber, or the calling thread) checks them.
void model_stress(weft::Runtime& rt, std::size_t cap, bool consumer_is_thread) {
  const std::uint32_t fibers = 16, threads = 2;
  const auto per = static_cast<std::uint32_t>(weft_test::scaled(2000, 100));
  auto [tx, rx] = cap ? weft::mpsc::channel<Msg>(cap) : weft::mpsc::unbounded_channel<Msg>();
  std::vector<std::thread> ts;
  for (std::uint32_t t = 0; t < threads; ++t) {
    ts.emplace_back([tx = tx, id = fibers + t, per] {
      for (std::uint32_t i = 0; i < per; ++i) {
        if (i % 3 == 0) {
          while (!tx.send_for(Msg{id, i}, 100us)) {}   // a timed-out send sent nothing: retry it
        } else if (i % 3 == 1) {
          while (tx.try_send(Msg{id, i}).is_full()) std::this_thread::yield();
        } else {
          CHECK(tx.send(Msg{id, i}));
        }
      }
    });
  }
  auto senders = rt.spawn([tx = std::move(tx), fibers, per] {
    std::vector<weft::JoinHandle<void>> hs;
    for (std::uint32_t f = 0; f < fibers; ++f) {
      hs.push_back(weft::spawn([tx, f, per] {
        Rng rng(f);
        for (std::uint32_t i = 0; i < per; ++i) {
          if (rng.chance(10)) {
            while (!tx.send_for(Msg{f, i}, std::chrono::microseconds(rng.below(200)))) {}
          } else {
            CHECK(tx.send(Msg{f, i}));
          }
          if (rng.chance(5)) weft::yield_now();
        }
      }));
    }
    for (auto& h : hs) h.join().value();
  });
  Ledger ledger(fibers + threads);
  auto consume = [&] {
    while (std::optional<Msg> m = rx.recv()) ledger.record(*m);
  };
  if (consumer_is_thread) {
    consume();
  } else {
    rt.spawn(consume).join().value();
  }
  senders.join().value();
  for (auto& t : ts) t.join();
  CHECK(ledger.out_of_order == 0);
  CHECK(ledger.total == static_cast<long>((fibers + threads) * per));
  for (auto n : ledger.next) CHECK(n == per);
}

TEST_CASE("mpsc: model stress — bounded(4), fiber consumer, fiber and thread producers") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) { model_stress(rt, 4, false); });
}

TEST_CASE("mpsc: model stress — bounded(1), plain-thread consumer") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) { model_stress(rt, 1, true); });
}

TEST_CASE("mpsc: model stress — unbounded, fiber consumer") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) { model_stress(rt, 0, false); });
}

// A heap-owning message for round `r` of pair `p`: reading a slot before the hand-over finished
// writing it shows up as a wrong or torn string (and as a race under TSan).
std::string payload(std::uint32_t p, std::uint32_t r) {
  return "pair " + std::to_string(p) + " round " + std::to_string(r) + std::string(40, char('a' + r % 26));
}

// One side of a ping-pong over two capacity-1 channels: sends round r twice (so the second send
// waits for room and is completed by the other side's receive), then expects both back.
template <class Tx, class Rx>
long ping(const Tx& tx, const Rx& rx, std::uint32_t p, std::uint32_t rounds) {
  long bad = 0;
  for (std::uint32_t r = 0; r < rounds; ++r) {
    if (!tx.send(payload(p, r)) || !tx.send(payload(p, r + 1))) return -1;
    for (std::uint32_t k = 0; k < 2; ++k) {
      const std::optional<std::string> v = rx.recv();
      if (!v || *v != payload(p, r + k)) ++bad;
    }
  }
  return bad;
}

template <class Tx, class Rx>
void pong(const Tx& tx, const Rx& rx) {
  while (std::optional<std::string> v = rx.recv()) {
    if (!tx.send(std::move(*v))) return;
  }
}

// The hand-over paths that skip the channel lock on the waiting side (a sender giving its value
// straight to a parked receiver; a receiver moving a parked sender's value into the freed room):
// the waiter must see everything the notifier wrote. Pairs of fibers across workers, fiber with
// thread, and thread with thread, all at once.
TEST_CASE("mpsc: values handed to a waiting receiver or taken from a waiting sender arrive whole") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const auto rounds = static_cast<std::uint32_t>(weft_test::scaled(400, 20));
    constexpr std::uint32_t kFiberPairs = 8, kMixedPairs = 2, kThreadPairs = 1;
    std::atomic<long> bad{0};
    std::vector<std::thread> ts;
    std::vector<weft::JoinHandle<void>> hs;
    for (std::uint32_t p = 0; p < kFiberPairs + kMixedPairs + kThreadPairs; ++p) {
      auto [tx1, rx1] = weft::mpsc::channel<std::string>(1);
      auto [tx2, rx2] = weft::mpsc::channel<std::string>(1);
      auto pinger = [tx = std::move(tx1), rx = std::move(rx2), p, rounds, &bad] {
        const long b = ping(tx, rx, p, rounds);
        bad.fetch_add(b < 0 ? 1000000 : b);
      };
      auto ponger = [tx = std::move(tx2), rx = std::move(rx1)] { pong(tx, rx); };
      if (p < kFiberPairs) {
        hs.push_back(rt.spawn(std::move(pinger)));
        hs.push_back(rt.spawn(std::move(ponger)));
      } else if (p < kFiberPairs + kMixedPairs) {
        // Fiber pings, thread pongs on even pairs; the other way round on odd ones.
        if (p % 2 == 0) {
          hs.push_back(rt.spawn(std::move(pinger)));
          ts.emplace_back(std::move(ponger));
        } else {
          ts.emplace_back(std::move(pinger));
          hs.push_back(rt.spawn(std::move(ponger)));
        }
      } else {
        ts.emplace_back(std::move(pinger));
        ts.emplace_back(std::move(ponger));
      }
    }
    for (auto& h : hs) h.join().value();
    for (auto& t : ts) t.join();
    CHECK(bad.load() == 0);
  });
}

TEST_CASE("mpsc: closing — last sender dropped ends recv; receiver dropped makes send return the value") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      {
        auto [tx, rx] = weft::mpsc::channel<int>(2);
        auto tx2 = tx;
        CHECK(tx.send(1));
        tx = {};
        CHECK(tx2.send(2));
        CHECK(*rx.recv() == 1);
        auto waiter = weft::spawn([&rx] {
          (void)rx.recv();          // gets 2
          return rx.recv();         // waits, then the last sender goes away: nullopt
        });
        weft::yield_now();
        tx2 = {};
        CHECK_FALSE(waiter.join().value().has_value());
        CHECK(rx.is_closed());
      }
      {
        auto [tx, rx] = weft::mpsc::channel<std::string>(1);
        rx = {};
        weft::SendResult<std::string> r = tx.send("kept");
        CHECK(r.is_closed());
        CHECK(std::move(r).value() == "kept");
        CHECK(tx.is_closed());
        CHECK(weft_test::contains(tx.try_send("x").what(), "closed"));
      }
      {
        // A sender blocked on a full channel gets its value back when the receiver goes away.
        auto [tx, rx] = weft::mpsc::channel<std::unique_ptr<int>>(1);
        CHECK(tx.send(std::make_unique<int>(1)));
        weft::Notify started;
        auto blocked = weft::spawn([&tx, &started] {
          started.notify_one();
          return tx.send(std::make_unique<int>(2));
        });
        started.notified();
        for (int i = 0; i < 10; ++i) weft::yield_now();
        rx = {};
        weft::SendResult<std::unique_ptr<int>> r = blocked.join().value();
        CHECK(r.is_closed());
        CHECK(*r.value() == 2);
      }
      {
        // Receiver::close(): sends fail from now on, but what is buffered is still delivered.
        auto [tx, rx] = weft::mpsc::channel<int>(4);
        CHECK(tx.send(1));
        CHECK(tx.send(2));
        rx.close();
        CHECK(tx.send(3).is_closed());
        CHECK(*rx.recv() == 1);
        CHECK(*rx.recv() == 2);
        CHECK_FALSE(rx.recv().has_value());
      }
    });
  });
}

TEST_CASE("mpsc: misuse gives clear errors") {
  CHECK_THROWS_WITH_AS(weft::mpsc::channel<int>(0), doctest::Contains("capacity 0"), weft::Error);
  weft::mpsc::Receiver<int> none;
  CHECK_THROWS_WITH_AS((void)none.try_recv(), doctest::Contains("no channel"), weft::Error);
  weft::SendResult<int> sent = weft::SendResult<int>::sent();
  CHECK_THROWS_AS((void)sent.value(), weft::Error);
}

// The consumer fiber is aborted at random points and replaced, again and again; timed receives
// (try_recv polling) run alongside; every message must still arrive exactly once and in order.
TEST_CASE("mpsc: cancel-safety — aborted receivers consume nothing") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const std::uint32_t senders = 8;
      const auto per = static_cast<std::uint32_t>(weft_test::scaled(1500, 100));
      auto [tx, rx] = weft::mpsc::channel<Msg>(2);
      std::vector<weft::JoinHandle<void>> hs;
      for (std::uint32_t s = 0; s < senders; ++s) {
        hs.push_back(weft::spawn([tx = tx, s, per] {
          for (std::uint32_t i = 0; i < per; ++i) CHECK(tx.send(Msg{s, i}));
        }));
      }
      tx = {};
      Ledger ledger(senders);
      Rng rng(99);
      long aborts = 0;
      for (;;) {
        auto consumer = weft::spawn([&] {
          // No suspension point between recv() returning and record(): an abort cannot land
          // between them, so a message is either still in the channel or recorded.
          while (std::optional<Msg> m = rx.recv()) ledger.record(*m);
        });
        weft_sync_test::random_yields(rng, 20);
        consumer.abort();
        weft::Result<void> r = consumer.join();
        if (r) break;  // it saw the channel close: everything was received
        ++aborts;
      }
      CHECK(weft_sync_test::join_all_within(hs));
      CHECK(ledger.out_of_order == 0);
      CHECK(ledger.total == static_cast<long>(senders * per));
      MESSAGE("consumer aborted " << aborts << " times");
    });
  });
}

// Senders blocked on a full channel are aborted at random points; others use send_for with tiny
// timeouts. A send that threw or timed out must have sent nothing: the receiver sees exactly the
// sends that reported success, contiguous per sender.
TEST_CASE("mpsc: cancel-safety — aborted or timed-out senders send nothing") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const std::uint32_t senders = 12;
      const auto per = static_cast<std::uint32_t>(weft_test::scaled(1000, 80));
      auto [tx, rx] = weft::mpsc::channel<Msg>(1);
      std::vector<std::atomic<std::uint32_t>> sent_ok(senders);
      std::vector<weft::JoinHandle<void>> hs;
      for (std::uint32_t s = 0; s < senders; ++s) {
        hs.push_back(weft::spawn([tx = tx, s, per, &sent_ok] {
          Rng rng(s + 7);
          for (std::uint32_t i = 0; i < per;) {
            bool ok;
            if (rng.chance(30)) {
              ok = static_cast<bool>(tx.send_for(Msg{s, i}, std::chrono::microseconds(rng.below(300))));
            } else {
              ok = static_cast<bool>(tx.send(Msg{s, i}));
            }
            if (ok) sent_ok[s].store(++i);
          }
        }));
      }
      tx = {};
      auto aborter = weft::spawn([&hs] {
        Rng rng(3);
        for (auto& h : hs) {
          weft_sync_test::random_yields(rng, 200);
          if (rng.chance(50)) h.abort();
        }
      });
      Ledger ledger(senders);
      while (std::optional<Msg> m = rx.recv()) ledger.record(*m);  // ends when every sender is gone
      aborter.join().value();
      CHECK(weft_sync_test::join_all_within(hs));
      CHECK(ledger.out_of_order == 0);
      long expected = 0;
      for (std::uint32_t s = 0; s < senders; ++s) {
        CHECK(ledger.next[s] == sent_ok[s].load());
        expected += sent_ok[s].load();
      }
      CHECK(ledger.total == expected);
    });
  });
}

// Receives under weft::timeout scopes that expire at random moments (often mid-wait): an expired
// receive consumed nothing, so the sequence stays complete and in order.
TEST_CASE("mpsc: cancel-safety — receives cut short by weft::timeout consume nothing") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const auto per = static_cast<std::uint32_t>(weft_test::scaled(3000, 200));
      auto [tx, rx] = weft::mpsc::channel<Msg>(1);
      auto producer = weft::spawn([tx = std::move(tx), per] {
        Rng rng(1);
        for (std::uint32_t i = 0; i < per; ++i) {
          CHECK(tx.send(Msg{0, i}));
          if (rng.chance(20)) weft::sleep(std::chrono::microseconds(rng.below(300)));
        }
      });
      Ledger ledger(1);
      Rng rng(2);
      long expired = 0;
      for (;;) {
        bool closed = false;
        const bool finished = weft::timeout(std::chrono::microseconds(rng.below(400)), [&] {
          std::optional<Msg> m = rx.recv();
          if (m) ledger.record(*m); else closed = true;
        });
        if (!finished) ++expired;
        if (closed) break;
      }
      producer.join().value();
      CHECK(ledger.out_of_order == 0);
      CHECK(ledger.total == static_cast<long>(per));
      MESSAGE(expired << " receives expired");
    });
  });
}

// A weft::timeout scope around the whole send works like send_for: an expired send sent nothing.
TEST_CASE("mpsc: cancel-safety — sends cut short by weft::timeout send nothing") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const auto per = static_cast<std::uint32_t>(weft_test::scaled(2000, 100));
      auto [tx, rx] = weft::mpsc::channel<Msg>(1);
      Ledger ledger(1);
      auto consumer = weft::spawn([&ledger, rx = std::move(rx)] {
        Rng rng(3);
        while (std::optional<Msg> m = rx.recv()) {
          ledger.record(*m);
          if (rng.chance(20)) weft::sleep(std::chrono::microseconds(rng.below(300)));
        }
      });
      Rng rng(4);
      for (std::uint32_t i = 0; i < per;) {
        // (Never wrap a suspension point in CHECK: doctest would swallow the Cancelled.)
        std::optional<bool> sent =
            weft::timeout(std::chrono::microseconds(rng.below(400)), [&] { return static_cast<bool>(tx.send(Msg{0, i})); });
        if (sent) {
          CHECK(*sent);
          ++i;
        }
      }
      tx = {};
      consumer.join().value();
      CHECK(ledger.out_of_order == 0);
      CHECK(ledger.total == static_cast<long>(per));
    });
  });
}

TEST_CASE("channel.hpp: the header's usage example") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    bool came_back = false;
    auto [tx, rx] = weft::mpsc::channel<std::string>(16);
    rx = {};  // so that the send below fails and the example's branch runs
    weft::SendResult<std::string> r = tx.send("hello");
    if (!r) {                                     // not sent: the receiver is gone
      std::string back = std::move(r).value();     // the value comes back, nothing is lost
      came_back = back == "hello";
    }
    CHECK(came_back);
  });
}

}  // namespace
