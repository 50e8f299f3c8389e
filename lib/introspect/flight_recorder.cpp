// FlightRecorder (weft/flight_recorder.hpp): the trace recorder kept running, written out by a
// helper thread on request. Requests arrive as one byte each on a pipe: from the signal handlers
// (async-signal-safe: they only write), from the stall detector (flight_recorder_on_stall) and
// 'q' from the destructor. Only one recorder lives at a time; g_pipe is its pipe's writing end.
#include "observe/observe.hpp"

#include <weft/error.hpp>
#include <weft/flight_recorder.hpp>
#include <weft/trace.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <thread>

namespace weft {

namespace {
std::atomic<int> g_pipe{-1};          // the live recorder's request pipe, or -1
std::atomic<bool> g_on_stall{false};  // the live recorder writes on stall reports

void request(char c) noexcept {
  const int saved = errno;
  const int fd = g_pipe.load(std::memory_order_acquire);
  if (fd >= 0) {
    [[maybe_unused]] ssize_t r = ::write(fd, &c, 1);  // a full pipe: a write is pending anyway
  }
  errno = saved;
}

void on_write_signal(int) { request('w'); }
void on_sigint(int) { request('i'); }
}  // namespace

namespace detail {
void flight_recorder_on_stall() noexcept {
  if (g_on_stall.load(std::memory_order_acquire)) request('s');
}
}  // namespace detail

struct FlightRecorder::State {
  FlightRecorderOptions opt;
  int pipe[2] = {-1, -1};
  std::thread thread;
  std::mutex write_mu;  // one write at a time (helper thread, write(), destructor)
  std::atomic<unsigned> writes{0};
  struct sigaction old_sig {}, old_int {};
  bool sig_installed = false, int_installed = false;
  std::atomic<bool> int_restored{false};

  // The file is written next to its final name and renamed over it: a reader never sees half.
  void write_file() {
    std::lock_guard lk(write_mu);
    const std::string tmp = opt.path + ".tmp";
    trace_write_json(tmp);
    if (::rename(tmp.c_str(), opt.path.c_str()) != 0) {
      ::unlink(tmp.c_str());
      throw Error("weft::FlightRecorder: cannot rename '" + tmp + "' to '" + opt.path + "'");
    }
    writes.fetch_add(1, std::memory_order_acq_rel);
  }

  void write_logged(const char* why) noexcept {
    try {
      write_file();
      std::fprintf(stderr, "weft: flight recorder written to %s (%s)\n", opt.path.c_str(), why);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "weft: flight recorder: %s\n", e.what());
    }
  }

  void run() {
    for (;;) {
      char c;
      const ssize_t n = ::read(pipe[0], &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || c == 'q') return;
      if (c == 'w') write_logged(("signal " + std::to_string(opt.signal)).c_str());
      if (c == 's') write_logged("stall report");
      if (c == 'i') {
        write_logged("SIGINT");
        // Then SIGINT does what it did before: usually, end the process.
        if (!int_restored.exchange(true)) ::sigaction(SIGINT, &old_int, nullptr);
        ::kill(::getpid(), SIGINT);
      }
    }
  }
};

FlightRecorder::FlightRecorder(FlightRecorderOptions o) : s_(std::make_unique<State>()) {
  if (o.path.empty()) throw Error("weft::FlightRecorder: no path; set Options::path to the file to write");
  if (o.events_per_thread < 16) {
    throw Error("weft::FlightRecorder: events_per_thread " + std::to_string(o.events_per_thread) +
                " is too small; use at least 16 (the default keeps 8192 per thread)");
  }
  if (::pipe2(s_->pipe, O_CLOEXEC) != 0) throw Error("weft::FlightRecorder: pipe2 failed");
  int expected = -1;
  if (!g_pipe.compare_exchange_strong(expected, s_->pipe[1])) {
    ::close(s_->pipe[0]);
    ::close(s_->pipe[1]);
    throw Error("weft::FlightRecorder: another FlightRecorder is alive; keep one per process");
  }
  // Requests never block the requester (a signal handler, the stall watchdog).
  ::fcntl(s_->pipe[1], F_SETFL, O_NONBLOCK);
  s_->opt = std::move(o);
  auto undo = [this] {
    if (s_->sig_installed) ::sigaction(s_->opt.signal, &s_->old_sig, nullptr);
    if (s_->int_installed) ::sigaction(SIGINT, &s_->old_int, nullptr);
    g_pipe.store(-1);
    ::close(s_->pipe[0]);
    ::close(s_->pipe[1]);
  };
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (s_->opt.signal) {
    sa.sa_handler = on_write_signal;
    if (s_->opt.signal == SIGINT || ::sigaction(s_->opt.signal, &sa, &s_->old_sig) != 0) {
      undo();
      throw Error("weft::FlightRecorder: cannot install a handler for signal " + std::to_string(s_->opt.signal) +
                  " (SIGINT is on_sigint's)");
    }
    s_->sig_installed = true;
  }
  if (s_->opt.on_sigint) {
    sa.sa_handler = on_sigint;
    if (::sigaction(SIGINT, &sa, &s_->old_int) != 0) {
      undo();
      throw Error("weft::FlightRecorder: cannot install a handler for SIGINT");
    }
    s_->int_installed = true;
  }
  trace_start(s_->opt.events_per_thread);
  s_->thread = std::thread([st = s_.get()] { st->run(); });
  g_on_stall.store(s_->opt.on_stall, std::memory_order_release);
}

FlightRecorder::~FlightRecorder() {
  g_on_stall.store(false, std::memory_order_release);
  if (s_->sig_installed) ::sigaction(s_->opt.signal, &s_->old_sig, nullptr);
  if (s_->int_installed && !s_->int_restored.exchange(true)) ::sigaction(SIGINT, &s_->old_int, nullptr);
  g_pipe.store(-1, std::memory_order_release);
  ::fcntl(s_->pipe[1], F_SETFL, 0);  // blocking: the quit byte must get through
  const char q = 'q';
  while (::write(s_->pipe[1], &q, 1) < 0 && errno == EINTR) {
  }
  s_->thread.join();
  ::close(s_->pipe[0]);
  ::close(s_->pipe[1]);
  if (s_->opt.on_destroy) s_->write_logged("recorder destroyed");
  trace_stop();
}

void FlightRecorder::write() { s_->write_file(); }

unsigned FlightRecorder::writes() const noexcept { return s_->writes.load(std::memory_order_acquire); }

const std::string& FlightRecorder::path() const noexcept { return s_->opt.path; }

}  // namespace weft
