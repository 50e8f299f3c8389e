// The program tests/tools/gdb_check.py debugs: a fiber blocked in gdb_blocked_here(), then a call
// to weft_gdb_test_ready() (the breakpoint) while it is suspended. With --wait it prints "ready"
// there and waits for SIGTERM instead, for `gdb -p`. Public API only: the suite builds it with -g
// against the build tree, tests/packaging/consumer/run.sh without debug info against the install.
#include <weft/weft.hpp>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

volatile int gdb_sink = 0;

extern "C" [[gnu::noinline]] void weft_gdb_test_ready() { asm volatile("" ::: "memory"); }

[[gnu::noinline]] void gdb_blocked_here(weft::Notify& n) {
  n.notified();
  gdb_sink = gdb_sink + 1;
}

int main(int argc, char** argv) {
  const bool wait = argc > 1 && std::strcmp(argv[1], "--wait") == 0;
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  if (wait) pthread_sigmask(SIG_BLOCK, &term, nullptr);  // before the workers start: they inherit it
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  weft::Notify n;
  auto h = rt.spawn(weft::Options{.name = "gdb-target"}, [&] { gdb_blocked_here(n); });
  for (;;) {
    auto fs = rt.fibers();
    if (!fs.empty() && fs[0].status == weft::FiberStatus::Suspended && !fs[0].wait.empty()) break;
    std::this_thread::yield();
  }
  weft_gdb_test_ready();
  if (wait) {
    std::printf("ready\n");
    std::fflush(stdout);
    int sig = 0;
    sigwait(&term, &sig);
  }
  n.notify_one();
  return h.join() ? 0 : 1;
}
