// SignalStream / wait_for_signal: signals reach fibers (and plain threads), per-stream and
// coalesced, a cancelled recv consumes nothing, bad signals are refused — and the graceful
// shutdown pattern: SIGINT → cancel everything → exit 0.
#include "net_util.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <pthread.h>

#include <csignal>
#include <thread>

namespace {

using namespace std::chrono_literals;

// Delivers `sig` now, synchronously: a fresh thread unblocks it and sends it to itself, so the
// handler has run (and counted it) when this returns. The test threads and the workers block
// SIGUSR1/SIGUSR2 (see route()), so nothing else takes these signals but weft's signal thread.
void deliver(int sig) {
  std::thread([sig] {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    ::pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
    ::pthread_kill(::pthread_self(), sig);
  }).join();
}

// As a real program would (and as ThreadSanitizer needs): the signals go to weft's signal thread
// only. Call before creating a runtime, whose workers inherit the mask.
void route() { weft::block_signals({SIGUSR1, SIGUSR2}); }

// ---- first: it forks, and forking is only clean while this process has no other threads.

TEST_CASE("graceful shutdown: SIGINT cancels the server and its connections, the process exits 0") {
  weft_test::Pipe ready;
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 1;
    {
      weft::block_signals({SIGINT});  // as a real program would: only weft's signal thread takes it
      weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
      code = rt.block_on([&] {
        weft::SignalStream stop(SIGINT);
        weft::TcpListener l = weft::TcpListener::bind(weft::SocketAddr::loopback_v4(0));
        std::atomic<int> unwound{0};
        auto server = weft::spawn([&] {
          weft::JoinSet<void> conns;
          for (;;) {
            weft::TcpStream c = l.accept();
            conns.spawn([&, c = std::move(c)]() mutable {
              struct Count {
                std::atomic<int>& n;
                ~Count() { n.fetch_add(1); }
              } count{unwound};
              char buf[64];
              while (std::size_t n = c.read(buf, sizeof buf)) c.write_all(buf, n);
            });
          }
        });
        const std::uint16_t port = l.local_addr().port();
        if (::write(ready.w, &port, sizeof port) != sizeof port) return 2;
        const int sig = stop.recv();
        server.abort();
        (void)server.join();  // aborted: cancelled, as asked
        return sig == SIGINT && unwound.load() == 2 ? 0 : 3;
      });
    }
    std::_Exit(code);
  }
  // Parent: two idle connections, then Ctrl-C.
  std::uint16_t port = 0;
  REQUIRE(weft::wait_readable(ready.r, 10s));
  REQUIRE(::read(ready.r, &port, sizeof port) == sizeof port);
  weft::TcpStream a = weft::TcpStream::connect(weft::SocketAddr::loopback_v4(port));
  weft::TcpStream b = weft::TcpStream::connect(weft::SocketAddr::loopback_v4(port));
  a.write_all("x");
  char c;
  a.read_exact(&c, 1);  // a is being served
  b.write_all("y");
  b.read_exact(&c, 1);
  REQUIRE(::kill(pid, SIGINT) == 0);
  CHECK(a.read(&c, 1) == 0);  // the server cancelled this connection and closed it
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a fiber waiting in recv() gets the signal") {
  route();
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::SignalStream s(SIGUSR1);
      std::atomic<bool> waiting{false};
      auto waiter = weft::spawn([&] {
        waiting = true;
        return s.recv();
      });
      while (!waiting) weft::yield_now();
      ::kill(::getpid(), SIGUSR1);  // process-directed, as from a shell: weft's signal thread takes it
      auto r = waiter.join();
      REQUIRE(r.has_value());
      CHECK(*r == SIGUSR1);
      CHECK_FALSE(s.try_recv().has_value());
    });
  });
}

TEST_CASE("deliveries are coalesced per stream; every stream sees them; the first pending signal wins") {
  route();
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    weft::SignalStream one(SIGUSR1), other(SIGUSR1), both({SIGUSR2, SIGUSR1});
    CHECK_FALSE(one.try_recv().has_value());
    for (int i = 0; i < 3; ++i) deliver(SIGUSR1);
    deliver(SIGUSR2);
    CHECK(weft::timeout(5s, [&] { return one.recv(); }) == SIGUSR1);
    CHECK_FALSE(one.try_recv().has_value());  // three deliveries, one recv
    CHECK(weft::timeout(5s, [&] { return other.recv(); }) == SIGUSR1);
    CHECK(weft::timeout(5s, [&] { return both.recv(); }) == SIGUSR2);  // construction order
    CHECK(weft::timeout(5s, [&] { return both.recv(); }) == SIGUSR1);
    CHECK_FALSE(both.try_recv().has_value());
  });
}

TEST_CASE("a cancelled recv consumes nothing; timeouts compose") {
  route();
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::SignalStream s(SIGUSR2);
      CHECK_FALSE(weft::timeout(10ms, [&] { return s.recv(); }).has_value());
      std::atomic<bool> waiting{false};
      auto waiter = weft::spawn([&] {
        waiting = true;
        return s.recv();
      });
      while (!waiting) weft::yield_now();
      waiter.abort();
      CHECK(waiter.join().error().is_cancelled());
      deliver(SIGUSR2);
      CHECK(weft::timeout(5s, [&] { return s.recv(); }) == SIGUSR2);
    });
  });
}

TEST_CASE("plain threads can wait too; wait_for_signal is the one-shot form") {
  route();
  weft::SignalStream s(SIGUSR1);
  std::thread t([] { deliver(SIGUSR1); });
  CHECK(s.recv() == SIGUSR1);
  t.join();
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    auto w = weft::spawn([] { return weft::wait_for_signal({SIGUSR2}); });
    // wait_for_signal only sees signals sent after it subscribed: keep sending until it returns.
    while (!w.is_finished()) {
      deliver(SIGUSR2);
      weft::sleep(1ms);
    }
    CHECK(*w.join() == SIGUSR2);
  });
}

TEST_CASE("signals that cannot be waited for are refused with a reason") {
  CHECK_THROWS_AS(weft::SignalStream(SIGKILL), weft::Error);
  CHECK_THROWS_AS(weft::SignalStream(SIGSEGV), weft::Error);
  CHECK_THROWS_AS(weft::SignalStream(0), weft::Error);
  CHECK_THROWS_AS(weft::SignalStream(100000), weft::Error);
  try {
    weft::SignalStream s(SIGSTOP);
    CHECK(false);
  } catch (const weft::Error& e) {
    CHECK(weft_test::contains(e.what(), "cannot be waited for"));
  }
}

}  // namespace
