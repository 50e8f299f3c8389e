// spawn_blocking and its pool: results and panics come back through JoinHandle, tasks run on pool
// threads (never a worker), the queue and its depth, abort before start removes a task, a running
// task cannot be aborted, idle threads exit after the keep-alive, and a fiber cancelled while
// joining leaves the task alone.
#include "test_util.hpp"

#include <atomic>
#include <chrono>
#include <latch>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Restores the default pool configuration at the end of a test.
struct PoolConfig {
  explicit PoolConfig(weft::BlockingPoolOptions o) { weft::configure_blocking_pool(o); }
  ~PoolConfig() { weft::configure_blocking_pool({}); }
};

// Waits (polling, bounded) until pred() holds; returns whether it did.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  const auto end = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST_CASE("spawn_blocking returns the value on a pool thread, from fibers and plain threads") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const std::thread::id worker = weft_test::thread_id();
      auto h = weft::spawn_blocking(weft::Options{.name = "answer"}, [] {
        CHECK_FALSE(weft::this_fiber::in_fiber());
        return std::make_pair(42, weft_test::thread_id());
      });
      CHECK(h.id() != 0);
      auto r = h.join();
      REQUIRE(r.has_value());
      CHECK(r->first == 42);
      CHECK(r->second != worker);
    });
  });
  auto h = weft::spawn_blocking([] { return std::string("plain"); });
  CHECK(*h.join() == "plain");
}

TEST_CASE("an exception in a blocking task is a panic, reported through join") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    auto r = weft::spawn_blocking([]() -> int { throw std::runtime_error("disk on fire"); }).join();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is_panic());
    CHECK(weft_test::contains(r.error().what(), "disk on fire"));
  });
}

TEST_CASE("blocking tasks do not block the workers: a 1-worker runtime keeps running fibers") {
  weft::Runtime rt = weft_test::make_runtime(1);
  rt.block_on([] {
    std::latch go(1);
    std::vector<weft::JoinHandle<int>> hs;
    for (int i = 0; i < 4; ++i) {
      hs.push_back(weft::spawn_blocking([&go, i] {
        go.wait();  // blocks its pool thread until the fiber below runs
        return i;
      }));
    }
    // This fiber runs on the only worker while all four tasks are blocked.
    auto f = weft::spawn([&] { go.count_down(); });
    CHECK(f.join().has_value());
    int sum = 0;
    for (auto& h : hs) sum += *h.join();
    CHECK(sum == 6);
  });
}

TEST_CASE("queue depth, abort before start removes the task, a running task cannot be aborted") {
  PoolConfig cfg({.max_threads = 1, .keep_alive = 10s});
  weft::Runtime rt = weft_test::make_runtime(2);
  // Threads left idle by earlier tests leave first (asynchronously) when the pool shrinks.
  CHECK(eventually([] { return weft::blocking_pool_stats().threads <= 1; }));
  rt.block_on([&] {
    std::latch release(1);
    std::atomic<bool> started{false}, b_ran{false}, c_ran{false};
    auto a = weft::spawn_blocking([&] {
      started = true;
      release.wait();
      return 1;
    });
    CHECK(eventually([&] { return started.load(); }));
    auto b = weft::spawn_blocking([&] { b_ran = true; return 2; });
    auto c = weft::spawn_blocking([&] { c_ran = true; return 3; });
    CHECK(weft::blocking_queue_depth() == 2);
    CHECK(weft::blocking_pool_stats().threads == 1);
    CHECK(rt.metrics().blocking_queue_depth == 2);  // also in the runtime's metrics
    CHECK(rt.metrics().blocking_threads == 1);

    b.abort();  // queued: removed at once, and join does not wait for the busy thread
    CHECK(weft::blocking_queue_depth() == 1);
    CHECK(b.is_finished());
    auto rb = b.join();
    CHECK(rb.error().is_cancelled());

    a.abort();  // running: only marked; it finishes with its value
    release.count_down();
    auto ra = a.join();
    REQUIRE(ra.has_value());
    CHECK(*ra == 1);
    CHECK(*c.join() == 3);
    CHECK(c_ran.load());
    CHECK_FALSE(b_ran.load());
    CHECK(weft::blocking_queue_depth() == 0);
  });
}

TEST_CASE("blocking_tasks() lists running and queued tasks; a dump names the joined task and lists the pool") {
  PoolConfig cfg({.max_threads = 1, .keep_alive = 10s});
  weft::Runtime rt = weft_test::make_runtime(2);
  CHECK(eventually([] { return weft::blocking_pool_stats().threads <= 1; }));
  rt.block_on([&] {
    std::latch release(1);
    std::atomic<bool> started{false};
    auto a = weft::spawn_blocking(weft::Options{.name = "slow fetch"}, [&] {
      started = true;
      release.wait();
      return 1;
    });
    CHECK(eventually([&] { return started.load(); }));
    auto b = weft::spawn_blocking(weft::Options{.name = "queued work"}, [] { return 2; });
    auto joiner = weft::spawn(weft::Options{.name = "joiner"}, [&a] { return *a.join(); });
    weft_test::yield_until_suspended(joiner.id());

    const std::vector<weft::BlockingTaskInfo> ts = weft::blocking_tasks();
    REQUIRE(ts.size() == 2);
    CHECK(ts[0].id == a.id());
    CHECK(ts[0].name == "slow fetch");
    CHECK(ts[0].running);
    CHECK(weft_test::contains(ts[0].spawn_file, "blocking_test.cpp"));
    CHECK(ts[0].spawn_line > 0);
    CHECK(ts[1].id == b.id());
    CHECK(ts[1].name == "queued work");
    CHECK_FALSE(ts[1].running);
    CHECK(ts[0].age >= std::chrono::nanoseconds(0));

    std::ostringstream os;
    rt.dump(os);
    const std::string d = os.str();
    INFO(d);
    // The joiner's wait names the task, though it is no fiber of the runtime.
    CHECK(weft_test::contains(d, "'joiner' [suspended] waiting on: joining fiber " + std::to_string(a.id()) +
                                     ": blocking task " + std::to_string(a.id()) + " 'slow fetch' (running on a pool thread"));
    // The pool's own section lists both tasks with their spawn sites.
    CHECK(weft_test::contains(d, "blocking pool: 1 threads"));
    CHECK(weft_test::contains(d, "1 tasks queued"));
    CHECK(weft_test::contains(d, "  blocking task " + std::to_string(b.id()) + " 'queued work' (queued: every pool thread is busy"));
    CHECK(weft_test::contains(d, "blocking_test.cpp:"));

    release.count_down();
    CHECK(joiner.join().value() == 1);
    CHECK(*b.join() == 2);
    // Both left the pool's list before their joiners woke.
    for (const weft::BlockingTaskInfo& t : weft::blocking_tasks()) {
      CHECK(t.id != a.id());
      CHECK(t.id != b.id());
    }
  });
}

TEST_CASE("a fiber cancelled while joining a blocking task leaves the task running to completion") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    std::latch release(1);
    std::atomic<bool> done{false};
    auto task = weft::spawn_blocking([&] {
      release.wait();
      done = true;
    });
    auto joiner = weft::spawn([&] { (void)task.join(); });
    CHECK_FALSE(weft::timeout(20ms, [&] { (void)joiner.join(); }));
    joiner.abort();
    CHECK(joiner.join().error().is_cancelled());
    CHECK_FALSE(done.load());
    release.count_down();
    CHECK(task.join().has_value());
    CHECK(done.load());
  });
}

TEST_CASE("idle pool threads exit after the keep-alive") {
  PoolConfig cfg({.max_threads = 8, .keep_alive = 30ms});
  {
    std::latch all(4);
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < 4; ++i) hs.push_back(weft::spawn_blocking([&] { all.arrive_and_wait(); }));
    for (auto& h : hs) CHECK(h.join().has_value());
  }
  CHECK(weft::blocking_pool_stats().threads >= 4);
  CHECK(eventually([] { return weft::blocking_pool_stats().threads == 0; }));
  // And the pool starts threads again on demand.
  CHECK(*weft::spawn_blocking([] { return 7; }).join() == 7);
}

TEST_CASE("stress: many fibers submit and abort at random; aborted tasks either never ran or finished") {
  PoolConfig cfg({.max_threads = 3, .keep_alive = 1s});
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(2000, 200));
    std::atomic<long> inconsistent{0}, ran{0}, cancelled{0};
    const std::uint64_t completed0 = weft::blocking_pool_stats().completed;
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> fibers;
      for (int f = 0; f < 8; ++f) {
        fibers.push_back(weft::spawn([&, f] {
          for (int i = f; i < n; i += 8) {
            auto flag = std::make_shared<std::atomic<bool>>(false);
            auto h = weft::spawn_blocking([flag, i] {
              flag->store(true);
              return i;
            });
            if (i % 3 == 0) h.abort();
            if (i % 5 == 0) weft::yield_now();
            auto r = h.join();
            if (r.has_value()) {
              ran.fetch_add(1);
              if (*r != i || !flag->load()) inconsistent.fetch_add(1);
            } else {
              cancelled.fetch_add(1);
              if (flag->load()) inconsistent.fetch_add(1);  // cancelled means it never ran
            }
          }
        }));
      }
      for (auto& f : fibers) CHECK(f.join().has_value());
    });
    CHECK(inconsistent.load() == 0);
    CHECK(ran.load() + cancelled.load() == n);
    CHECK(ran.load() >= n - (n + 2) / 3);  // only aborted ones may be cancelled
    CHECK(weft::blocking_pool_stats().completed - completed0 == static_cast<std::uint64_t>(n));
  });
}

TEST_CASE("a joined blocking task is already counted in blocking_pool_stats().completed") {
  // The count is a promise to whoever observed the completion: once join() returns, the stats
  // include the task. (It was counted after the joiner was woken, so a quick reader saw one less.)
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(3000, 300));
    std::atomic<long> behind{0};
    rt.block_on([&] {
      for (int i = 0; i < n; ++i) {
        const std::uint64_t before = weft::blocking_pool_stats().completed;
        auto h = weft::spawn_blocking([] { return 1; });
        if (i % 4 == 1) h.abort();  // a task cancelled in the queue is counted too
        (void)h.join();
        if (weft::blocking_pool_stats().completed < before + 1) behind.fetch_add(1);
      }
    });
    CHECK(behind.load() == 0);
  });
}

TEST_CASE("configure_blocking_pool refuses zero threads") {
  CHECK_THROWS_AS(weft::configure_blocking_pool({.max_threads = 0}), weft::Error);
}

}  // namespace
