// DumpOnSignal: a signal handler that only writes a byte to a pipe (async-signal-safe), and a
// helper thread that turns each byte into weft::dump().
#include <weft/dump.hpp>
#include <weft/error.hpp>

#include "introspect/write_all.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <sstream>
#include <string>

namespace weft {

namespace {
std::atomic<int> g_dump_pipe{-1};
std::atomic<unsigned> g_dumps{0};

void on_dump_signal(int) {
  const int saved = errno;
  const int fd = g_dump_pipe.load(std::memory_order_relaxed);
  if (fd >= 0) {
    const char c = 'd';
    [[maybe_unused]] ssize_t r = ::write(fd, &c, 1);
  }
  errno = saved;
}

}  // namespace

DumpOnSignal::DumpOnSignal(int sig, int fd) : sig_(sig), out_fd_(fd) {
  if (::pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) != 0) throw Error("weft::DumpOnSignal: pipe2 failed");
  int expected = -1;
  if (!g_dump_pipe.compare_exchange_strong(expected, pipe_[1])) {
    ::close(pipe_[0]);
    ::close(pipe_[1]);
    throw Error("weft::DumpOnSignal: another DumpOnSignal is active; keep one per process");
  }
  // The reading end blocks: the helper thread sleeps in read() until a signal or shutdown.
  ::fcntl(pipe_[0], F_SETFL, 0);
  thread_ = std::thread([this] {
    for (;;) {
      char c;
      const ssize_t n = ::read(pipe_[0], &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || c == 'q') return;
      std::ostringstream os;
      os << "==== weft fiber dump (signal " << sig_ << ") ====\n";
      dump(os);
      os << "==== end of weft fiber dump ====\n";
      detail::write_all(out_fd_, os.str());
      g_dumps.fetch_add(1, std::memory_order_release);
    }
  });
  struct sigaction sa {};
  sa.sa_handler = on_dump_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (::sigaction(sig, &sa, &old_) != 0) {
    const char q = 'q';
    [[maybe_unused]] ssize_t r = ::write(pipe_[1], &q, 1);
    thread_.join();
    g_dump_pipe.store(-1);
    ::close(pipe_[0]);
    ::close(pipe_[1]);
    throw Error("weft::DumpOnSignal: cannot install a handler for signal " + std::to_string(sig));
  }
}

DumpOnSignal::~DumpOnSignal() {
  ::sigaction(sig_, &old_, nullptr);
  g_dump_pipe.store(-1);
  const char q = 'q';
  ::fcntl(pipe_[1], F_SETFL, 0);  // blocking: the quit byte must get through
  while (::write(pipe_[1], &q, 1) < 0 && errno == EINTR) {
  }
  thread_.join();
  ::close(pipe_[0]);
  ::close(pipe_[1]);
}

unsigned DumpOnSignal::dumps() const noexcept { return g_dumps.load(std::memory_order_acquire); }

}  // namespace weft
