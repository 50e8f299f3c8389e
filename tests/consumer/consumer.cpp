// A program built out of tree against the *installed* weft (pkg-config or CMake).
#include <weft/weft.hpp>

#include <cstdio>

int main() {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  int v = rt.block_on([] {
    auto h = weft::spawn([] {
      weft::yield_now();
      return 6 * 7;
    });
    return *h.join();
  });
  std::printf("consumer: %d\n", v);
  return v == 42 ? 0 : 1;
}
