// The Runtime and the basics of a fiber's life: building runtimes, block_on, identity (ids and
// names), is_finished, detaching by dropping a JoinHandle, Handle::current, metrics.
#include "test_util.hpp"

#include <pthread.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

TEST_CASE("Builder: worker count, default worker count, thread names") {
  for (unsigned n : weft_test::kWorkerCounts) {
    weft::Runtime rt = weft::Runtime::Builder().workers(n).thread_name("wt").build();
    CHECK(rt.workers() == n);
    const weft::RuntimeMetrics m = rt.metrics();
    REQUIRE(m.workers.size() == n);
    for (unsigned i = 0; i < n; ++i) CHECK(m.workers[i].index == i);
    // Fibers run on threads named "<prefix>-<index>".
    const std::string name = rt.block_on([] {
      char buf[32] = {};
      pthread_getname_np(pthread_self(), buf, sizeof buf);
      return std::string(buf);
    });
    CHECK(name.rfind("wt-", 0) == 0);
    CHECK(std::stoul(name.substr(3)) < n);
  }
  weft::Runtime dflt;
  CHECK(dflt.workers() == std::max(1u, std::thread::hardware_concurrency()));
  CHECK(dflt.block_on([] { return 3; }) == 3);
}

// The names of this process's threads, as the kernel keeps them (what top, perf and gdb show).
std::multiset<std::string> thread_names() {
  std::multiset<std::string> out;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(t.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) out.insert(name);
  }
  return out;
}

// Polls (bounded) until every name in `want` is a thread's: each worker names itself when it starts.
bool threads_named(const std::vector<std::string>& want) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    const auto names = thread_names();
    bool all = true;
    for (auto& w : want) all = all && names.count(w) == 1;
    if (all) return true;
    if (std::chrono::steady_clock::now() > give_up) {
      for (auto& n : names) MESSAGE("thread: " << n);
      return false;
    }
    std::this_thread::yield();
  }
}

TEST_CASE("worker threads keep their prefix and index within Linux's 15 characters") {
  {
    weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
    CHECK(threads_named({"weft-w0", "weft-w1"}));
  }
  {
    // A long prefix is cut, the index never is (16 characters would lose the index's last digit).
    weft::Runtime rt = weft::Runtime::Builder().workers(12).thread_name("a-very-long-prefix").build();
    CHECK(threads_named({"a-very-long-p-0", "a-very-long-p-9", "a-very-long--11"}));
  }
}

TEST_CASE("block_on runs its function as a fiber and hands back its value") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    CHECK_FALSE(weft::this_fiber::in_fiber());
    CHECK(rt.block_on([] { return weft::this_fiber::in_fiber(); }));
    CHECK(rt.block_on([] { return weft::this_fiber::name() == "block_on"; }));
    // Many block_on calls in a row, from several threads at once.
    std::vector<std::thread> ts;
    std::atomic<long> sum{0};
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&rt, &sum, t] {
        for (int i = 0; i < 100; ++i) sum.fetch_add(rt.block_on([t, i] { return t * 1000 + i; }));
      });
    }
    for (auto& t : ts) t.join();
    long expected = 0;
    for (int t = 0; t < 4; ++t) {
      for (int i = 0; i < 100; ++i) expected += t * 1000 + i;
    }
    CHECK(sum.load() == expected);
  });
}

TEST_CASE("fiber ids are unique and non-zero; names come from Options") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(5'000, 500));
    struct Seen {
      weft::FiberId id;
      std::string name;
    };
    std::vector<Seen> seen(static_cast<std::size_t>(n));
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < n; ++i) {
        auto body = [&seen, i] {
          weft::yield_now();  // identity survives a switch (and a possible migration)
          seen[static_cast<std::size_t>(i)] = {weft::this_fiber::id(), std::string(weft::this_fiber::name())};
        };
        if (i % 2) {
          hs.push_back(weft::spawn(weft::Options{.name = "f" + std::to_string(i)}, body));
        } else {
          hs.push_back(weft::spawn(body));
        }
      }
      for (auto& h : hs) CHECK(h.join().has_value());
    });
    std::set<weft::FiberId> ids;
    int zero = 0, bad_names = 0;
    for (int i = 0; i < n; ++i) {
      const Seen& s = seen[static_cast<std::size_t>(i)];
      if (s.id == 0) ++zero;
      ids.insert(s.id);
      if (s.name != (i % 2 ? "f" + std::to_string(i) : std::string())) ++bad_names;
    }
    CHECK(zero == 0);
    CHECK(ids.size() == static_cast<std::size_t>(n));
    CHECK(bad_names == 0);
  });
}

TEST_CASE("JoinHandle::id() is the id the fiber sees") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    auto h = rt.spawn([] { return weft::this_fiber::id(); });
    const weft::FiberId from_handle = h.id();
    const weft::FiberId from_inside = h.join().value();
    CHECK(from_inside != 0);
    CHECK(from_handle == from_inside);
    CHECK(h.id() == from_inside);  // still known after join
    auto h2 = rt.block_on([] { return weft::spawn([] { return weft::this_fiber::id(); }); });
    const weft::FiberId id2 = h2.id();
    CHECK(id2 == h2.join().value());
  });
}

TEST_CASE("is_finished() turns true when the fiber ends, before anyone joins") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft_test::Pipe gate;
    weft_test::StopWorkersFirst stop_workers{rt};  // before the fds close (see test_util.hpp)
    auto h = rt.spawn([&] { return weft_test::get_byte(gate.r); });
    CHECK_FALSE(h.is_finished());  // it cannot finish before the byte is written
    CHECK(weft_test::put_byte(gate.w, 'f'));
    while (!h.is_finished()) std::this_thread::yield();  // waits for a state, not for time
    CHECK(h.valid());
    CHECK(h.join().value() == 'f');
  });
}

TEST_CASE("dropping a JoinHandle detaches: the fiber runs to completion on its own") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(1'000, 100));
    weft_test::Pipe go;
    weft_test::StopWorkersFirst stop_workers{rt};  // before the fds close (see test_util.hpp)
    std::atomic<int> completed{0};
    std::latch done(n);
    {
      std::vector<weft::JoinHandle<int>> hs;
      for (int i = 0; i < n; ++i) {
        hs.push_back(rt.spawn([&, i] {
          weft::wait_readable(go.r);  // held until every handle is gone
          completed.fetch_add(1);
          done.count_down();
          return i;
        }));
      }
      // Half dropped by the destructor, half by detach().
      for (int i = 0; i < n; i += 2) hs[static_cast<std::size_t>(i)].detach();
    }
    CHECK(completed.load() == 0);
    CHECK(weft_test::put_byte(go.w, 'g'));
    done.wait();
    CHECK(completed.load() == n);

    // Detaching from inside a fiber, and the detached fiber spawning and joining on its own.
    std::atomic<int> grandchild{0};
    std::latch inner_done(1);
    rt.block_on([&] {
      weft::spawn([&] {
        auto c = weft::spawn([] { return 9; });
        grandchild.store(c.join().value());
        inner_done.count_down();
      }).detach();
    });
    inner_done.wait();
    CHECK(grandchild.load() == 9);
  });
}

TEST_CASE("Handle::current() inside a fiber spawns onto the same runtime, from any thread later") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::Handle h = rt.block_on([] { return weft::Handle::current(); });
    CHECK(static_cast<bool>(h));
    CHECK(h.workers() == rt.workers());
    CHECK(&weft::detail::RuntimeAccess::scheduler(h) == &weft::detail::RuntimeAccess::scheduler(rt.handle()));
    int from_thread = 0;
    std::thread([&] { from_thread = h.spawn([] { return 11; }).join().value(); }).join();
    CHECK(from_thread == 11);
    CHECK(h.block_on([] { return 12; }) == 12);
  });
}

TEST_CASE("a moved Runtime keeps running; the moved-from one does nothing on destruction") {
  weft::Runtime a = weft_test::make_runtime(2);
  auto h = a.spawn([] { return 1; });
  weft::Runtime b(std::move(a));
  CHECK(h.join().value() == 1);
  CHECK(b.block_on([] { return 2; }) == 2);
  CHECK(b.workers() == 2);
  a.shutdown();  // NOLINT(bugprone-use-after-move): documented no-op on a moved-from runtime
  CHECK(b.block_on([] { return 3; }) == 3);
}

TEST_CASE("yield_now from a plain thread is the documented fallback (yields the thread)") {
  for (int i = 0; i < 100; ++i) weft::yield_now();
  CHECK_FALSE(weft::this_fiber::in_fiber());
}

TEST_CASE("metrics: spawn counts, live fibers and stacks while fibers are blocked, run counts") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(1'000, 100));
    const weft::RuntimeMetrics before = rt.metrics();
    CHECK(before.live_fibers == 0);
    CHECK(before.live_stacks == 0);
    weft_test::Pipe gate;
    weft_test::StopWorkersFirst stop_workers{rt};  // before the fds close (see test_util.hpp)
    std::latch blocked(n);
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn([&] {
        blocked.count_down();
        weft::wait_readable(gate.r);
      }));
    }
    blocked.wait();
    const weft::RuntimeMetrics during = rt.metrics();
    CHECK(during.spawned_total == before.spawned_total + static_cast<std::uint64_t>(n));
    CHECK(during.live_fibers == static_cast<std::size_t>(n));
    CHECK(during.live_stacks == n);
    std::uint64_t pulls = 0, runs = 0;
    for (const auto& w : during.workers) {
      pulls += w.inject_pulls;
      runs += w.fibers_run;
    }
    CHECK(pulls >= 1);  // spawned from outside: they went through the global queue
    CHECK(runs >= static_cast<std::uint64_t>(n));
    CHECK(weft_test::put_byte(gate.w, 'g'));
    for (auto& h : hs) CHECK(h.join().has_value());
    const weft::RuntimeMetrics after = rt.metrics();
    CHECK(after.live_stacks == 0);
    CHECK(after.spawned_total == during.spawned_total);
    std::uint64_t runs_after = 0;
    for (const auto& w : after.workers) runs_after += w.fibers_run;
    CHECK(runs_after >= runs + static_cast<std::uint64_t>(n));  // each ran again after the wait
  });
}

TEST_CASE("metrics are exact once a fiber is seen finished: it is no longer counted live") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    // live_fibers is "spawned and not yet finished". Once is_finished() is true or join() has
    // returned, a snapshot must not count that fiber any more (callers check live_fibers == 0
    // for leaks and quiescence). Polling is_finished() reads the fiber's completion the moment it
    // is published, which is when a counter updated later than that would still be stale.
    const int n = static_cast<int>(weft_test::scaled(5'000, 500));
    int stale_after_finished = 0, stale_after_join = 0;
    for (int i = 0; i < n; ++i) {
      auto h = rt.spawn([] { return 1; });
      if (i % 2) {
        while (!h.is_finished()) std::this_thread::yield();
        if (rt.metrics().live_fibers != 0) ++stale_after_finished;
        CHECK(h.join().value() == 1);
      } else {
        CHECK(h.join().value() == 1);
        if (rt.metrics().live_fibers != 0) ++stale_after_join;
      }
    }
    CHECK(stale_after_finished == 0);
    CHECK(stale_after_join == 0);
  });
}

}  // namespace
