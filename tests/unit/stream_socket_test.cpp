// StreamSocket semantics, checked on TCP and Unix streams alike: half-close, read timeouts via
// weft::timeout, what a cancelled read/write did (nothing, or exactly `progress`), EOF in
// read_exact, vectored I/O, cancellation of a fiber whose socket is always ready, the fairness
// yield, and sockets used by fibers that migrate between workers.
#include "net_util.hpp"

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Runs body(client, server) on a connected TCP pair and on a Unix socketpair. (No doctest INFO
// here: its context is thread-local, and these bodies run in fibers that migrate.)
template <class Body>
void with_each_kind(Body&& body) {
  {
    auto p = weft_test::tcp_pair();
    body(static_cast<weft::StreamSocket&>(p.client), static_cast<weft::StreamSocket&>(p.server));
  }
  {
    auto [a, b] = weft::UnixStream::pair();
    body(static_cast<weft::StreamSocket&>(a), static_cast<weft::StreamSocket&>(b));
  }
}

TEST_CASE("half-close: shutdown(Write) gives the peer EOF while the other direction still works") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      with_each_kind([](weft::StreamSocket& c, weft::StreamSocket& s) {
        c.write_all("request");
        c.shutdown(weft::Shutdown::Write);
        auto server = weft::spawn([&] {
          std::string got;
          char buf[3];
          while (const std::size_t n = s.read(buf, sizeof buf)) got.append(buf, n);
          CHECK(got == "request");
          s.write_all("response");
          s.shutdown(weft::Shutdown::Write);
        });
        char buf[16];
        std::size_t progress = 0;
        c.read_exact(buf, 8, &progress);
        CHECK(std::string(buf, 8) == "response");
        CHECK(c.read(buf, sizeof buf) == 0);
        CHECK(c.read(buf, sizeof buf) == 0);  // EOF stays EOF
        CHECK(server.join().has_value());
      });
    });
  });
}

TEST_CASE("shutdown(Read) wakes a fiber suspended in read: it returns 0") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      with_each_kind([](weft::StreamSocket&, weft::StreamSocket& s) {
        std::atomic<bool> reading{false};
        auto reader = weft::spawn([&] {
          char b;
          reading = true;
          return s.read(&b, 1);
        });
        while (!reading) weft::yield_now();
        weft::sleep(5ms);  // let it reach its wait (the result is the same if it has not)
        s.shutdown(weft::Shutdown::Read);
        auto r = reader.join();
        REQUIRE(r.has_value());
        CHECK(*r == 0);
      });
    });
  });
}

TEST_CASE("read under weft::timeout: nullopt after the deadline, and no byte was consumed") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      with_each_kind([](weft::StreamSocket& c, weft::StreamSocket& s) {
        char buf[8] = {};
        const auto t0 = Clock::now();
        std::optional<std::size_t> r = weft::timeout(30ms, [&] { return s.read(buf, sizeof buf); });
        CHECK_FALSE(r.has_value());
        CHECK(Clock::now() - t0 >= 30ms);
        c.write_all("xyz");
        r = weft::timeout(5s, [&] { return s.read(buf, sizeof buf); });
        REQUIRE(r.has_value());
        CHECK(std::string(buf, *r) == "xyz");
      });
    });
  });
}

TEST_CASE("an aborted reader consumed nothing; an aborted writer sent nothing") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      with_each_kind([](weft::StreamSocket& c, weft::StreamSocket& s) {
        std::atomic<bool> started{false};
        auto reader = weft::spawn([&] {
          char b[4];
          started = true;
          (void)s.read(b, sizeof b);
          CHECK(false);
        });
        while (!started) weft::yield_now();
        reader.abort();
        CHECK(reader.join().error().is_cancelled());
        c.write_all("data");
        char buf[4];
        s.read_exact(buf, 4);
        CHECK(std::string(buf, 4) == "data");

        // Fill c's path until write() would wait, then abort a writer stuck there: the peer
        // receives exactly what the filling wrote.
        std::size_t filled = 0;
        const std::vector<char> chunk = weft_test::pattern(64 * 1024, 9);
        auto fill = [&] {
          for (;;) {
            auto n = weft::timeout(20ms, [&] { return c.write(chunk.data(), chunk.size()); });
            if (!n) break;
            filled += *n;
          }
        };
        // The kernel may still make room now and then (the send buffer grows), letting a write
        // through before the abort: then it sent its byte, and the count below says so. Retry,
        // filling again before each attempt (without that, 20 attempts in a row found room under
        // TSan on a loaded machine), until one is cancelled.
        std::size_t extra = 0;
        bool cancelled = false;
        for (int attempt = 0; attempt < 20 && !cancelled; ++attempt) {
          fill();
          started = false;
          auto writer = weft::spawn([&] {
            started = true;
            (void)c.write("Z", 1);
          });
          while (!started) weft::yield_now();
          writer.abort();
          if (writer.join().has_value()) ++extra;
          else cancelled = true;
        }
        CHECK(cancelled);
        c.shutdown(weft::Shutdown::Write);
        std::vector<char> rest(256 * 1024);
        std::size_t got = 0;
        while (const std::size_t n = s.read(rest.data(), rest.size())) got += n;
        CHECK(got == filled + extra);  // nothing from the cancelled write
      });
    });
  });
}

TEST_CASE("write_all and read_exact report their progress when a timeout cancels them") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      with_each_kind([](weft::StreamSocket& c, weft::StreamSocket& s) {
        const std::vector<char> big = weft_test::pattern(std::size_t(16) << 20, 4);
        std::size_t sent = 0;
        CHECK_FALSE(weft::timeout(50ms, [&] { c.write_all(big.data(), big.size(), &sent); }));
        CHECK(sent > 0);
        CHECK(sent < big.size());
        c.shutdown(weft::Shutdown::Write);
        std::vector<char> buf(1 << 20);
        std::size_t got = 0;
        long bad = -1;
        while (const std::size_t n = s.read(buf.data(), buf.size())) {
          if (bad < 0 && weft_test::pattern_mismatch(buf.data(), n, 4, got) >= 0) bad = static_cast<long>(got);
          got += n;
        }
        CHECK(got == sent);  // exactly the reported prefix arrived
        CHECK(bad == -1);

        s.write_all("0123456789");
        char in[20] = {};
        std::size_t progress = 0;
        CHECK_FALSE(weft::timeout(30ms, [&] { c.read_exact(in, sizeof in, &progress); }));
        CHECK(progress == 10);
        CHECK(std::string(in, 10) == "0123456789");
      });
    });
  });
}

TEST_CASE("read_exact: EOF first is an IoError saying how much arrived") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    with_each_kind([](weft::StreamSocket& c, weft::StreamSocket& s) {
      c.write_all("abc");
      c.close();
      char buf[10];
      std::size_t progress = 0;
      try {
        s.read_exact(buf, sizeof buf, &progress);
        CHECK(false);
      } catch (const weft::IoError& e) {
        CHECK(e.is_eof());
        CHECK(weft_test::contains(e.what(), "got 3 of 10 bytes"));
      }
      CHECK(progress == 3);
    });
  });
}

TEST_CASE("vectored writes and reads keep the order of the buffers") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      with_each_kind([](weft::StreamSocket& c, weft::StreamSocket& s) {
        const std::vector<char> all = weft_test::pattern((4 << 20) + 17, 5);
        // Split into uneven pieces, one of them empty.
        const std::size_t cuts[] = {0, 3, 3, 1000, (2 << 20) + 5, all.size()};
        std::vector<iovec> out;
        for (std::size_t i = 0; i + 1 < std::size(cuts); ++i) {
          out.push_back(iovec{const_cast<char*>(all.data()) + cuts[i], cuts[i + 1] - cuts[i]});
        }
        auto writer = weft::spawn([&] {
          std::size_t progress = 0;
          c.write_all_vectored(out, &progress);
          CHECK(progress == all.size());
          c.shutdown(weft::Shutdown::Write);
        });
        std::vector<char> a(7), b(65536), got;
        for (;;) {
          iovec in[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
          std::size_t n = s.read_vectored(in);
          if (n == 0) break;
          const std::size_t from_a = std::min(n, a.size());
          got.insert(got.end(), a.begin(), a.begin() + static_cast<long>(from_a));
          got.insert(got.end(), b.begin(), b.begin() + static_cast<long>(n - from_a));
        }
        CHECK(got == all);
        CHECK(writer.join().has_value());
      });
    });
  });
}

TEST_CASE("cancellation reaches a fiber whose socket is always ready (every operation is a suspension point)") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      with_each_kind([](weft::StreamSocket& c, weft::StreamSocket& s) {
        std::atomic<long> reads{0};
        auto pump = weft::spawn([&] {
          char b = 'x';
          for (;;) {  // both calls always succeed at once: nothing ever waits
            c.write(&b, 1);
            s.read(&b, 1);
            reads.fetch_add(1);
          }
        });
        while (reads.load() < 100) weft::yield_now();
        pump.abort();
        CHECK(pump.join().error().is_cancelled());
      });
    });
  });
}

TEST_CASE("fairness: a connection that never waits still lets other fibers on its worker run") {
  weft::Runtime rt = weft_test::make_runtime(1);
  rt.block_on([] {
    auto [a, b] = weft::UnixStream::pair();
    std::atomic<bool> done{false};
    std::atomic<long> ticks{0};
    auto hog = weft::spawn([&, &a = a, &b = b] {
      char x = 'x';
      for (int i = 0; i < 20000; ++i) {
        a.write(&x, 1);
        b.read(&x, 1);
      }
      const long seen = ticks.load();
      done = true;
      return seen;
    });
    auto other = weft::spawn([&] {
      while (!done) {
        ticks.fetch_add(1);
        weft::yield_now();
      }
    });
    auto seen = hog.join();
    CHECK(other.join().has_value());
    REQUIRE(seen.has_value());
    CHECK(*seen > 50);  // ~40000 operations / 64 per yield
  });
}

TEST_CASE("a read after a short read still sees data that arrived in between (fibers and plain threads)") {
  // After a read that returned less than it asked for, the next read waits for readiness before
  // trying (the socket is most likely empty). When the data is in fact already there, that wait
  // must end at once; each round here puts it there before the read starts.
  const int rounds = static_cast<int>(weft_test::scaled(2000, 200));
  auto exchange = [rounds](weft::StreamSocket& a, weft::StreamSocket& b, long& wrong) {
    char buf[64];
    for (int i = 0; i < rounds; ++i) {
      const char first = static_cast<char>('a' + i % 26), second = static_cast<char>('A' + i % 26);
      a.write_all(&first, 1);
      if (b.read(buf, sizeof buf) != 1 || buf[0] != first) ++wrong;  // short: 1 of 64
      a.write_all(&second, 1);  // already queued when the next read begins
      if (b.read(buf, sizeof buf) != 1 || buf[0] != second) ++wrong;
    }
  };
  weft_test::for_each_worker_count([&](weft::Runtime& rt) {
    long wrong = 0;
    rt.block_on([&] {
      with_each_kind([&](weft::StreamSocket& a, weft::StreamSocket& b) {
        exchange(a, b, wrong);
        exchange(b, a, wrong);
      });
    });
    CHECK(wrong == 0);
  });
  long wrong = 0;
  std::thread([&] { with_each_kind([&](weft::StreamSocket& a, weft::StreamSocket& b) { exchange(a, b, wrong); }); }).join();
  CHECK(wrong == 0);
}

TEST_CASE("sockets used by fibers that migrate between workers stay correct") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int pairs = static_cast<int>(weft_test::scaled(64, 8));
    const int rounds = static_cast<int>(weft_test::scaled(400, 40));
    std::atomic<long> wrong{0}, migrated{0};
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      std::vector<std::unique_ptr<weft_test::TcpPair>> ps;
      for (int i = 0; i < pairs; ++i) {
        ps.push_back(std::make_unique<weft_test::TcpPair>(weft_test::tcp_pair()));
        weft_test::TcpPair& p = *ps.back();
        // Pinger: sends a sequence number, expects it back; yields and sleeps so work stealing
        // moves it (and its peer) between workers between operations.
        hs.push_back(weft::spawn([&, i] {
          std::set<std::thread::id> threads;
          for (std::uint64_t r = 0; r < static_cast<std::uint64_t>(rounds); ++r) {
            const std::uint64_t v = (static_cast<std::uint64_t>(i) << 32) | r;
            p.client.write_all(&v, sizeof v);
            threads.insert(weft_test::thread_id());
            std::uint64_t back = 0;
            p.client.read_exact(&back, sizeof back);
            threads.insert(weft_test::thread_id());
            if (back != v + 1) wrong.fetch_add(1);
            if (r % 7 == 0) weft::yield_now();
            if (r % 101 == 0) weft::sleep(1ms);
          }
          if (threads.size() > 1) migrated.fetch_add(1);
          p.client.shutdown(weft::Shutdown::Write);
        }));
        hs.push_back(weft::spawn([&] {
          std::uint64_t v = 0;
          for (;;) {
            std::size_t progress = 0;
            try {
              p.server.read_exact(&v, sizeof v, &progress);
            } catch (const weft::IoError& e) {
              if (!e.is_eof() || progress != 0) wrong.fetch_add(1);
              return;
            }
            ++v;
            p.server.write_all(&v, sizeof v);
            if (v % 5 == 0) weft::yield_now();
          }
        }));
      }
      for (auto& h : hs) CHECK(h.join().has_value());
    });
    CHECK(wrong.load() == 0);
    if (rt.workers() > 1) CHECK(migrated.load() > 0);
  });
}

}  // namespace
