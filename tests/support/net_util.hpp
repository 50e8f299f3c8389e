// Helpers shared by the socket tests (tcp, unix, udp, stream_socket, echo).
#pragma once

#include "test_util.hpp"

#include <weft/weft.hpp>

#include <sys/resource.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace weft_test {

// A connected loopback TCP pair. Works from a fiber or a plain thread (connect and accept fall
// back to poll there).
struct TcpPair {
  weft::TcpStream client;
  weft::TcpStream server;
};

inline TcpPair tcp_pair(bool v6 = false) {
  weft::TcpListener l =
      weft::TcpListener::bind(v6 ? weft::SocketAddr::loopback_v6(0) : weft::SocketAddr::loopback_v4(0));
  TcpPair p;
  p.client = weft::TcpStream::connect(l.local_addr());
  p.server = l.accept();
  return p;
}

// Deterministic bytes: position i of stream `seed`.
inline unsigned char pattern_byte(std::uint64_t i, unsigned seed) {
  std::uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(seed) << 32);
  x ^= x >> 29;
  return static_cast<unsigned char>(x ^ (x >> 8));
}

inline std::vector<char> pattern(std::size_t n, unsigned seed, std::uint64_t offset = 0) {
  std::vector<char> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<char>(pattern_byte(offset + i, seed));
  return v;
}

// Index of the first byte of buf (which starts at stream position `offset`) that is wrong, or -1.
inline long pattern_mismatch(const char* buf, std::size_t n, unsigned seed, std::uint64_t offset) {
  for (std::size_t i = 0; i < n; ++i) {
    if (static_cast<unsigned char>(buf[i]) != pattern_byte(offset + i, seed)) return static_cast<long>(i);
  }
  return -1;
}

inline bool ipv6_loopback_available() {
  try {
    weft::TcpListener l = weft::TcpListener::bind(weft::SocketAddr::loopback_v6(0));
    return true;
  } catch (const weft::IoError&) {
    return false;
  }
}

inline long open_fd_count() {
  long n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n - 1;  // the iterator's own descriptor
}

// Raises the soft RLIMIT_NOFILE to at least `want` — and the hard limit too if allowed (root) —
// and returns the soft limit now in force (which may stay below `want`).
inline long raise_fd_limit(long want) {
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  if (static_cast<long>(r.rlim_cur) < want) {
    if (r.rlim_max != RLIM_INFINITY && static_cast<long>(r.rlim_max) < want) {
      rlimit up{static_cast<rlim_t>(want), static_cast<rlim_t>(want)};
      if (::setrlimit(RLIMIT_NOFILE, &up) == 0) return want;
    }
    r.rlim_cur = r.rlim_max == RLIM_INFINITY ? static_cast<rlim_t>(want) : std::min<rlim_t>(r.rlim_max, want);
    ::setrlimit(RLIMIT_NOFILE, &r);
    ::getrlimit(RLIMIT_NOFILE, &r);
  }
  return static_cast<long>(r.rlim_cur);
}

// Fibers waiting on the runtime's libev loops right now (fd watchers and timers), over all workers.
inline unsigned loop_waiters(weft::Runtime& rt) {
  unsigned n = 0;
  for (const auto& w : rt.metrics().workers) n += static_cast<unsigned>(w.reactor_watchers);
  return n;
}

// CPU time (user + system) of the whole process so far, in ms.
inline double process_cpu_ms() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

}  // namespace weft_test
