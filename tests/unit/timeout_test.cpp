// weft::timeout / timeout_at (weft/timeout.hpp): f runs in the calling fiber under a deadline; on
// expiry f's suspension point throws Cancelled (reason Timeout) tagged with that timeout, f unwinds
// (RAII runs) and the timeout alone catches it, returning nullopt (false for void). Nested
// deadlines compose: each timeout catches only its own expiry.
#include "cancel_util.hpp"

#include <weft/cancellation_token.hpp>
#include <weft/join_set.hpp>
#include <weft/shield.hpp>
#include <weft/this_fiber.hpp>
#include <weft/timeout.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using weft_test::CountedGuard;
using weft_test::GuardCounter;
using weft_test::wait_for;

TEST_CASE("timeout returns f's value when f finishes in time: optional<T>, or true for void") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      std::optional<std::string> s = weft::timeout(1h, [] {
        weft::sleep(1ms);
        return std::string("done");
      });
      CHECK(s == std::optional<std::string>("done"));
      bool ok = weft::timeout(1h, [] { weft::yield_now(); });
      CHECK(ok);
      std::optional<int> at = weft::timeout_at(Clock::now() + 1h, [] { return 3; });
      CHECK(at == std::optional<int>(3));
      // Finishing before any suspension point returns the value even with the deadline passed.
      CHECK(weft::timeout(0ns, [] { return 4; }) == std::optional<int>(4));
      CHECK(weft::timeout_at(Clock::now() - 1s, [] { return 5; }) == std::optional<int>(5));
    });
  });
}

// Every kind of suspension point, each interrupted by a timeout.
struct Kind {
  const char* name;
  std::function<void(weft_test::Pipe&)> wait;
};

std::vector<Kind> kinds() {
  return {
      {"sleep", [](weft_test::Pipe&) { weft::sleep(1h); }},
      {"sleep_until", [](weft_test::Pipe&) { weft::sleep_until(Clock::now() + 1h); }},
      {"yield_now loop", [](weft_test::Pipe&) { for (;;) weft::yield_now(); }},
      {"check_cancelled loop", [](weft_test::Pipe&) { for (;;) weft::this_fiber::check_cancelled(); }},
      {"wait_readable", [](weft_test::Pipe& p) { weft::wait_readable(p.r); }},
      {"wait_readable with a longer bound", [](weft_test::Pipe& p) { (void)weft::wait_readable(p.r, 1h); }},
      {"join", [](weft_test::Pipe& p) {
         auto child = weft::spawn([&p] { return weft_test::get_byte(p.r); });
         struct AbortOnExit {  // the child is not ours to leave running: stop it as we unwind
           weft::JoinHandle<int>& h;
           ~AbortOnExit() {
             h.abort();
             (void)h.join();  // a suspension point while unwinding: completes
           }
         } stop{child};
         (void)child.join();
       }},
      {"JoinSet::join_next", [](weft_test::Pipe&) {
         weft::JoinSet<void> set;
         set.spawn([] { weft::sleep(1h); });
         (void)set.join_next();
       }},
      {"CancellationToken::cancelled", [](weft_test::Pipe&) { weft::CancellationToken().cancelled(); }},
  };
}

TEST_CASE("expiry interrupts every kind of suspension point; f unwinds and the caller goes on") {
  // fds outlive each runtime (libev drops an fd from its epoll set lazily, on the worker's thread:
  // closing it while the runtime runs is an fd-level race TSan reports).
  weft_test::Pipe never;  // never written
  weft_test::for_each_worker_count([&](weft::Runtime& rt) {
    for (const Kind& k : kinds()) {
      const std::string name = k.name;
      CAPTURE(name);
      GuardCounter guards;
      std::atomic<int> reason{-1};
      rt.block_on([&] {
        const auto t0 = Clock::now();
        bool finished = weft::timeout(5ms, [&] {
          CountedGuard g(guards);
          weft_test::note_cancel_reason(reason, [&] { k.wait(never); });
        });
        CHECK_FALSE(finished);
        CHECK(Clock::now() - t0 >= 5ms);  // never early
        CHECK(guards.created.load() == 1);
        CHECK(guards.balanced());
        CHECK_FALSE(weft::this_fiber::is_cancelled());
        weft::sleep(1ms);  // the caller is not cancelled: its suspension points work normally
        weft::yield_now();
      });
      CHECK(reason.load() == weft_test::reason_code(weft::Cancelled::Reason::Timeout));
    }
  });
}

TEST_CASE("nested timeouts: an inner expiry is caught by the inner timeout only") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      bool inner_result = true;
      bool after_inner = false;
      std::optional<int> outer = weft::timeout(1h, [&] {
        inner_result = weft::timeout(5ms, [] { weft::sleep(1h); });
        after_inner = true;
        weft::sleep(1ms);  // the outer scope is not cancelled
        return 7;
      });
      CHECK_FALSE(inner_result);
      CHECK(after_inner);
      CHECK(outer == std::optional<int>(7));
    });
  });
}

TEST_CASE("nested timeouts: an outer expiry inside an inner timeout propagates through it to the outer") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      bool inner_returned = false, inner_caught = false;
      std::uint64_t seen_scope = 0;
      std::optional<int> outer = weft::timeout(5ms, [&] {
        try {
          (void)weft::timeout(1h, [&] {
            try {
              weft::sleep(1h);
            } catch (const weft::Cancelled& c) {
              seen_scope = c.scope();
              throw;
            }
          });
          inner_returned = true;
        } catch (const weft::Cancelled&) {
          inner_caught = true;  // passes through here, on its way to the outer timeout
          throw;
        }
        return 1;
      });
      CHECK_FALSE(outer.has_value());
      CHECK_FALSE(inner_returned);
      CHECK(inner_caught);
      CHECK(seen_scope != 0);  // a timeout's cancellation, not the whole fiber's
    });
  });
}

// Both directions at once, in many fibers on every worker: deadlines are far apart (a few ms vs
// an hour) so which one expires is certain, and only the composition is under test.
TEST_CASE("stress: nested timeouts in many concurrent fibers, each catching exactly its own expiry") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::fibers_scaled(1'000, 100));
    GuardCounter guards;
    std::atomic<int> wrong{0};
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn([&, i] {
        const auto short_d = std::chrono::microseconds(500 + 37 * (i % 50));
        const bool inner_short = i % 2 == 0;
        const int depth = 1 + i % 3;  // extra hour-long timeouts in between
        std::function<void(int)> nest = [&](int d) {
          CountedGuard g(guards);
          if (d == 0) {
            weft::sleep(1h);
            return;
          }
          if (!weft::timeout(1h, [&] { nest(d - 1); })) wrong.fetch_add(1);  // never expires
        };
        bool inner_done = true, after_inner = false;
        auto outer = weft::timeout(inner_short ? 1h : short_d, [&] {
          inner_done = weft::timeout(inner_short ? short_d : 1h, [&] { nest(depth); });
          after_inner = true;
          weft::yield_now();
          return i;
        });
        if (inner_short) {
          if (inner_done || !after_inner || outer != std::optional<int>(i)) wrong.fetch_add(1);
        } else {
          if (after_inner || outer.has_value()) wrong.fetch_add(1);
        }
      }));
    }
    for (auto& h : hs) CHECK(h.join().has_value());
    CHECK(wrong.load() == 0);
    CHECK(guards.balanced());
  });
}

TEST_CASE("a swallowed timeout cancellation is raised again at the next suspension point") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      int swallowed = 0;
      bool reached_end = false;
      bool finished = weft::timeout(5ms, [&] {
        try {
          weft::sleep(1h);
        } catch (...) {
          ++swallowed;
        }
        weft::yield_now();  // throws again: the deadline has passed
        reached_end = true;
      });
      CHECK_FALSE(finished);
      CHECK(swallowed == 1);
      CHECK_FALSE(reached_end);
    });
  });
}

TEST_CASE("f's own exceptions and the fiber's own cancellation pass through timeout untouched") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      CHECK_THROWS_WITH_AS(weft::timeout(1h, []() -> int { throw std::runtime_error("f failed"); }),
                           "f failed", std::runtime_error);
    });
    std::atomic<bool> in_timeout{false};
    std::atomic<int> timeout_returned{0};
    auto h = rt.spawn([&] {
      (void)weft::timeout(1h, [&] {
        in_timeout.store(true);
        weft::sleep(1h);
      });
      timeout_returned.fetch_add(1);  // must not happen: abort is not the timeout's to catch
    });
    CHECK(wait_for([&] { return in_timeout.load(); }));
    h.abort();
    weft::Result<void> r = h.join();
    CHECK((!r && r.error().is_cancelled()));
    CHECK(timeout_returned.load() == 0);
  });
}

TEST_CASE("an expired timeout leaves no timer behind: many timeouts in a row, then normal waits") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(300, 30));
    rt.block_on([&] {
      int elapsed = 0;
      for (int i = 0; i < n; ++i) elapsed += !weft::timeout(100us, [] { weft::sleep(1h); });
      CHECK(elapsed == n);
      // A stale deadline timer firing now would cancel these.
      for (int i = 0; i < 20; ++i) weft::sleep(200us);
      CHECK(weft::timeout(1h, [] { weft::sleep(1ms); }));
    });
  });
}

TEST_CASE("timeout outside a fiber throws weft::Error") {
  CHECK_THROWS_AS((void)weft::timeout(1s, [] { return 1; }), weft::Error);
}

}  // namespace

// A loop that never suspends can only stop on time by asking: is_cancelled() must report an
// expired timeout scope (and only while inside it), also inside a shield, where the throw waits.
TEST_CASE("is_cancelled() sees an expired timeout scope, inside a shield too") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      for (int i = 0; i < weft_test::scaled(20, 3); ++i) {
        long spins = 0;
        const auto t0 = Clock::now();  // before the scope's deadline was taken
        Clock::time_point seen{};
        const bool finished = weft::timeout(2ms, [&] {
          while (!weft::this_fiber::is_cancelled()) ++spins;  // no suspension point at all
          seen = Clock::now();
          weft::this_fiber::check_cancelled();  // throws: the scope expired
          FAIL("check_cancelled() did not throw in an expired scope");
        });
        CHECK_FALSE(finished);
        // The loop ran before the scope expired, unless this thread lost its CPU for the whole 2 ms
        // before the first check (a loaded machine): then the first is_cancelled() was right.
        CHECK((spins > 0 || seen - t0 >= 2ms));
        CHECK_FALSE(weft::this_fiber::is_cancelled());  // outside the scope: not cancelled
        bool seen_in_shield = false;
        const bool finished2 = weft::timeout(2ms, [&] {
          weft::shield([&] {
            while (!weft::this_fiber::is_cancelled()) {
            }
            seen_in_shield = true;
            weft::this_fiber::check_cancelled();  // deferred by the shield: does not throw
          });
          weft::this_fiber::check_cancelled();  // out of the shield: throws
        });
        CHECK(seen_in_shield);
        CHECK_FALSE(finished2);
      }
    });
  });
}
