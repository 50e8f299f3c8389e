// FiberLocal<T>: each fiber sees its own value across migrations between workers, values are
// constructed lazily and destroyed when the fiber ends (returned, panicked, cancelled), plain
// threads get one value each, and reading is cheap (the cost is printed).
#include "test_util.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {
std::atomic<long> live_values{0};
struct Tracked {
  long v = -1;
  Tracked() { ++live_values; }
  Tracked(const Tracked& o) : v(o.v) { ++live_values; }
  ~Tracked() { --live_values; }
};
weft::FiberLocal<Tracked> slot;
weft::FiberLocal<std::string> name_slot([] { return std::string("unset"); });
}  // namespace

TEST_CASE("each fiber keeps its own value across yields and migrations") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(2'000, 100));
    std::atomic<long> wrong{0}, migrated{0};
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < n; ++i) {
        hs.push_back(weft::spawn([&, i] {
          CHECK_FALSE(slot.has_value());
          slot->v = i;
          *name_slot = "fiber " + std::to_string(i);
          const auto t0 = weft_test::thread_id();
          for (int k = 0; k < 20; ++k) {
            weft::yield_now();
            if (slot->v != i || *name_slot != "fiber " + std::to_string(i)) wrong++;
          }
          if (weft_test::thread_id() != t0) migrated++;
        }));
      }
      for (auto& h : hs) CHECK(h.join().has_value());
    });
    CHECK(wrong.load() == 0);
    CHECK(live_values.load() == 0);  // every fiber's value was destroyed when it ended
    MESSAGE("fibers that changed worker: " << migrated.load());
  });
}

TEST_CASE("values are destroyed however the fiber ends, and lazily made with the init function") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Notify never;
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < 300; ++i) {
        hs.push_back(weft::spawn([i, &never] {
          CHECK(*name_slot == "unset");  // the init function, on first use
          slot->v = i;
          if (i % 3 == 1) throw std::runtime_error("panic with a live FiberLocal");
          if (i % 3 == 2) never.notified();  // aborted while waiting
        }));
      }
      for (int i = 0; i < 300; i += 3) hs[static_cast<std::size_t>(i + 2)].abort();
      for (auto& h : hs) (void)h.join();  // returned, panicked or cancelled: all three on purpose
    });
    CHECK(live_values.load() == 0);
  });
}

TEST_CASE("reset destroys now; plain threads have their own value; misuse-free from blocking tasks") {
  {
    slot->v = 5;
    CHECK(slot.has_value());
    std::thread t([] {
      CHECK_FALSE(slot.has_value());  // another thread: its own value
      slot->v = 9;
      CHECK(slot->v == 9);
    });
    t.join();
    CHECK(slot->v == 5);
    slot.reset();
    CHECK_FALSE(slot.has_value());
    CHECK(slot->v == -1);  // fresh
    slot.reset();
  }
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    slot->v = 1;
    slot.reset();
    CHECK_FALSE(slot.has_value());
    slot->v = 2;
  });
  CHECK(live_values.load() == 0);
}

TEST_CASE("reading a FiberLocal is cheap (measured)") {
  weft::Runtime rt = weft_test::make_runtime(1);
  rt.block_on([] {
    slot->v = 0;
    (void)name_slot.get();
    constexpr long kReads = 2'000'000;
    const auto t0 = std::chrono::steady_clock::now();
    long sum = 0;
    for (long i = 0; i < kReads; ++i) sum += slot->v + static_cast<long>(name_slot->size());
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / (2.0 * kReads);
    MESSAGE("FiberLocal read: " << ns << " ns (2 locals in the fiber)");
    CHECK(sum == static_cast<long>(kReads) * 5);
    CHECK(ns < 1000.0);  // a sanity bound only: a lookup, not a syscall or a lock
  });
}
