// TopServer: snapshots over a Unix socket, read by tools/weft-top.
#include "test_util.hpp"

#include <weft/stall.hpp>
#include <weft/top.hpp>

#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <vector>

#ifndef WEFT_SOURCE_DIR
#error "WEFT_SOURCE_DIR must name the source tree (tests/meson.build sets it)"
#endif

namespace {
std::string read_snapshot(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

const std::string kTop = std::string("python3 ") + WEFT_SOURCE_DIR + "/tools/weft-top";

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  return out;
}
}  // namespace

TEST_CASE("a TopServer sends snapshots that weft-top renders") {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  const std::string path = "/tmp/weft-top-test-" + std::to_string(::getpid()) + ".sock";
  weft::Notify go;
  auto h = rt.spawn(weft::Options{.name = "top-visible"}, [&] { go.notified(); });
  {
    weft::TopServer top(rt.handle(), path);
    CHECK_THROWS_WITH_AS(weft::TopServer(rt.handle(), path), doctest::Contains("cannot listen on"), weft::Error);
    std::string snap;
    // The fiber shows up once it ran and suspended.
    while (!weft_test::contains(snap = read_snapshot(path), "\"status\":\"suspended\"")) std::this_thread::yield();
    CHECK(weft_test::contains(snap, "\"name\":\"top-visible\""));
    CHECK(weft_test::contains(snap, "\"wait\":\"notify at 0x"));
    CHECK(weft_test::contains(snap, "\"workers\":[{\"index\":0"));
    const std::string shown = run(std::string("python3 ") + WEFT_SOURCE_DIR + "/tools/weft-top --once " + path);
    CHECK(weft_test::contains(shown, "busy%"));
    CHECK(weft_test::contains(shown, "top-visible"));
    CHECK(weft_test::contains(shown, "suspended"));
  }
  CHECK(::access(path.c_str(), F_OK) != 0);  // removed on stop
  go.notify_one();
  CHECK(h.join());
  CHECK_THROWS_AS(weft::TopServer(rt.handle(), std::string(200, 'x')), weft::Error);
}

namespace {
// Polls (bounded) until `rt` has `n` suspended fibers.
bool all_suspended(weft::Runtime& rt, std::size_t n) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    std::size_t k = 0;
    for (auto& f : rt.fibers()) k += f.status == weft::FiberStatus::Suspended && !f.wait.empty();
    if (k >= n) return true;
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
}
}  // namespace

TEST_CASE("weft-top fits 80x24 with many workers and fibers, and sorts by busy, runs or age") {
  weft::Runtime rt = weft::Runtime::Builder().workers(8).build();
  const std::string path = "/tmp/weft-top-fit-" + std::to_string(::getpid()) + ".sock";
  weft::Notify go;
  std::vector<weft::JoinHandle<void>> hs;
  hs.push_back(rt.spawn(weft::Options{.name = "oldest"}, [&] { go.notified(); }));
  REQUIRE(all_suspended(rt, 1));
  // Ages are read from a clock of tick resolution (1-4 ms): let one tick pass for "oldest".
  for (auto t0 = rt.fibers()[0].age_ns; rt.fibers()[0].age_ns == t0;) std::this_thread::yield();
  hs.push_back(rt.spawn(weft::Options{.name = "yielder"}, [&] {
    for (int i = 0; i < 50; ++i) weft::yield_now();
    go.notified();
  }));
  for (int i = 0; i < 40; ++i) {
    hs.push_back(rt.spawn(weft::Options{.name = "a-handler-with-a-rather-long-name-" + std::to_string(i)},
                          [&] { go.notified(); }));
  }
  REQUIRE(all_suspended(rt, 42));
  {
    weft::TopServer top(rt.handle(), path);
    for (const char* size : {"80x24", "100x30", "40x10"}) {
      CAPTURE(size);
      const int cols = std::atoi(size), rows = std::atoi(std::strchr(size, 'x') + 1);
      const std::string shown = run(kTop + " --once --size " + size + " " + path);
      CAPTURE(shown);
      const auto lines = lines_of(shown);
      CHECK(lines.size() <= static_cast<std::size_t>(rows));
      CHECK(lines.size() >= static_cast<std::size_t>(rows) - 1);
      for (auto& l : lines) CHECK(l.size() <= static_cast<std::size_t>(cols));
      REQUIRE(!lines.empty());
      CHECK(weft_test::contains(lines.front(), "weft-top pid"));  // the header stays on screen
      CHECK(weft_test::contains(lines.back(), "q quit"));          // and the keys
      CHECK(weft_test::contains(shown, "more fibers"));
      if (rows == 24) {
        CHECK(weft_test::contains(shown, "busy%"));
        CHECK(weft_test::contains(shown, "more workers"));         // 8 workers take a third at most
        CHECK(weft_test::contains(shown, "notify at 0x"));          // the wait column is not cut away
      }
    }
    // The first fiber row under each order.
    auto first_fiber = [&](const char* sort) {
      const auto lines = lines_of(run(kTop + " --once --size 80x24 --sort " + sort + " " + path));
      for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
        if (weft_test::contains(lines[i], "waiting on / spawned at")) return lines[i + 1];
      }
      return std::string();
    };
    CHECK(weft_test::contains(first_fiber("age"), "oldest"));
    CHECK(weft_test::contains(first_fiber("runs"), "yielder"));
    CHECK(weft_test::contains(first_fiber("busy"), "yielder"));  // fiber timing off: busy falls back to runs
  }
  go.notify_waiters();
  for (auto& h : hs) CHECK(h.join());
}

TEST_CASE("weft-top shows a deadlock cycle and the last stall under its header") {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  const std::string path = "/tmp/weft-top-alerts-" + std::to_string(::getpid()) + ".sock";
  weft::StallDetector stalls(rt.handle(), {.threshold = std::chrono::milliseconds(20), .on_stall = [](const weft::StallReport&) {}});
  weft::Mutex m1, m2;
  weft::Barrier both_hold(2);
  auto a = rt.spawn(weft::Options{.name = "alpha"}, [&] {
    std::lock_guard g(m1);
    both_hold.wait();
    std::lock_guard g2(m2);
  });
  auto b = rt.spawn(weft::Options{.name = "beta"}, [&] {
    std::lock_guard g(m2);
    both_hold.wait();
    std::lock_guard g1(m1);
  });
  // A fiber that holds its worker for 150 ms without suspending: one stall, reported, then ended.
  auto hog = rt.spawn(weft::Options{.name = "hog"}, [] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(150);
    while (std::chrono::steady_clock::now() < until) {
    }
  });
  CHECK(hog.join());
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  {
    weft::TopServer top(rt.handle(), path);
    std::string snap;
    // Until the cycle is there and the stall's end was reported (the watchdog reports it on its
    // next check after the hog returned; it may have reported the running stall more than once).
    while (!(weft_test::contains(snap = read_snapshot(path), "\"kind\":\"cycle\"") &&
             weft_test::contains(snap, "\"ended\":true")) &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
    INFO(snap);
    CHECK(weft_test::contains(snap, "\"deadlocks\":[{"));
    CHECK(weft_test::contains(snap, "\"stalls\":{\"total\":1,\"recent\":[{\"fiber\":" + std::to_string(hog.id()) + ",\"name\":\"hog\""));
    CHECK(weft_test::contains(snap, "\"ended\":true"));
    const std::string shown = run(kTop + " --once --size 80x24 " + path);
    INFO(shown);
    const auto lines = lines_of(shown);
    REQUIRE(lines.size() >= 3);
    CHECK(lines.size() <= 24);
    for (const auto& l : lines) CHECK(l.size() <= 80);
    // Under the header: the cycle in wait-for order, from either member, back to where it began.
    const std::string ab = "DEADLOCK: " + std::to_string(a.id()) + " 'alpha' -> " + std::to_string(b.id()) + " 'beta' -> " + std::to_string(a.id());
    const std::string ba = "DEADLOCK: " + std::to_string(b.id()) + " 'beta' -> " + std::to_string(a.id()) + " 'alpha' -> " + std::to_string(b.id());
    CHECK((lines[1] == ab || lines[1] == ba));
    // Both fibers also make the whole runtime asleep (Go's case), then the stall line.
    REQUIRE(lines.size() >= 4);
    CHECK(lines[2] == "ALL ASLEEP: all 2 fibers wait and nothing can wake them");
    CHECK(weft_test::contains(lines[3], "STALLS 1: last fiber " + std::to_string(hog.id()) + " 'hog' on worker "));
    CHECK(weft_test::contains(lines[3], ", ran "));  // ended: its whole length
  }
  a.abort();  // breaks the cycle: its guard unwinds, beta gets m1
  CHECK(a.join().error().is_cancelled());
  CHECK(b.join());
}

TEST_CASE("weft-top quits on q") {
  weft::Runtime rt = weft::Runtime::Builder().workers(1).build();
  const std::string path = "/tmp/weft-top-q-" + std::to_string(::getpid()) + ".sock";
  weft::TopServer top(rt.handle(), path);
  winsize ws{};
  ws.ws_row = 24;
  ws.ws_col = 80;
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, &ws);
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const std::string tool = std::string(WEFT_SOURCE_DIR) + "/tools/weft-top";
    ::execlp("python3", "python3", tool.c_str(), "--interval", "0.2", path.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Read the screen until the key line shows, press q, and wait (bounded) for it to exit.
  std::string screen;
  int status = -1;
  bool sent = false, exited = false;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!exited && std::chrono::steady_clock::now() < give_up) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char buf[4096];
      const ssize_t n = ::read(master, buf, sizeof buf);
      if (n > 0) screen.append(buf, static_cast<std::size_t>(n));
    }
    if (!sent && weft_test::contains(screen, "q quit")) {
      sent = ::write(master, "q", 1) == 1;
    }
    exited = ::waitpid(pid, &status, WNOHANG) == pid;
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  ::close(master);
  CAPTURE(screen);
  CHECK(sent);
  CHECK(exited);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(weft_test::contains(screen, "\x1b[?1049l"));  // the terminal was restored
}
