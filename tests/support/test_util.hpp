// Shared helpers for weft's tests.
#pragma once

#include <weft/weft.hpp>

#include <doctest/doctest.h>

#include "fiber/sanitizers.hpp"  // lib/: WEFT_ASAN, WEFT_TSAN for both compilers

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <system_error>
#include <thread>

namespace weft_test {

// Stress counts are multiplied by WEFT_TEST_SCALE percent (default 100). The sanitizer builds in
// .ci/run lower it; no test is skipped, only shortened.
inline long scaled(long n, long min = 1) {
  static const long pct = [] {
    const char* s = std::getenv("WEFT_TEST_SCALE");
    long v = s ? std::strtol(s, nullptr, 10) : 100;
    return v > 0 ? v : 100;
  }();
  long r = n * pct / 100;
  return r < min ? min : r;
}

// ThreadSanitizer counts every fiber stack as a thread (weft gives each pooled stack its own TSan
// fiber context) and kills the process beyond 8128 live ones ("Thread limit exceeded"). Tests that keep many
// fibers alive at once cap that number with this; it is no limit elsewhere.
#if WEFT_TSAN
inline constexpr long kMaxLiveFibers = 7'000;
#else
inline constexpr long kMaxLiveFibers = 1L << 40;
#endif

// Every scheduler-facing test runs with each of these worker counts.
inline constexpr std::initializer_list<unsigned> kWorkerCounts = {1, 2, 4, 8};

inline weft::Runtime make_runtime(unsigned workers) {
  return weft::Runtime::Builder().workers(workers).build();
}

// Runs `body(rt)` once per worker count, each in a fresh runtime, inside a doctest SUBCASE. After
// the body, shuts the runtime down and checks that nothing outlived it: no live fiber (a spawn lost
// in a queue, a fiber that never ended) and no fiber stack still handed out.
template <class Body>
void for_each_worker_count(Body&& body) {
  for (unsigned n : kWorkerCounts) {
    SUBCASE((std::to_string(n) + " workers").c_str()) {
      weft::Runtime rt = make_runtime(n);
      body(rt);
      rt.shutdown();
      const weft::RuntimeMetrics m = rt.metrics();
      CHECK_MESSAGE(m.live_fibers == 0, "fibers left alive after shutdown: ", m.live_fibers);
      CHECK_MESSAGE(m.live_stacks == 0, "fiber stacks still in use after shutdown: ", m.live_stacks);
    }
  }
}

// The calling thread's id, read afresh on every call. Use it instead of std::this_thread::get_id()
// in fibers: that calls pthread_self(), which glibc declares __attribute__((const)), so the compiler
// may reuse an earlier result after the fiber has moved to another worker thread.
// clang has no noipa (it warned at every include and ignored it): noinline keeps the call, optnone
// keeps clang from inferring the function pure from pthread_self's attribute and merging calls.
#if defined(__clang__)
[[gnu::noinline]] [[clang::optnone]] inline std::thread::id thread_id() { return std::this_thread::get_id(); }
#else
[[gnu::noipa]] inline std::thread::id thread_id() { return std::this_thread::get_id(); }
#endif

// ---- file descriptors. Setup failures throw (never REQUIRE: these may run inside fibers).

// A non-blocking pipe (both ends), closed on destruction.
struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
};

// A non-blocking AF_UNIX stream socket pair, closed on destruction.
struct SocketPair {
  int a = -1, b = -1;
  SocketPair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
      throw std::system_error(errno, std::generic_category(), "socketpair");
    }
    a = sv[0];
    b = sv[1];
  }
  ~SocketPair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;
};

// Declare it after a test's fds (so it is destroyed before them): shuts the runtime down, joining
// its workers, before the fds are closed. A worker's libev loop drops an fd from its epoll set
// lazily — it may still epoll_ctl() the fd after every wait on it has ended — so closing the fd
// while the workers run is a race that TSan reports (fd_test has the one test that shows it).
struct StopWorkersFirst {
  weft::Runtime& rt;
  ~StopWorkersFirst() { rt.shutdown(); }
};

// Writes one byte; the fd has room in every use here, so anything but 1 is a test failure.
inline bool put_byte(int fd, char c = 'x') { return ::write(fd, &c, 1) == 1; }

// Reads one byte, suspending the calling fiber in weft::wait_readable while none is there (from a
// plain thread that is weft's poll(2) fallback). Returns -1 on EOF or error.
inline int get_byte(int fd) {
  for (;;) {
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n == 1) return static_cast<unsigned char>(c);
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return -1;
    weft::wait_readable(fd);
  }
}

// Reads without waiting: the byte, or -1 if none is there.
inline int try_get_byte(int fd) {
  char c;
  return ::read(fd, &c, 1) == 1 ? static_cast<unsigned char>(c) : -1;
}

// ---- death tests

struct ChildResult {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal killed it
  std::string err;     // everything it wrote to stderr
};

// Runs `fn` in a forked child with stderr captured, and waits for it. The child never returns into
// doctest: it _exit()s with 0 after fn, 3 if fn threw. Fork only while no runtime is alive in this
// process (the child inherits no worker threads, only a copy of their memory); put death tests
// first in their file.
template <class Fn>
ChildResult run_in_child(Fn&& fn) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    ::dup2(p[1], 2);
    ::close(p[0]);
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);  // dying is expected; do not spend time dumping core
    // doctest's crash handlers would report the expected death as a failed test (on our stdout).
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE}) ::signal(sig, SIG_DFL);
    try {
      fn();
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  ::close(p[1]);
  ChildResult r;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n > 0) r.err.append(buf, static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR) break;
  }
  ::close(p[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

// In a fiber: yields until fiber `id` is suspended (switched out in a wait, so enrolled on whatever
// it waits for). A bare yield_now() is not enough: other workers run in parallel, and chaos mode
// shuffles run order.
inline void yield_until_suspended(std::uint64_t id) {
  for (;;) {
    for (const weft::FiberMetrics& f : weft::Handle::current().fibers()) {
      if (f.id == id && f.status == weft::FiberStatus::Suspended) return;
    }
    weft::yield_now();
  }
}

// True if `s` contains `part` (for CHECKs on error messages).
inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The time to a deadline that a dump or FiberMetrics::wait shows right after `prefix`, in seconds:
// "59m58.3s" (truncated to tenths) or "1h00m" (3600: a snapshot that read the clock just before
// the fiber took its deadline). -1 if `text` has no `prefix` followed by either form. Tests check
// it against the time they measured around the wait and the snapshot, not against a fixed "59m5":
// how long a snapshot takes to come is up to the machine (a dump of 100,000 fibers, or qemu).
inline double shown_seconds_after(const std::string& text, const std::string& prefix) {
  const std::size_t at = text.find(prefix);
  if (at == std::string::npos) return -1;
  const char* p = text.c_str() + at + prefix.size();
  unsigned long long h = 0, m = 0, s = 0, tenths = 0;
  if (std::sscanf(p, "%lluh%llum", &h, &m) == 2) return static_cast<double>(h * 3600 + m * 60);
  if (std::sscanf(p, "%llum%llu.%llus", &m, &s, &tenths) == 3) return static_cast<double>(m * 60 + s) + static_cast<double>(tenths) / 10;
  return -1;
}

}  // namespace weft_test
