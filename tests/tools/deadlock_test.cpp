// The wait-for graph and the deadlock detector (weft/deadlock.hpp): cycles through mutexes and
// joins, the "everyone asleep" runtime, no report where something can still wake a fiber, the
// watchdog's once-per-deadlock report, and the grouped, filtered dump.
#include "test_util.hpp"

#include <weft/deadlock.hpp>
#include <weft/dump.hpp>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <sstream>

using namespace std::chrono_literals;
using weft_test::contains;

namespace {

// Shuts the runtime down at scope exit (also when a REQUIRE fails) and checks nothing outlived it.
struct ShutdownChecked {
  weft::Runtime& rt;
  ~ShutdownChecked() {
    rt.shutdown();
    const weft::RuntimeMetrics m = rt.metrics();
    CHECK_MESSAGE(m.live_fibers == 0, "fibers left alive after shutdown: ", m.live_fibers);
    CHECK_MESSAGE(m.live_stacks == 0, "fiber stacks still in use after shutdown: ", m.live_stacks);
  }
};

// Polls find_deadlocks (bounded) until it reports something of `kind` in runtime `rt`.
std::vector<weft::Deadlock> wait_for_deadlock(weft::Runtime& rt, weft::Deadlock::Kind kind,
                                              weft::DeadlockQuery q = {}) {
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  const std::uint64_t id = rt.id();
  for (;;) {
    std::vector<weft::Deadlock> found;
    for (auto& d : weft::find_deadlocks(q).deadlocks) {
      if (d.runtime == id && d.kind == kind) found.push_back(d);
    }
    if (!found.empty() || std::chrono::steady_clock::now() > give_up) return found;
    std::this_thread::yield();
  }
}

// Polls the registry until every fiber named in `names` is suspended in a recorded wait.
// Waits until one snapshot shows every fiber named in `names` suspended on something, and returns
// that snapshot: check what they wait on in it, not in a later one — a fiber may be woken
// spuriously in between and re-park (a SignalStream waiter did, under chaos in CI).
std::vector<weft::FiberMetrics> wait_suspended(weft::Runtime& rt, const std::set<std::string>& names) {
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < give_up) {
    std::size_t n = 0;
    std::vector<weft::FiberMetrics> fs = rt.fibers();
    for (auto& f : fs) {
      if (names.count(f.name) && f.status == weft::FiberStatus::Suspended && !f.wait.empty()) ++n;
    }
    if (n == names.size()) return fs;
    std::this_thread::yield();
  }
  FAIL("fibers never all suspended");
  return {};
}

std::set<std::string> names_of(const weft::Deadlock& d, std::size_t from, std::size_t to) {
  std::set<std::string> s;
  for (std::size_t i = from; i < to && i < d.fibers.size(); ++i) s.insert(d.fibers[i].name);
  return s;
}

bool ours(const weft::Deadlock& d, weft::Runtime& rt) { return d.runtime == rt.id(); }

}  // namespace

// Exported (the test links with -rdynamic) and not inlined: it shows in the members' stacks.
std::atomic<int> deadlock_test_sink{0};
[[gnu::noinline]] void lock_second(weft::Mutex& m) {
  std::lock_guard g(m);
  deadlock_test_sink.fetch_add(1, std::memory_order_relaxed);
}

TEST_CASE("two fibers each holding the mutex the other wants are reported as a cycle") {
  for (unsigned workers : {1u, 2u, 4u}) {
    CAPTURE(workers);
    weft::Runtime rt = weft::Runtime::Builder().workers(workers).build();
    ShutdownChecked stop{rt};
    weft::Mutex m1, m2;
    weft::Barrier both_hold(2);
    auto a = rt.spawn(weft::Options{.name = "alpha"}, [&] {
      std::lock_guard g(m1);
      both_hold.wait();
      lock_second(m2);
    });
    auto b = rt.spawn(weft::Options{.name = "beta"}, [&] {
      std::lock_guard g(m2);
      both_hold.wait();
      lock_second(m1);
    });
    auto found = wait_for_deadlock(rt, weft::Deadlock::Kind::Cycle);
    REQUIRE(found.size() == 1);
    const weft::Deadlock& d = found[0];
    CHECK(d.members == 2);
    CHECK(names_of(d, 0, d.members) == std::set<std::string>{"alpha", "beta"});
    const std::string text = d.to_string();
    INFO(text);
    CHECK(contains(text, "weft: deadlock in runtime"));
    CHECK(contains(text, "2 fibers wait for each other"));
    CHECK(contains(text, "'alpha' waiting on: mutex at 0x"));
    CHECK(contains(text, "(held by fiber " + std::to_string(b.id()) + " 'beta')"));
    CHECK(contains(text, "(held by fiber " + std::to_string(a.id()) + " 'alpha')"));
    CHECK(contains(text, "spawned at "));
    CHECK(contains(text, "deadlock_test.cpp"));
#if defined(WEFT_FRAME_POINTERS) && (defined(__x86_64__) || defined(__aarch64__))
    CHECK(contains(text, "lock_second"));  // each member's stack
#endif
    // Both fibers of the runtime are stuck: the global report names them too.
    auto all = wait_for_deadlock(rt, weft::Deadlock::Kind::AllAsleep);
    REQUIRE(all.size() == 1);
    CHECK(contains(all[0].to_string(), "are asleep - deadlock!"));
    // The dump starts with it.
    std::ostringstream os;
    rt.dump(os);
    CHECK(os.str().rfind("weft: deadlock in runtime", 0) == 0);
    CHECK(contains(os.str(), "'beta' [suspended] waiting on: mutex at 0x"));
    // Cancelling one member breaks it: its guard unwinds, the other gets the mutex.
    a.abort();
    CHECK(a.join().error().is_cancelled());
    CHECK(b.join());
    CHECK(m1.try_lock());
    m1.unlock();
  }
}

TEST_CASE("a fiber joining itself through a chain is reported with every link") {
  for (unsigned workers : {1u, 2u, 4u}) {
    CAPTURE(workers);
    weft::Runtime rt = weft::Runtime::Builder().workers(workers).build();
    ShutdownChecked stop{rt};
    weft::JoinHandle<void> ha, hb, hc;
    weft::Semaphore go(0);
    ha = rt.spawn(weft::Options{.name = "a"}, [&] { go.acquire().forget(); (void)hb.join(); });
    hb = rt.spawn(weft::Options{.name = "b"}, [&] { go.acquire().forget(); (void)hc.join(); });
    bool c_saw_a_cancelled = false;
    hc = rt.spawn(weft::Options{.name = "c"}, [&] {
      go.acquire().forget();
      weft::Result<void> r = ha.join();
      c_saw_a_cancelled = !r && r.error().is_cancelled();
    });
    go.add_permits(3);
    auto found = wait_for_deadlock(rt, weft::Deadlock::Kind::Cycle);
    REQUIRE(found.size() == 1);
    const weft::Deadlock& d = found[0];
    REQUIRE(d.members == 3);
    // In wait-for order from the lowest id: a joins b joins c joins a.
    CHECK(d.fibers[0].name == "a");
    CHECK(d.fibers[1].name == "b");
    CHECK(d.fibers[2].name == "c");
    const std::string text = d.to_string();
    INFO(text);
    CHECK(contains(text, "fiber " + std::to_string(ha.id()) + " 'a' -> fiber " + std::to_string(hb.id()) + " 'b' -> fiber " +
                             std::to_string(hc.id()) + " 'c' -> fiber " + std::to_string(ha.id()) + " 'a'"));
    CHECK(contains(text, "joining fiber " + std::to_string(hb.id()) + " 'b'"));
    CHECK(contains(text, "joining fiber " + std::to_string(ha.id()) + " 'a'"));
    // The same for tools.
    const std::string json = d.to_json();
    INFO(json);
    CHECK(json.rfind("{\"kind\":\"cycle\",\"runtime\":" + std::to_string(rt.id()) + ",\"members\":3,", 0) == 0);
    CHECK(contains(json, "{\"id\":" + std::to_string(ha.id()) + ",\"name\":\"a\",\"wait\":\"joining fiber " +
                             std::to_string(hb.id()) + " 'b'\",\"waits_for\":[" + std::to_string(hb.id()) + "]"));
    // The dump's per-fiber view has the same edges.
    for (auto& f : rt.fibers()) {
      if (f.name == "a") {
        CHECK(f.waits_for == std::vector<std::uint64_t>{hb.id()});
        CHECK(contains(f.wait, "joining fiber " + std::to_string(hb.id()) + " 'b'"));
      }
    }
    ha.abort();  // a's join throws; c's join of a then ends (a finished), then b's join of c
    CHECK(hb.join());  // a's join threw: hb was not consumed (c and b consumed ha and hc)
    CHECK(c_saw_a_cancelled);
  }
}

TEST_CASE("a runtime whose every fiber waits on another is reported as all asleep") {
  for (unsigned workers : {1u, 2u, 4u}) {
    CAPTURE(workers);
    weft::Runtime rt = weft::Runtime::Builder().workers(workers).build();
    ShutdownChecked stop{rt};
    weft::Mutex m;
    std::atomic<int> children_started{0};
    // The parent holds `m` and waits for any child; every child waits for `m`: a knot, not a
    // single cycle (the JoinSet wait ends when any one child finishes).
    auto parent = rt.spawn(weft::Options{.name = "parent"}, [&] {
      std::lock_guard g(m);
      weft::JoinSet<void> set;
      for (int i = 0; i < 3; ++i) {
        set.spawn(weft::Options{.name = "child"}, [&] {
          children_started.fetch_add(1);
          std::lock_guard g2(m);
        });
      }
      while (auto r = set.join_next()) {
      }
    });
    auto found = wait_for_deadlock(rt, weft::Deadlock::Kind::AllAsleep);
    REQUIRE(found.size() == 1);
    const weft::Deadlock& d = found[0];
    CHECK(d.fibers.size() == 4);
    const std::string text = d.to_string();
    INFO(text);
    CHECK(contains(text, "weft: all fibers of runtime "));
    CHECK(contains(text, "are asleep - deadlock! (4 fibers parked"));
    CHECK(contains(text, "'parent' waiting on: JoinSet::join_next at 0x"));
    CHECK(contains(text, "(joining any of fiber "));
    CHECK(contains(text, "'child' waiting on: mutex at 0x"));
    CHECK(contains(text, "(held by fiber " + std::to_string(parent.id()) + " 'parent')"));
    // The knot is also a (strongly connected) cycle.
    auto cycles = wait_for_deadlock(rt, weft::Deadlock::Kind::Cycle);
    REQUIRE(cycles.size() == 1);
    CHECK(cycles[0].members == 4);
    parent.abort();  // ~JoinSet aborts and waits for the children
    CHECK(parent.join().error().is_cancelled());
  }
}

TEST_CASE("nothing is reported while a timer, a plain thread or an outside handle can still wake a fiber") {
  for (unsigned workers : {1u, 2u, 4u}) {
    CAPTURE(workers);
    weft::Runtime rt = weft::Runtime::Builder().workers(workers).build();
    ShutdownChecked stop{rt};
    weft::Mutex held_by_thread;
    std::unique_lock thread_holds(held_by_thread);
    weft::Mutex m1, m2;
    auto [tx, rx] = weft::mpsc::channel<int>(1);
    weft::Barrier both_hold(2);
    std::vector<weft::JoinHandle<void>> hs;
    hs.push_back(rt.spawn(weft::Options{.name = "on-thread-mutex"}, [&] { std::lock_guard g(held_by_thread); }));
    hs.push_back(rt.spawn(weft::Options{.name = "on-channel"}, [&rx = rx] { (void)rx.recv(); }));
    // A two-mutex cycle, but each lock has a deadline: its timer will end it.
    hs.push_back(rt.spawn(weft::Options{.name = "timed-a"}, [&] {
      std::lock_guard g(m1);
      both_hold.wait();
      if (m2.try_lock_for(1h)) m2.unlock();
    }));
    hs.push_back(rt.spawn(weft::Options{.name = "timed-b"}, [&] {
      std::lock_guard g(m2);
      both_hold.wait();
      (void)weft::timeout(1h, [&] { std::lock_guard g2(m1); });  // under a timeout scope
    }));
    wait_suspended(rt, {"on-thread-mutex", "on-channel", "timed-a", "timed-b"});
    for (int i = 0; i < 50; ++i) {
      for (auto& d : weft::find_deadlocks().deadlocks) CHECK_MESSAGE(!ours(d, rt), d.to_string());
    }
    // With Go's assumption (nobody outside the runtime sends), the channel wait counts as stuck,
    // but the thread-held mutex and the timers still keep the runtime from being "all asleep".
    for (auto& d : weft::find_deadlocks(weft::DeadlockQuery{.only_fibers_wake = true}).deadlocks) {
      CHECK_MESSAGE(!ours(d, rt), d.to_string());
    }
    thread_holds.unlock();
    (void)tx.send(1);
    for (auto& h : hs) h.abort();
    for (auto& h : hs) (void)h.join();
  }
}

TEST_CASE("only_fibers_wake reports a runtime stuck on a channel nobody sends on") {
  for (unsigned workers : {1u, 2u}) {
    CAPTURE(workers);
    weft::Runtime rt = weft::Runtime::Builder().workers(workers).build();
    ShutdownChecked stop{rt};
    auto [tx, rx] = weft::mpsc::channel<int>(1);
    auto h = rt.spawn(weft::Options{.name = "receiver"}, [&rx = rx] { (void)rx.recv(); });
    wait_suspended(rt, {"receiver"});
    // By default a plain thread could send: not reported.
    for (auto& d : weft::find_deadlocks().deadlocks) CHECK_MESSAGE(!ours(d, rt), d.to_string());
    auto found = wait_for_deadlock(rt, weft::Deadlock::Kind::AllAsleep, weft::DeadlockQuery{.only_fibers_wake = true});
    REQUIRE(found.size() == 1);
    CHECK(contains(found[0].to_string(), "'receiver' waiting on: channel recv at 0x"));
    (void)tx.send(1);
    CHECK(h.join());
  }
}

TEST_CASE("no false deadlock among fibers that lock in a consistent order under contention") {
  weft::Runtime rt = weft::Runtime::Builder().workers(4).build();
  ShutdownChecked stop{rt};
  weft::Mutex m1, m2;
  std::atomic<bool> done{false};
  std::vector<weft::JoinHandle<void>> hs;
  for (int i = 0; i < 8; ++i) {
    hs.push_back(rt.spawn(weft::Options{.name = "contender"}, [&] {
      while (!done.load(std::memory_order_relaxed)) {
        std::scoped_lock g(m1, m2);  // std::lock's back-off: no deadlock, many parks
        weft::yield_now();
      }
    }));
  }
  const long rounds = weft_test::scaled(300, 20);
  for (long i = 0; i < rounds; ++i) {
    for (auto& d : weft::find_deadlocks().deadlocks) CHECK_MESSAGE(!ours(d, rt), d.to_string());
  }
  done = true;
  for (auto& h : hs) CHECK(h.join());
}

TEST_CASE("the watchdog reports each new deadlock once") {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  ShutdownChecked stop{rt};
  std::mutex mu;
  std::vector<std::string> reports;
  weft::DeadlockWatchdog watchdog(5ms, [&](const weft::Deadlock& d) {
    std::lock_guard g(mu);
    reports.push_back(d.to_string());
  });
  CHECK_THROWS_AS(weft::DeadlockWatchdog(0ms), weft::Error);
  CHECK_THROWS_AS(weft::DeadlockWatchdog(1s, -1), weft::Error);
  CHECK_THROWS_AS(weft::DeadlockWatchdog(1s, std::function<void(const weft::Deadlock&)>{}), weft::Error);
  weft::JoinHandle<void> ha, hb;
  weft::Semaphore go(0);
  ha = rt.spawn(weft::Options{.name = "ping"}, [&] { go.acquire().forget(); (void)hb.join(); });
  hb = rt.spawn(weft::Options{.name = "pong"}, [&] { go.acquire().forget(); (void)ha.join(); });
  go.add_permits(2);
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (watchdog.reports() < 2 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  const unsigned checks = watchdog.checks();
  while (watchdog.checks() < checks + 5 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  {
    std::lock_guard g(mu);
    REQUIRE(reports.size() == 2);  // the cycle and the all-asleep runtime, each once
    std::string both = reports[0] + reports[1];
    CHECK(contains(both, "'ping' -> fiber"));
    CHECK(contains(both, "are asleep - deadlock!"));
  }
  ha.abort();  // pong's join of ping then ends
  CHECK(hb.join());
}

TEST_CASE("a dump groups identical fibers, and filters and limits what it prints") {
  const long n = std::min<long>(weft_test::scaled(100'000, 100), weft_test::kMaxLiveFibers);
  for (unsigned workers : {1u, 4u}) {
    CAPTURE(workers);
    weft::Runtime rt = weft::Runtime::Builder().workers(workers).build();
    ShutdownChecked stop{rt};
    weft::Semaphore go(0);  // permits are kept: a fiber that parks late still gets one
    std::vector<weft::JoinHandle<void>> hs;
    hs.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i) hs.push_back(rt.spawn(weft::Options{.name = "idle"}, [&] { go.acquire().forget(); }));
    const auto napper_spawned = std::chrono::steady_clock::now();  // before its sleep's deadline
    auto sleeper = rt.spawn(weft::Options{.name = "napper"}, [] { weft::sleep(1h); });
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    std::size_t suspended = 0;
    for (;;) {
      // Cheap first: while fibers are still queued, a full snapshot of n fibers would only take
      // CPU from the workers (under TSan with one worker it starved them past the deadline).
      const weft::RuntimeMetrics m = rt.metrics();
      std::size_t queued = m.inject_queue_depth;
      for (const auto& w : m.workers) queued += w.queue_depth;
      if (queued != 0 && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(1ms);  // not synchronisation: the fibers' state is re-read below
        continue;
      }
      suspended = 0;
      for (auto& f : rt.fibers()) suspended += f.status == weft::FiberStatus::Suspended && !f.wait.empty();
      if (suspended == static_cast<std::size_t>(n) + 1 || std::chrono::steady_clock::now() > give_up) break;
      std::this_thread::yield();
    }
    CHECK(suspended == static_cast<std::size_t>(n) + 1);
    std::ostringstream os;
    rt.dump(os);
    const std::chrono::duration<double> napped = std::chrono::steady_clock::now() - napper_spawned;
    const std::string d = os.str();
    CHECK(contains(d, "  " + std::to_string(n) + " fibers like this one: fiber "));
    CHECK(d.size() < 20'000);  // one stack, not n
    // weft::sleep(1h), at most `napped` before the dump; shown truncated to tenths. (Not "59m5": the
    // dump came over 3 s after the spawn with 100,000 fibers in a release build, so 10 s would not
    // hold under qemu or TSan.)
    const double left = weft_test::shown_seconds_after(d, "'napper' [suspended] waiting on: sleep, wakes in ");
    CAPTURE(left);
    CAPTURE(napped.count());
    CHECK(left <= 3600);
    CHECK(left > 3600 - napped.count() - 0.2);
    // Filters.
    std::ostringstream only_sleep;
    weft::dump(only_sleep, weft::DumpOptions{.wait = "sleep"});
    CHECK(contains(only_sleep.str(), "'napper'"));
    CHECK(!contains(only_sleep.str(), "'idle'"));
    CHECK(contains(only_sleep.str(), "fibers match the filter"));
    std::ostringstream by_name;
    weft::dump(by_name, weft::DumpOptions{.name = "napp", .status = weft::FiberStatus::Suspended});
    CHECK(contains(by_name.str(), "'napper'"));
    CHECK(!contains(by_name.str(), "'idle'"));
    std::ostringstream limited;
    weft::dump(limited, weft::DumpOptions{.limit = 3, .name = "idle", .group = false});
    CHECK(contains(limited.str(), "more fibers not shown (DumpOptions::limit 3)"));
    go.add_permits(static_cast<std::size_t>(n));
    sleeper.abort();
    for (auto& h : hs) CHECK(h.join());
    CHECK(sleeper.join().error().is_cancelled());
  }
}

TEST_CASE("SignalStream::recv and RwLock writers are recorded in the graph") {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  ShutdownChecked stop{rt};
  weft::SignalStream sigs({SIGUSR2});
  weft::RwLock rw;
  weft::Notify release;
  std::atomic<bool> writing{false};
  auto sig = rt.spawn(weft::Options{.name = "signals"}, [&] { (void)sigs.recv(); });
  auto writer = rt.spawn(weft::Options{.name = "writer"}, [&] {
    std::lock_guard g(rw);
    writing = true;
    release.notified();
  });
  while (!writing) std::this_thread::yield();
  auto reader = rt.spawn(weft::Options{.name = "reader"}, [&] { std::shared_lock g(rw); });
  for (auto& f : wait_suspended(rt, {"signals", "writer", "reader"})) {
    CAPTURE(f.wait);
    if (f.name == "signals") CHECK(contains(f.wait, "SignalStream::recv at 0x"));
    if (f.name == "reader") {
      CHECK(contains(f.wait, "rwlock at 0x"));
      CHECK(contains(f.wait, "(held by fiber " + std::to_string(writer.id()) + " 'writer')"));
      CHECK(f.waits_for == std::vector<std::uint64_t>{writer.id()});
    }
  }
  release.notify_one();
  CHECK(writer.join());
  CHECK(reader.join());
  ::raise(SIGUSR2);
  CHECK(sig.join());
}

TEST_CASE("a writer waiting for readers names them, and a cycle through a read lock is a deadlock") {
  for (unsigned workers : {1u, 2u, 4u}) {
    CAPTURE(workers);
    weft::Runtime rt = weft::Runtime::Builder().workers(workers).build();
    ShutdownChecked stop{rt};
    weft::RwLock rw;
    weft::Mutex m;
    weft::Barrier both_hold(2);
    // reader: holds rw shared, then wants m. writer: holds m, then wants rw exclusively.
    auto reader = rt.spawn(weft::Options{.name = "reader"}, [&] {
      std::shared_lock g(rw);
      both_hold.wait();
      lock_second(m);
    });
    auto writer = rt.spawn(weft::Options{.name = "writer"}, [&] {
      std::lock_guard g(m);
      both_hold.wait();
      std::lock_guard w(rw);
    });
    auto found = wait_for_deadlock(rt, weft::Deadlock::Kind::Cycle);
    REQUIRE(found.size() == 1);
    CHECK(found[0].members == 2);
    CHECK(names_of(found[0], 0, 2) == std::set<std::string>{"reader", "writer"});
    const std::string text = found[0].to_string();
    INFO(text);
    CHECK(contains(text, "'writer' waiting on: rwlock at 0x"));
    CHECK(contains(text, "(held shared by fiber " + std::to_string(reader.id()) + " 'reader')"));
    for (auto& f : rt.fibers()) {
      if (f.name != "writer") continue;
      CHECK(f.waits_for == std::vector<std::uint64_t>{reader.id()});
      CHECK(contains(f.wait, "(held shared by fiber " + std::to_string(reader.id()) + " 'reader')"));
    }
    reader.abort();  // its read lock unwinds; the writer gets rw
    CHECK(reader.join().error().is_cancelled());
    CHECK(writer.join());
  }
}

TEST_CASE("a writer behind readers that can still finish is no deadlock; unrecorded readers are counted") {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  ShutdownChecked stop{rt};
  weft::RwLock rw;
  weft::Notify release;
  // Six fiber readers (four recorded, two beyond the slots) and one plain-thread reader.
  std::vector<weft::JoinHandle<void>> readers;
  std::atomic<int> reading{0};
  for (int i = 0; i < 6; ++i) {
    readers.push_back(rt.spawn(weft::Options{.name = "reader"}, [&] {
      std::shared_lock g(rw);
      reading.fetch_add(1);
      release.notified();
    }));
  }
  while (reading.load() != 6) std::this_thread::yield();
  rw.lock_shared();  // the main thread
  auto writer = rt.spawn(weft::Options{.name = "writer"}, [&] { std::lock_guard w(rw); });
  wait_suspended(rt, {"writer"});
  for (auto& f : rt.fibers()) {
    if (f.name != "writer") continue;
    CAPTURE(f.wait);
    CHECK(f.waits_for.size() == 4);  // the recorded fiber readers
    CHECK(contains(f.wait, "(held shared by fiber "));
    CHECK(contains(f.wait, " and 3 other readers)"));  // two beyond the slots, one plain thread
  }
  // Readers wait on a Notify a plain thread could notify: nothing is reported.
  for (auto& d : weft::find_deadlocks().deadlocks) CHECK_FALSE(ours(d, rt));
  rw.unlock_shared();
  for (int i = 0; i < 6; ++i) release.notify_one();
  for (auto& h : readers) CHECK(h.join());
  CHECK(writer.join());
  const void* out[weft::RwLock::kRecordedReaders];
  std::size_t unrecorded = 99;
  CHECK(rw.readers(out, &unrecorded) == 0);
  CHECK(unrecorded == 0);
}

TEST_CASE("a scope whose child waits for a mutex its parent holds is a deadlock") {
  for (unsigned workers : {1u, 2u, 4u}) {
    CAPTURE(workers);
    weft::Runtime rt = weft::Runtime::Builder().workers(workers).build();
    ShutdownChecked stop{rt};
    weft::Mutex m;
    auto parent = rt.spawn(weft::Options{.name = "scope-owner"}, [&] {
      std::lock_guard g(m);
      weft::scope([&](weft::Scope& s) { s.spawn(weft::Options{.name = "scoped-child"}, [&] { std::lock_guard g2(m); }); });
    });
    auto found = wait_for_deadlock(rt, weft::Deadlock::Kind::Cycle);
    REQUIRE(found.size() == 1);
    const std::string text = found[0].to_string();
    INFO(text);
    CHECK(found[0].members == 2);
    CHECK(names_of(found[0], 0, 2) == std::set<std::string>{"scope-owner", "scoped-child"});
    CHECK(contains(text, "(joining any of fiber "));
    CHECK(contains(text, "'scoped-child' waiting on: mutex at 0x"));
    CHECK(contains(text, "(held by fiber " + std::to_string(parent.id()) + " 'scope-owner')"));
    parent.abort();  // the scope cancels its child and waits for it; the guard unwinds
    CHECK(parent.join().error().is_cancelled());
  }
}
