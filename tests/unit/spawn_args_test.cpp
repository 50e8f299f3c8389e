// spawn(f, args...) like std::thread: arguments are decay-copied into the fiber and passed as
// rvalues, member functions are invoked through std::invoke, and the spawn site is still captured.
// Every spawn entry point (weft::spawn, Handle, Runtime, JoinSet, spawn_local, scope,
// spawn_blocking) accepts the bound form, with and without Options.
#include "test_util.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <source_location>
#include <string>
#include <thread>
#include <vector>

namespace {

std::uint64_t mix(std::uint64_t a, std::uint64_t b) { return a * 0x9e3779b97f4a7c15ull ^ (b + 7); }

struct Account {
  std::atomic<long> balance{0};
  long deposit(long n, int times) {
    for (int i = 0; i < times; ++i) {
      balance.fetch_add(n, std::memory_order_relaxed);
      weft::yield_now();  // migrate between workers while holding a bound `this`
    }
    return n * times;
  }
};

long take_unique(std::unique_ptr<long> p, std::string s) { return *p + static_cast<long>(s.size()); }

}  // namespace

TEST_CASE("spawn(f, args...) runs f with decay-copied arguments, many fibers, from fibers and threads") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const long n = weft_test::scaled(20'000, 1'000);
    std::atomic<long> wrong{0};
    auto check = [&](long i, weft::Result<std::uint64_t> r) {
      if (!r || *r != mix(static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(i) + 1)) wrong++;
    };
    // Plain thread spawning through Runtime::spawn and a Handle, with bound arguments.
    std::thread t([&] {
      weft::Handle h = rt.handle();
      std::vector<weft::JoinHandle<std::uint64_t>> hs;
      for (long i = 0; i < n / 2; ++i) {
        hs.push_back(i % 2 ? rt.spawn(mix, static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(i) + 1)
                           : h.spawn(weft::Options{.name = "bound"}, mix, static_cast<std::uint64_t>(i),
                                     static_cast<std::uint64_t>(i) + 1));
      }
      for (long i = 0; i < n / 2; ++i) check(i, hs[static_cast<std::size_t>(i)].join());
    });
    rt.block_on([&] {
      std::vector<weft::JoinHandle<std::uint64_t>> hs;
      for (long i = n / 2; i < n; ++i) {
        hs.push_back(i % 2 ? weft::spawn(mix, static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(i) + 1)
                           : weft::spawn(weft::Options{.name = "bound"}, &mix, static_cast<std::uint64_t>(i),
                                         static_cast<std::uint64_t>(i) + 1));
      }
      for (long i = n / 2; i < n; ++i) check(i, hs[static_cast<std::size_t>(i - n / 2)].join());
    });
    t.join();
    CHECK(wrong.load() == 0);
  });
}

TEST_CASE("spawn(&S::member, &s, args...) invokes the member function on s") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    Account acct;
    rt.block_on([&] {
      std::vector<weft::JoinHandle<long>> hs;
      for (int i = 0; i < 64; ++i) hs.push_back(weft::spawn(&Account::deposit, &acct, 3L, 10));
      // std::ref(acct) works too (std::invoke unwraps it).
      hs.push_back(weft::spawn(&Account::deposit, std::ref(acct), 5L, 2));
      long sum = 0;
      for (auto& h : hs) sum += h.join().value();
      CHECK(sum == 64 * 30 + 10);
    });
    CHECK(acct.balance.load() == 64 * 30 + 10);
  });
}

TEST_CASE("bound arguments are owned by the fiber: move-only values and temporaries of the spawner") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      std::vector<weft::JoinHandle<long>> hs;
      for (long i = 0; i < 200; ++i) {
        // Both the unique_ptr and the string are temporaries destroyed when this statement ends,
        // long before most fibers run: the fiber must hold its own copies.
        hs.push_back(weft::spawn(take_unique, std::make_unique<long>(i), std::string(static_cast<std::size_t>(i % 7), 'x')));
      }
      for (long i = 0; i < 200; ++i) CHECK(hs[static_cast<std::size_t>(i)].join().value() == i + i % 7);
      // A lambda with parameters, an argument copied from an lvalue that changes afterwards.
      int v = 1;
      auto h = weft::spawn([](int a, const std::string& s) { return a + static_cast<int>(s.size()); }, v, std::string("abc"));
      v = 100;
      CHECK(h.join().value() == 4);
    });
  });
}

TEST_CASE("JoinSet, spawn_local, scope and spawn_blocking take bound arguments") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::JoinSet<std::uint64_t> set;
      for (std::uint64_t i = 0; i < 100; ++i) {
        if (i % 2) set.spawn(mix, i, i + 1);
        else set.spawn(weft::Options{.name = "set"}, mix, i, i + 1);
      }
      std::uint64_t got = 0, want = 0;
      for (std::uint64_t i = 0; i < 100; ++i) want += mix(i, i + 1);
      while (auto r = set.join_next()) got += r->value();
      CHECK(got == want);

      weft::LocalSet local;
      local.run_until([] {
        auto a = weft::spawn_local(mix, std::uint64_t{1}, std::uint64_t{2});
        auto b = weft::spawn_local(weft::Options{.name = "local"}, mix, std::uint64_t{3}, std::uint64_t{4});
        CHECK(a.join().value() == mix(1, 2));
        CHECK(b.join().value() == mix(3, 4));
      });

      std::atomic<long> total{0};
      weft::scope([&](weft::Scope& s) {
        for (long i = 0; i < 50; ++i) s.spawn([&total](long k) { total += k; }, i);
        s.spawn(weft::Options{.name = "scoped"}, [&total](long a, long b) { total += a * b; }, 10L, 10L);
      });
      CHECK(total.load() == 49 * 50 / 2 + 100);

      auto bl = weft::spawn_blocking(take_unique, std::make_unique<long>(40), std::string("ab"));
      CHECK(bl.join().value() == 42);
    });
  });
}

TEST_CASE("the spawn site of a bound spawn is the caller's line, and an explicit location is still honoured") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([&] {
    weft::Notify release;
    const unsigned line = std::source_location::current().line() + 1;
    auto h = weft::spawn([](weft::Notify* n, int) { n->notified(); }, &release, 1);
    const std::source_location here = std::source_location::current();
    auto h2 = weft::spawn([&release] { release.notified(); }, here);  // forwarded site: one-callable form
    bool seen = false, seen2 = false;
    for (const weft::FiberMetrics& m : weft::Handle::current().fibers()) {
      if (m.id == h.id()) {
        seen = true;
        CHECK(weft_test::contains(m.spawn_file, "spawn_args_test.cpp"));
        CHECK(m.spawn_line == line);
      }
      if (m.id == h2.id()) {
        seen2 = true;
        CHECK(m.spawn_line == here.line());
      }
    }
    CHECK(seen);
    CHECK(seen2);
    release.notify_waiters();
    release.notify_one();
    release.notify_one();
    // notify_waiters only wakes those already waiting; keep notifying until both are through.
    while (!h.is_finished() || !h2.is_finished()) {
      release.notify_one();
      weft::yield_now();
    }
    CHECK(h.join().has_value());
    CHECK(h2.join().has_value());
  });
}
