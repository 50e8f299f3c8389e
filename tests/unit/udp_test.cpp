// UdpSocket: datagrams to any peer and in connected mode, IPv4 and IPv6, truncation, empty
// datagrams, a receive cancelled by a timeout (nothing consumed), and many fibers at once.
#include "net_util.hpp"

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

TEST_CASE("send_to / recv_from: the sender's address comes with the datagram (IPv4, IPv6)") {
  const bool v6 = weft_test::ipv6_loopback_available();
  weft_test::for_each_worker_count([&](weft::Runtime& rt) {
    rt.block_on([&] {
      for (bool use_v6 : {false, true}) {
        if (use_v6 && !v6) continue;
        auto lo = [&] { return use_v6 ? weft::SocketAddr::loopback_v6(0) : weft::SocketAddr::loopback_v4(0); };
        weft::UdpSocket server = weft::UdpSocket::bind(lo());
        weft::UdpSocket client = weft::UdpSocket::bind(lo());
        auto echo = weft::spawn([&] {
          char buf[64];
          weft::UdpRecv r = server.recv_from(buf, sizeof buf);
          CHECK(r.from == client.local_addr());
          CHECK_FALSE(r.truncated);
          server.send_to(buf, r.size, r.from);
        });
        CHECK(client.send_to("ping", 4, server.local_addr()) == 4);
        char buf[64];
        weft::UdpRecv r = client.recv_from(buf, sizeof buf);
        CHECK(std::string(buf, r.size) == "ping");
        CHECK(r.from == server.local_addr());
        CHECK(echo.join().has_value());
      }
    });
  });
}

TEST_CASE("a short buffer truncates (reported); an empty datagram is a receive of 0 bytes") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    weft::UdpSocket a = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
    weft::UdpSocket b = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
    a.send_to("0123456789", 10, b.local_addr());
    a.send_to("", 0, b.local_addr());
    char buf[4];
    weft::UdpRecv r = b.recv_from(buf, sizeof buf);
    CHECK(r.size == 4);
    CHECK(r.truncated);
    CHECK(std::string(buf, 4) == "0123");
    r = b.recv_from(buf, sizeof buf);
    CHECK(r.size == 0);
    CHECK_FALSE(r.truncated);
  });
}

TEST_CASE("connected mode: send/recv, only the peer's datagrams arrive, ECONNREFUSED surfaces") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    weft::UdpSocket a = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
    weft::UdpSocket b = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
    weft::UdpSocket stranger = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
    a.connect(b.local_addr());
    b.connect(a.local_addr());
    CHECK(a.peer_addr() == b.local_addr());
    stranger.send_to("noise", 5, a.local_addr());  // filtered out by a's connection
    b.send("real", 4);
    char buf[16];
    const std::size_t n = a.recv(buf, sizeof buf);
    CHECK(std::string(buf, n) == "real");
    a.send("back", 4);
    CHECK(b.recv(buf, sizeof buf) == 4);

    // A connected socket whose peer is gone learns it from ICMP: the next operation fails.
    weft::UdpSocket c = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
    weft::SocketAddr gone;
    {
      weft::UdpSocket tmp = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
      gone = tmp.local_addr();
    }
    c.connect(gone);
    c.send("x", 1);
    bool refused = false;
    try {
      (void)weft::timeout(2s, [&] { return c.recv(buf, sizeof buf); });
    } catch (const weft::IoError& e) {
      refused = e.errno_value() == ECONNREFUSED;
      CHECK(weft_test::contains(e.what(), "UdpSocket::recv"));
    }
    // Linux reports it; a user-space network stack may not generate the ICMP at all.
    if (!refused) MESSAGE("no ECONNREFUSED for a connected UDP socket on this kernel (no ICMP on loopback?)");
  });
}

TEST_CASE("recv_from under a timeout consumes nothing; the datagram sent later arrives whole") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::UdpSocket a = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
      weft::UdpSocket b = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
      char buf[16];
      CHECK_FALSE(weft::timeout(20ms, [&] { return b.recv_from(buf, sizeof buf); }).has_value());
      a.send_to("late", 4, b.local_addr());
      auto r = weft::timeout(5s, [&] { return b.recv_from(buf, sizeof buf); });
      REQUIRE(r.has_value());
      CHECK(std::string(buf, r->size) == "late");
    });
  });
}

TEST_CASE("many fibers exchange datagrams with one server fiber") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int clients = static_cast<int>(weft_test::scaled(50, 10));
    const int rounds = static_cast<int>(weft_test::scaled(40, 5));
    std::atomic<long> ok{0};
    rt.block_on([&] {
      weft::UdpSocket server = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
      auto srv = weft::spawn([&] {
        char buf[64];
        for (;;) {
          weft::UdpRecv r = server.recv_from(buf, sizeof buf);
          server.send_to(buf, r.size, r.from);
        }
      });
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < clients; ++i) {
        hs.push_back(weft::spawn([&, i] {
          weft::UdpSocket s = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
          s.connect(server.local_addr());
          for (int k = 0; k < rounds; ++k) {
            const std::string msg = std::to_string(i) + ":" + std::to_string(k);
            s.send(msg.data(), msg.size());
            char buf[64];
            // Loopback UDP does not drop at this rate, but never wait forever on a datagram.
            auto n = weft::timeout(5s, [&] { return s.recv(buf, sizeof buf); });
            if (n && std::string(buf, *n) == msg) ok.fetch_add(1);
          }
        }));
      }
      for (auto& h : hs) CHECK(h.join().has_value());
      srv.abort();
      CHECK(srv.join().error().is_cancelled());
    });
    CHECK(ok.load() == static_cast<long>(clients) * rounds);
  });
}

TEST_CASE("many fibers receiving on one socket: one watcher at a time, each datagram to exactly one") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const long n = std::min(weft_test::scaled(2000, 50), weft_test::kMaxLiveFibers / 2);
    std::vector<std::atomic<int>> seen(static_cast<std::size_t>(n));
    std::atomic<long> entered{0}, got{0}, wrong{0};
    unsigned waiters_while_parked = 0;
    rt.block_on([&] {
      weft::UdpSocket server = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
      weft::UdpSocket client = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
      std::vector<weft::JoinHandle<void>> receivers;
      for (long i = 0; i < n; ++i) {
        receivers.push_back(weft::spawn([&] {
          entered.fetch_add(1);
          std::uint32_t id = 0;
          weft::UdpRecv r = server.recv_from(&id, sizeof id);
          if (r.size != sizeof id || id >= static_cast<std::uint32_t>(n) || seen[id].exchange(1) != 0) {
            wrong.fetch_add(1);
          }
          got.fetch_add(1);
        }));
      }
      while (entered.load() < n) weft::yield_now();
      for (int k = 0; k < 50; ++k) weft::yield_now();
      waiters_while_parked = weft_test::loop_waiters(rt);
      // In batches that fit the socket's receive buffer, so loopback drops nothing.
      const auto give_up = std::chrono::steady_clock::now() + 60s;
      for (long i = 0; i < n; ++i) {
        const auto id = static_cast<std::uint32_t>(i);
        client.send_to(&id, sizeof id, server.local_addr());
        if (i % 32 == 31 || i == n - 1) {
          while (got.load() <= i && std::chrono::steady_clock::now() < give_up) weft::yield_now();
        }
      }
      for (auto& h : receivers) CHECK(h.join().has_value());
    });
    CHECK(waiters_while_parked <= 1);
    CHECK(got.load() == n);
    CHECK(wrong.load() == 0);
  });
}

}  // namespace
