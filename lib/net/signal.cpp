// Signals for fibers: a handler that counts and pokes a pipe; one reader thread that wakes waiters.
//
// Handler (any thread, async-signal context): counts_[sig] += 1, then write(pipe_w) — both
// async-signal-safe. Reader thread: blocks in read(pipe_r); after each read it takes mu_ and wakes
// every registered waiter (they re-check the counts they care about). A waiter checks the counts
// and links itself under mu_, so a delivery either is visible to its check or wakes it: the count
// is bumped before the byte is written, the byte is read before the reader takes mu_.
//
// The reader thread blocks every signal except the installed ones, so it can always take them —
// and if the application blocks them everywhere else (block_signals), it is the only thread that
// does: their handlers then never interrupt the application's threads. A 0 byte on the pipe asks
// the reader to re-read the installed set after install() added one.
#include <weft/error.hpp>
#include <weft/signal.hpp>

#include "sched/worker.hpp"
#include "sched/wait.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace weft {

namespace {
// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
constexpr detail::WaitDesc kWaitSignal{"SignalStream::recv", detail::WaitDesc::Address, detail::WaitDesc::NoEdge, true};
}  // namespace

namespace {

constexpr int kMaxSignal = NSIG;
std::atomic<std::uint64_t> g_counts[kMaxSignal];
std::atomic<int> g_pipe_w{-1};

// Not extern "C": an anonymous namespace does not give a C-linkage name internal linkage, so it
// was the global symbol `on_signal` — a program's own on_signal took it over (or clashed at link).
void on_signal(int sig) {
  const int saved = errno;
  if (sig > 0 && sig < kMaxSignal) g_counts[sig].fetch_add(1, std::memory_order_seq_cst);
  const char b = static_cast<char>(sig);
  const int w = g_pipe_w.load(std::memory_order_relaxed);
  if (w >= 0) [[maybe_unused]] auto r = ::write(w, &b, 1);  // full pipe: the reader is awake anyway
  errno = saved;
}

struct Waiter {
  detail::FiberBase* fiber;
  std::uint64_t epoch;
};

class SignalHub {
 public:
  static SignalHub& instance() {
    static SignalHub* hub = [] {
      auto* h = new SignalHub;  // leaked: the reader thread and the handler outlive static destructors
      ::pthread_atfork([] { instance().mu_.lock(); }, [] { instance().mu_.unlock(); },
                       [] { instance().after_fork_in_child(); });
      return h;
    }();
    return *hub;
  }

  void install(int sig) {
    if (sig <= 0 || sig >= kMaxSignal) {
      throw Error("weft::SignalStream: " + std::to_string(sig) + " is not a signal number");
    }
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE) {
      throw Error(std::string("weft::SignalStream: ") + ::strsignal(sig) + " (" + std::to_string(sig) +
                  ") cannot be waited for: SIGKILL/SIGSTOP cannot be caught, and fault signals must not return");
    }
    std::lock_guard lk(mu_);
    start_reader_locked();
    if (installed_[sig]) return;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (::sigaction(sig, &sa, nullptr) != 0) {
      throw Error(std::string("weft::SignalStream: cannot install a handler for ") + ::strsignal(sig) + ": " +
                  std::strerror(errno));
    }
    installed_[sig] = true;
    const char refresh = 0;
    [[maybe_unused]] auto r = ::write(g_pipe_w.load(std::memory_order_relaxed), &refresh, 1);
  }

  std::mutex mu_;
  std::condition_variable thread_cv_;  // plain-thread waiters
  std::vector<Waiter*> waiters_;       // fiber waiters (under mu_)

 private:
  void start_reader_locked() {
    if (reader_started_) return;
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      throw Error(std::string("weft::SignalStream: cannot create the signal pipe: ") + std::strerror(errno) +
                  " (out of file descriptors?)");
    }
    // The handler must never block: only its end is non-blocking.
    ::fcntl(p[1], F_SETFL, ::fcntl(p[1], F_GETFL) | O_NONBLOCK);
    pipe_r_ = p[0];
    g_pipe_w.store(p[1], std::memory_order_release);
    // The reader starts with every signal blocked; it unblocks the installed ones itself.
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
      std::thread([this, r = p[0]] { reader(r); }).detach();
    } catch (...) {
      ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
      throw Error("weft::SignalStream: cannot start the signal reader thread");
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    reader_started_ = true;
  }

  void reader(int r) noexcept {
    ::pthread_setname_np(::pthread_self(), "weft-signals");
    char buf[64];
    for (;;) {
      // poll before read: a signal that arrives while this thread waits must run its handler now.
      // (ThreadSanitizer runs handlers at once only inside waits it knows block — poll, not read.)
      pollfd p{r, POLLIN, 0};
      if (::poll(&p, 1, -1) < 0) continue;
      const ssize_t n = ::read(r, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // the pipe is gone (cannot happen: it is never closed)
      // Only a signal's byte (its number, never 0) wakes the waiters; install()'s refresh byte
      // alone used to wake every one of them for nothing.
      bool delivered = false;
      for (ssize_t i = 0; i < n; ++i) delivered |= buf[i] != 0;
      std::lock_guard lk(mu_);
      sigset_t take;
      sigfillset(&take);
      for (int s = 1; s < kMaxSignal; ++s) {
        if (installed_[s]) sigdelset(&take, s);
      }
      ::pthread_sigmask(SIG_SETMASK, &take, nullptr);
      if (!delivered) continue;
      for (Waiter* w : waiters_) detail::wake(w->fiber, w->epoch, detail::WakeReason::Notify);
      thread_cv_.notify_all();
    }
  }

  // The child of a fork has no reader thread, and shares the parent's pipe: start afresh.
  void after_fork_in_child() noexcept {
    new (&thread_cv_) std::condition_variable();
    new (&waiters_) std::vector<Waiter*>();
    if (reader_started_) {
      ::close(pipe_r_);
      ::close(g_pipe_w.exchange(-1));
      reader_started_ = false;
    }
    mu_.unlock();
  }

  bool installed_[kMaxSignal] = {};
  bool reader_started_ = false;
  int pipe_r_ = -1;
};

}  // namespace

struct SignalStream::State {
  std::vector<int> signals;
  std::vector<std::uint64_t> seen;  // counts_[signal] at construction / last recv

  // Under the hub's mutex.
  std::optional<int> take() {
    for (std::size_t i = 0; i < signals.size(); ++i) {
      const std::uint64_t c = g_counts[signals[i]].load(std::memory_order_seq_cst);
      if (c != seen[i]) {
        seen[i] = c;  // coalesce: every delivery so far is consumed by this one
        return signals[i];
      }
    }
    return std::nullopt;
  }
};

SignalStream::SignalStream(int signum) : SignalStream({signum}) {}

SignalStream::SignalStream(std::initializer_list<int> signums) : s_(std::make_unique<State>()) {
  if (signums.size() == 0) throw Error("weft::SignalStream: give at least one signal to wait for");
  SignalHub& hub = SignalHub::instance();
  for (int sig : signums) {
    hub.install(sig);
    s_->signals.push_back(sig);
    s_->seen.push_back(g_counts[sig].load(std::memory_order_seq_cst));
  }
}

SignalStream::SignalStream(SignalStream&&) noexcept = default;
SignalStream& SignalStream::operator=(SignalStream&&) noexcept = default;
SignalStream::~SignalStream() = default;

std::optional<int> SignalStream::try_recv() {
  if (!s_) throw Error("weft::SignalStream::try_recv: the stream was moved from");
  std::lock_guard lk(SignalHub::instance().mu_);
  return s_->take();
}

int SignalStream::recv() {
  if (!s_) throw Error("weft::SignalStream::recv: the stream was moved from");
  SignalHub& hub = SignalHub::instance();
  detail::FiberBase* f = detail::current_fiber();
  if (f) detail::check_cancel_point(f);
  std::unique_lock lk(hub.mu_);
  for (;;) {
    if (std::optional<int> sig = s_->take()) return *sig;
    if (!f) {
      hub.thread_cv_.wait(lk);
      continue;
    }
    note_wait(f, kWaitSignal, reinterpret_cast<std::uintptr_t>(s_.get()));
    Waiter w{f, detail::begin_wait(f)};
    hub.waiters_.push_back(&w);
    lk.unlock();
    const detail::WakeReason r = detail::park(f, w.epoch);
    lk.lock();
    std::erase(hub.waiters_, &w);
    if (r == detail::WakeReason::Cancel) {
      lk.unlock();
      detail::throw_cancelled(f);  // nothing was consumed
    }
  }
}

void block_signals(std::initializer_list<int> signums) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signums) {
    if (s <= 0 || s >= kMaxSignal) throw Error("weft::block_signals: " + std::to_string(s) + " is not a signal number");
    sigaddset(&set, s);
  }
  if (const int e = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); e != 0) {
    throw Error(std::string("weft::block_signals: pthread_sigmask failed: ") + std::strerror(e));
  }
}

int wait_for_signal(int signum) { return SignalStream(signum).recv(); }
int wait_for_signal(std::initializer_list<int> signums) { return SignalStream(signums).recv(); }

}  // namespace weft
