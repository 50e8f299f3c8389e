// Cancellation (doc/design.md §2): abort() and runtime shutdown unwind a suspended fiber from its
// suspension point, running every RAII guard; a fiber that finishes first keeps its value;
// requests are thread-safe and idempotent; cancellation is level-triggered and never thrown while
// unwinding.
#include "test_util.hpp"

#include <atomic>
#include <chrono>
#include <latch>
#include <optional>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

// Counts its destruction: proves a fiber's stack was unwound, not abandoned.
struct Guard {
  std::atomic<int>& n;
  explicit Guard(std::atomic<int>& c) : n(c) {}
  ~Guard() { n.fetch_add(1); }
};

TEST_CASE("abort() on a sleeping fiber: join reports cancelled and the fiber's guards ran") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(1'000, 100));
    std::atomic<int> guards{0}, after_sleep{0};
    std::latch started(n);
    std::vector<weft::JoinHandle<int>> hs;
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn(weft::Options{.name = "sleeper"}, [&] {
        Guard g(guards);
        started.count_down();
        weft::sleep(1h);
        after_sleep.fetch_add(1);
        return 1;
      }));
    }
    started.wait();  // every guard exists; the fibers are in (or about to enter) sleep
    for (auto& h : hs) {
      h.abort();
      h.abort();  // idempotent
    }
    int cancelled = 0, named = 0;
    for (auto& h : hs) {
      weft::Result<int> r = h.join();
      if (!r && r.error().is_cancelled() && !r.error().is_panic() && !r.error().panic()) ++cancelled;
      if (!r && weft_test::contains(r.error().what(), "'sleeper' was cancelled")) ++named;
    }
    CHECK(cancelled == n);
    CHECK(named == n);
    CHECK(guards.load() == n);
    CHECK(after_sleep.load() == 0);
  });
}

// Spin for about `iters` loop turns: a random, sub-microsecond-to-microseconds offset that sweeps the
// abort below across every moment of the target's life. Not synchronisation: the outcome checked
// is the same whatever the offset.
void jitter(unsigned iters) {
  for (unsigned i = 0; i < iters; ++i) asm volatile("" ::: "memory");
}

TEST_CASE("abort() racing with the target's own suspension never loses the fiber") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    // Cancellation wakes a fiber from whatever thread calls abort(). The riskiest moment is while
    // the fiber is still switching out to park: the wake must then make its worker requeue it.
    // Plain threads abort fibers at random offsets after spawning them; a lost wake-up is a hang.
    constexpr int kThreads = 4;
    const int per_thread = static_cast<int>(weft_test::scaled(8'000, 800)) / kThreads;
    std::atomic<int> cancelled{0}, other{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t) {
      ts.emplace_back([&, t] {
        unsigned rng = 0x9e3779b9u * static_cast<unsigned>(t + 1);
        for (int i = 0; i < per_thread; ++i) {
          auto h = rt.spawn([] { weft::sleep(1h); });
          rng ^= rng << 13;
          rng ^= rng >> 17;
          rng ^= rng << 5;
          jitter(rng % 4096);
          h.abort();
          weft::Result<void> r = h.join();
          (!r && r.error().is_cancelled() ? cancelled : other).fetch_add(1);
        }
      });
    }
    for (auto& t : ts) t.join();
    CHECK(cancelled.load() == per_thread * kThreads);
    CHECK(other.load() == 0);
  });
}

TEST_CASE("a fiber that finishes before reaching a suspension point keeps its value despite abort()") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    // Already finished when aborted.
    auto done = rt.spawn([] { return 7; });
    while (!done.is_finished()) std::this_thread::yield();  // waits for a state, not for time
    done.abort();
    weft::Result<int> r = done.join();
    CHECK((r && *r == 7));

    // Aborted while running CPU-bound, finishing without passing a suspension point.
    std::atomic<bool> running{false}, go{false};
    auto busy = rt.spawn([&] {
      running.store(true);
      while (!go.load()) {
      }
      return 8;
    });
    while (!running.load()) std::this_thread::yield();
    busy.abort();
    go.store(true);
    weft::Result<int> r2 = busy.join();
    CHECK((r2 && *r2 == 8));
  });
}

TEST_CASE("AbortHandle cancels from another thread, is copyable, and may outlive the fiber") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(200, 20));
    weft_test::Pipe never;  // nothing is ever written
    weft_test::StopWorkersFirst stop_workers{rt};  // before the fds close (see test_util.hpp)
    std::atomic<int> guards{0};
    std::latch started(n);
    std::vector<weft::JoinHandle<void>> hs;
    std::vector<weft::AbortHandle> aborts;
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn([&] {
        Guard g(guards);
        started.count_down();
        weft::wait_readable(never.r);
      }));
      aborts.push_back(hs.back().abort_handle());
    }
    started.wait();
    for (auto& a : aborts) CHECK_FALSE(a.is_finished());
    // Several plain threads abort through copies, racing each other on the same fibers.
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([copies = aborts] {
        for (const auto& a : copies) a.abort();
      });
    }
    for (auto& t : ts) t.join();
    int cancelled = 0;
    for (auto& h : hs) {
      weft::Result<void> r = h.join();
      if (!r && r.error().is_cancelled()) ++cancelled;
    }
    CHECK(cancelled == n);
    CHECK(guards.load() == n);
    // The fibers are gone; the abort handles still work (harmlessly).
    for (auto& a : aborts) {
      CHECK(a.is_finished());
      a.abort();
    }
    weft::AbortHandle empty;
    CHECK(empty.is_finished());
    empty.abort();
  });
}

TEST_CASE("cancellation is level-triggered: swallowing Cancelled does not defeat it") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    std::atomic<int> swallowed{0}, reached_end{0};
    std::latch started(1);
    auto h = rt.spawn([&] {
      started.count_down();
      try {
        weft::sleep(1h);
      } catch (...) {  // a careless catch-all
        swallowed.fetch_add(1);
      }
      CHECK(weft::this_fiber::is_cancelled());
      try {
        weft::yield_now();  // the next suspension point throws again
      } catch (const std::exception&) {
        swallowed.fetch_add(100);  // must not match: Cancelled is not a std::exception
      }
      reached_end.fetch_add(1);
    });
    started.wait();
    h.abort();
    weft::Result<void> r = h.join();
    CHECK((!r && r.error().is_cancelled()));
    CHECK(swallowed.load() == 1);
    CHECK(reached_end.load() == 0);
  });
}

TEST_CASE("join() is a suspension point: a cancelled fiber throws there even if the target finished") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    std::latch started(1);
    std::atomic<int> joined_normally{0};
    auto h = rt.spawn([&] {
      auto finished = weft::spawn([] { return 1; });
      while (!finished.is_finished()) weft::yield_now();
      started.count_down();
      try {
        weft::sleep(1h);
      } catch (const weft::Cancelled&) {  // swallowed: the fiber stays cancelled
      }
      // Level-triggered: this must throw Cancelled; returning the value means cancellation was
      // silently dropped at a suspension point.
      (void)finished.join();
      joined_normally.fetch_add(1);
    });
    started.wait();
    h.abort();
    weft::Result<void> r = h.join();
    CHECK(joined_normally.load() == 0);
    CHECK((!r && r.error().is_cancelled()));
  });
}

TEST_CASE("a joiner cancelled while its target finishes does not run on past join()") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    // Each target is aborted, then its joiner: the target's completion and the joiner's
    // cancellation race to wake the joiner. Either way the joiner was suspended in join() when
    // its cancellation arrived, so join() must throw there (the handle stays joinable: nothing is
    // lost) rather than return and let a cancelled fiber run on. Runtime shutdown does exactly
    // this to every joiner whose target is blocked too.
    const int n = static_cast<int>(weft_test::scaled(2'000, 200));
    std::atomic<int> ran_on{0};
    std::latch joining(n);
    std::vector<weft::AbortHandle> target_aborts;
    std::vector<weft::JoinHandle<void>> joiners;
    for (int i = 0; i < n; ++i) {
      auto target = rt.spawn([] { weft::sleep(1h); });
      target_aborts.push_back(target.abort_handle());
      joiners.push_back(rt.spawn([&joining, &ran_on, t = std::move(target)]() mutable {
        joining.count_down();
        (void)t.join();
        // The abort may land before join() returns (then join throws) or after (then the fiber
        // legitimately got past it); either way it must not be lost: this sleep ends cancelled.
        ran_on.fetch_add(1);
        weft::sleep(1h);
        ran_on.fetch_add(1000000);  // never: the abort reached this fiber by now
      }));
    }
    joining.wait();
    unsigned rng = 12345;
    for (int i = 0; i < n; ++i) {
      target_aborts[static_cast<std::size_t>(i)].abort();
      rng = rng * 1103515245u + 12345u;
      jitter((rng >> 8) % 16384);  // sweeps the joiner's abort across the target's unwinding
      joiners[static_cast<std::size_t>(i)].abort();
    }
    int cancelled = 0;
    for (auto& j : joiners) {
      weft::Result<void> r = j.join();
      if (!r && r.error().is_cancelled()) ++cancelled;
    }
    CHECK(ran_on.load() < 1000000);
    CHECK(cancelled == n);
  });
}

// A guard whose destructor suspends: while unwinding, suspension points must complete, not throw.
struct SuspendingGuard {
  std::atomic<int>& completed;
  ~SuspendingGuard() {
    weft::yield_now();
    weft::sleep(1ms);
    auto child = weft::spawn([] { return 5; });
    if (child.join().value() == 5) completed.fetch_add(1);
  }
};

TEST_CASE("suspension points reached while unwinding from cancellation complete instead of throwing") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(100, 10));
    std::atomic<int> completed{0};
    std::latch started(n);
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn([&] {
        SuspendingGuard g{completed};
        started.count_down();
        weft::sleep(1h);
      }));
    }
    started.wait();
    for (auto& h : hs) h.abort();
    int cancelled = 0;
    for (auto& h : hs) {
      weft::Result<void> r = h.join();
      if (!r && r.error().is_cancelled()) ++cancelled;
    }
    CHECK(cancelled == n);
    CHECK(completed.load() == n);
  });
}

TEST_CASE("a joiner cancelled while waiting throws; the fiber it waited for is unaffected and joinable") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft_test::Pipe gate;
    weft_test::StopWorkersFirst stop_workers{rt};  // before the fds close (see test_util.hpp)
    std::optional<weft::JoinHandle<int>> rescued;
    std::atomic<bool> still_joinable{false};
    std::latch joining(1);
    auto joiner = rt.spawn([&] {
      auto target = weft::spawn([&] { return weft_test::get_byte(gate.r); });
      joining.count_down();
      try {
        (void)target.join();
      } catch (const weft::Cancelled&) {
        still_joinable.store(target.valid());
        rescued.emplace(std::move(target));  // hand it out before unwinding on
        throw;
      }
    });
    joining.wait();
    joiner.abort();
    weft::Result<void> jr = joiner.join();
    CHECK((!jr && jr.error().is_cancelled()));
    CHECK(still_joinable.load());
    REQUIRE(rescued.has_value());
    CHECK_FALSE(rescued->is_finished());
    CHECK(weft_test::put_byte(gate.w, 'g'));
    weft::Result<int> tr = rescued->join();
    CHECK((tr && *tr == 'g'));
  });
}

TEST_CASE("runtime destruction cancels every blocked fiber and runs all their guards") {
  for (unsigned workers : weft_test::kWorkerCounts) {
    CAPTURE(workers);
    const int per_kind = static_cast<int>(weft_test::scaled(250, 25));
    // Every kind of suspension this issue provides.
    enum Kind { Sleep, ReadFd, WriteFdTimeout, Join, Yield, kKinds };
    std::atomic<int> guards{0};
    std::atomic<int> past_suspension[kKinds] = {};  // per kind: must all stay 0
    weft_test::Pipe never;                           // never written: never readable
    std::optional<weft::JoinHandle<void>> kept;      // a handle that outlives the runtime
    {
      weft::Runtime rt = weft_test::make_runtime(workers);
      std::latch started(per_kind * kKinds + 1);
      auto blocked = [&](Kind k, auto wait) {
        return [&, k, wait] {
          Guard g(guards);
          started.count_down();
          wait();
          past_suspension[k].fetch_add(1);
        };
      };
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < per_kind; ++i) {
        // Some handles dropped (detached), some kept until after the runtime is gone.
        rt.spawn(blocked(Sleep, [] { weft::sleep(1h); })).detach();
        rt.spawn(blocked(ReadFd, [&] { weft::wait_readable(never.r); })).detach();
        hs.push_back(rt.spawn(blocked(WriteFdTimeout, [&] { (void)weft::wait_writable(never.r, 1h); })));
        hs.push_back(rt.spawn(blocked(Join, [] {
          auto sleeper = weft::spawn([] { weft::sleep(1h); });
          (void)sleeper.join();
        })));
        hs.push_back(rt.spawn(blocked(Yield, [] {
          for (;;) weft::yield_now();
        })));
      }
      kept.emplace(rt.spawn(blocked(Sleep, [] { weft::sleep(1h); })));
      started.wait();
      // ~Runtime: cancels everything and waits for the unwinding.
    }
    CHECK(guards.load() == per_kind * kKinds + 1);
    CHECK(past_suspension[Sleep].load() == 0);
    CHECK(past_suspension[ReadFd].load() == 0);
    CHECK(past_suspension[WriteFdTimeout].load() == 0);
    // A joiner cancelled while its target is cancelled too must not run on as if nothing happened.
    CHECK(past_suspension[Join].load() == 0);
    CHECK(past_suspension[Yield].load() == 0);
    REQUIRE(kept.has_value());
    CHECK(kept->is_finished());
    weft::Result<void> r = kept->join();  // joining after the runtime is gone is fine
    CHECK((!r && r.error().is_cancelled()));
  }
}

TEST_CASE("shutdown() is idempotent and the destructor after it does nothing more") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    std::atomic<int> guards{0};
    std::latch started(1);
    auto h = rt.spawn([&] {
      Guard g(guards);
      started.count_down();
      weft::sleep(1h);
    });
    started.wait();
    rt.shutdown();
    CHECK(guards.load() == 1);
    rt.shutdown();
    CHECK(h.is_finished());
    CHECK((!h.join().has_value()));
    CHECK(rt.metrics().live_fibers == 0);
  });
}

}  // namespace
