// A small traced program for tests/tools/trace_check.py: run with WEFT_TRACE=<file.json>.
// A producer and a consumer ping-pong over channels (wake-ups across fibers), a sleeper (a timer
// wake-up), an aborted fiber (a cancellation) and plenty of spawns.
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

int main() {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  return rt.block_on([] {
    auto [ping_tx, ping_rx] = weft::mpsc::channel<int>(1);
    auto [pong_tx, pong_rx] = weft::mpsc::channel<int>(1);
    auto consumer = weft::spawn(weft::Options{.name = "consumer"}, [&ping_rx = ping_rx, &pong_tx = pong_tx] {
      while (auto v = ping_rx.recv()) (void)pong_tx.send(*v + 1);
    });
    auto producer = weft::spawn(weft::Options{.name = "producer"}, [ping_tx = std::move(ping_tx), &pong_rx = pong_rx]() mutable {
      int sum = 0;
      for (int i = 0; i < 50; ++i) {
        (void)ping_tx.send(i);
        sum += *pong_rx.recv();
      }
      return sum;  // ping_tx dies with this fiber's closure: the consumer's recv() ends
    });
    auto sleeper = weft::spawn(weft::Options{.name = "sleeper"}, [] { weft::sleep(5ms); });
    auto victim = weft::spawn(weft::Options{.name = "victim"}, [] { weft::sleep(1h); });
    std::vector<weft::JoinHandle<int>> many;
    for (int i = 0; i < 20; ++i) many.push_back(weft::spawn([i] { weft::yield_now(); return i; }));
    for (auto& h : many) (void)h.join();
    const int sum = *producer.join();
    (void)consumer.join();
    (void)sleeper.join();
    victim.abort();
    (void)victim.join();
    std::printf("sum %d\n", sum);
    return sum == 50 * 51 / 2 ? 0 : 1;
  });
}
