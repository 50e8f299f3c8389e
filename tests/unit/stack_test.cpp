// Fiber stacks (doc/design.md §3): an overflow is a clear fatal message naming the fiber, stacks are
// recycled, a fiber can ask for a bigger stack, and a hundred thousand blocked fibers can be alive
// at once and give all their stacks back.
#include "test_util.hpp"

#include <atomic>
#include <csignal>
#include <algorithm>
#include <latch>
#include <memory>
#include <vector>

namespace {

volatile int g_keep_going = 1;  // never cleared: keeps the recursion from being provably infinite

// Uses about `1 KiB + frame` of stack per level, and is not a tail call.
[[gnu::noinline]] long recurse(long depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  frame[sizeof frame - 1] = 1;
  if (!g_keep_going) return depth;
  return recurse(depth + 1) + frame[0] + frame[sizeof frame - 1];
}

// Recurses exactly `levels` deep; returns levels.
[[gnu::noinline]] long recurse_to(long levels) {
  volatile char frame[1024];
  frame[0] = 1;
  if (levels == 0) return 0;
  return recurse_to(levels - 1) + frame[0];
}

// First in the file: it forks, which must happen before any runtime (worker thread) exists here.
TEST_CASE("stack overflow kills the process with a message naming the fiber and its stack size") {
  weft_test::ChildResult r = weft_test::run_in_child([] {
    weft::Runtime rt = weft_test::make_runtime(2);
    auto h = rt.spawn(weft::Options{.name = "deep-recursion", .stack_size = 64 * 1024}, [] { return recurse(0); });
    (void)h.join();
  });
  INFO("child stderr: " << r.err);
  CHECK(r.signal == SIGABRT);
  CHECK(weft_test::contains(r.err, "stack overflow"));
  CHECK(weft_test::contains(r.err, "deep-recursion"));
  CHECK(weft_test::contains(r.err, "65536"));
}

TEST_CASE("stack overflow with the runtime's default stack size, in a nested fiber") {
  weft_test::ChildResult r = weft_test::run_in_child([] {
    weft::Runtime rt = weft::Runtime::Builder().workers(1).stack_size(32 * 1024).build();
    rt.block_on([] {
      auto h = weft::spawn(weft::Options{.name = "nested-overflow"}, [] { return recurse(0); });
      (void)h.join();
    });
  });
  INFO("child stderr: " << r.err);
  CHECK(r.signal == SIGABRT);
  CHECK(weft_test::contains(r.err, "stack overflow"));
  CHECK(weft_test::contains(r.err, "nested-overflow"));
  CHECK(weft_test::contains(r.err, "32768"));
}

TEST_CASE("a fiber given a bigger stack can recurse deeper than the default allows") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    // ~512 levels of > 1 KiB: well beyond the 64 KiB default, well within 2 MiB.
    auto deep = rt.spawn(weft::Options{.name = "big", .stack_size = 2 * 1024 * 1024}, [] { return recurse_to(512); });
    CHECK(deep.join().value() == 512);
    // Mixed sizes at once: the size classes are kept apart (a small stack is never handed out for a
    // big request).
    const int n = static_cast<int>(weft_test::scaled(200, 20));
    long sum = rt.block_on([n] {
      std::vector<weft::JoinHandle<long>> hs;
      for (int i = 0; i < n; ++i) {
        if (i % 2) {
          hs.push_back(weft::spawn(weft::Options{.name = "", .stack_size = 1024 * 1024}, [] {
            weft::yield_now();
            return recurse_to(300);
          }));
        } else {
          hs.push_back(weft::spawn([] {
            weft::yield_now();
            return recurse_to(20);
          }));
        }
      }
      long s = 0;
      for (auto& h : hs) s += h.join().value();
      return s;
    });
    CHECK(sum == (n / 2) * 300L + (n - n / 2) * 20L);
  });
}

TEST_CASE("stacks are recycled: repeated spawn/join rounds map (almost) no new stacks") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int per_round = 256;
    auto round = [&] {
      return rt.block_on([] {
        std::vector<weft::JoinHandle<int>> hs;
        for (int i = 0; i < per_round; ++i) hs.push_back(weft::spawn([i] { return i; }));
        int s = 0;
        for (auto& h : hs) s += h.join().value();
        return s;
      });
    };
    for (int i = 0; i < 3; ++i) CHECK(round() == per_round * (per_round - 1) / 2);  // warm up
    const std::size_t mapped = rt.metrics().mapped_stacks;
    // At least 20 rounds (5120 fibers) even when scaled down: the bound below must stay well
    // under the number of fibers that ran, or it would prove nothing.
    const int rounds = static_cast<int>(weft_test::scaled(100, 20));
    int wrong = 0;
    for (int i = 0; i < rounds; ++i) wrong += round() == per_round * (per_round - 1) / 2 ? 0 : 1;
    CHECK(wrong == 0);
    const weft::RuntimeMetrics m = rt.metrics();
    const std::size_t grew = m.mapped_stacks - mapped;
    if (rt.workers() == 1) {
      CHECK(grew == 0);  // one cache: every stack comes back to it
    } else {
      // A stack freed on one worker goes to that worker's cache (up to 512 before it hands half
      // back), so while the caches fill up, others map new slabs. Bounded by the caches, below
      // the rounds * 256 fibers that ran.
      CHECK(grew <= rt.workers() * 512 + 64);
    }
    CHECK(m.live_stacks == 0);
    CHECK(m.guarded_stacks <= m.mapped_stacks);
  });
}

TEST_CASE("a hundred thousand fibers blocked at once, then released, give back every stack") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(std::min(weft_test::scaled(100'000, 10'000), weft_test::kMaxLiveFibers));
    const long stacks_before = rt.metrics().live_stacks;
    // Fibers wait in wait_readable on gates (pipes), kPerGate fibers per gate. Gates are opened one
    // at a time and drained once their fibers are through: a readable fd that stays readable is
    // reported again on every poll to each watcher still on it, so opening all gates at once
    // would cost O(n) per poll — O(n^2) overall (and libev keeps an fd's watchers in a singly
    // linked list, so very many on one fd are slow to stop).
    constexpr int kPerGate = 100;
    const int n_gates = (n + kPerGate - 1) / kPerGate;
    std::vector<std::unique_ptr<weft_test::Pipe>> gates;
    for (int g = 0; g < n_gates; ++g) gates.push_back(std::make_unique<weft_test::Pipe>());
    weft_test::Pipe go;
    weft_test::StopWorkersFirst stop_workers{rt};  // before the fds close (see test_util.hpp)
    std::latch blocked(n);
    std::atomic<int> released{0};
    auto root = rt.spawn([&] {
      std::vector<weft::JoinHandle<void>> hs;
      hs.reserve(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) {
        hs.push_back(weft::spawn([&, fd = gates[static_cast<std::size_t>(i / kPerGate)]->r] {
          blocked.count_down();
          weft::wait_readable(fd);
          released.fetch_add(1, std::memory_order_relaxed);
        }));
      }
      long failed = 0;
      if (weft_test::get_byte(go.r) != 'g') return -1L;  // the main thread has looked at them all
      for (int g = 0; g < n_gates; ++g) {
        if (!weft_test::put_byte(gates[static_cast<std::size_t>(g)]->w, 'o')) ++failed;
        for (int i = g * kPerGate; i < std::min(n, (g + 1) * kPerGate); ++i) {
          failed += hs[static_cast<std::size_t>(i)].join().has_value() ? 0 : 1;
        }
        if (weft_test::try_get_byte(gates[static_cast<std::size_t>(g)]->r) != 'o') ++failed;
      }
      return failed;
    });
    blocked.wait();
    // All n (and the root) are alive, each holding a stack; none has been released.
    const weft::RuntimeMetrics during = rt.metrics();
    CHECK(during.live_fibers == static_cast<std::size_t>(n) + 1);
    CHECK(during.live_stacks == stacks_before + n + 1);
    CHECK(released.load() == 0);

    REQUIRE(weft_test::put_byte(go.w, 'g'));
    CHECK(root.join().value() == 0);
    CHECK(released.load() == n);
    const weft::RuntimeMetrics after = rt.metrics();
    CHECK(after.live_stacks == stacks_before);
    CHECK(after.live_fibers == 0);
    CHECK(after.spawned_total >= static_cast<std::uint64_t>(n) + 1);
  });
}

}  // namespace
