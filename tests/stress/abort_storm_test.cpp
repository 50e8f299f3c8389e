// Abort at every kind of suspension point, and the abort storm: a hundred thousand fibers looping
// over mixed suspension points, aborted from several plain threads at random moments, round after
// round. Afterwards no fiber and no stack is left, and every guard was released exactly once.
#include "cancel_util.hpp"

#include <weft/cancellation_token.hpp>
#include <weft/join_set.hpp>
#include <weft/local_set.hpp>
#include <weft/scope.hpp>
#include <weft/race.hpp>
#include <weft/timeout.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using weft_test::CountedGuard;
using weft_test::GuardCounter;
using weft_test::wait_for;

struct Kind {
  const char* name;
  // Suspends (practically) forever at one kind of suspension point.
  std::function<void(weft_test::Pipe& never, weft_test::SocketPair& full)> wait;
};

// Fills `fd`'s send buffer, so wait_writable on it suspends.
void fill(int fd) {
  char chunk[4096] = {};
  while (::write(fd, chunk, sizeof chunk) > 0) {
  }
}

std::vector<Kind> kinds() {
  using P = weft_test::Pipe;
  using S = weft_test::SocketPair;
  return {
      {"sleep", [](P&, S&) { weft::sleep(1h); }},
      {"sleep_until", [](P&, S&) { weft::sleep_until(Clock::now() + 1h); }},
      {"yield_now", [](P&, S&) { for (;;) weft::yield_now(); }},
      {"check_cancelled in a CPU loop", [](P&, S&) { for (;;) weft::this_fiber::check_cancelled(); }},
      {"join", [](P& p, S&) {
         auto child = weft::spawn([&p] { (void)weft::wait_readable(p.r, 1h); });
         struct Stop {
           weft::JoinHandle<void>& h;
           ~Stop() { h.abort(); }
         } stop{child};
         (void)child.join();
       }},
      {"wait_readable", [](P& p, S&) { weft::wait_readable(p.r); }},
      {"wait_readable with timeout", [](P& p, S&) { (void)weft::wait_readable(p.r, 1h); }},
      {"wait_writable", [](P&, S& s) { weft::wait_writable(s.a); }},
      {"JoinSet::join_next", [](P&, S&) {
         weft::JoinSet<void> set;
         set.spawn([] { weft::sleep(1h); });
         (void)set.join_next();
       }},
      {"scope", [](P&, S&) { weft::scope([](weft::Scope& s) { s.spawn([] { weft::sleep(1h); }); }); }},
      {"race", [](P&, S&) {
         (void)weft::race([] { weft::sleep(1h); }, [] { for (;;) weft::yield_now(); });
       }},
      {"timeout", [](P&, S&) { (void)weft::timeout(1h, [] { weft::sleep(1h); }); }},
      {"CancellationToken::cancelled", [](P&, S&) { weft::CancellationToken().cancelled(); }},
      {"run_until_cancelled", [](P&, S&) {
         (void)weft::CancellationToken().run_until_cancelled([] { weft::sleep(1h); });
       }},
      {"LocalSet", [](P&, S&) {
         weft::LocalSet local;
         local.run_until([] { (void)weft::spawn_local([] { weft::sleep(1h); }).join(); });
       }},
  };
}

TEST_CASE("abort reaches a fiber at every kind of suspension point and unwinds it") {
  // fds outlive each runtime (libev drops an fd from its epoll set lazily, on the worker's thread:
  // closing it while the runtime runs is an fd-level race TSan reports).
  weft_test::Pipe never;
  weft_test::SocketPair full;
  fill(full.a);
  weft_test::for_each_worker_count([&](weft::Runtime& rt) {
    const int per_kind = static_cast<int>(weft_test::scaled(20, 4));
    for (const Kind& k : kinds()) {
      const std::string name = k.name;
      CAPTURE(name);
      GuardCounter guards;
      std::atomic<int> about_to_wait{0}, past{0};
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < per_kind; ++i) {
        hs.push_back(rt.spawn([&] {
          CountedGuard g(guards);
          about_to_wait.fetch_add(1);
          // All start before any waits: a CPU-bound kind would otherwise keep the others of its
          // worker from starting at all.
          weft_test::expect_eventually([&] { return about_to_wait.load() == per_kind; }, "all started");
          k.wait(never, full);
          past.fetch_add(1);
        }));
      }
      // Handshake: every fiber is at (or right before) its suspension point; either way the abort
      // must end it — immediately if suspended, at the point if not there yet.
      CHECK(wait_for([&] { return about_to_wait.load() == per_kind; }));
      for (auto& h : hs) h.abort();
      int cancelled = 0;
      for (auto& h : hs) {
        weft::Result<void> r = h.join();
        cancelled += (!r && r.error().is_cancelled());
      }
      CHECK(cancelled == per_kind);
      CHECK(past.load() == 0);
      CHECK(guards.created.load() == per_kind);
      CHECK(guards.balanced());
    }
    // Detached helpers (e.g. the children of "join") end too: nothing is left behind.
    CHECK(wait_for([&] { return rt.metrics().live_fibers == 0; }));
  });
}

// Cancellation cannot be defeated, only delayed: a fiber that swallows the delivered Cancelled and
// returns without passing another suspension point still ends cancelled, its value discarded.
TEST_CASE("a fiber that swallows Cancelled and returns normally still ends cancelled") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(200, 20));
    std::atomic<int> sleeping{0}, swallowed{0};
    std::vector<weft::JoinHandle<int>> hs;
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn([&] {
        try {
          sleeping.fetch_add(1);
          weft::sleep(1h);
        } catch (...) {
          swallowed.fetch_add(1);
        }
        return 42;  // no suspension point after the swallow
      }));
    }
    CHECK(wait_for([&] { return sleeping.load() == n; }));
    for (auto& h : hs) h.abort();
    int cancelled = 0, values = 0;
    for (auto& h : hs) {
      weft::Result<int> r = h.join();
      cancelled += (!r && r.error().is_cancelled());
      values += r.has_value();
    }
    CHECK(swallowed.load() == n);
    CHECK(cancelled == n);
    CHECK(values == 0);
  });
}

// One loop of mixed suspension points. Each iteration holds a guard across its suspension point, so
// wherever the abort lands, a guard is being unwound.
using Pipes = std::vector<std::unique_ptr<weft_test::Pipe>>;

void storm_body(GuardCounter& guards, std::atomic<int>& started, Pipes& pipes, unsigned seed) {
  CountedGuard whole(guards);
  started.fetch_add(1, std::memory_order_relaxed);
  std::minstd_rand rng(seed);
  for (;;) {
    CountedGuard g(guards);
    switch (rng() % 5) {
      case 0:
        weft::sleep(std::chrono::microseconds(rng() % 50));
        break;
      case 1:
        weft::yield_now();
        break;
      case 2: {
        auto child = weft::spawn([&guards] {
          CountedGuard cg(guards);
          weft::yield_now();
          return 1;
        });
        (void)child.join();  // if we are aborted here, the child is detached and completes
        break;
      }
      case 3: {
        weft_test::Pipe& p = *pipes[rng() % pipes.size()];
        if (weft::wait_readable(p.r, std::chrono::microseconds(rng() % 100))) {
          (void)weft_test::try_get_byte(p.r);
        }
        break;
      }
      case 4:
        weft::this_fiber::check_cancelled();
        break;
    }
  }
}

TEST_CASE("abort storm: 100k looping fibers aborted from several threads at random times, repeated") {
  // fds outlive each runtime (libev drops an fd from its epoll set lazily, on the worker's thread:
  // closing it while the runtime runs is an fd-level race TSan reports).
  Pipes pipes;
  for (int i = 0; i < 64; ++i) pipes.push_back(std::make_unique<weft_test::Pipe>());
  weft_test::for_each_worker_count([&](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::fibers_scaled(100'000, 1'000));
    const int rounds = static_cast<int>(weft_test::scaled(3, 2));  // sanitizer builds: 2
    constexpr int kAborters = 4;
    const long stacks_at_start = rt.metrics().live_stacks;
    GuardCounter guards;
    std::mt19937 rng(2024);
    for (int round = 0; round < rounds; ++round) {
      CAPTURE(round);
      std::vector<weft::JoinHandle<void>> hs;
      std::vector<weft::AbortHandle> aborts;
      hs.reserve(static_cast<std::size_t>(n));
      aborts.reserve(static_cast<std::size_t>(n));
      std::atomic<bool> writing{true};
      std::atomic<int> started{0};
      // Some fd waits end by readiness rather than their timeout.
      std::thread writer([&] {
        std::minstd_rand r(static_cast<unsigned>(round));
        while (writing.load()) {
          (void)weft_test::put_byte(pipes[r() % pipes.size()]->w);
          std::this_thread::sleep_for(20us);  // pacing only (a busy writer would take a core)
        }
      });
      for (int i = 0; i < n; ++i) {
        hs.push_back(rt.spawn([&guards, &started, &pipes, seed = static_cast<unsigned>(rng())] {
          storm_body(guards, started, pipes, seed);
        }));
        aborts.push_back(hs.back().abort_handle());
      }
      std::shuffle(aborts.begin(), aborts.end(), rng);
      // The aborters start once a tenth of the fibers are looping (more would only make the test
      // slower: the rest start while the aborters work) and pause randomly between aborts, so
      // fibers are hit before their first run, mid-loop, suspended and running.
      CHECK(wait_for([&] { return started.load() >= n / 10; }));
      std::vector<std::thread> aborters;
      for (int t = 0; t < kAborters; ++t) {
        aborters.emplace_back([&, t] {
          std::minstd_rand r(static_cast<unsigned>(t * 7919 + round));
          for (std::size_t i = static_cast<std::size_t>(t); i < aborts.size(); i += kAborters) {
            for (unsigned spin = r() % 128; spin > 0; --spin) weft::detail::cpu_relax();
            aborts[i].abort();
            if (r() % 4 == 0) aborts[(i + 1) % aborts.size()].abort();  // double aborts race too
          }
        });
      }
      for (auto& t : aborters) t.join();
      int cancelled = 0;
      for (auto& h : hs) {
        weft::Result<void> r = h.join();
        cancelled += (!r && r.error().is_cancelled());
      }
      writing.store(false);
      writer.join();
      CHECK(cancelled == n);  // the loop never ends by itself
      // Detached children of aborted joiners finish on their own: wait for the state, not time.
      CHECK(wait_for([&] { return rt.metrics().live_fibers == 0; }));
      CHECK(wait_for([&] { return rt.metrics().live_stacks == stacks_at_start; }));
      CHECK(started.load() >= n / 10);
      CHECK(guards.created.load() >= 2L * started.load());  // each fiber that ran made at least two
      CHECK(guards.balanced());
    }
  });
}

}  // namespace
