// Spawning and joining at scale: every fiber runs exactly once and its result reaches its joiner,
// whether it was spawned by a fiber (weft::spawn) or by a plain thread (Runtime::spawn,
// Handle::spawn), and whether it is joined by a fiber (suspends) or a plain thread (blocks).
#include "test_util.hpp"

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

// What fiber i returns: distinct per i, so a result delivered to the wrong handle is caught.
std::uint64_t value_of(std::uint64_t i) { return i * 0x9e3779b97f4a7c15ull ^ (i >> 7); }

// Bookkeeping shared by every spawner of one run.
struct Ledger {
  explicit Ledger(long n) : runs(static_cast<std::size_t>(n)) {}
  std::vector<std::atomic<int>> runs;       // how often fiber i's body ran (must end at 1)
  std::atomic<long> wrong_results{0};       // join() gave no value or not value_of(i)
  std::atomic<std::uint64_t> sum{0};        // sum of all joined values (wrapping)

  // The fiber body for index i.
  auto body(long i) {
    return [this, i] {
      runs[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
      return value_of(static_cast<std::uint64_t>(i));
    };
  }
  void record(long i, weft::Result<std::uint64_t> r) {
    if (!r || *r != value_of(static_cast<std::uint64_t>(i))) {
      wrong_results.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    sum.fetch_add(*r, std::memory_order_relaxed);
  }
};

// Spawns indices [lo, hi) in batches through `spawn_one(i)` and joins each batch, so only a batch
// of control blocks is alive at a time while the total stays large.
template <class SpawnOne>
void spawn_range(Ledger& ledger, long lo, long hi, SpawnOne spawn_one) {
  constexpr long kBatch = 512;
  std::vector<weft::JoinHandle<std::uint64_t>> hs;
  hs.reserve(kBatch);
  for (long b = lo; b < hi; b += kBatch) {
    const long e = std::min(hi, b + kBatch);
    for (long i = b; i < e; ++i) hs.push_back(spawn_one(i));
    for (long i = b; i < e; ++i) ledger.record(i, hs[static_cast<std::size_t>(i - b)].join());
    hs.clear();
  }
}

TEST_CASE("a million fibers spawned from fibers and plain threads each run once and join with their value") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const long total = weft_test::scaled(1'000'000, 10'000);
    Ledger ledger(total);

    // Half of the indices are spawned by plain threads (two through Runtime::spawn, two through a
    // copied Handle), the other half by fibers, all at the same time so the inject queue and the
    // workers' own queues are exercised together.
    constexpr long kThreads = 4, kFiberSpawners = 8;
    const long thread_share = total / 2;
    const long fiber_share = total - thread_share;

    std::vector<std::thread> threads;
    for (long t = 0; t < kThreads; ++t) {
      const long lo = t * thread_share / kThreads, hi = (t + 1) * thread_share / kThreads;
      threads.emplace_back([&, lo, hi, t] {
        weft::Handle handle = rt.handle();
        if (t % 2 == 0) {
          spawn_range(ledger, lo, hi, [&](long i) { return rt.spawn(ledger.body(i)); });
        } else {
          spawn_range(ledger, lo, hi, [&](long i) { return handle.spawn(ledger.body(i)); });
        }
      });
    }

    rt.block_on([&] {
      // Spawners are fibers spawning fibers (nested), each joined by the root.
      std::vector<weft::JoinHandle<void>> spawners;
      for (long s = 0; s < kFiberSpawners; ++s) {
        const long lo = thread_share + s * fiber_share / kFiberSpawners;
        const long hi = thread_share + (s + 1) * fiber_share / kFiberSpawners;
        spawners.push_back(weft::spawn([&, lo, hi] {
          spawn_range(ledger, lo, hi, [&](long i) { return weft::spawn(ledger.body(i)); });
        }));
      }
      for (auto& s : spawners) CHECK(s.join().has_value());
    });
    for (auto& t : threads) t.join();

    long not_once = 0;
    std::uint64_t expected_sum = 0;
    for (long i = 0; i < total; ++i) {
      if (ledger.runs[static_cast<std::size_t>(i)].load() != 1) ++not_once;
      expected_sum += value_of(static_cast<std::uint64_t>(i));
    }
    CHECK(not_once == 0);
    CHECK(ledger.wrong_results.load() == 0);
    CHECK(ledger.sum.load() == expected_sum);
    // Every fiber above plus the block_on root and the spawners.
    const weft::RuntimeMetrics m = rt.metrics();
    CHECK(m.spawned_total == static_cast<std::uint64_t>(total + kFiberSpawners + 1));
    CHECK(m.live_fibers == 0);
  });
}

// A binary tree of fibers: each inner fiber spawns two children and joins them. Checks nesting
// depth (fibers spawning from fibers spawned by fibers) and that joins see the children's values.
long tree(int depth) {
  if (depth == 0) return 1;
  auto l = weft::spawn([depth] { return tree(depth - 1); });
  auto r = weft::spawn([depth] { return tree(depth - 1); });
  return *l.join() + *r.join();
}

TEST_CASE("nested spawn: a tree of fibers joins to the number of leaves") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int depth = weft_test::scaled(100) >= 50 ? 14 : 11;  // 32767 or 4095 fibers
    CHECK(rt.block_on([depth] { return tree(depth); }) == (1L << depth));
  });
}

TEST_CASE("plain threads can join fibers spawned by fibers, and fibers can join ones spawned by threads") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(2000, 100));
    // A fiber hands its children's handles out to the main thread, which joins them (blocking).
    std::vector<weft::JoinHandle<int>> from_fiber = rt.block_on([n] {
      std::vector<weft::JoinHandle<int>> hs;
      for (int i = 0; i < n; ++i) hs.push_back(weft::spawn([i] { return i * 3; }));
      return hs;
    });
    long bad = 0;
    for (int i = 0; i < n; ++i) {
      weft::Result<int> r = from_fiber[static_cast<std::size_t>(i)].join();
      if (!r || *r != i * 3) ++bad;
    }
    CHECK(bad == 0);

    // The main thread spawns; a fiber joins (suspending).
    std::vector<weft::JoinHandle<int>> from_thread;
    for (int i = 0; i < n; ++i) from_thread.push_back(rt.spawn([i] { return i * 5; }));
    const long bad2 = rt.block_on([&] {
      long b = 0;
      for (int i = 0; i < n; ++i) {
        weft::Result<int> r = from_thread[static_cast<std::size_t>(i)].join();
        if (!r || *r != i * 5) ++b;
      }
      return b;
    });
    CHECK(bad2 == 0);
  });
}

TEST_CASE("move-only results and captures travel through spawn and join") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    auto p = std::make_unique<int>(41);
    weft::JoinHandle<std::unique_ptr<int>> h = rt.spawn([p = std::move(p)]() mutable {
      ++*p;
      return std::move(p);
    });
    weft::Result<std::unique_ptr<int>> r = h.join();
    REQUIRE(r.has_value());
    CHECK(**r == 42);

    // The closure is destroyed when the fiber finishes, not when the handle goes: a captured
    // shared_ptr is released before join() returns (observable through use_count).
    auto token = std::make_shared<int>(0);
    auto h2 = rt.spawn([token] { return *token; });
    CHECK(h2.join().has_value());
    CHECK(token.use_count() == 1);
  });
}

}  // namespace
