// Deterministic simulation (weft/sim.hpp): virtual time, seeded schedules, replay, and the
// failures a simulation reports (deadlock, leftover fibers, livelock, real fds).
#include "test_util.hpp"

#include <weft/sim.hpp>

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// A lost update that only some interleavings expose: two fibers read, yield, then write back.
// The yield lets the other fiber run in between only if the scheduler picks it then.
std::string racy_counter(std::vector<std::string>* log_out = nullptr) {
  std::vector<std::string> log;
  int counter = 0;
  auto add = [&](int who) {
    for (int i = 0; i < 3; ++i) {
      int v = counter;
      if (i == who) weft::yield_now();  // a suspension point inside the read-modify-write
      counter = v + 1;
      log.push_back("f" + std::to_string(weft::this_fiber::id()) + ":" + std::to_string(counter));
    }
  };
  auto a = weft::spawn(add, 0);
  auto b = weft::spawn(add, 1);
  a.join().value();
  b.join().value();
  std::string out;
  for (auto& s : log) out += s + " ";
  if (log_out) *log_out = log;
  if (counter != 6) throw weft::Error("lost update: counter is " + std::to_string(counter) + ", log " + out);
  return out;
}

}  // namespace

TEST_CASE("an hour of sleep takes an hour of virtual time and almost no real time") {
  const auto real0 = std::chrono::steady_clock::now();
  const auto elapsed = weft::sim::run(7, [] {
    const auto t0 = weft::Clock::now();
    weft::sleep(1h);
    return weft::Clock::now() - t0;
  });
  CHECK(elapsed == std::chrono::hours(1));  // exactly: time jumps to the timer, never past it
  CHECK(std::chrono::steady_clock::now() - real0 < 30s);  // it never really slept an hour
}

TEST_CASE("sleepers wake in deadline order at their exact virtual instants") {
  weft::sim::run(3, [] {
    const auto t0 = weft::Clock::now();
    std::vector<std::pair<int, std::chrono::nanoseconds>> woke;
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < 50; ++i) {
      const auto d = std::chrono::milliseconds((i * 37) % 50 + 1);
      hs.push_back(weft::spawn([&, i, d] {
        weft::sleep(d);
        woke.emplace_back(i, weft::Clock::now() - t0);
      }));
    }
    for (auto& h : hs) h.join().value();
    REQUIRE(woke.size() == 50);
    for (auto& [i, at] : woke) CHECK(at == std::chrono::milliseconds((i * 37) % 50 + 1));
    for (std::size_t k = 1; k < woke.size(); ++k) CHECK(woke[k - 1].second <= woke[k].second);
  });
}

TEST_CASE("timeouts, try_lock_for and Interval run on virtual time") {
  weft::sim::run(11, [] {
    const auto t0 = weft::Clock::now();
    auto r = weft::timeout(5s, [] { weft::sleep(1h); });
    CHECK(!r);
    CHECK(weft::Clock::now() - t0 == 5s);

    weft::Mutex m;
    auto holder = weft::spawn([&] {
      std::lock_guard g(m);
      weft::sleep(10min);
    });
    weft::yield_now();
    while (!m.try_lock_for(1s)) {}  // fails nine times... each a second of virtual time
    m.unlock();
    holder.join().value();
    CHECK(weft::Clock::now() - t0 >= 5s + 10min);

    weft::Interval every(250ms);
    const auto i0 = weft::Clock::now();
    for (int i = 0; i < 5; ++i) every.tick();
    CHECK(weft::Clock::now() - i0 == 1s);  // first tick at once, then four periods
  });
}

TEST_CASE("a racy lost update is found by seed search and replays bit for bit") {
  auto bad = weft::sim::find_failing_seed(1, 500, [] { racy_counter(); });
  REQUIRE(bad.has_value());
  CHECK(bad->what.find("lost update") != std::string::npos);
  // Replay the failing seed twice: the same failure with the same log (same fiber ids, same order).
  std::string first, second;
  try {
    weft::sim::run(bad->seed, [] { racy_counter(); });
    FAIL("the failing seed passed on replay");
  } catch (const weft::Error& e) {
    first = e.what();
  }
  try {
    weft::sim::run(bad->seed, [] { racy_counter(); });
    FAIL("the failing seed passed on replay");
  } catch (const weft::Error& e) {
    second = e.what();
  }
  CHECK(first == bad->what);
  CHECK(first == second);
  // Not a constant schedule: different seeds order the fibers differently.
  std::set<std::string> logs;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    std::vector<std::string> log;
    (void)weft::sim::find_failing_seed(seed, 1, [&] { racy_counter(&log); });  // one quiet run
    std::string s;
    for (auto& x : log) s += x + " ";
    logs.insert(s);
  }
  CHECK(logs.size() >= 3);
}

TEST_CASE("sim::check names the failing seed, and WEFT_SIM_SEED replays only it") {
  std::uint64_t failing = 0;
  try {
    weft::sim::check(500, [] { racy_counter(); });
    FAIL("check found no failing seed");
  } catch (const weft::sim::Failure& f) {
    failing = f.seed();
    CHECK(f.kind() == weft::sim::FailureKind::Threw);
    CHECK(std::string(f.what()).find("WEFT_SIM_SEED=" + std::to_string(f.seed())) != std::string::npos);
  }
  int runs = 0;
  ::setenv("WEFT_SIM_SEED", std::to_string(failing).c_str(), 1);
  try {
    weft::sim::check(500, [&] {
      ++runs;
      racy_counter();
    });
    FAIL("the replayed seed passed");
  } catch (const weft::sim::Failure& f) {
    CHECK(f.seed() == failing);
  }
  ::unsetenv("WEFT_SIM_SEED");
  CHECK(runs == 1);
}

TEST_CASE("a deadlock inside a simulation is reported with every blocked fiber") {
  // Outside the simulated function: the blocked fibers still use them while the failed run's
  // shutdown unwinds everything.
  weft::Mutex a, b;
  weft::Notify both;
  int locked = 0;
  try {
    weft::sim::run(5, [&] {
      auto f1 = weft::spawn(weft::Options{.name = "ab"}, [&] {
        std::lock_guard ga(a);
        if (++locked == 2) both.notify_waiters();
        else both.notified();
        std::lock_guard gb(b);
      });
      auto f2 = weft::spawn(weft::Options{.name = "ba"}, [&] {
        std::lock_guard gb(b);
        if (++locked == 2) both.notify_waiters();
        else both.notified();
        std::lock_guard ga(a);
      });
      f1.join().value();
      f2.join().value();
    });
    FAIL("no deadlock reported");
  } catch (const weft::sim::Failure& f) {
    const std::string w = f.what();
    CHECK(f.kind() == weft::sim::FailureKind::Deadlock);
    CHECK(f.seed() == 5);
    CHECK(w.find("deadlock") != std::string::npos);
    CHECK(w.find("'ab': mutex") != std::string::npos);
    CHECK(w.find("'ba': mutex") != std::string::npos);
    CHECK(w.find("held by") != std::string::npos);
    CHECK(w.find("'sim root': joining fiber") != std::string::npos);
    CHECK(w.find("WEFT_SIM_SEED=5") != std::string::npos);
  }
}

TEST_CASE("fibers left blocked forever after the root returns are reported") {
  try {
    weft::sim::run(9, [] {
      auto [tx, rx] = weft::mpsc::channel<int>(4);
      weft::spawn(weft::Options{.name = "orphan"}, [rx = std::move(rx)]() mutable { (void)rx.recv(); }).detach();
      weft::sleep(1s);
      // tx stays alive in... nowhere: keep it alive past the root by leaking it into a fiber that waits too
      weft::spawn(weft::Options{.name = "holder"}, [tx = std::move(tx)] { weft::Notify n; n.notified(); }).detach();
    });
    FAIL("no leftover fibers reported");
  } catch (const weft::sim::Failure& f) {
    const std::string w = f.what();
    CHECK(f.kind() == weft::sim::FailureKind::Leftover);
    CHECK(w.find("'orphan'") != std::string::npos);
    CHECK(w.find("'holder'") != std::string::npos);
  }
}

TEST_CASE("a fiber that polls forever is reported as a livelock, not a hang") {
  try {
    weft::sim::run(2, [] {
      const auto until = weft::Clock::now() + 1s;
      while (weft::Clock::now() < until) weft::yield_now();  // virtual time never moves
    }, weft::sim::Options{.max_steps = 10'000});
    FAIL("no livelock reported");
  } catch (const weft::sim::Failure& f) {
    CHECK(f.kind() == weft::sim::FailureKind::Livelock);
    CHECK(std::string(f.what()).find("yield_now") != std::string::npos);
  }
}

TEST_CASE("a real fd in a simulation is a clear weft::Error; spawn_blocking runs inline") {
  weft::sim::run(4, [] {
    int p[2];
    REQUIRE(::pipe(p) == 0);
    try {
      weft::wait_readable(p[0]);
      FAIL("waited on a real fd in a simulation");
    } catch (const weft::Error& e) {
      CHECK(std::string(e.what()).find("simulated runtime cannot wait on a real file descriptor") != std::string::npos);
    }
    ::close(p[0]);
    ::close(p[1]);
    // A socket: binding works (no wait), accepting with nobody connecting would wait: refused.
    auto listener = weft::TcpListener::bind(weft::SocketAddr::loopback_v4(0));
    CHECK_THROWS_WITH_AS((void)listener.accept(), doctest::Contains("simulated runtime cannot wait"), weft::Error);
    const auto t0 = weft::Clock::now();
    auto h = weft::spawn_blocking([] { return 42; });
    CHECK(h.is_finished());  // ran at the spawn, on this fiber
    CHECK(h.join().value() == 42);
    CHECK(weft::Clock::now() == t0);
  });
}

TEST_CASE("the same code runs on a real runtime and on a simulated one") {
  auto body = [] {
    weft::Semaphore sem(2);
    std::atomic<int> inside{0}, most{0};  // atomics: on the real runtime two fibers are inside at once
    weft::JoinSet<void> set;
    for (int i = 0; i < 20; ++i) {
      set.spawn([&] {
        auto p = sem.acquire();
        const int now = ++inside;
        for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {}
        weft::sleep(1ms);
        --inside;
      });
    }
    while (auto r = set.join_next()) r->value();
    return most.load();
  };
  weft::Runtime real = weft::Runtime::Builder().workers(2).build();
  CHECK(real.block_on(body) <= 2);
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    weft::Runtime sim = weft::Runtime::Builder().workers(4).simulated(seed).build();
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(sim.block_on(body) == 2);  // ten rounds of two, each exactly 1 ms of virtual time
    CHECK(std::chrono::steady_clock::now() - t0 < 30s);
  }
}

TEST_CASE("a simulated runtime's destructor runs its cancelled fibers' cleanup") {
  int cleaned = 0;
  {
    weft::Runtime rt = weft::Runtime::Builder().workers(2).simulated(6).build();
    rt.block_on([&] {
      for (int i = 0; i < 10; ++i) {
        weft::spawn([&] {
          struct Guard {
            int* n;
            ~Guard() { ++*n; }
          } g{&cleaned};
          weft::sleep(24h);
        }).detach();
      }
      weft::sleep(1ms);
    });
    CHECK(cleaned == 0);
  }
  CHECK(cleaned == 10);
}

TEST_CASE("weft::Clock is steady_clock outside a simulation's fibers") {
  const auto a = std::chrono::steady_clock::now();
  const auto b = weft::Clock::now();
  const auto c = std::chrono::steady_clock::now();
  CHECK(a <= b);
  CHECK(b <= c);
  // Virtual time starts at the same instant in every simulation, whatever the seed or real time.
  weft::Runtime r1 = weft::Runtime::Builder().workers(1).simulated(1).build();
  weft::Runtime r2 = weft::Runtime::Builder().workers(3).simulated(99).build();
  const auto v1 = r1.block_on([] { return weft::Clock::now(); });
  CHECK(r2.block_on([] { return weft::Clock::now(); }) == v1);
  CHECK(r1.block_on([] {
    weft::sleep(90s);
    return weft::Clock::now();
  }) == v1 + 90s);
}

namespace {
// A workload touching most of the scheduler: spawns, a mutex, a channel, sleeps, a timeout, an
// abort; its log records who did what at which virtual instant.
std::string busy_log(std::uint64_t seed) {
  return weft::sim::run(seed, [] {
    std::string log;
    const auto t0 = weft::Clock::now();
    auto note = [&](const std::string& what) {
      log += std::to_string(weft::this_fiber::id()) + "@" +
             std::to_string((weft::Clock::now() - t0).count()) + ":" + what + " ";
    };
    weft::Mutex m;
    auto [tx, rx] = weft::mpsc::channel<int>(2);
    weft::JoinSet<void> set;
    for (int i = 0; i < 6; ++i) {
      set.spawn([&, i, tx = tx] {
        for (int k = 0; k < 3; ++k) {
          {
            std::lock_guard g(m);
            note("lock" + std::to_string(i));
            weft::yield_now();
          }
          (void)tx.send(i * 10 + k);
          weft::sleep(std::chrono::microseconds(100 * ((i + k) % 4)));
        }
      });
    }
    tx = {};  // only the fibers' copies keep the channel open
    auto slow = weft::spawn([&] {
      auto r = weft::timeout(250us, [&] { weft::sleep(1s); });
      note(r ? "slow-done" : "slow-timeout");
    });
    auto victim = weft::spawn([&] { weft::sleep(1h); });
    while (auto v = rx.recv()) note("got" + std::to_string(*v));
    victim.abort();
    note(victim.join() ? "victim-finished" : "victim-aborted");
    slow.join().value();
    while (auto r = set.join_next()) r->value();
    return log;
  }, weft::sim::Options{.workers = 4});
}
}  // namespace

TEST_CASE("a seed replays the same run in another process (other addresses, same schedule)") {
  // The child half: print the log of the seed it was given, nothing else.
  if (const char* s = std::getenv("WEFT_SIM_TEST_CHILD_SEED")) {
    std::fputs(busy_log(std::strtoull(s, nullptr, 10)).c_str(), stdout);
    std::fflush(stdout);
    return;
  }
  char self[4096];
  const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);  // popen's shell is not us
  REQUIRE(len > 0);
  self[len] = '\0';
  for (std::uint64_t seed : {3u, 17u}) {
    const std::string here = busy_log(seed);
    CHECK(busy_log(seed) == here);
    const std::string cmd = "WEFT_SIM_TEST_CHILD_SEED=" + std::to_string(seed) +
                            " '" + std::string(self) + "' -tc='a seed replays the same run in another process*' "
                            "--no-version --no-intro --minimal 2>/dev/null";
    std::string there;
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) there.append(buf, n);
    CHECK(::pclose(p) == 0);
    CHECK(there.rfind(here, 0) == 0);  // the child's output starts with the same log
  }
  CHECK(busy_log(3) != busy_log(17));  // and the seed matters
}

TEST_CASE("a second thread joining a simulated runtime's fiber while one runs it gets a clear error") {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).simulated(8).simulation_max_steps(1'000'000'000).build();
  std::atomic<int> stage{0};
  std::string error;
  std::thread other([&] {
    while (stage.load() == 0) std::this_thread::yield();  // until the root fiber runs
    try {
      rt.block_on([] { return 0; });
    } catch (const weft::Error& e) {
      error = e.what();
    }
    stage.store(2);
  });
  rt.block_on([&] {
    stage.store(1);
    while (stage.load() != 2) weft::yield_now();  // the driver is busy running this fiber
  });
  other.join();
  CHECK(error.find("one thread at a time") != std::string::npos);
}

TEST_CASE("a JoinSet owned by a plain thread runs its simulated children while it waits") {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).simulated(4).build();
  weft::Notify never;  // declared before the set: its child waits on it until the set is destroyed
  weft::JoinSet<int> set;
  rt.block_on([&] {
    for (int i = 4; i >= 0; --i) set.spawn([i] {
      weft::sleep(std::chrono::seconds(i));
      return i;
    });
  });
  std::vector<int> got;
  while (auto r = set.join_next()) got.push_back(r->value());
  CHECK(got == std::vector<int>{0, 1, 2, 3, 4});  // completion order = deadline order

  // A child that can never finish: the wait is a deadlock report, not a hang.
  rt.block_on([&] { set.spawn([&] { never.notified(); return 0; }); });
  try {
    (void)set.join_next();
    FAIL("no deadlock reported");
  } catch (const weft::sim::Failure& f) {
    CHECK(f.kind() == weft::sim::FailureKind::Deadlock);
    CHECK(std::string(f.what()).find("a JoinSet's next finished child never comes") != std::string::npos);
  }
  // The set's destructor aborts that child and runs it to its end.
}
