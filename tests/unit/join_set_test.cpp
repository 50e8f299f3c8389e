// JoinSet<T> (weft/join_set.hpp): join_next in completion order, try_join_next, abort_all,
// shutdown, detach_all, size/empty, and the structured guarantee that ~JoinSet aborts *and waits*
// (every guard on a child's stack has run when it returns).
#include "cancel_util.hpp"

#include <weft/join_set.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <random>
#include <set>
#include <vector>

namespace {

using namespace std::chrono_literals;
using weft_test::CountedGuard;
using weft_test::GuardCounter;
using weft_test::wait_for;

TEST_CASE("join_next returns children in completion order, released one at a time") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int rounds = static_cast<int>(weft_test::scaled(20, 3));
    constexpr int kChildren = 8;
    std::mt19937 rng(1234);
    for (int round = 0; round < rounds; ++round) {
      std::array<int, kChildren> order;
      for (int i = 0; i < kChildren; ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng);
      std::array<std::atomic<bool>, kChildren> go{};
      rt.block_on([&] {
        weft::JoinSet<int> set;
        // Each child waits for its own gate, so exactly one can finish at a time: the completion
        // order is the order the gates are opened in, independent of timing.
        for (int i = 0; i < kChildren; ++i) {
          set.spawn([&go, i] {
            weft_test::expect_eventually([&] { return go[i].load(); }, "handshake");
            return i;
          });
        }
        CHECK(set.size() == kChildren);
        for (int k = 0; k < kChildren; ++k) {
          go[order[k]].store(true);
          std::optional<weft::Result<int>> r = set.join_next();
          CHECK(r.has_value());
          if (r) CHECK((r->has_value() && **r == order[k]));
          CHECK(set.size() == static_cast<std::size_t>(kChildren - 1 - k));
        }
        CHECK(set.empty());
        CHECK_FALSE(set.join_next().has_value());  // empty: nullopt at once, no waiting
      });
    }
  });
}

TEST_CASE("many children finishing concurrently on every worker: each result is delivered exactly once") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::fibers_scaled(3'000, 300));
    rt.block_on([&] {
      weft::JoinSet<int> set;
      for (int i = 0; i < n; ++i) {
        set.spawn([i] {
          // A mix of ways to finish: at once, after yielding, after a short sleep, after a join.
          switch (i % 4) {
            case 0: break;
            case 1: weft::yield_now(); break;
            case 2: weft::sleep(std::chrono::microseconds(i % 300)); break;
            case 3: (void)weft::spawn([] { return 0; }).join(); break;
          }
          return i;
        });
      }
      std::vector<char> seen(static_cast<std::size_t>(n), 0);
      int got = 0, dup = 0, bad = 0;
      while (auto r = set.join_next()) {
        if (!r->has_value()) {
          ++bad;
          continue;
        }
        if (seen[static_cast<std::size_t>(**r)]++) ++dup;
        ++got;
      }
      CHECK(got == n);
      CHECK(dup == 0);
      CHECK(bad == 0);
      CHECK(set.empty());
    });
  });
}

TEST_CASE("try_join_next: nullopt while no child finished, then the finished child, without waiting") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::JoinSet<int> set;
      std::atomic<bool> go{false};
      weft::AbortHandle h = set.spawn([&] {
        weft_test::expect_eventually([&] { return go.load(); }, "handshake");
        return 7;
      });
      CHECK_FALSE(set.try_join_next().has_value());
      CHECK(set.size() == 1);  // try_join_next took nothing
      go.store(true);
      CHECK(wait_for([&] { return h.is_finished(); }));
      auto r = set.try_join_next();
      CHECK(r.has_value());
      if (r) CHECK((r->has_value() && **r == 7));
      CHECK(set.empty());
      CHECK_FALSE(set.try_join_next().has_value());
    });
  });
}

// A child reported finished by its AbortHandle must be takeable by try_join_next at once: its
// completion has to be queued for the set before is_finished() can read true, never after.
TEST_CASE("try_join_next sees a child as soon as its AbortHandle reports it finished") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::fibers_scaled(20'000, 200));
    const bool multi = rt.workers() > 1;
    int missed = 0;
    rt.block_on([&] {
      weft::JoinSet<int> set;
      for (int i = 0; i < n; ++i) {
        weft::AbortHandle h = set.spawn([i] { return i; });
        // With 2+ workers, poll tightly for a few microseconds, so that a peer that took the child
        // finishes it while we look; then (and with one worker at once) yield to let it run here.
        const auto spin_until = std::chrono::steady_clock::now() + (multi ? 20us : 0us);
        while (!h.is_finished()) {
          if (std::chrono::steady_clock::now() > spin_until) weft::yield_now();
        }
        if (!set.try_join_next().has_value()) {
          ++missed;
          (void)set.join_next();  // it does arrive, just late
        }
      }
    });
    CHECK(missed == 0);
  });
}

// A guard whose destructor suspends: proves ~JoinSet/shutdown wait for the unwinding to complete,
// not just for the cancellation to be requested.
struct SlowGuard {
  std::atomic<int>& done;
  ~SlowGuard() {
    weft::sleep(2ms);  // completes: suspension points do not throw while unwinding
    done.fetch_add(1);
  }
};

TEST_CASE("abort_all, shutdown and ~JoinSet cancel every child and wait until each has unwound") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(200, 20));
    enum Way { AbortAll, Shutdown, Destroy };
    for (Way way : {AbortAll, Shutdown, Destroy}) {
      CAPTURE(way);
      GuardCounter guards;
      std::atomic<int> slow_done{0}, started{0}, past_sleep{0};
      rt.block_on([&] {
        std::optional<weft::JoinSet<int>> set(std::in_place);
        for (int i = 0; i < n; ++i) {
          set->spawn([&] {
            CountedGuard g(guards);
            SlowGuard s{slow_done};
            started.fetch_add(1);
            weft::sleep(1h);
            past_sleep.fetch_add(1);
            return 1;
          });
        }
        CHECK(wait_for([&] { return started.load() == n; }));
        if (way == AbortAll) {
          set->abort_all();
          int cancelled = 0;
          while (auto r = set->join_next()) cancelled += (!r->has_value() && r->error().is_cancelled());
          CHECK(cancelled == n);
        } else if (way == Shutdown) {
          set->shutdown();
          CHECK(set->empty());
        } else {
          set.reset();  // ~JoinSet
        }
        // Right after the call returned, with no waiting of our own: everything has unwound.
        CHECK(slow_done.load() == n);
        CHECK(guards.created.load() == n);
        CHECK(guards.balanced());
        CHECK(past_sleep.load() == 0);
      });
    }
  });
}

TEST_CASE("the AbortHandle returned by spawn cancels that child only") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::JoinSet<int> set;
      std::atomic<bool> go{false};
      std::atomic<int> started{0};
      std::vector<weft::AbortHandle> hs;
      for (int i = 0; i < 5; ++i) {
        hs.push_back(set.spawn([&, i] {
          started.fetch_add(1);
          while (!go.load()) weft::sleep(100us);  // sleep is the cancellable point under test
          return i;
        }));
      }
      CHECK(wait_for([&] { return started.load() == 5; }));
      hs[2].abort();
      CHECK(wait_for([&] { return hs[2].is_finished(); }));  // the others are still running
      for (int i : {0, 1, 3, 4}) CHECK_FALSE(hs[i].is_finished());
      go.store(true);
      int values = 0, cancelled = 0;
      while (auto r = set.join_next()) {
        if (r->has_value()) {
          CHECK(**r != 2);
          ++values;
        } else {
          cancelled += r->error().is_cancelled();
        }
      }
      CHECK(values == 4);
      CHECK(cancelled == 1);
    });
  });
}

TEST_CASE("detach_all: the set forgets its children, which run on and complete") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(100, 10));
    GuardCounter guards;
    std::atomic<bool> go{false};
    std::atomic<int> completed{0}, cancelled_seen{0};
    rt.block_on([&] {
      {
        weft::JoinSet<int> set;
        for (int i = 0; i < n; ++i) {
          set.spawn([&] {
            CountedGuard g(guards);
            while (!go.load()) weft::sleep(50us);
            if (weft::this_fiber::is_cancelled()) cancelled_seen.fetch_add(1);
            completed.fetch_add(1);
            return 0;
          });
        }
        set.detach_all();
        CHECK(set.size() == 0);
        CHECK(set.empty());
        CHECK_FALSE(set.join_next().has_value());
        CHECK_FALSE(set.try_join_next().has_value());
      }  // ~JoinSet: must not cancel the detached children (nor wait for them)
      CHECK(completed.load() == 0);
      go.store(true);
      CHECK(wait_for([&] { return completed.load() == n; }));
    });
    CHECK(cancelled_seen.load() == 0);
    CHECK(guards.balanced());
  });
}

TEST_CASE("size and empty count children not yet taken, finished or not") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::JoinSet<void> set;
      CHECK(set.empty());
      CHECK(set.size() == 0);
      std::atomic<bool> go{false};
      weft::AbortHandle quick = set.spawn([] {});
      set.spawn([&] { weft_test::expect_eventually([&] { return go.load(); }, "handshake"); });
      set.spawn([&] { weft_test::expect_eventually([&] { return go.load(); }, "handshake"); });
      CHECK(set.size() == 3);
      CHECK(wait_for([&] { return quick.is_finished(); }));
      CHECK(set.size() == 3);  // finished but not taken still counts
      auto r = set.join_next();
      CHECK((r.has_value() && r->has_value()));
      CHECK(set.size() == 2);
      CHECK_FALSE(set.empty());
      go.store(true);
      CHECK(set.join_next().has_value());
      CHECK(set.join_next().has_value());
      CHECK(set.empty());
    });
  });
}

TEST_CASE("join_next is a suspension point: a cancelled owner throws there and the set is unchanged") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    GuardCounter guards;
    std::atomic<bool> in_join{false}, child_started{false};
    std::atomic<int> size_at_throw{-1};
    auto owner = rt.spawn([&] {
      weft::JoinSet<int> set;
      set.spawn([&] {
        CountedGuard g(guards);
        child_started.store(true);
        weft::sleep(1h);
        return 0;
      });
      // Else the abort could reach the child before it ever ran (no guard to count).
      weft_test::expect_eventually([&] { return child_started.load(); }, "child started");
      try {
        in_join.store(true);
        (void)set.join_next();
      } catch (const weft::Cancelled&) {
        size_at_throw.store(static_cast<int>(set.size()));
        throw;  // ~JoinSet, while unwinding, aborts the child and waits for it
      }
    });
    CHECK(wait_for([&] { return in_join.load(); }));
    owner.abort();
    weft::Result<void> r = owner.join();
    CHECK((!r && r.error().is_cancelled()));
    CHECK(size_at_throw.load() == 1);
    CHECK(guards.created.load() == 1);
    CHECK(guards.balanced());
  });
}

// Level-triggered (doc/design.md §2): once cancelled, *every* suspension point throws, including a
// join_next that has a finished child ready to hand out and so would not need to wait.
TEST_CASE("a cancelled owner that swallowed Cancelled throws again at join_next even with a result ready") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    std::atomic<bool> ready{false};
    std::atomic<int> returned_normally{0};
    auto owner = rt.spawn([&] {
      weft::JoinSet<int> set;
      weft::AbortHandle child = set.spawn([] { return 1; });
      while (!child.is_finished()) weft::yield_now();
      ready.store(true);
      try {
        weft::sleep(1h);
      } catch (const weft::Cancelled&) {  // swallowed: the fiber stays cancelled
      }
      (void)set.join_next();  // must throw Cancelled
      returned_normally.fetch_add(1);
    });
    CHECK(wait_for([&] { return ready.load(); }));
    owner.abort();
    weft::Result<void> r = owner.join();
    CHECK((!r && r.error().is_cancelled()));
    CHECK(returned_normally.load() == 0);
  });
}

TEST_CASE("move-only results, void sets, panicking children, and a moved-from set") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::JoinSet<std::unique_ptr<int>> set;
      set.spawn([] { return std::make_unique<int>(5); });
      set.spawn([]() -> std::unique_ptr<int> { throw std::runtime_error("child failed"); });
      int values = 0, panics = 0;
      while (auto r = set.join_next()) {
        if (r->has_value()) {
          values += (**r && ***r == 5);
        } else if (r->error().is_panic()) {
          ++panics;
          CHECK_THROWS_WITH_AS(r->error().rethrow(), "child failed", std::runtime_error);
        }
      }
      CHECK(values == 1);
      CHECK(panics == 1);

      weft::JoinSet<int> a;
      std::atomic<bool> go{false};
      a.spawn([&] {
        weft_test::expect_eventually([&] { return go.load(); }, "handshake");
        return 3;
      });
      weft::JoinSet<int> b = std::move(a);
      CHECK(b.size() == 1);
      CHECK(a.size() == 0);  // NOLINT(bugprone-use-after-move): that is the point
      CHECK(a.empty());
      CHECK_THROWS_AS((void)a.join_next(), weft::Error);
      go.store(true);
      auto r = b.join_next();
      CHECK((r.has_value() && r->has_value() && **r == 3));
    });
  });
}

// The owner is aborted at a random moment while its children are finishing: whichever way the race
// goes, nothing leaks and every guard runs.
TEST_CASE("stress: owners aborted at random moments while their children finish") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int owners = static_cast<int>(weft_test::fibers_scaled(400, 40));
    GuardCounter guards;
    std::vector<weft::JoinHandle<int>> hs;
    std::mt19937 rng(99);
    for (int i = 0; i < owners; ++i) {
      hs.push_back(rt.spawn([&guards, kids = 1 + static_cast<int>(rng() % 16)] {
        CountedGuard g(guards);
        weft::JoinSet<int> set;
        for (int k = 0; k < kids; ++k) {
          set.spawn([&guards, k] {
            CountedGuard cg(guards);
            for (int j = 0; j < k % 4; ++j) weft::yield_now();
            if (k % 5 == 4) weft::sleep(std::chrono::microseconds(50 * k));
            return k;
          });
        }
        int sum = 0;
        while (auto r = set.join_next()) sum += r->has_value() ? **r : 0;
        return sum;
      }));
    }
    std::thread aborter([&] {
      std::mt19937 r2(7);
      for (int i = 0; i < owners; i += 2) {
        for (unsigned spin = r2() % 2000; spin > 0; --spin) weft::detail::cpu_relax();
        hs[static_cast<std::size_t>(i)].abort();
      }
    });
    aborter.join();
    for (auto& h : hs) (void)h.join();
    CHECK(guards.balanced());
    // live_fibers drops just after a fiber's joiner is woken: wait for the state, not for time.
    CHECK(wait_for([&] { return rt.metrics().live_fibers == 0; }));
  });
}

}  // namespace
