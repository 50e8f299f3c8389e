// The echo server of bench/echo_server.hpp (the one `weft_bench echo_server` runs) under load and
// abuse: 10,000 concurrent connections from another process, each doing round trips; and
// well-behaved clients that keep being served while others hold idle connections (slow loris),
// flood 64 MiB without reading replies, connect and reset, or open thousands of connections —
// with the server's memory staying bounded.
#include "net_util.hpp"

#include "../../bench/echo_server.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// One request/response of `n` bytes, checked byte for byte.
bool round_trip(weft::TcpStream& s, std::size_t n, unsigned seed, std::uint64_t offset) {
  const std::vector<char> msg = weft_test::pattern(n, seed, offset);
  s.write_all(msg.data(), n);
  std::vector<char> back(n);
  s.read_exact(back.data(), n);
  return back == msg;
}

// ---- first: it forks, and forking is only clean while this process has no other threads.

TEST_CASE("10,000 concurrent connections from another process, each doing round trips") {
  long conns = weft_test::scaled(10000, 500);
  // Each process holds one end of every connection (the child inherits the raised limit).
  const long limit = weft_test::raise_fd_limit(conns + 256);
  if (limit < conns + 256) {
    MESSAGE("RLIMIT_NOFILE hard limit " << limit << " is below " << conns + 256 << ": testing "
                                        << limit - 256 << " connections instead (raise it with ulimit -Hn)");
    conns = limit - 256;
  }
  REQUIRE(conns >= 500);
  weft::TcpListener l = weft::TcpListener::bind(weft::SocketAddr::loopback_v4(0), 4096);
  const weft::SocketAddr addr = l.local_addr();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The clients: open every connection, do a round trip on each, wait until all are open at
    // once, then do more round trips and hang up.
    l.close();
    std::atomic<long> ok{0}, open{0}, failed{0};
    {
      weft_test::Pipe all_open;
      weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
      rt.block_on([&] {
        std::vector<weft::JoinHandle<void>> hs;
        hs.reserve(static_cast<std::size_t>(conns));
        for (long i = 0; i < conns; ++i) {
          hs.push_back(weft::spawn([&, i] {
            try {
              weft::TcpStream s = weft::TcpStream::connect(addr, 60s);
              bool good = round_trip(s, 64, static_cast<unsigned>(i), 0);
              if (open.fetch_add(1) + 1 == conns) weft_test::put_byte(all_open.w);
              weft::wait_readable(all_open.r);  // every connection is open now
              for (int r = 1; r < 4; ++r) good &= round_trip(s, 64 + static_cast<std::size_t>(r), static_cast<unsigned>(i), 64u * r);
              if (good) ok.fetch_add(1);
            } catch (const weft::IoError& e) {
              if (failed.fetch_add(1) < 5) std::fprintf(stderr, "client %ld: %s\n", i, e.what());
              if (open.fetch_add(1) + 1 == conns) weft_test::put_byte(all_open.w);
            }
          }));
        }
        for (auto& h : hs) h.join().value();
      });
    }
    if (ok.load() != conns) std::fprintf(stderr, "%ld of %ld clients correct\n", ok.load(), conns);
    std::_Exit(ok.load() == conns ? 0 : 1);
  }
  // The server, in this process.
  weft_echo::Stats st;
  int status = 0;
  {
    weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
    rt.block_on([&] {
      auto server = weft::spawn([&] { weft_echo::serve(l, &st); });
      auto child = weft::spawn_blocking([pid] {
        int s = 0;
        while (::waitpid(pid, &s, 0) < 0 && errno == EINTR) {
        }
        return s;
      });
      status = *child.join();
      server.abort();
      (void)server.join();  // aborted: cancelled, as asked
    });
  }
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(st.accepted.load() == conns);
  CHECK(st.max_open.load() == conns);  // all of them were open at the same time
  CHECK(st.open.load() == 0);
}

TEST_CASE("well-behaved clients keep being served while others abuse the server; memory stays bounded") {
  const long idle_crowd = weft_test::scaled(2000, 200);
  const long loris = weft_test::scaled(100, 20);
  const int flooders = 4;
  const std::size_t flood_bytes = std::size_t(64) << 20;
  const int good_clients = 8;
  const int good_rounds = static_cast<int>(weft_test::scaled(300, 30));
  weft_test::raise_fd_limit(2 * (idle_crowd + loris) + 512);

  const long rss_start = rss_kib();
  weft::Runtime server_rt = weft::Runtime::Builder().workers(2).build();
  weft::Runtime client_rt = weft::Runtime::Builder().workers(2).build();
  weft::TcpListener l = weft::TcpListener::bind(weft::SocketAddr::loopback_v4(0), 4096);
  const weft::SocketAddr addr = l.local_addr();
  weft_echo::Stats st;
  auto server = server_rt.spawn([&] { weft_echo::serve(l, &st); });

  client_rt.block_on([&] {
    weft::JoinSet<void> abusers;
    std::atomic<long> holding{0};
    // Slow loris: connect, maybe send half a message, then hold the connection forever.
    for (long i = 0; i < loris; ++i) {
      abusers.spawn([&, i] {
        weft::TcpStream s = weft::TcpStream::connect(addr, 30s);
        if (i % 2) s.write_all("partial");
        holding.fetch_add(1);
        char b;
        (void)s.read(&b, 1);  // never completes: cancelled at the end
      });
    }
    // Thousands of idle connections.
    for (long i = 0; i < idle_crowd; ++i) {
      abusers.spawn([&] {
        weft::TcpStream s = weft::TcpStream::connect(addr, 30s);
        holding.fetch_add(1);
        weft::wait_readable(s.fd());
      });
    }
    // Flooders: 64 MiB each, never reading a reply. Backpressure must stop them, not memory.
    std::atomic<std::size_t> flooded{0};
    for (int i = 0; i < flooders; ++i) {
      abusers.spawn([&] {
        weft::TcpStream s = weft::TcpStream::connect(addr, 30s);
        const std::vector<char> chunk(1 << 20, 'f');
        for (std::size_t sent = 0; sent < flood_bytes; sent += chunk.size()) {
          s.write_all(chunk.data(), chunk.size());
          flooded.fetch_add(chunk.size());
        }
      });
    }
    // Connect-and-reset, over and over.
    std::atomic<long> resets{0};
    abusers.spawn([&] {
      for (;;) {
        weft::TcpStream s = weft::TcpStream::connect(addr, 30s);
        s.write_all("reset me");
        const linger lg{1, 0};
        ::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        s.close();
        resets.fetch_add(1);
        weft::yield_now();
      }
    });

    // Wait (polling, bounded) until the abuse is in place.
    const auto give_up = Clock::now() + 60s;
    while ((holding.load() < loris + idle_crowd || flooded.load() < 4 * (std::size_t(1) << 20)) &&
           Clock::now() < give_up) {
      weft::sleep(5ms);
    }
    REQUIRE(holding.load() == loris + idle_crowd);
    const long rss_before = rss_kib();

    // The well-behaved clients: every round trip correct, none waiting long.
    std::atomic<long> good_ok{0}, good_bad{0};
    std::vector<weft::JoinHandle<void>> good;
    for (int c = 0; c < good_clients; ++c) {
      good.push_back(weft::spawn([&, c] {
        weft::TcpStream s = weft::TcpStream::connect(addr, 30s);
        s.set_nodelay(true);
        for (int r = 0; r < good_rounds; ++r) {
          const std::size_t n = 1 + static_cast<std::size_t>((r * 37 + c) % 6000);
          auto fine = weft::timeout(10s, [&] { return round_trip(s, n, static_cast<unsigned>(c), static_cast<std::uint64_t>(r) << 16); });
          if (fine && *fine) good_ok.fetch_add(1);
          else good_bad.fetch_add(1);
        }
      }));
    }
    for (auto& h : good) CHECK(h.join().has_value());
    CHECK(good_bad.load() == 0);
    CHECK(good_ok.load() == good_clients * good_rounds);

    // The flooders are stuck on backpressure, far from their 64 MiB, and memory did not follow.
    CHECK(flooded.load() < flooders * flood_bytes);
    const long grown_kib = rss_kib() - rss_before;
    MESSAGE("abuse: " << holding.load() << " idle/loris connections, " << (flooded.load() >> 20)
                      << " MiB flooded, " << resets.load() << " resets; RSS grew " << grown_kib
                      << " KiB while good clients ran, " << rss_kib() - rss_start
                      << " KiB in all (both ends of every connection: fiber stacks, 4 KiB buffers)");
    CHECK(grown_kib < 64 * 1024);
    CHECK(resets.load() > 0);
    abusers.shutdown();  // cancels and waits for every abuser; their sockets close
  });

  // Every connection ends on the server side too (bounded polling), and it still serves.
  const auto give_up = Clock::now() + 30s;
  while (st.open.load() != 0 && Clock::now() < give_up) std::this_thread::sleep_for(5ms);
  CHECK(st.open.load() == 0);
  client_rt.block_on([&] {
    weft::TcpStream s = weft::TcpStream::connect(addr, 30s);
    CHECK(round_trip(s, 100, 7, 0));
  });
  server.abort();
  CHECK(server.join().error().is_cancelled());
}

}  // namespace
