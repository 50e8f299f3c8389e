// The flight recorder: a bounded trace kept all the time, written on a signal, a stall report,
// Ctrl-C and destruction.
#include "test_util.hpp"

#include <weft/flight_recorder.hpp>
#include <weft/stall.hpp>

#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <sstream>

using namespace std::chrono_literals;
using weft_test::contains;

namespace {
std::string temp_path(const char* what) {
  return "/tmp/weft-flight-" + std::string(what) + "-" + std::to_string(::getpid()) + ".json";
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

// Polls (bounded) until the recorder has written `n` files.
bool wait_writes(const weft::FlightRecorder& r, unsigned n) {
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (r.writes() < n) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

void run_some_fibers(weft::Runtime& rt, const std::string& name) {
  rt.block_on([&] {
    auto h = weft::spawn(weft::Options{.name = name}, [] {
      for (int i = 0; i < 10; ++i) weft::yield_now();
    });
    h.join().value();
  });
}

volatile unsigned flight_sink = 0;  // unsigned: it wraps, never overflows
}  // namespace

// First in the file: it forks, and a child may only start threads if the parent had none running
// (TSan refuses threads after a multi-threaded fork, and earlier tests would leave its helper
// thread behind).
TEST_CASE("Ctrl-C writes the flight recorder's file, then ends the program as SIGINT would") {
  const std::string path = temp_path("sigint");
  ::unlink(path.c_str());
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // the program: records, then gets SIGINT (no runtime lives in this process before the fork)
    ::signal(SIGINT, SIG_DFL);  // a program's usual Ctrl-C (doctest installs a crash reporter)
    weft::FlightRecorder rec({.path = path});
    weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
    run_some_fibers(rt, "interrupted-program");
    ::raise(SIGINT);
    for (;;) ::pause();  // SIGINT ends the process once the file is written
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGINT);
  const std::string text = slurp(path);
  CHECK(contains(text, "\"traceEvents\""));
  CHECK(contains(text, "interrupted-program #"));
  ::unlink(path.c_str());
}

TEST_CASE("a signal writes the flight recorder's file, recording goes on, and destruction writes it again") {
  const std::string path = temp_path("signal");
  ::unlink(path.c_str());
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  {
    weft::FlightRecorder rec({.path = path, .on_sigint = false});
    CHECK(weft::tracing());
    CHECK(rec.writes() == 0);
    run_some_fibers(rt, "before-signal");
    ::raise(SIGUSR2);
    REQUIRE(wait_writes(rec, 1));
    const std::string first = slurp(path);
    CHECK(contains(first, "\"traceEvents\""));
    CHECK(contains(first, "before-signal #"));
    CHECK(::access((path + ".tmp").c_str(), F_OK) != 0);  // written aside, then renamed
    run_some_fibers(rt, "after-signal");
    CHECK_FALSE(contains(slurp(path), "after-signal"));  // nothing written until asked
  }
  // Destroyed: written once more, with what happened since; recording stopped.
  CHECK_FALSE(weft::tracing());
  CHECK(contains(slurp(path), "after-signal #"));
  ::unlink(path.c_str());
}

TEST_CASE("the flight recorder keeps only the newest events of each thread") {
  const std::string path = temp_path("bounded");
  weft::Runtime rt = weft::Runtime::Builder().workers(1).build();
  {
    weft::FlightRecorder rec({.path = path, .events_per_thread = 64, .signal = 0, .on_sigint = false});
    rt.block_on([] {
      for (int i = 0; i < 5000; ++i) weft::yield_now();
      weft::spawn(weft::Options{.name = "the-last-one"}, [] {}).join().value();
    });
    rec.write();
    CHECK(rec.writes() == 1);
  }
  const std::string text = slurp(path);
  CHECK(contains(text, "the-last-one"));
  CHECK(text.size() < 64 * 1024);  // 5000 yields would take far more
  ::unlink(path.c_str());
}

TEST_CASE("a stall report writes the flight recorder's file") {
  const std::string path = temp_path("stall");
  weft::Runtime rt = weft::Runtime::Builder().workers(1).build();
  {
    weft::FlightRecorder rec({.path = path, .signal = 0, .on_sigint = false, .on_destroy = false});
    std::atomic<int> reports{0};
    weft::StallDetector watchdog(rt.handle(), {.threshold = 50ms, .on_stall = [&](const weft::StallReport&) { ++reports; }});
    run_some_fibers(rt, "ran-before-the-stall");
    auto h = rt.spawn(weft::Options{.name = "staller"}, [] {
      const auto until = std::chrono::steady_clock::now() + 200ms;
      while (std::chrono::steady_clock::now() < until) flight_sink = flight_sink + 1;
    });
    CHECK(h.join());
    CAPTURE(reports.load());
    REQUIRE(wait_writes(rec, 1));
    CHECK(reports >= 1);
    CHECK(contains(slurp(path), "ran-before-the-stall #"));
  }
  ::unlink(path.c_str());
}

TEST_CASE("flight recorder misuse is a clear error") {
  CHECK_THROWS_WITH_AS(weft::FlightRecorder({}), doctest::Contains("no path"), weft::Error);
  CHECK_THROWS_WITH_AS(weft::FlightRecorder({.path = "/tmp/x.json", .events_per_thread = 1}),
                       doctest::Contains("at least 16"), weft::Error);
  {
    weft::FlightRecorder one({.path = temp_path("one"), .signal = 0, .on_sigint = false, .on_destroy = false});
    CHECK_THROWS_WITH_AS(weft::FlightRecorder({.path = temp_path("two"), .signal = 0, .on_sigint = false}),
                         doctest::Contains("another FlightRecorder is alive"), weft::Error);
  }
  CHECK_THROWS_WITH_AS(weft::FlightRecorder({.path = temp_path("int"), .signal = SIGINT}),
                       doctest::Contains("SIGINT is on_sigint's"), weft::Error);
  {
    weft::FlightRecorder bad({.path = "/nonexistent-dir/flight.json", .signal = 0, .on_sigint = false, .on_destroy = false});
    CHECK_THROWS_WITH_AS(bad.write(), doctest::Contains("cannot open '/nonexistent-dir/flight.json.tmp'"), weft::Error);
  }
  // After a failed start, another may start: nothing was left claimed.
  weft::FlightRecorder again({.path = temp_path("again"), .signal = 0, .on_sigint = false, .on_destroy = false});
  CHECK(again.writes() == 0);
}
