// weft::CancellationToken (weft/cancellation_token.hpp): a tree of tokens; cancel() from any
// thread wakes cancelled() waiters (fibers and plain threads), ends run_until_cancelled scopes
// (f unwinds, the call returns nullopt/false, the fiber itself is not cancelled) and aborts the
// fibers tied to it with abort_on_cancel.
#include "cancel_util.hpp"

#include <weft/cancellation_token.hpp>
#include <weft/timeout.hpp>

#include <atomic>
#include <chrono>
#include <latch>
#include <random>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using weft_test::CountedGuard;
using weft_test::GuardCounter;
using weft_test::wait_for;

TEST_CASE("cancel() wakes every fiber and plain thread waiting in cancelled(); it is idempotent") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(500, 50));
    weft::CancellationToken token;
    CHECK_FALSE(token.is_cancelled());
    std::atomic<int> waiting{0}, woke{0};
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn([&, copy = token] {  // copies refer to the same token
        waiting.fetch_add(1);
        copy.cancelled();
        woke.fetch_add(1);
      }));
    }
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([&] {
        waiting.fetch_add(1);
        token.cancelled();  // blocks the plain thread
        woke.fetch_add(1);
      });
    }
    CHECK(wait_for([&] { return waiting.load() == n + 2; }));
    CHECK(woke.load() == 0);
    std::thread canceller([&] { token.cancel(); });
    token.cancel();
    canceller.join();
    for (auto& t : threads) t.join();
    for (auto& h : hs) CHECK(h.join().has_value());  // woken normally, not cancelled
    CHECK(woke.load() == n + 2);
    CHECK(token.is_cancelled());
    // Already cancelled: returns at once.
    rt.block_on([&] { token.cancelled(); });
    token.cancelled();
  });
}

TEST_CASE("child tokens: cancelled with their parent, transitively; cancelling a child leaves the parent") {
  weft::CancellationToken root;
  weft::CancellationToken a = root.child_token();
  weft::CancellationToken b = a.child_token();
  weft::CancellationToken sibling = root.child_token();
  b.cancel();
  CHECK(b.is_cancelled());
  CHECK_FALSE(a.is_cancelled());
  CHECK_FALSE(root.is_cancelled());
  CHECK_FALSE(sibling.is_cancelled());
  {
    weft::CancellationToken dropped = root.child_token();  // dropping a child is harmless
  }
  root.cancel();
  CHECK(a.is_cancelled());
  CHECK(sibling.is_cancelled());
  CHECK(root.child_token().is_cancelled());  // a child of a cancelled token starts cancelled
}

TEST_CASE("run_until_cancelled: f's value if the token stays uncancelled; else f unwinds and it returns nullopt") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::CancellationToken token;
    rt.block_on([&] {
      CHECK(token.run_until_cancelled([] {
        weft::sleep(1ms);
        return 3;
      }) == std::optional<int>(3));
      CHECK(token.run_until_cancelled([] { weft::yield_now(); }));
    });
    const int n = static_cast<int>(weft_test::scaled(300, 30));
    GuardCounter guards;
    std::atomic<int> in_scope{0}, returned_nullopt{0}, reason_token{0}, past{0};
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn([&] {
        auto r = token.run_until_cancelled([&] {
          CountedGuard g(guards);
          try {
            in_scope.fetch_add(1);
            // Waits in cancelled() (registered under the token's lock, so race-free), then meets
            // the cancellation there or at the next suspension point: this test does not depend on
            // the cancel-vs-park race, which the "no lost wake-up" test below targets on its own.
            token.cancelled();
            weft::sleep(1h);
          } catch (const weft::Cancelled& c) {
            if (c.reason() == weft::Cancelled::Reason::Token) reason_token.fetch_add(1);
            throw;
          }
          return 1;
        });
        if (!r) returned_nullopt.fetch_add(1);
        CHECK_FALSE(weft::this_fiber::is_cancelled());
        weft::yield_now();  // the fiber goes on: only the scope was cancelled
        past.fetch_add(1);
      }));
    }
    CHECK(wait_for([&] { return in_scope.load() == n; }));
    token.cancel();
    for (auto& h : hs) CHECK(h.join().has_value());
    CHECK(returned_nullopt.load() == n);
    CHECK(reason_token.load() == n);
    CHECK(past.load() == n);
    CHECK(guards.balanced());
    // Already cancelled: f does not run at all.
    rt.block_on([&] {
      bool ran = false;
      CHECK_FALSE(token.run_until_cancelled([&] { ran = true; }));
      CHECK_FALSE(ran);
    });
  });
}

TEST_CASE("abort_on_cancel aborts the tied fibers when the token is cancelled, at once if it already is") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(300, 30));
    GuardCounter guards;
    weft::CancellationToken group;
    weft::CancellationToken sub = group.child_token();
    std::atomic<int> started{0};
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn([&] {
        CountedGuard g(guards);
        started.fetch_add(1);
        weft::sleep(1h);
      }));
      (i % 2 ? group : sub).abort_on_cancel(hs.back().abort_handle());
    }
    CHECK(wait_for([&] { return started.load() == n; }));
    for (auto& h : hs) CHECK_FALSE(h.is_finished());
    group.cancel();  // also cancels `sub`
    int cancelled = 0;
    for (auto& h : hs) {
      weft::Result<void> r = h.join();
      cancelled += (!r && r.error().is_cancelled());
    }
    CHECK(cancelled == n);
    CHECK(guards.balanced());
    // Tying a fiber to an already-cancelled token aborts it at once.
    auto late = rt.spawn([] { weft::sleep(1h); });
    group.abort_on_cancel(late.abort_handle());
    CHECK(!late.join().has_value());
  });
}

TEST_CASE("nested run_until_cancelled: each catches only its own token; the outer one propagates through") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::CancellationToken outer_t, inner_a, inner_b;
    std::atomic<int> stage{0};
    std::atomic<int> a_returned_false{0}, b_returned{0}, outer_returned_false{0};
    auto h = rt.spawn([&] {
      bool outer_done = outer_t.run_until_cancelled([&] {
        // 1. The inner token is cancelled: the inner call catches it, the outer scope goes on.
        bool a_done = inner_a.run_until_cancelled([&] {
          stage.store(1);
          inner_a.cancelled();  // race-free wait (see run_until_cancelled test), then the point
          weft::sleep(1h);
        });
        if (!a_done) a_returned_false.fetch_add(1);
        weft::sleep(1ms);  // not cancelled any more: completes
        // 2. The outer token is cancelled while inside an inner call: it passes through that call.
        (void)inner_b.run_until_cancelled([&] {
          stage.store(2);
          outer_t.cancelled();
          weft::sleep(1h);
        });
        b_returned.fetch_add(1);
      });
      if (!outer_done) outer_returned_false.fetch_add(1);
    });
    CHECK(wait_for([&] { return stage.load() == 1; }));
    inner_a.cancel();
    CHECK(wait_for([&] { return stage.load() == 2; }));
    outer_t.cancel();
    CHECK(h.join().has_value());
    CHECK(a_returned_false.load() == 1);
    CHECK(b_returned.load() == 0);
    CHECK(outer_returned_false.load() == 1);
    CHECK_FALSE(inner_b.is_cancelled());
  });
}

TEST_CASE("an outer token's cancellation propagates through an inner timeout, and vice versa") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::CancellationToken t;
      // A timeout expiring inside run_until_cancelled is the timeout's.
      auto r = t.run_until_cancelled([] { return weft::timeout(2ms, [] { weft::sleep(1h); }); });
      CHECK(r == std::optional<bool>(false));
      // A token cancelled inside a timeout is the token's.
      std::optional<bool> r2 = weft::timeout(1h, [&] {
        return t.run_until_cancelled([&] {
          auto canceller = weft::spawn([&] { t.cancel(); });
          (void)weft::timeout(1h, [&] {
            t.cancelled();
            weft::sleep(1h);
          });
          (void)canceller.join();
        });
      });
      CHECK(r2 == std::optional<bool>(false));
    });
  });
}

// A cancel() landing in the instant between a fiber's last cancellation check and its park must
// still wake it: the canceller publishes the scope's flag, then looks at the fiber's wait state; the
// fiber publishes its wait, then must look at the flag again (as it does for abort()).
TEST_CASE("a token cancelled just as the fiber enters a wait still wakes it (no lost wake-up)") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int iterations = static_cast<int>(weft_test::fibers_scaled(3'000, 300));
    std::mt19937 rng(11);
    int stuck = 0;
    for (int i = 0; i < iterations && stuck == 0; ++i) {
      weft::CancellationToken token;
      std::atomic<bool> entering{false};
      // The fiber announces itself, then idles a random while before sleeping, so the cancel()
      // issued the moment the announcement is seen sweeps across the fiber's entry into the wait.
      const unsigned delay = rng() % 256;
      auto h = rt.spawn([&] {
        (void)token.run_until_cancelled([&] {
          entering.store(true);
          for (unsigned spin = delay; spin > 0; --spin) weft::detail::cpu_relax();
          weft::sleep(1h);
        });
      });
      // Spin (then, on a loaded machine, yield) until the fiber announces itself; cancel at once.
      for (int spins = 0; !entering.load(); ++spins) {
        if (spins < 10'000) weft::detail::cpu_relax(); else std::this_thread::yield();
      }
      token.cancel();
      // A lost wake-up leaves the fiber asleep for an hour: wait_for's bound (a minute, far short
      // of that) counts it. A shorter bound would count a woken fiber that was merely slow to run.
      if (!wait_for([&] { return h.is_finished(); })) {
        ++stuck;
        h.abort();  // so the test can go on
      }
      (void)h.join();
    }
    CHECK(stuck == 0);
  });
}

TEST_CASE("one token stops a whole group of fibers spread over the workers, cancelled from several threads") {
  // fds outlive each runtime (libev drops an fd from its epoll set lazily, on the worker's thread:
  // closing it while the runtime runs is an fd-level race TSan reports).
  weft_test::Pipe never;
  weft_test::for_each_worker_count([&](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::fibers_scaled(600, 60));
    GuardCounter guards;
    weft::CancellationToken stop;
    std::atomic<int> loops{0}, started{0};
    std::vector<weft::JoinHandle<int>> hs;
    for (int i = 0; i < n; ++i) {
      weft::CancellationToken mine = i % 3 ? stop.child_token() : stop;
      hs.push_back(rt.spawn([&, mine, i] {
        int rounds = 0;
        bool counted = false;
        for (;;) {
          auto r = mine.run_until_cancelled([&] {
            CountedGuard g(guards);
            if (!counted) {
              counted = true;
              started.fetch_add(1);
            }
            switch (i % 4) {
              case 0: weft::sleep(std::chrono::microseconds(100 + i % 100)); break;
              case 1: weft::yield_now(); break;
              case 2: (void)weft::wait_readable(never.r, 200us); break;
              case 3: mine.cancelled(); break;
            }
            return 1;
          });
          if (!r) return rounds;
          rounds += *r;
          loops.fetch_add(1);
        }
      }));
    }
    CHECK(wait_for([&] { return started.load() == n; }));
    std::vector<std::thread> cancellers;
    for (int t = 0; t < 3; ++t) cancellers.emplace_back([&] { stop.cancel(); });
    for (auto& t : cancellers) t.join();
    for (auto& h : hs) CHECK(h.join().has_value());
    CHECK(guards.balanced());
  });
}

}  // namespace
