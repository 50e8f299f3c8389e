#include "fiber/overflow.hpp"

#include "fiber/stack_pool.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace weft::detail {

namespace {
std::atomic<RunningFiberFn> g_running{nullptr};
struct sigaction g_prev_segv;
struct sigaction g_prev_bus;

// Minimal async-signal-safe formatting.
struct Msg {
  char buf[1024];
  std::size_t len = 0;
  void add(const char* s) noexcept {
    while (s && *s && len + 1 < sizeof buf) buf[len++] = *s++;
  }
  void add(unsigned long long v) noexcept {
    char tmp[24];
    int n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v);
    while (n && len + 1 < sizeof buf) buf[len++] = tmp[--n];
  }
};

void chain(int sig, siginfo_t* info, void* uctx, const struct sigaction& prev) {
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) {
      prev.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
    return;
  }
  // Default action: restore it and return; the faulting instruction faults again and kills us.
  signal(sig, SIG_DFL);
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  const RunningFiberFn running = g_running.load(std::memory_order_relaxed);
  const FiberBase* f = running ? running() : nullptr;
  if (f && rec(f)->stack_.lo) {
    const char* addr = static_cast<const char*>(info->si_addr);
    const std::size_t page = StackPool::page_size();
    if (addr >= rec(f)->stack_.lo - page && addr < rec(f)->stack_.lo + (rec(f)->stack_.guarded ? 0 : page)) {
      report_stack_overflow(f, "hit the guard page");
    }
  }
  chain(sig, info, uctx, sig == SIGSEGV ? g_prev_segv : g_prev_bus);
}

void install_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = &on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_prev_segv);
    sigaction(SIGBUS, &sa, &g_prev_bus);
  });
}
}  // namespace

void report_stack_overflow(const FiberBase* f, const char* how) noexcept {
  Msg m;
  m.add("weft: stack overflow in fiber ");
  m.add(static_cast<unsigned long long>(f->id_));
  m.add(" '");
  m.add(rec(f)->name_.c_str());
  m.add("' (stack size ");
  m.add(static_cast<unsigned long long>(rec(f)->stack_.size));
  m.add(" bytes; ");
  m.add(how);
  m.add("; spawned at ");
  m.add(rec(f)->spawn_site_.file_name());
  m.add(":");
  m.add(static_cast<unsigned long long>(rec(f)->spawn_site_.line()));
  m.add(").\n  Give it a bigger stack with weft::Options{.stack_size = ...} or "
        "weft::Runtime::Builder::stack_size, or make the recursion shallower.\n");
  ssize_t r = ::write(2, m.buf, m.len);
  (void)r;
  std::abort();
}

AltStack::AltStack(RunningFiberFn running) {
  g_running.store(running, std::memory_order_relaxed);
  install_once();
  size_ = 64 * 1024;
  mem_ = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem_ == MAP_FAILED) {
    mem_ = nullptr;
    return;  // no alternate stack: overflows then die without the message, nothing worse
  }
  stack_t ss{};
  ss.ss_sp = mem_;
  ss.ss_size = size_;
  ss.ss_flags = 0;
  sigaltstack(&ss, nullptr);
}

AltStack::~AltStack() {
  if (!mem_) return;
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  ::munmap(mem_, size_);
}

}  // namespace weft::detail
