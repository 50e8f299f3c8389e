// A program built out of tree against the *installed* weft (pkg-config, CMake, meson; shared and
// static; tests/packaging/consumer/run.sh).
#include <weft/weft.hpp>

#include <csignal>
#include <cstdio>

// A program's own C function named like one of weft's internals. weft's signal handler was once an
// extern "C" `on_signal` with external linkage: this definition took it over (SignalStream then never
// received) or, linked statically, failed with "multiple definition".
extern "C" void on_signal(int) { std::puts("consumer: the program's on_signal ran (wrong handler)"); }

int main() {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  int v = rt.block_on([] {
    auto h = weft::spawn([] {
      weft::yield_now();
      return 6 * 7;
    });
    return *h.join();
  });
  int sig = rt.block_on([] {
    weft::SignalStream s({SIGUSR1});
    std::raise(SIGUSR1);
    return s.recv();
  });
  // The language level is the program's: weft's flags must not force -std=c++20 on it.
  std::printf("consumer: %d, signal %d, __cplusplus %ld\n", v, sig, static_cast<long>(__cplusplus));
  return v == 42 && sig == SIGUSR1 ? 0 : 1;
}
