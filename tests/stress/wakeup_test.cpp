// Wake-ups are never lost: a fiber suspended on one worker is woken by something that happens on
// another thread — a fiber finishing elsewhere, a plain thread writing to a pipe, a fiber on another
// worker writing to a pipe. Each test does many suspend/wake cycles and counts every one; a lost
// wake-up shows up as a hang (doctest has no timeout, so the counts stay moderate) or a bad count.
#include "test_util.hpp"

#include <atomic>
#include <thread>
#include <vector>

namespace {

TEST_CASE("join wakes the joiner when the joined fiber finishes on another worker") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    static constexpr int kJoiners = 64;
    const long per_joiner = weft_test::scaled(100'000, 2'000) / kJoiners;
    std::atomic<long> joined{0}, wrong{0};
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> joiners;
      for (int j = 0; j < kJoiners; ++j) {
        joiners.push_back(weft::spawn([&, j] {
          for (long i = 0; i < per_joiner; ++i) {
            // The child yields first, so it usually finishes after its parent has suspended in
            // join(), often on another worker that stole it.
            auto child = weft::spawn([i, j] {
              weft::yield_now();
              return i * kJoiners + j;
            });
            weft::Result<long> r = child.join();
            if (!r || *r != i * kJoiners + j) wrong.fetch_add(1, std::memory_order_relaxed);
            joined.fetch_add(1, std::memory_order_relaxed);
          }
        }));
      }
      for (auto& h : joiners) CHECK(h.join().has_value());
    });
    CHECK(joined.load() == per_joiner * kJoiners);
    CHECK(wrong.load() == 0);
  });
}

TEST_CASE("a plain thread writing to a pipe wakes a fiber blocked in wait_readable") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    // Each round trip crosses threads twice (thread -> fiber -> thread) and usually wakes a parked
    // worker, which costs tens of microseconds here: fewer rounds than the other tests.
    constexpr int kPairs = 4;
    const long rounds = weft_test::scaled(20'000, 1'000) / kPairs;
    std::vector<std::unique_ptr<weft_test::Pipe>> to_fiber, to_thread;
    for (int p = 0; p < kPairs; ++p) {
      to_fiber.push_back(std::make_unique<weft_test::Pipe>());
      to_thread.push_back(std::make_unique<weft_test::Pipe>());
    }
    weft_test::StopWorkersFirst stop_workers{rt};  // before the fds close (see test_util.hpp)
    std::atomic<long> fiber_got{0}, thread_got{0}, wrong{0};
    std::vector<weft::JoinHandle<void>> fibers;
    for (int p = 0; p < kPairs; ++p) {
      fibers.push_back(rt.spawn([&, p] {
        for (long i = 0; i < rounds; ++i) {
          // Suspends in weft::wait_readable until the thread's byte arrives.
          const int c = weft_test::get_byte(to_fiber[p]->r);
          if (c != static_cast<int>(i & 0x7f)) wrong.fetch_add(1, std::memory_order_relaxed);
          fiber_got.fetch_add(1, std::memory_order_relaxed);
          if (!weft_test::put_byte(to_thread[p]->w, static_cast<char>(c))) wrong.fetch_add(1);
          // Yield now and then so the fiber moves between workers between waits.
          if (i % 7 == 0) weft::yield_now();
        }
      }));
    }
    std::vector<std::thread> threads;
    for (int p = 0; p < kPairs; ++p) {
      threads.emplace_back([&, p] {
        for (long i = 0; i < rounds; ++i) {
          if (!weft_test::put_byte(to_fiber[p]->w, static_cast<char>(i & 0x7f))) wrong.fetch_add(1);
          // Plain thread: weft::wait_readable falls back to poll(2) here.
          if (weft_test::get_byte(to_thread[p]->r) != static_cast<int>(i & 0x7f)) wrong.fetch_add(1);
          thread_got.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    for (auto& t : threads) t.join();
    for (auto& f : fibers) CHECK(f.join().has_value());
    CHECK(fiber_got.load() == rounds * kPairs);
    CHECK(thread_got.load() == rounds * kPairs);
    CHECK(wrong.load() == 0);
  });
}

TEST_CASE("a plain thread streaming into a pipe keeps waking its reader fiber until the last byte") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    // No handshake: the writer races ahead and the reader drains whatever is there, then waits.
    // Every wait must be woken by a later write; the byte count proves none was lost.
    const long bytes = weft_test::scaled(200'000, 10'000);
    weft_test::Pipe p;
    weft_test::StopWorkersFirst stop_workers{rt};  // before the fds close (see test_util.hpp)
    std::atomic<bool> reader_started{false};
    auto reader = rt.spawn([&] {
      reader_started.store(true, std::memory_order_release);
      long got = 0;
      char buf[256];
      while (got < bytes) {
        const ssize_t n = ::read(p.r, buf, sizeof buf);
        if (n > 0) {
          got += n;
        } else {
          weft::wait_readable(p.r);
        }
      }
      return got;
    });
    std::thread writer([&] {
      // Start only once the reader runs, so it typically finds the pipe empty and waits.
      while (!reader_started.load(std::memory_order_acquire)) std::this_thread::yield();
      char chunk[97] = {};
      long sent = 0;
      while (sent < bytes) {
        const ssize_t n = ::write(p.w, chunk, static_cast<std::size_t>(std::min<long>(sizeof chunk, bytes - sent)));
        if (n > 0) sent += n; else weft::wait_writable(p.w);  // plain thread: poll(2)
      }
    });
    writer.join();
    weft::Result<long> r = reader.join();
    REQUIRE(r.has_value());
    CHECK(*r == bytes);
  });
}

TEST_CASE("fibers ping-pong through pipes across workers without losing a wake-up") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    constexpr int kPairs = 16;
    const long rounds = weft_test::scaled(100'000, 5'000) / kPairs;
    std::vector<std::unique_ptr<weft_test::SocketPair>> links;
    for (int p = 0; p < kPairs; ++p) links.push_back(std::make_unique<weft_test::SocketPair>());
    weft_test::StopWorkersFirst stop_workers{rt};  // before the fds close (see test_util.hpp)
    std::atomic<long> pings{0}, pongs{0}, wrong{0};
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (int p = 0; p < kPairs; ++p) {
        const int a = links[p]->a, b = links[p]->b;
        hs.push_back(weft::spawn([&, a] {
          for (long i = 0; i < rounds; ++i) {
            if (!weft_test::put_byte(a, static_cast<char>(i & 0x7f))) wrong.fetch_add(1);
            if (weft_test::get_byte(a) != static_cast<int>(i & 0x7f)) wrong.fetch_add(1);
            pings.fetch_add(1, std::memory_order_relaxed);
          }
        }));
        hs.push_back(weft::spawn([&, b] {
          for (long i = 0; i < rounds; ++i) {
            const int c = weft_test::get_byte(b);
            if (c != static_cast<int>(i & 0x7f)) wrong.fetch_add(1);
            if (!weft_test::put_byte(b, static_cast<char>(c))) wrong.fetch_add(1);
            pongs.fetch_add(1, std::memory_order_relaxed);
          }
        }));
      }
      for (auto& h : hs) CHECK(h.join().has_value());
    });
    CHECK(pings.load() == rounds * kPairs);
    CHECK(pongs.load() == rounds * kPairs);
    CHECK(wrong.load() == 0);
  });
}

TEST_CASE("a fiber blocked on another thread's fiber chain: join wakes travel through a plain thread") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    // A fiber joins a fiber that waits for a byte from a plain thread: the wake-up crosses from the
    // thread to one fiber (fd) and from that fiber to another (join), many times.
    const long rounds = weft_test::scaled(5'000, 500);
    weft_test::Pipe p;
    weft_test::StopWorkersFirst stop_workers{rt};  // before the fds close (see test_util.hpp)
    std::atomic<long> woken{0};
    std::thread feeder([&] {
      for (long i = 0; i < rounds; ++i) {
        // Wait until the previous round consumed its byte, so each round is one wake-up.
        while (woken.load(std::memory_order_acquire) < i) std::this_thread::yield();
        if (!weft_test::put_byte(p.w)) break;
      }
    });
    const long ok = rt.block_on([&] {
      long n = 0;
      for (long i = 0; i < rounds; ++i) {
        auto waiter = weft::spawn([&] { return weft_test::get_byte(p.r); });
        if (waiter.join().value() == 'x') ++n;
        woken.fetch_add(1, std::memory_order_release);
      }
      return n;
    });
    feeder.join();
    CHECK(ok == rounds);
  });
}

}  // namespace
