// weft::race (weft/race.hpp): the first alternative to finish wins (variant index = position,
// monostate for void), the losers are cancelled and have unwound before race returns, a
// panicking winner is rethrown, and cancelling the caller cancels every alternative.
#include "cancel_util.hpp"

#include <weft/race.hpp>
#include <weft/select.hpp>
#include <weft/timeout.hpp>

#include <atomic>
#include <chrono>
#include <latch>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace {

using namespace std::chrono_literals;
using weft_test::CountedGuard;
using weft_test::GuardCounter;
using weft_test::wait_for;

TEST_CASE("the alternative that finishes first wins: index and value say which") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    for (int winner = 0; winner < 3; ++winner) {
      CAPTURE(winner);
      std::atomic<int> gate{-1};
      rt.block_on([&] {
        // Only the alternative whose gate opens can finish; the others wait to be cancelled.
        auto wait_gate = [&](int me) {
          while (gate.load() != me) weft::sleep(50us);
        };
        std::atomic<int> started{0};
        weft::JoinHandle<void> opener = weft::spawn([&] {
          weft_test::expect_eventually([&] { return started.load() == 3; }, "handshake");
          gate.store(winner);
        });
        auto r = weft::race(
            [&] { started.fetch_add(1); wait_gate(0); return 42; },
            [&] { started.fetch_add(1); wait_gate(1); return std::string("second"); },
            [&] { started.fetch_add(1); wait_gate(2); });
        static_assert(std::is_same_v<decltype(r), std::variant<int, std::string, std::monostate>>);
        CHECK(r.index() == static_cast<std::size_t>(winner));
        if (winner == 0) CHECK(std::get<0>(r) == 42);
        if (winner == 1) CHECK(std::get<1>(r) == "second");
        (void)opener.join();
      });
    }
  });
}

// A guard whose destructor suspends: race must wait for the losers' unwinding to *complete*.
struct SlowGuard {
  std::atomic<int>& done;
  ~SlowGuard() {
    weft::sleep(1ms);
    done.fetch_add(1);
  }
};

TEST_CASE("the losers are cancelled and every guard they held is released before race returns") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int rounds = static_cast<int>(weft_test::scaled(50, 5));
    GuardCounter guards;
    std::atomic<int> slow_done{0}, past_sleep{0}, aborted_reason{0};
    rt.block_on([&] {
      for (int round = 0; round < rounds; ++round) {
        std::atomic<int> started{0};
        auto loser = [&] {
          CountedGuard g(guards);
          SlowGuard s{slow_done};
          started.fetch_add(1);
          weft_test::note_cancel_reason(aborted_reason, [] { weft::sleep(1h); });
          past_sleep.fetch_add(1);
          return -1;
        };
        auto r = weft::race(loser, loser, [&] {
          weft_test::expect_eventually([&] { return started.load() == 2; }, "handshake");
          return round;
        });
        CHECK(r.index() == 2);
        CHECK(std::get<2>(r) == round);
        // Checked right after race returned, with no waiting of our own.
        CHECK(slow_done.load() == 2 * (round + 1));
        CHECK(guards.balanced());
      }
    });
    CHECK(guards.created.load() == 2 * rounds);
    CHECK(past_sleep.load() == 0);
    CHECK(aborted_reason.load() == weft_test::reason_code(weft::Cancelled::Reason::Aborted));
  });
}

TEST_CASE("a panicking winner is rethrown with its type, after the losers have unwound") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    GuardCounter guards;
    bool caught = false;
    rt.block_on([&] {
      std::atomic<bool> started{false};
      try {
        (void)weft::race(
            [&] {
              CountedGuard g(guards);
              started.store(true);
              weft::sleep(1h);
              return 0;
            },
            [&]() -> int {
              weft_test::expect_eventually([&] { return started.load(); }, "handshake");
              throw std::out_of_range("winner failed");
            });
      } catch (const std::out_of_range& e) {
        caught = true;
        CHECK(std::string(e.what()) == "winner failed");
        CHECK(guards.balanced());
        CHECK(guards.created.load() == 1);
      }
    });
    CHECK(caught);
  });
}

TEST_CASE("cancelling the caller cancels every alternative and waits for them") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int callers = static_cast<int>(weft_test::scaled(100, 10));
    GuardCounter guards;
    std::atomic<int> started{0}, returned{0};
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < callers; ++i) {
      hs.push_back(rt.spawn([&] {
        auto alt = [&] {
          CountedGuard g(guards);
          started.fetch_add(1);
          weft::sleep(1h);
        };
        (void)weft::race(alt, alt, alt);
        returned.fetch_add(1);
      }));
    }
    CHECK(wait_for([&] { return started.load() == 3 * callers; }));
    for (auto& h : hs) h.abort();
    int cancelled = 0;
    for (auto& h : hs) {
      weft::Result<void> r = h.join();
      cancelled += (!r && r.error().is_cancelled());
    }
    CHECK(cancelled == callers);
    CHECK(returned.load() == 0);
    CHECK(guards.created.load() == 3 * callers);
    CHECK(guards.balanced());
  });
}

TEST_CASE("a timeout around race: the expiry cancels every alternative and only then is reported") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    GuardCounter guards;
    rt.block_on([&] {
      auto alt = [&] {
        CountedGuard g(guards);
        weft::sleep(1h);
      };
      const bool finished = weft::timeout(5ms, [&] { (void)weft::race(alt, alt, alt); });
      CHECK_FALSE(finished);
      CHECK(guards.balanced());  // the alternatives unwound before timeout returned
      weft::yield_now();         // the expiry was the timeout's alone
    });
  });
}

TEST_CASE("alternatives that finish at once: one wins, its value matches its index, the rest are gone") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int rounds = static_cast<int>(weft_test::fibers_scaled(2'000, 200));
    int wins[2] = {0, 0};
    GuardCounter guards;
    rt.block_on([&] {
      for (int i = 0; i < rounds; ++i) {
        std::vector<int> borrowed{i, -i};  // a local of the caller, read by both alternatives
        auto r = weft::race([&] { CountedGuard g(guards); return borrowed[0]; },
                              [&] { CountedGuard g(guards); weft::yield_now(); return borrowed[1]; });
        if (r.index() == 0) CHECK(std::get<0>(r) == i);
        if (r.index() == 1) CHECK(std::get<1>(r) == -i);
        ++wins[r.index()];
        CHECK(guards.balanced());
      }
    });
    CHECK(wins[0] + wins[1] == rounds);
  });
}

TEST_CASE("race with one alternative, and race outside a fiber") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    auto r = weft::race([] { return 9; });
    CHECK(std::get<0>(r) == 9);
    auto v = weft::race([] { weft::yield_now(); });
    CHECK(std::holds_alternative<std::monostate>(v));
  });
  CHECK_THROWS_AS((void)weft::race([] { return 1; }), weft::Error);  // needs a fiber
}

TEST_CASE("weft::select, the deprecated old name, still races") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    std::atomic<bool> loser_started{false};
    std::atomic<bool> loser_unwound{false};
    struct Unwound {
      std::atomic<bool>* flag;
      ~Unwound() { flag->store(true); }
    };
    // The winner waits for the loser to start: a fiber cancelled before it ran never runs.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    auto r = weft::select(
        [&] {
          Unwound u{&loser_unwound};
          loser_started.store(true);
          weft::sleep(1h);
        },
        [&] {
          while (!loser_started.load()) weft::yield_now();
          return 5;
        });
#pragma GCC diagnostic pop
    REQUIRE(r.index() == 1);
    CHECK(std::get<1>(r) == 5);
    CHECK(loser_unwound.load());
  });
}

// Runtime shutdown cancels the alternatives *and* the fiber inside race. Whichever is cancelled
// first, the caller must end cancelled: an alternative that ended by the shutdown's cancellation is
// not a winner with no value (weft::Error, which the caller's catch (std::exception&) would take
// and which turns the shutdown into a panic).
TEST_CASE("runtime shutdown while fibers wait in race: every caller ends cancelled, none sees weft::Error") {
  // Repeated: the order in which shutdown reaches a caller and its alternatives is the race under
  // test (every round fails in practice while it is unhandled).
  const int rounds = static_cast<int>(weft_test::scaled(3, 1));
  const int callers = static_cast<int>(weft_test::scaled(500, 300));
  for (int round = 0; round < rounds; ++round) {
    for (unsigned workers : weft_test::kWorkerCounts) {
      CAPTURE(round);
      CAPTURE(workers);
      GuardCounter guards;
      std::atomic<int> saw_error{0};
      std::vector<weft::JoinHandle<void>> hs;
      {
        weft::Runtime rt = weft_test::make_runtime(workers);
        std::latch started(2 * callers);
        for (int i = 0; i < callers; ++i) {
          hs.push_back(rt.spawn([&] {
            auto sleeper = [&] {
              CountedGuard g(guards);
              started.count_down();
              weft::sleep(1h);
            };
            // Always runnable: when the shutdown reaches it before its caller, it finishes (cancelled)
            // and notifies the caller at once.
            auto spinner = [&] {
              CountedGuard g(guards);
              started.count_down();
              for (;;) weft::yield_now();
            };
            try {
              (void)weft::race(sleeper, spinner);
            } catch (const std::exception&) {
              saw_error.fetch_add(1);
              throw;
            }
          }));
        }
        started.wait();
      }  // ~Runtime
      int cancelled = 0, panicked = 0;
      for (auto& h : hs) {
        weft::Result<void> r = h.join();
        cancelled += (!r && r.error().is_cancelled());
        panicked += (!r && r.error().is_panic());
      }
      CHECK(saw_error.load() == 0);
      CHECK(panicked == 0);
      CHECK(cancelled == callers);
      CHECK(guards.balanced());
    }
  }
}

}  // namespace
