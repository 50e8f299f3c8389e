// weft-tour: a walk through weft's features, printing what happens. Grows as features land.
// Run it: build/tools/weft-tour
#include <weft/weft.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

void section(const char* title) { std::printf("\n== %s\n", title); }

struct Guard {
  const char* what;
  explicit Guard(const char* w) : what(w) { std::printf("  [%s] acquired\n", what); }
  ~Guard() { std::printf("  [%s] released\n", what); }
};

void spawn_and_join() {
  section("spawn + join: a fiber returns a value");
  weft::JoinHandle<int> h = weft::spawn([] {
    weft::sleep(100ms);
    return 42;
  });
  std::puts("  Task spawned, doing other work");
  weft::Result<int> r = h.join();  // suspends this fiber, not the thread
  if (r) std::printf("  Task returned: %d\n", *r);
}

void join_in_order() {
  section("spawn 5 fibers, join them in spawn order");
  std::vector<weft::JoinHandle<int>> hs;
  for (int i = 0; i < 5; ++i) {
    hs.push_back(weft::spawn(weft::Options{.name = "worker-" + std::to_string(i)}, [i] {
      weft::sleep(std::chrono::milliseconds(10 * (5 - i)));  // finish in reverse order
      return i * i;
    }));
  }
  for (auto& h : hs) std::printf("  result %d\n", *h.join());
}

void panics() {
  section("a panic (escaped exception) is returned by join, the runtime keeps going");
  auto h = weft::spawn(weft::Options{.name = "doomed"}, []() -> int { throw std::runtime_error("disk on fire"); });
  weft::Result<int> r = h.join();
  std::printf("  is_panic=%d: %s\n", r.error().is_panic(), r.error().what());
}

void abort_sleeping() {
  section("abort(): a sleeping fiber unwinds, its guards run");
  auto h = weft::spawn(weft::Options{.name = "sleeper"}, [] {
    Guard g("connection");
    weft::sleep(1h);
    std::puts("  (never printed)");
  });
  weft::sleep(10ms);
  h.abort();
  weft::Result<void> r = h.join();
  std::printf("  is_cancelled=%d (%s)\n", r.error().is_cancelled(), r.error().what());
}

void detach() {
  section("dropping a JoinHandle detaches: the fiber still runs to completion");
  std::atomic<bool> done{false};
  int fds[2];
  if (::pipe(fds) != 0) return;
  weft::spawn([&] {
    done = true;
    char c = 1;
    (void)!::write(fds[1], &c, 1);
  }).detach();
  weft::wait_readable(fds[0]);
  std::printf("  detached fiber ran: %s\n", done ? "yes" : "no");
  ::close(fds[0]);
  ::close(fds[1]);
}

void fd_wait() {
  section("wait_readable: a fiber waits on a socket without blocking its worker");
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) return;
  auto reader = weft::spawn([fd = sv[0]] {
    char buf[32] = {};
    if (!weft::wait_readable(fd, 1s)) return std::string("timeout");
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  });
  weft::sleep(5ms);
  (void)!::write(sv[1], "hello fd", 8);
  std::printf("  reader got: \"%s\"\n", reader.join()->c_str());
  ::close(sv[0]);
  ::close(sv[1]);
}

void join_set_order() {
  section("JoinSet: results in completion order");
  weft::JoinSet<int> set;
  for (int i = 0; i < 5; ++i) {
    set.spawn([i] {
      weft::sleep(std::chrono::milliseconds(50 - 10 * i));
      return i;
    });
  }
  while (auto r = set.join_next()) std::printf("  finished: %d\n", **r);
}

void race_with_guard() {
  section("race: a long operation holding a resource races a short sleep");
  auto r = weft::race(
      [] {
        Guard g("Resource");
        weft::sleep(10s);
        return 1;
      },
      [] { weft::sleep(100ms); });
  if (r.index() == 1) std::puts("  the sleep won: the long operation was cancelled (its guard released above)");
}

void timeouts() {
  section("timeout: run under a deadline in this very fiber");
  std::optional<int> v = weft::timeout(50ms, [] {
    Guard g("request");
    weft::sleep(1s);
    return 7;
  });
  std::printf("  %s\n", v ? "finished" : "elapsed after 50 ms");
}

void drop_join_set() {
  section("dropping a JoinSet cancels its fibers and waits for them");
  {
    weft::JoinSet<void> set;
    set.spawn([] {
      Guard g("background job");
      weft::sleep(1h);
    });
    weft::yield_now();
  }
  std::puts("  the set is gone, and so is its fiber");
}

void scoped() {
  section("scope: children borrow the caller's locals");
  std::vector<int> squares(6);
  weft::scope([&](weft::Scope& s) {
    for (int i = 0; i < 6; ++i) s.spawn([&squares, i] { squares[i] = i * i; });
  });
  std::printf("  squares:");
  for (int v : squares) std::printf(" %d", v);
  std::puts("");
}

void many_fibers() {
  section("100,000 fibers, each yielding once");
  auto t0 = std::chrono::steady_clock::now();
  std::atomic<long> sum{0};
  std::vector<weft::JoinHandle<void>> hs;
  hs.reserve(100000);
  for (int i = 0; i < 100000; ++i) {
    hs.push_back(weft::spawn([&sum, i] {
      weft::yield_now();
      sum += i;
    }));
  }
  for (auto& h : hs) h.join().value();  // value() rethrows a panic instead of dropping it
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("  sum=%ld in %.1f ms\n", sum.load(), ms);
}

struct Counter {
  long total = 0;
  long add(long n) { return total += n; }
};

void spawn_with_arguments() {
  section("spawn(f, args...) and spawn(&S::member, &s): arguments copied like std::thread");
  Counter c;
  long r = weft::spawn(&Counter::add, &c, 5L).join().value();
  auto sum = weft::spawn([](int a, int b) { return a + b; }, 2, 3).join().value_or(-1);
  std::printf("  c.add(5) -> %ld, 2 + 3 -> %d\n", r, sum);
}

void interval_ticks() {
  section("Interval: ticks on a fixed schedule, the first at once");
  weft::Interval every(20ms);
  const auto t0 = every.tick();
  for (int i = 1; i <= 3; ++i) {
    const auto at = every.tick();
    std::printf("  tick %d at +%lld ms\n", i,
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(at - t0).count()));
  }
}

void tracker_and_channels() {
  section("TaskTracker + range-for over a Receiver: wait for everything, however it ended");
  weft::TaskTracker tracker;
  auto [tx, rx] = weft::mpsc::channel<int>(4);
  for (int i = 0; i < 5; ++i) {
    tracker.spawn([tx = tx, i] { (void)tx.send(i * i); }).detach();
  }
  auto doomed = tracker.spawn([] { weft::sleep(1h); });
  doomed.abort();               // cancelled: still counted as ended
  tx = {};
  int total = 0;
  for (int& v : rx) total += v;  // ends when every sender is gone
  tracker.close();
  tracker.wait();
  (void)doomed.join();
  std::printf("  received %d, tracker empty: %d\n", total, tracker.is_empty());
}

weft::FiberLocal<int> tour_local;

void fiber_locals() {
  section("FiberLocal: a value per fiber that follows it across workers");
  std::vector<weft::JoinHandle<bool>> hs;
  for (int i = 0; i < 4; ++i) {
    hs.push_back(weft::spawn([i] {
      *tour_local = i;
      for (int k = 0; k < 50; ++k) weft::yield_now();
      return *tour_local == i;
    }));
  }
  int ok = 0;
  for (auto& h : hs) ok += h.join().value();
  std::printf("  %d of 4 fibers kept their own value\n", ok);
}

void stop_tokens() {
  section("std::stop_token <-> CancellationToken, and a cancel callback");
  weft::CancellationToken token;
  std::stop_token st = weft::to_stop_token(token);
  weft::CancelCallback cb(token, [] { std::puts("  callback: token cancelled"); });
  token.cancel();
  std::printf("  stop_token.stop_requested() = %d\n", st.stop_requested());
}

}  // namespace

int main() {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  std::printf("weft tour: a runtime with %zu workers\n", rt.workers());
  rt.block_on([] {
    spawn_and_join();
    join_in_order();
    panics();
    abort_sleeping();
    detach();
    fd_wait();
    join_set_order();
    race_with_guard();
    timeouts();
    drop_join_set();
    scoped();
    many_fibers();
    spawn_with_arguments();
    interval_ticks();
    tracker_and_channels();
    fiber_locals();
    stop_tokens();
  });
  weft::RuntimeMetrics m = rt.metrics();
  section("metrics");
  std::printf("  spawned %llu fibers, %zu alive, %ld stacks in use, %zu stacks mapped (%zu guarded)\n",
              static_cast<unsigned long long>(m.spawned_total), m.live_fibers, m.live_stacks, m.mapped_stacks,
              m.guarded_stacks);
  for (const auto& w : m.workers) {
    std::printf("  worker %u: ran %llu, steals %llu, parks %llu\n", w.index,
                static_cast<unsigned long long>(w.fibers_run), static_cast<unsigned long long>(w.steals),
                static_cast<unsigned long long>(w.parks));
  }
  return 0;
}
