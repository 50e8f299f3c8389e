// weft::Barrier: cycles release everyone together with exactly one leader, fibers and threads
// mix, and a waiter cancelled before its cycle completes takes its arrival back.
#include "sync_util.hpp"

#include <weft/barrier.hpp>

#include <atomic>
#include <thread>
#include <vector>

using weft_sync_test::Rng;

namespace {

TEST_CASE("barrier: the header's usage example") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      std::atomic<int> leaders{0}, phase1{0}, phase2_early{0};
      weft::Barrier barrier(3);
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < 3; ++i) {
        hs.push_back(weft::spawn([&] {
          phase1.fetch_add(1);
          if (barrier.wait()) leaders.fetch_add(1);      // exactly one leader
          if (phase1.load() != 3) phase2_early.fetch_add(1);
        }));
      }
      for (auto& h : hs) h.join().value();
      CHECK(leaders.load() == 1);
      CHECK(phase2_early.load() == 0);
    });
  });
}

TEST_CASE("barrier: many cycles, fibers and plain threads together, one leader per cycle") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int fibers = 6, threads = 2, n = fibers + threads;
    const long cycles = weft_test::scaled(1000, 20);
    weft::Barrier barrier(static_cast<std::size_t>(n));
    std::atomic<long> leaders{0};
    std::vector<std::atomic<int>> arrived(static_cast<std::size_t>(cycles));
    std::atomic<long> early{0};
    auto participant = [&] {
      for (long c = 0; c < cycles; ++c) {
        arrived[static_cast<std::size_t>(c)].fetch_add(1);
        if (barrier.wait()) leaders.fetch_add(1);
        if (arrived[static_cast<std::size_t>(c)].load() != n) early.fetch_add(1);  // released too soon
      }
    };
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) ts.emplace_back(participant);
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (int f = 0; f < fibers; ++f) hs.push_back(weft::spawn(participant));
      CHECK(weft_sync_test::join_all_within(hs));
    });
    for (auto& t : ts) t.join();
    CHECK(leaders.load() == cycles);
    CHECK(early.load() == 0);
  });
}

TEST_CASE("barrier: cancel-safety — a cancelled waiter takes its arrival back") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Barrier barrier(3);
      // Two arrive; one of them is cancelled: the cycle must now need two more, not one.
      weft::WaitGroup in;
      in.add(2);
      auto a = weft::spawn([&] {
        in.done();
        return barrier.wait();
      });
      auto b = weft::spawn([&] {
        in.done();
        return barrier.wait();
      });
      in.wait();
      b.abort();
      weft::Result<bool> rb = b.join();
      // If b was already released... it cannot be: only two of three arrived.
      CHECK(rb.error().is_cancelled());
      auto c = weft::spawn([&] { return barrier.wait(); });
      CHECK_FALSE(c.is_finished());
      const bool lead = barrier.wait();  // the third arrival now completes the cycle
      const int leaders = int(lead) + int(a.join().value()) + int(c.join().value());
      CHECK(leaders == 1);
    });
  });
}

TEST_CASE("barrier: random aborts never strand or over-release a cycle") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const long rounds = weft_test::scaled(300, 10);
      for (long round = 0; round < rounds; ++round) {
        const int n = 4;
        weft::Barrier barrier(n);
        std::atomic<int> released{0}, leaders{0};
        std::vector<weft::JoinHandle<void>> hs;
        for (int i = 0; i < n + 3; ++i) {  // 3 spares, so aborted arrivals can be replaced
          hs.push_back(weft::spawn([&] {
            if (barrier.wait()) leaders.fetch_add(1);
            released.fetch_add(1);
          }));
        }
        Rng rng(static_cast<std::uint64_t>(round));
        int aborted = 0;
        for (auto& h : hs) {
          if (aborted < 3 && rng.chance(30)) {
            weft_sync_test::random_yields(rng, 3);
            h.abort();
            ++aborted;
          }
        }
        // More arrivals, so some cycles complete after the aborts.
        for (int extra = 0; extra < n; ++extra) {
          hs.push_back(weft::spawn([&] {
            if (barrier.wait()) leaders.fetch_add(1);
            released.fetch_add(1);
          }));
        }
        // Cancel whoever still waits; every completed cycle must have released exactly n.
        for (auto& h : hs) h.abort();
        CHECK(weft_sync_test::join_all_within(hs));
        CHECK(released.load() == leaders.load() * n);
      }
    });
  });
}

}  // namespace
