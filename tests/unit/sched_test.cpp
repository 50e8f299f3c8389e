// The scheduler's promises: idle workers steal work, and no fiber can starve another — neither one
// that only yields, nor a pair that keeps waking each other (doc/design.md §4).
#include "cancel_util.hpp"
#include "sched/chaos.hpp"
#include "test_util.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <latch>
#include <optional>
#include <set>
#include <thread>
#include <vector>

namespace {

// CPU work with no memory traffic and no suspension point (so the sanitizers do not slow it down
// disproportionately and the fiber cannot be switched out while doing it).
std::uint64_t spin(std::uint64_t iters, std::uint64_t seed) {
  std::uint64_t x = seed;
  for (std::uint64_t i = 0; i < iters; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    asm volatile("" : "+r"(x));
  }
  return x;
}

std::uint64_t total_steals(const weft::RuntimeMetrics& m) {
  std::uint64_t n = 0;
  for (const auto& w : m.workers) n += w.steals;
  return n;
}

TEST_CASE("idle workers steal from a worker that spawned a burst of CPU-bound fibers") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    // Below the run queue's capacity (256), so the whole burst lands in the spawning worker's own
    // queue: a fiber of it running on another thread can only have got there by a steal.
    constexpr int kBurst = 128;
    const std::uint64_t work = static_cast<std::uint64_t>(weft_test::scaled(200'000, 20'000));
    // Stealing needs another worker to wake up and look while the burst is still queued; that is
    // near certain per attempt, but not guaranteed, so retry a bounded number of times.
    constexpr int kMaxAttempts = 50;
    std::size_t threads_used = 0;
    long wrong = 0;
    int attempt = 0;
    for (; attempt < kMaxAttempts; ++attempt) {
      std::vector<std::thread::id> ran_on(kBurst);
      wrong += rt.block_on([&] {
        std::vector<weft::JoinHandle<std::uint64_t>> hs;
        for (int i = 0; i < kBurst; ++i) {
          hs.push_back(weft::spawn([&ran_on, i, work] {
            ran_on[static_cast<std::size_t>(i)] = weft_test::thread_id();
            return spin(work, static_cast<std::uint64_t>(i));
          }));
        }
        long bad = 0;
        for (int i = 0; i < kBurst; ++i) {
          weft::Result<std::uint64_t> r = hs[static_cast<std::size_t>(i)].join();
          if (!r || *r != spin(work, static_cast<std::uint64_t>(i))) ++bad;
        }
        return bad;
      });
      threads_used = std::set<std::thread::id>(ran_on.begin(), ran_on.end()).size();
      if (rt.workers() == 1 || threads_used > 1) break;
    }
    CHECK(wrong == 0);
    const std::uint64_t steals = total_steals(rt.metrics());
    if (rt.workers() == 1) {
      CHECK(threads_used == 1);
      CHECK(steals == 0);  // nobody to steal from
    } else {
      INFO("attempts: " << attempt + 1);
      CHECK(threads_used > 1);
      // Chaos mode sends some woken fibers through the global queue, which spreads them without a
      // steal; then only the spreading itself (threads_used) is the invariant.
      if (!weft::detail::chaos::enabled()) CHECK(steals > 0);
    }
  });
}

// A fiber that loops on yield_now() until told to stop: it is always runnable.
auto make_hog(std::atomic<bool>& stop, std::atomic<long>& yields, std::latch* started) {
  return [&stop, &yields, started] {
    if (started) started->count_down();
    while (!stop.load(std::memory_order_acquire)) {
      weft::yield_now();
      yields.fetch_add(1, std::memory_order_relaxed);
    }
  };
}

TEST_CASE("fibers that only yield do not starve fibers spawned after them by a fiber") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(5000, 500));
    std::atomic<bool> stop{false};
    std::atomic<long> yields{0};
    const long bad = rt.block_on([&] {
      // More hogs than workers, spawned first, so every worker's queue has one in front.
      std::vector<weft::JoinHandle<void>> hogs;
      for (std::size_t i = 0; i < rt.workers() + 1; ++i) hogs.push_back(weft::spawn(make_hog(stop, yields, nullptr)));
      std::vector<weft::JoinHandle<int>> others;
      for (int i = 0; i < n; ++i) {
        others.push_back(weft::spawn([i] {
          weft::yield_now();  // and back into the queue behind the hogs
          return i;
        }));
      }
      long b = 0;
      for (int i = 0; i < n; ++i) {
        weft::Result<int> r = others[static_cast<std::size_t>(i)].join();
        if (!r || *r != i) ++b;
      }
      // Only now may the hogs stop: if they starved anyone, we would never get here (a hang).
      stop.store(true, std::memory_order_release);
      for (auto& h : hogs) CHECK(h.join().has_value());
      return b;
    });
    CHECK(bad == 0);
    CHECK(yields.load() > 0);
  });
}

TEST_CASE("fibers that only yield do not starve fibers spawned from outside (the global queue)") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(5000, 500));
    std::atomic<bool> stop{false};
    std::atomic<long> yields{0};
    // Two hogs per worker, all running before anything else is spawned: the workers' local queues
    // never run dry, so the others only get to run if the global queue is checked regularly.
    const std::size_t n_hogs = 2 * rt.workers();
    std::latch started(static_cast<std::ptrdiff_t>(n_hogs));
    std::vector<weft::JoinHandle<void>> hogs;
    for (std::size_t i = 0; i < n_hogs; ++i) hogs.push_back(rt.spawn(make_hog(stop, yields, &started)));
    started.wait();
    std::vector<weft::JoinHandle<int>> others;
    for (int i = 0; i < n; ++i) others.push_back(rt.spawn([i] { return i; }));
    long bad = 0;
    for (int i = 0; i < n; ++i) {
      weft::Result<int> r = others[static_cast<std::size_t>(i)].join();  // blocks this thread
      if (!r || *r != i) ++bad;
    }
    stop.store(true, std::memory_order_release);
    for (auto& h : hogs) CHECK(h.join().has_value());
    CHECK(bad == 0);
  });
}

TEST_CASE("a pair of fibers ping-ponging through pipes does not starve a third fiber") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int third_yields = static_cast<int>(weft_test::scaled(200, 20));
    weft_test::Pipe ab, ba;
    weft_test::StopWorkersFirst stop_workers{rt};  // before the fds close (see test_util.hpp)
    std::atomic<bool> stop{false};
    std::atomic<long> rounds{0};
    long rounds_when_third_started = -1;
    rt.block_on([&] {
      std::optional<weft::JoinHandle<void>> third;
      // A starts the third fiber only once the ping-pong is in full swing, and stops only when the
      // third says so: if the pair could monopolise a worker, this never ends.
      auto a = weft::spawn([&] {
        for (long i = 0; !stop.load(std::memory_order_acquire); ++i) {
          if (i == 100) {
            rounds_when_third_started = rounds.load();
            third.emplace(weft::spawn([&] {
              for (int k = 0; k < third_yields; ++k) weft::yield_now();
              stop.store(true, std::memory_order_release);
            }));
          }
          CHECK(weft_test::put_byte(ab.w, 'p'));
          CHECK(weft_test::get_byte(ba.r) == 'p');
          rounds.fetch_add(1, std::memory_order_relaxed);
        }
        CHECK(weft_test::put_byte(ab.w, 'q'));
      });
      auto b = weft::spawn([&] {
        for (;;) {
          const int c = weft_test::get_byte(ab.r);
          if (c != 'p') break;
          CHECK(weft_test::put_byte(ba.w, 'p'));
        }
      });
      CHECK(a.join().has_value());
      CHECK(b.join().has_value());
      REQUIRE(third.has_value());
      CHECK(third->join().has_value());
    });
    CHECK(rounds_when_third_started == 100);
    CHECK(rounds.load() > 100);
  });
}

// A Yield or Park switches straight to the fiber the loop would have picked (worker.cpp,
// take_handoff), so a channel pair on one worker can run for a long time without its worker loop
// switching in. The loop's duties must still come round: timers and fd readiness (the reactor
// poll) and the global queue. A pair that ignored them would hang this test.
TEST_CASE("a channel ping-pong pair, handing off fiber to fiber, leaves the loop its timers and global queue") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int outside = static_cast<int>(weft_test::scaled(200, 20));
    std::atomic<bool> stop{false};
    std::atomic<long> wrong{0};
    std::atomic<std::size_t> looping{0};  // pairs past their first round
    const std::size_t pairs = rt.workers();  // one busy pair per worker (wherever they land)
    std::vector<weft::JoinHandle<void>> hs;
    for (std::size_t p = 0; p < pairs; ++p) {
      auto [tx1, rx1] = weft::mpsc::channel<long>(1);
      auto [tx2, rx2] = weft::mpsc::channel<long>(1);
      hs.push_back(rt.spawn([&, tx1 = std::move(tx1), rx2 = std::move(rx2)]() mutable {
        for (long r = 0; !stop.load(std::memory_order_acquire); ++r) {
          auto back = tx1.send(r) ? rx2.recv() : std::nullopt;
          if (!back || *back != r) {
            wrong.fetch_add(1);
            return;
          }
          if (r == 0) looping.fetch_add(1);
        }
      }));  // dropping tx1 on return ends the partner's loop
      hs.push_back(rt.spawn([rx1 = std::move(rx1), tx2 = std::move(tx2)]() mutable {
        while (auto v = rx1.recv()) {
          if (!tx2.send(*v)) return;
        }
      }));
    }
    // Every pair is busy before the loop's duties below begin, and stays busy until `stop` (the
    // duties' few milliseconds are no time in which to count on a pair having got going on a
    // loaded machine). wait_for's bound only turns a pair that never got going into a failure.
    REQUIRE(weft_test::wait_for([&] { return looping.load() == pairs; }));
    // Timers: a sleeper needs the reactor's poll, which only the loop runs.
    auto sleeper = rt.spawn([] {
      for (int i = 0; i < 5; ++i) weft::sleep(std::chrono::milliseconds(2));
    });
    // The global queue: fibers spawned from this thread wait there for a worker's turn.
    long sum = 0;
    for (int i = 0; i < outside; ++i) {
      weft::Result<int> r = rt.spawn([i] { return i; }).join();
      REQUIRE(r.has_value());
      sum += *r;
    }
    CHECK(sleeper.join().has_value());
    stop.store(true, std::memory_order_release);
    for (auto& h : hs) CHECK(h.join().has_value());
    CHECK(sum == static_cast<long>(outside) * (outside - 1) / 2);
    CHECK(wrong.load() == 0);
  });
}

// Hand-offs keep the loop's order: fibers that only yield on one worker run round-robin, exactly as
// when every yield went through the loop (the yielder to the back of the queue, the front next).
TEST_CASE("fibers yielding on one worker take turns in a fixed round-robin order") {
  if (weft::detail::chaos::enabled()) return;  // chaos shuffles the order on purpose
  weft::Runtime rt = weft::Runtime::Builder().workers(1).build();
  constexpr int kFibers = 5;
  const int yields = static_cast<int>(weft_test::scaled(2000, 200));
  std::vector<int> order;
  rt.block_on([&] {
    std::vector<weft::JoinHandle<void>> hs;
    for (int k = 0; k < kFibers; ++k) {
      hs.push_back(weft::spawn([&order, k, yields] {
        for (int i = 0; i < yields; ++i) {
          order.push_back(k);
          weft::yield_now();
        }
      }));
    }
    for (auto& h : hs) CHECK(h.join().has_value());
  });
  REQUIRE(order.size() == static_cast<std::size_t>(kFibers * yields));
  int out_of_turn = 0;
  for (std::size_t i = 0; i < order.size(); ++i) out_of_turn += order[i] != static_cast<int>(i % kFibers);
  CHECK(out_of_turn == 0);
}

// The LIFO slot runs a just-woken fiber next. A chain of joins wakes fibers back to back through it
// without ever touching the run queue: link k joins link k+1, so when the last link finishes, each
// finishing link wakes its parent into the slot. Without a cap on consecutive LIFO runs, a fiber
// sitting in the run queue would wait for the whole cascade.
TEST_CASE("the LIFO slot is capped: a cascade of join wake-ups does not starve a queued fiber") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int chain = static_cast<int>(weft_test::scaled(2000, 200));
    // The queued fiber is spawned onto the cascade's worker; another worker may steal it (then it
    // runs early anyway and proves nothing about the cap). Retry until it stayed put.
    constexpr int kMaxAttempts = 20;
    int not_stolen = 0, starved = 0;
    weft_test::Pipe gate;  // each attempt writes one byte and its last link reads it
    weft_test::StopWorkersFirst stop_workers{rt};  // before the fds close (see test_util.hpp)
    for (int attempt = 0; attempt < kMaxAttempts && not_stolen < 3; ++attempt) {
      std::atomic<int> finished{0};
      std::latch all_joining(chain);
      int seen_by_queued = -1;
      std::thread::id cascade_thread, queued_thread;
      std::optional<weft::JoinHandle<void>> queued;

      std::function<void(int)> link = [&](int k) {
        if (k == chain - 1) {
          all_joining.count_down();
          CHECK(weft_test::get_byte(gate.r) == 'g');  // parks until every link is joining
          cascade_thread = weft_test::thread_id();
          queued.emplace(weft::spawn([&] {  // into this worker's run queue
            seen_by_queued = finished.load();
            queued_thread = weft_test::thread_id();
          }));
        } else {
          auto child = weft::spawn([&link, k] { link(k + 1); });
          all_joining.count_down();
          CHECK(child.join().has_value());
        }
        finished.fetch_add(1);
      };
      auto root = rt.spawn([&] { link(0); });
      all_joining.wait();
      REQUIRE(weft_test::put_byte(gate.w, 'g'));
      REQUIRE(root.join().has_value());
      REQUIRE(queued.has_value());
      REQUIRE(queued->join().has_value());
      CHECK(finished.load() == chain);
      if (queued_thread == cascade_thread) {
        ++not_stolen;
        if (seen_by_queued > chain / 2) ++starved;
      }
    }
    CHECK(not_stolen > 0);
    CHECK(starved == 0);
  });
}

// A fiber that polls with yield_now() is its worker's only work; a fiber queued behind a
// spinning fiber on another worker must still run: the yield lets its worker steal (as Tokio's
// deferred yield does). Found by the chaos run of wait_core: the block_on fiber polled for a
// spawned fiber that sat, forever, behind a fiber spinning on the other worker.
TEST_CASE("a fiber polling with yield_now lets its worker steal a fiber stuck behind a spinning one") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    if (rt.workers() < 2) return;  // one worker cannot run the spinner and anything else
    const long rounds = weft_test::scaled(200, 20);
    long stuck = 0;
    for (long round = 0; round < rounds && stuck == 0; ++round) {
      std::atomic<bool> queued_ran{false};
      std::atomic<bool> give_up{false};
      rt.block_on([&] {
        // The spinner spawns `queued` into its own worker's run queue, then never suspends until
        // it ran: only another worker can run it, and the others' only work is this poll loop.
        auto spinner = weft::spawn([&] {
          weft::spawn([&] { queued_ran.store(true); }).detach();
          while (!queued_ran.load() && !give_up.load()) {
          }
        });
        // Generous: a pass takes microseconds; only a starved fiber reaches it (then fails, no hang).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!queued_ran.load()) {
          if (std::chrono::steady_clock::now() > deadline) {
            give_up.store(true);
            ++stuck;
            break;
          }
          weft::yield_now();
        }
        CHECK(spinner.join().has_value());
      });
    }
    CHECK_MESSAGE(stuck == 0, "a queued fiber starved behind a spinning fiber while another worker only yielded");
  });
}

}  // namespace
