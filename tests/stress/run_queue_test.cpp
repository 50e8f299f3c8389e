// The scheduler's two queues, alone, under many threads: a worker's lock-free RunQueue (owner push /
// pop / take_half, stealers steal_into) and the global InjectQueue. The property is the one the
// scheduler lives by: every fiber pushed is run exactly once — popped by its owner, moved out by
// take_half, or stolen — never lost, never twice; and the owner sees its own pushes in FIFO order.
// Threads yield at random points (a preemption between any two steps).
#include "sched/inject_queue.hpp"
#include "sched/run_queue.hpp"
#include "test_util.hpp"

#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace {

using weft::detail::FiberBase;
using weft::detail::InjectQueue;
using weft::detail::RunQueue;

// A queue entry: a FiberBase that is never run, with a number to check exactly-once by.
struct Item final : FiberBase {
  std::size_t n = 0;
  void invoke() noexcept override {}
};

struct Items {
  std::vector<std::unique_ptr<Item>> v;
  std::unique_ptr<std::atomic<int>[]> seen;
  explicit Items(std::size_t count) : seen(new std::atomic<int>[count]) {
    v.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      v.push_back(std::make_unique<Item>());
      v.back()->n = i;
      seen[i].store(0);
    }
  }
  void take(FiberBase* f) { seen[static_cast<Item*>(f)->n].fetch_add(1, std::memory_order_relaxed); }
  // Every item taken exactly once; reports the first that was not.
  void check_exactly_once() const {
    std::size_t bad = 0, first_bad = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (seen[i].load() != 1 && bad++ == 0) first_bad = i;
    }
    INFO("item " << first_bad << " taken " << seen[first_bad].load() << " times");
    CHECK(bad == 0);
  }
};

void maybe_yield(std::minstd_rand& r) {
  if (r() % 16 == 0) std::this_thread::yield();
}

void run_queue_round(unsigned stealers, std::size_t count, unsigned seed) {
  Items items(count);
  RunQueue owner_q;
  std::atomic<bool> done{false};
  std::atomic<std::size_t> taken{0};

  std::vector<std::thread> ts;
  for (unsigned s = 0; s < stealers; ++s) {
    ts.emplace_back([&, s] {
      std::minstd_rand r(seed * 31 + s + 1);
      RunQueue mine;  // a stealer is a worker too: it steals into its own queue, then pops it
      while (!done.load(std::memory_order_acquire) || !owner_q.empty()) {
        // Steal mostly from a (nearly) full queue: that is when the owner's pushes and take_half
        // race an in-flight steal for the same slots.
        if (owner_q.len() < RunQueue::kCapacity - 16 && r() % 64 != 0 && !done.load()) {
          std::this_thread::yield();
          continue;
        }
        if (FiberBase* f = owner_q.steal_into(mine)) {
          items.take(f);
          taken.fetch_add(1);
        }
        maybe_yield(r);
        while (FiberBase* f = mine.pop()) {
          items.take(f);
          taken.fetch_add(1);
        }
      }
    });
  }

  // The owner: pushes in order, pops now and then; a full queue moves half to an overflow list
  // (what the worker hands to the inject queue). Its own pops must come out in push order.
  std::minstd_rand r(seed);
  std::size_t last_popped = 0;
  bool popped_any = false;
  std::vector<FiberBase*> overflow;
  for (std::size_t i = 0; i < count; ++i) {
    while (!owner_q.push(items.v[i].get())) {
      FiberBase* half[RunQueue::kCapacity / 2];
      const std::uint32_t n = owner_q.take_half(half);
      overflow.insert(overflow.end(), half, half + n);
    }
    CHECK(owner_q.len() <= RunQueue::kCapacity);
    // Pop rarely, so the queue is often full: pushes then race in-flight steals for the slots.
    if (r() % 8 == 0) {
      if (FiberBase* f = owner_q.pop()) {
        const std::size_t n = static_cast<Item*>(f)->n;
        if (popped_any) CHECK(n > last_popped);  // FIFO among the owner's own pops
        last_popped = n;
        popped_any = true;
        items.take(f);
        taken.fetch_add(1);
      }
    }
    maybe_yield(r);
  }
  while (FiberBase* f = owner_q.pop()) {
    items.take(f);
    taken.fetch_add(1);
  }
  done.store(true, std::memory_order_release);
  for (auto& t : ts) t.join();
  for (FiberBase* f : overflow) {
    items.take(f);
    taken.fetch_add(1);
  }
  CHECK(owner_q.empty());
  CHECK(taken.load() == count);
  items.check_exactly_once();
}

TEST_CASE("RunQueue: every pushed fiber is popped, moved out or stolen exactly once (1-7 stealers)") {
  const long rounds = weft_test::scaled(40, 4);
  for (unsigned stealers : {1u, 2u, 3u, 7u}) {
    for (long round = 0; round < rounds; ++round) {
      run_queue_round(stealers, static_cast<std::size_t>(weft_test::scaled(20000, 2000)),
                      static_cast<unsigned>(round * 7 + stealers));
    }
  }
}

TEST_CASE("RunQueue: a stealer takes about half and leaves the owner the rest, in order") {
  Items items(100);
  RunQueue q, thief;
  for (auto& it : items.v) REQUIRE(q.push(it.get()));
  FiberBase* got = q.steal_into(thief);
  REQUIRE(got != nullptr);
  items.take(got);
  const std::uint32_t stolen = thief.len() + 1;
  CHECK(stolen == 50);  // half of 100, the last one returned to run at once
  // The owner keeps the newer half, oldest first.
  std::size_t expect = stolen;
  while (FiberBase* f = q.pop()) {
    CHECK(static_cast<Item*>(f)->n == expect++);
    items.take(f);
  }
  while (FiberBase* f = thief.pop()) items.take(f);
  items.check_exactly_once();
}

TEST_CASE("RunQueue: take_half of a full queue moves its older half and keeps the rest") {
  Items items(RunQueue::kCapacity + 1);
  RunQueue q;
  for (std::uint32_t i = 0; i < RunQueue::kCapacity; ++i) REQUIRE(q.push(items.v[i].get()));
  CHECK_FALSE(q.push(items.v[RunQueue::kCapacity].get()));  // full
  FiberBase* half[RunQueue::kCapacity / 2];
  const std::uint32_t n = q.take_half(half);
  CHECK(n == RunQueue::kCapacity / 2);
  for (std::uint32_t k = 0; k < n; ++k) {
    CHECK(static_cast<Item*>(half[k])->n == k);
    items.take(half[k]);
  }
  CHECK(q.push(items.v[RunQueue::kCapacity].get()));  // room again
  while (FiberBase* f = q.pop()) items.take(f);
  items.check_exactly_once();
}

// Many producers push arrays and singles, many consumers pop batches; with the ring free to grow,
// and with a ring capped at 64 so that pushes spill to the overflow list and come back from it.
void inject_round(long round, std::size_t max_ring) {
  const unsigned producers = 4, consumers = 3;
  const std::size_t per = static_cast<std::size_t>(weft_test::scaled(10000, 1000));
  Items items(producers * per);
  InjectQueue q(max_ring);
  std::atomic<unsigned> producing{producers};
  std::atomic<std::size_t> taken{0};
  std::atomic<long> order_violations{0};
  std::vector<std::thread> ts;
  for (unsigned p = 0; p < producers; ++p) {
    ts.emplace_back([&, p] {
      std::minstd_rand r(static_cast<unsigned>(round * 13 + p + 1));
      std::size_t i = p * per;
      const std::size_t end = i + per;
      while (i < end) {
        // 1-128 items at a time, as a worker's overflow (take_half) or a lone spawn pushes them.
        const std::size_t n = std::min<std::size_t>(r() % 4 == 0 ? 1 + r() % 128 : 1 + r() % 8, end - i);
        FiberBase* batch[128];
        for (std::size_t k = 0; k < n; ++k) batch[k] = items.v[i + k].get();
        if (n == 1) q.push(batch[0]);
        else q.push_array(batch, n);
        i += n;
        maybe_yield(r);
      }
      producing.fetch_sub(1);
    });
  }
  for (unsigned c = 0; c < consumers; ++c) {
    ts.emplace_back([&, c] {
      std::minstd_rand r(static_cast<unsigned>(round * 17 + c + 100));
      // FIFO: this consumer sees each producer's items in the order they were pushed.
      std::vector<std::size_t> last_seen(producers, 0);
      std::vector<bool> seen_any(producers, false);
      for (;;) {
        const bool last_look = producing.load() == 0;
        FiberBase* batch[32];
        const std::size_t n = q.pop_batch(batch, 1 + r() % 32);
        for (std::size_t k = 0; k < n; ++k) {
          const std::size_t id = static_cast<Item*>(batch[k])->n, p = id / per;
          if (seen_any[p] && id <= last_seen[p]) order_violations.fetch_add(1);
          seen_any[p] = true;
          last_seen[p] = id;
          items.take(batch[k]);
        }
        taken.fetch_add(n);
        if (n == 0 && last_look) break;
        maybe_yield(r);
      }
    });
  }
  for (auto& t : ts) t.join();
  CHECK(q.empty());
  CHECK(q.len() == 0);
  CHECK(taken.load() == producers * per);
  CHECK(order_violations.load() == 0);
  items.check_exactly_once();
}

TEST_CASE("InjectQueue: many producers and consumers, arrays and singles, each fiber exactly once, in order") {
  const long rounds = weft_test::scaled(20, 2);
  for (long round = 0; round < rounds; ++round) {
    inject_round(round, std::size_t{1} << 24);
    inject_round(round, 64);
  }
}

TEST_CASE("InjectQueue: past the ring's cap, pushes go to the overflow list and pop in push order") {
  Items items(1000);
  InjectQueue q(64);
  std::size_t pushed = 0;
  while (pushed < items.v.size()) {
    FiberBase* batch[37];
    const std::size_t n = std::min<std::size_t>(37, items.v.size() - pushed);
    for (std::size_t k = 0; k < n; ++k) batch[k] = items.v[pushed + k].get();
    q.push_array(batch, n);
    pushed += n;
    // Pop a little now and then, so the ring drains while the list holds younger fibers.
    if (pushed % 111 < 37) {
      FiberBase* out[5];
      const std::size_t got = q.pop_batch(out, 5);
      for (std::size_t k = 0; k < got; ++k) items.take(out[k]);
    }
  }
  CHECK(q.len() > 64);  // more than the ring holds: the list is in use
  std::vector<std::size_t> order;
  FiberBase* out[16];
  while (std::size_t got = q.pop_batch(out, 16)) {
    for (std::size_t k = 0; k < got; ++k) {
      order.push_back(static_cast<Item*>(out[k])->n);
      items.take(out[k]);
    }
  }
  for (std::size_t k = 1; k < order.size(); ++k) {
    CAPTURE(k);
    REQUIRE(order[k] == order[k - 1] + 1);
  }
  CHECK(order.back() == items.v.size() - 1);
  // And the queue works normally afterwards, from the ring again.
  q.push(items.v[0].get());
  FiberBase* again = nullptr;
  CHECK(q.pop_batch(&again, 1) == 1);
  CHECK(again == items.v[0].get());
  CHECK(q.empty());
  items.check_exactly_once();  // `again` is not counted: item 0 was taken from the first pass
}

}  // namespace
