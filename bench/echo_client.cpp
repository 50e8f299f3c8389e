// echo_client: the one load generator for every echo server (doc/bench.md
// §1.3 `echo`), so that servers differ and the client does not.
//
//   echo_client --port P [--host 127.0.0.1] [--conns 50] [--size 64]
//               [--seconds 5] [--warmup 1] [--peer weft]
//
// Single thread, epoll level-triggered, non-blocking sockets, TCP_NODELAY.
// All --conns connections are opened before the clock starts. Closed loop:
// each connection sends one --size-byte message, waits for the complete echo,
// checks it byte for byte, records send->complete latency, sends the next.
// After --warmup seconds of unrecorded load, --seconds windows of 1 s each
// are recorded; a request belongs to the window in which its echo completed.
// Only 127.0.0.0/8 targets are accepted: this is a benchmark, not a load tool.
//
// Output: four JSON lines (bench_common.hpp's format), all with
// "bench":"echo" and "peer" = --peer; "metric" names the value:
//   {"peer":"weft","bench":"echo","metric":"echo_rps","n":R,"median":..,"unit":"req/s",
//    "samples":[per window],"note":..}
//   {..."metric":"echo_p50_us",...,"unit":"us","samples":[each window's p50]}
//   {..."metric":"echo_p99_us",...,"unit":"us","samples":[each window's p99]}
//   {..."metric":"echo_client_cpu",...,"unit":"%","samples":[per window]}
// n is the number of requests completed in the measured windows on every line.
// echo_rps, echo_p50_us and echo_p99_us are medians over the windows;
// echo_client_cpu is the client's CPU time (user + system) over the whole
// measured span, in % of one core (samples: the same per window). At >= ~90 %
// the client is the bottleneck and echo_rps is a lower bound for the server.
// Percentiles are nearest-rank. Exit 1 on a wrong byte, a closed or failed
// connection, or a run in which no request completed; exit 2 on bad flags.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace {

constexpr std::uint64_t kWindowNs = 1'000'000'000;

struct Config {
  std::string host;
  int port = 0;
  std::size_t conns = 0;
  std::size_t size = 0;
  int seconds = 0;
  int warmup = 0;
  std::string peer;
};

// One closed-loop connection: at most one request in flight.
struct Conn {
  int fd = -1;
  std::uint32_t id = 0;
  std::uint64_t seq = 0;              // requests started on this connection
  std::vector<unsigned char> expect;  // the message in flight = the echo we expect
  std::size_t sent = 0;
  std::size_t got = 0;
  std::uint64_t t_send = 0;
  bool want_out = false;  // EPOLLOUT registered because a send was partial
};

std::uint64_t cpu_ns() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) {
    return std::uint64_t(tv.tv_sec) * 1'000'000'000u + std::uint64_t(tv.tv_usec) * 1000u;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

// Nearest-rank percentile of `v` (reordered), in µs.
double percentile_us(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return std::nan("");
  std::size_t rank = static_cast<std::size_t>(std::ceil(p * double(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size()) - 1;
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(rank), v.end());
  return double(v[rank]) / 1000.0;
}

class Client {
 public:
  explicit Client(const Config& cfg) : cfg_(cfg), windows_(std::size_t(cfg.seconds)) {}

  void connect_all() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(cfg_.port));
    if (inet_pton(AF_INET, cfg_.host.c_str(), &addr.sin_addr) != 1 ||
        (ntohl(addr.sin_addr.s_addr) >> 24) != 127) {
      bench::die(bench::kExitUsage,
                 "echo_client: --host must be a numeric 127.0.0.0/8 address, got '%s'",
                 cfg_.host.c_str());
    }
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) BENCH_FAIL("echo_client: epoll_create1: %s", std::strerror(errno));
    conns_.resize(cfg_.conns);
    for (std::uint32_t i = 0; i < conns_.size(); ++i) {
      Conn& c = conns_[i];
      c.id = i;
      c.expect.resize(cfg_.size);
      c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (c.fd < 0) BENCH_FAIL("echo_client: socket: %s", std::strerror(errno));
      // Blocking connect: simple, and it happens before the clock starts.
      if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        BENCH_FAIL("echo_client: connection %u to %s:%d: %s (is the server up?)", i,
                   cfg_.host.c_str(), cfg_.port, std::strerror(errno));
      }
      const int one = 1;
      setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
      epoll_event ev{};
      ev.events = EPOLLIN;  // level-triggered
      ev.data.u32 = i;
      if (epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
        BENCH_FAIL("echo_client: epoll_ctl: %s", std::strerror(errno));
      }
    }
  }

  // Warm-up then the measured windows; returns when the last window closes.
  void run() {
    const std::uint64_t start = bench::now_ns();
    measure_start_ = start + std::uint64_t(cfg_.warmup) * kWindowNs;
    for (Conn& c : conns_) start_request(c, start);

    std::vector<epoll_event> events(std::max<std::size_t>(conns_.size(), 1));
    // CPU time is sampled at each window boundary, as soon as the loop sees
    // it has passed; epoll_wait's timeout aims at the next boundary.
    std::size_t next_boundary = 0;  // 0 = measure_start_, k = end of window k-1
    std::uint64_t now = start;
    while (next_boundary <= windows_.size()) {
      const std::uint64_t boundary = measure_start_ + next_boundary * kWindowNs;
      if (now >= boundary) {
        cpu_at_.push_back(cpu_ns());
        wall_at_.push_back(now);
        ++next_boundary;
        continue;
      }
      const int timeout_ms = static_cast<int>((boundary - now + 999'999) / 1'000'000);
      const int ready =
          epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), timeout_ms);
      if (ready < 0 && errno != EINTR)
        BENCH_FAIL("echo_client: epoll_wait: %s", std::strerror(errno));
      for (int e = 0; e < ready; ++e) {
        Conn& c = conns_[events[e].data.u32];
        const std::uint32_t what = events[e].events;
        if ((what & EPOLLOUT) && c.want_out) send_pending(c);
        if (what & (EPOLLIN | EPOLLERR | EPOLLHUP)) receive(c);
      }
      now = bench::now_ns();
    }
    for (Conn& c : conns_) close(c.fd);
    close(epfd_);
  }

  void report() {
    std::uint64_t total = 0;
    std::vector<double> rps, p50, p99, cpu;
    for (std::size_t w = 0; w < windows_.size(); ++w) {
      auto& lat = windows_[w];
      total += lat.size();
      rps.push_back(double(lat.size()));  // windows are exactly 1 s by construction
      if (!lat.empty()) {
        p50.push_back(percentile_us(lat, 0.50));
        p99.push_back(percentile_us(lat, 0.99));
      }
      cpu.push_back(100.0 * double(cpu_at_[w + 1] - cpu_at_[w]) /
                    double(wall_at_[w + 1] - wall_at_[w]));
    }
    if (total == 0)
      BENCH_FAIL("echo_client: no request completed in %d measured seconds", cfg_.seconds);
    const double cpu_all = 100.0 * double(cpu_at_.back() - cpu_at_.front()) /
                           double(wall_at_.back() - wall_at_.front());
    char note[200];
    std::snprintf(note, sizeof note,
                  "echo_client: %zu conns, %zu-byte messages, %d x 1 s windows after %d s warm-up, "
                  "closed loop, epoll LT, target %s:%d",
                  cfg_.conns, cfg_.size, cfg_.seconds, cfg_.warmup, cfg_.host.c_str(), cfg_.port);
    auto line = [&](const char* metric, double median, const char* unit,
                    std::vector<double> samples, std::string extra) {
      bench::Measurement m;
      m.peer = cfg_.peer;
      m.bench = "echo";
      m.metric = metric;
      m.n = total;
      m.median = median;
      m.unit = unit;
      m.samples = std::move(samples);
      m.note = note + extra;
      bench::emit(m);
    };
    line("echo_rps", bench::median(rps), "req/s", rps, "");
    line("echo_p50_us", bench::median(p50), "us", p50, "; nearest-rank, median over windows");
    line("echo_p99_us", bench::median(p99), "us", p99, "; nearest-rank, median over windows");
    line("echo_client_cpu", cpu_all, "%", cpu, "; % of one core over all measured windows");
  }

 private:
  // Fills the next message: the bytes depend on connection and sequence
  // number, so a byte echoed from the wrong request or the wrong connection
  // is caught, not just a byte that is missing.
  void start_request(Conn& c, std::uint64_t now) {
    ++c.seq;
    std::uint64_t x = (std::uint64_t(c.id) << 32) ^ c.seq ^ 0x9e3779b97f4a7c15ull;
    for (auto& b : c.expect) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      b = static_cast<unsigned char>(x);
    }
    c.sent = 0;
    c.got = 0;
    c.t_send = now;
    send_pending(c);
  }

  void send_pending(Conn& c) {
    while (c.sent < c.expect.size()) {
      const ssize_t n =
          send(c.fd, c.expect.data() + c.sent, c.expect.size() - c.sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.sent += std::size_t(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      BENCH_FAIL("echo_client: send on connection %u: %s", c.id, std::strerror(errno));
    }
    const bool want_out = c.sent < c.expect.size();
    if (want_out != c.want_out) {
      epoll_event ev{};
      ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0u);
      ev.data.u32 = c.id;
      epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
      c.want_out = want_out;
    }
  }

  // Reads at most what is still expected: a byte beyond it would belong to no
  // request, and shows up as a mismatch at the start of the next one.
  void receive(Conn& c) {
    unsigned char buf[4096];
    while (c.got < c.expect.size()) {
      const std::size_t want = std::min(sizeof buf, c.expect.size() - c.got);
      const ssize_t n = recv(c.fd, buf, want, 0);
      if (n > 0) {
        if (std::memcmp(buf, c.expect.data() + c.got, std::size_t(n)) != 0) {
          std::size_t at = 0;
          while (buf[at] == c.expect[c.got + at]) ++at;
          BENCH_FAIL("echo_client: connection %u request %lu: byte %zu is 0x%02x, sent 0x%02x",
                     c.id, c.seq, c.got + at, buf[at], c.expect[c.got + at]);
        }
        c.got += std::size_t(n);
        continue;
      }
      if (n == 0)
        BENCH_FAIL("echo_client: server closed connection %u after %lu requests", c.id, c.seq - 1);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      BENCH_FAIL("echo_client: recv on connection %u: %s", c.id, std::strerror(errno));
    }
    const std::uint64_t now = bench::now_ns();
    if (now >= measure_start_) {
      const std::uint64_t w = (now - measure_start_) / kWindowNs;
      if (w < windows_.size()) {
        // µs resolution would lose the p50 of a fast server; ns in 32 bits
        // caps a latency at 4.29 s, far past any echo on loopback.
        windows_[w].push_back(
            static_cast<std::uint32_t>(std::min<std::uint64_t>(now - c.t_send, UINT32_MAX)));
      }
    }
    start_request(c, now);
  }

  Config cfg_;
  int epfd_ = -1;
  std::vector<Conn> conns_;
  std::uint64_t measure_start_ = 0;
  std::vector<std::vector<std::uint32_t>> windows_;  // latency (ns) of each request, per window
  std::vector<std::uint64_t> cpu_at_;                // process CPU ns at each window boundary
  std::vector<std::uint64_t> wall_at_;               // and the wall clock when it was sampled
};

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, /*with_bench=*/false);
  Config cfg;
  cfg.host = args.string("host", "127.0.0.1");
  cfg.port = static_cast<int>(args.integer("port", 0, 1));
  cfg.conns = std::size_t(args.integer("conns", 50, 1));
  cfg.size = std::size_t(args.integer("size", 64, 1));
  cfg.seconds = static_cast<int>(args.integer("seconds", 5, 1));
  cfg.warmup = static_cast<int>(args.integer("warmup", 1, 0));
  cfg.peer = args.string("peer", "weft");
  args.reject_unknown();
  if (cfg.port == 0 || cfg.port > 65535) {
    bench::die(bench::kExitUsage, "echo_client: --port P (1..65535) is required");
  }
  signal(SIGPIPE, SIG_IGN);  // belt and braces: every send() passes MSG_NOSIGNAL

  Client client(cfg);
  client.connect_all();
  client.run();
  client.report();
  return 0;
}
