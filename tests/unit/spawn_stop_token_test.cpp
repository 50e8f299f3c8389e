// spawn of a callable taking std::stop_token (like std::jthread): the token's stop is requested by
// every kind of the fiber's own cancellation (abort, a dropped JoinSet, a failing scope sibling,
// shutdown), std::stop_callbacks on it run exactly once, a stop-token fiber that returns after
// the stop ends cancelled, and callables without a token are called as before.
#include "test_util.hpp"

#include <atomic>
#include <memory>
#include <source_location>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace {
// One fiber's view: whether it started (its callback is registered) and how often the callback ran.
struct Probe {
  std::atomic<bool> started{false};
  std::atomic<int> stops{0};
};

// The body of a jthread-style fiber: register a stop_callback, say so, loop until stopped.
void loop_until_stopped(std::stop_token st, Probe* p) {
  std::stop_callback cb(st, [p] { p->stops.fetch_add(1); });
  p->started.store(true);
  while (!st.stop_requested()) weft::yield_now();
}

void wait_started(const std::vector<std::unique_ptr<Probe>>& ps) {
  for (auto& p : ps) {
    while (!p->started.load()) {
      if (weft::this_fiber::in_fiber()) weft::yield_now(); else std::this_thread::yield();
    }
  }
}
}  // namespace

TEST_CASE("spawn(f(std::stop_token)): abort requests stop once, the callback runs once, join reports cancelled") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(400, 20));
    std::vector<std::unique_ptr<Probe>> ps;
    for (int i = 0; i < n; ++i) ps.push_back(std::make_unique<Probe>());
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < n; ++i) {
        Probe* p = ps[i].get();
        hs.push_back(weft::spawn([p](std::stop_token st) { loop_until_stopped(std::move(st), p); }));
      }
      wait_started(ps);
      // Half aborted from this fiber, half from a plain thread; every one twice (idempotent).
      std::vector<weft::AbortHandle> foreign;
      for (int i = 0; i < n; ++i) {
        if (i % 2) foreign.push_back(hs[i].abort_handle());
        else hs[i].abort();
      }
      std::thread t([&] {
        for (auto& a : foreign) a.abort();
        for (auto& a : foreign) a.abort();
      });
      for (int i = 0; i < n; i += 2) hs[i].abort();
      for (auto& h : hs) {
        weft::Result<void> r = h.join();
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().is_cancelled());
      }
      t.join();
    });
    for (auto& p : ps) CHECK(p->stops.load() == 1);
  });
}

TEST_CASE("a stop-token fiber that returns after seeing the stop (no suspension point) still ends cancelled") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(64, 8));
    for (int i = 0; i < n; ++i) {
      std::atomic<bool> started{false};
      // Spawned and aborted from this plain thread: with 1 worker the spinning fiber holds it.
      auto h = rt.spawn([&started](std::stop_token st) {
        started.store(true);
        long spins = 0;
        while (!st.stop_requested()) ++spins;  // CPU work, no suspension point
        return spins;
      });
      while (!started.load()) std::this_thread::yield();
      h.abort();
      weft::Result<long> r = h.join();
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().is_cancelled());
    }
    // Not aborted: the value comes back as usual, and the token was never stopped.
    auto ok = rt.spawn([](std::stop_token st) { return st.stop_possible() && !st.stop_requested() ? 7 : -1; });
    CHECK(ok.join().value() == 7);
  });
}

TEST_CASE("the token is stopped by a dropped JoinSet, a failing scope sibling and shutdown") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(100, 10));
    std::vector<std::unique_ptr<Probe>> set_ps, scope_ps, shut_ps;
    for (int i = 0; i < n; ++i) {
      set_ps.push_back(std::make_unique<Probe>());
      scope_ps.push_back(std::make_unique<Probe>());
      shut_ps.push_back(std::make_unique<Probe>());
    }
    rt.block_on([&] {
      {
        weft::JoinSet<void> set;
        for (auto& p : set_ps) set.spawn([p = p.get()](std::stop_token st) { loop_until_stopped(std::move(st), p); });
        wait_started(set_ps);
      }  // dropped: aborts every child
      bool threw = false;
      try {
        weft::scope([&](weft::Scope& s) {
          for (auto& p : scope_ps) s.spawn([p = p.get()](std::stop_token st) { loop_until_stopped(std::move(st), p); });
          s.spawn([&] {
            wait_started(scope_ps);
            throw std::runtime_error("sibling fails");
          });
        });
      } catch (const weft::ScopeError&) {
        threw = true;
      }
      CHECK(threw);
      for (auto& p : scope_ps) CHECK(p->stops.load() == 1);
    });
    // Detached stop-token fibers that only stop when the runtime shuts down.
    for (auto& p : shut_ps) rt.spawn([p = p.get()](std::stop_token st) { loop_until_stopped(std::move(st), p); }).detach();
    wait_started(shut_ps);
    rt.shutdown();
    for (auto& p : set_ps) CHECK(p->stops.load() == 1);
    for (auto& p : shut_ps) CHECK(p->stops.load() == 1);
  });
}

TEST_CASE("spawn(f, args...) with f(std::stop_token, args...), and callables without a token are unaffected") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      auto a = weft::spawn([](std::stop_token st, int x, std::string s) { return st.stop_possible() ? x + static_cast<int>(s.size()) : -1; },
                           40, std::string("ab"));
      CHECK(a.join().value() == 42);
      // A callable that could take the token or nothing is called with nothing (as before).
      auto b = weft::spawn([](auto&&... xs) { return static_cast<int>(sizeof...(xs)); });
      CHECK(b.join().value() == 0);
      auto c = weft::spawn([](auto&&... xs) { return static_cast<int>(sizeof...(xs)); }, 1, 2);
      CHECK(c.join().value() == 2);
      // Options, JoinSet, spawn_local-free entry points take stop-token callables too.
      auto d = weft::spawn(weft::Options{.name = "st"}, [](std::stop_token st) { return !st.stop_requested(); });
      CHECK(d.join().value());
      weft::JoinSet<int> set;
      set.spawn([](std::stop_token, int x) { return x; }, 5);
      CHECK(set.join_next().value().value() == 5);
    });
  });
}

TEST_CASE("a running spawn_blocking task taking a std::stop_token can be stopped") {
  std::atomic<bool> started{false};
  auto h = weft::spawn_blocking([&started](std::stop_token st) {
    started.store(true);
    while (!st.stop_requested()) std::this_thread::yield();
  });
  while (!started.load()) std::this_thread::yield();
  h.abort();
  weft::Result<void> r = h.join();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().is_cancelled());
}

TEST_CASE("the spawn site of a stop-token spawn is the caller's line; weft::spawn from a plain thread is a weft::Error") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    weft::Notify release;
    const unsigned line = std::source_location::current().line() + 1;
    auto h = weft::spawn([&release](std::stop_token) { release.notified(); });
    const unsigned line2 = std::source_location::current().line() + 1;
    auto h2 = weft::spawn([](std::stop_token, weft::Notify* n) { n->notified(); }, &release);
    int seen = 0;
    for (const weft::FiberMetrics& m : weft::Handle::current().fibers()) {
      if (m.id == h.id()) {
        ++seen;
        CHECK(weft_test::contains(m.spawn_file, "spawn_stop_token_test.cpp"));
        CHECK(m.spawn_line == line);
      }
      if (m.id == h2.id()) {
        ++seen;
        CHECK(m.spawn_line == line2);
      }
    }
    CHECK(seen == 2);
    while (!h.is_finished() || !h2.is_finished()) {
      release.notify_one();
      weft::yield_now();
    }
    CHECK(h.join().has_value());
    CHECK(h2.join().has_value());
  });
  CHECK_THROWS_AS((void)weft::spawn([](std::stop_token) {}), weft::Error);
}
