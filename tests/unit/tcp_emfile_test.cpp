// An accept loop that runs out of file descriptors (EMFILE) backs off without spinning, reports
// it once, and serves the waiting clients once descriptors come back.
//
// Its own program because, while the descriptors are exhausted, no descriptor is left for anyone
// else in the process either — including the sanitizers: UBSan's vptr check (clang 16) probes
// memory through a pipe() on every type-cache miss, and with no descriptor to spare it reports a
// valid object as having an "invalid vptr". tests/support/ubsan_emfile.supp silences that one check
// for this program only (tests/meson.build); ASan and the rest of UBSan still apply.
#include "net_util.hpp"

#include "../../bench/echo_server.hpp"

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// It forks: forking is only clean while this process has no other threads, so it is alone here.
TEST_CASE("accept survives running out of descriptors (EMFILE): backs off without spinning, then recovers") {
  auto r = weft_test::run_in_child([] {
    const int kClients = 40;
    weft::TcpListener l = weft::TcpListener::bind(weft::SocketAddr::loopback_v4(0), 128);
    // All clients connect now (the kernel queues them in the backlog); afterwards the limit only
    // leaves room for a few accepted sockets.
    std::vector<weft::TcpStream> clients;
    for (int i = 0; i < kClients; ++i) clients.push_back(weft::TcpStream::connect(l.local_addr()));
    weft_test::Pipe gate;  // readable = clients may hang up
    weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = static_cast<rlim_t>(weft_test::open_fd_count() + 5);
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) throw std::runtime_error("setrlimit");

    std::string failure = rt.block_on([&]() -> std::string {
      weft_echo::Stats st;
      auto server = weft::spawn([&] { weft_echo::serve(l, &st); });
      std::atomic<int> echoed{0}, wrong{0};
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < kClients; ++i) {
        hs.push_back(weft::spawn([&, i] {
          weft::TcpStream c = std::move(clients[i]);
          const std::string msg = "ping " + std::to_string(i);
          c.write_all(msg);
          std::string got(msg.size(), '\0');
          c.read_exact(got.data(), got.size());
          if (got != msg) wrong.fetch_add(1);
          echoed.fetch_add(1);
          weft::wait_readable(gate.r);  // hold the connection (and the server's descriptor)
        }));
      }
      // Wait (polling counters, bounded) until the server is out of descriptors and every
      // connection it did accept has been echoed.
      const auto give_up = Clock::now() + 20s;
      while ((l.fd_exhaustion_backoffs() == 0 || echoed.load() != st.accepted.load()) && Clock::now() < give_up) {
        weft::sleep(1ms);
      }
      if (l.fd_exhaustion_backoffs() == 0) return "the server never ran out of descriptors";
      const int served_before = echoed.load();
      // Measure a window of exhaustion: the accept loop must sleep, not spin.
      const double cpu0 = weft_test::process_cpu_ms();
      const std::uint64_t b0 = l.fd_exhaustion_backoffs();
      weft::sleep(300ms);
      const double cpu = weft_test::process_cpu_ms() - cpu0;
      const std::uint64_t backoffs = l.fd_exhaustion_backoffs() - b0;
      std::string why;
      if (cpu > 100) why += "spinning: " + std::to_string(cpu) + " ms of CPU in a 300 ms window; ";
      if (backoffs > 12) why += std::to_string(backoffs) + " accept retries in 300 ms; ";
      if (echoed.load() != served_before) why += "clients were served while descriptors were exhausted; ";
      if (served_before == 0 || served_before >= kClients) why += "served " + std::to_string(served_before) + "; ";
      // Let the clients hang up: the server's descriptors come back and it serves the rest.
      if (!weft_test::put_byte(gate.w)) why += "gate; ";
      for (auto& h : hs) {
        if (!h.join()) why += "a client failed; ";
      }
      if (echoed.load() != kClients) why += "only " + std::to_string(echoed.load()) + " clients echoed; ";
      if (wrong.load() != 0) why += "wrong echo; ";
      server.abort();
      (void)server.join();  // aborted: cancelled, as asked
      return why;
    });
    if (!failure.empty()) {
      std::fputs(("FAILED: " + failure + "\n").c_str(), stderr);
      std::_Exit(1);
    }
  });
  INFO("child stderr: " << r.err);
  CHECK(r.signal == 0);
  CHECK(r.exit_code == 0);
  CHECK(weft_test::contains(r.err, "backing off and retrying"));
  CHECK(weft_test::contains(r.err, "EMFILE") + weft_test::contains(r.err, "Too many open files") > 0);
}

}  // namespace
