// The public default stack size accessors agree with the stacks fibers really get.
#include "test_util.hpp"

#include <thread>
#include <unistd.h>

namespace {
std::size_t page_round(std::size_t n) {
  const auto p = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return (n + p - 1) / p * p;
}
}  // namespace

TEST_CASE("default_stack_size: library default from a thread, the runtime's in its fibers") {
  CHECK(weft::default_stack_size() == page_round(weft::kDefaultStackSize));
  weft::Runtime rt = weft::Runtime::Builder().workers(2).stack_size(100'000).build();
  CHECK(rt.stack_size() == page_round(100'000));
  CHECK(rt.handle().stack_size() == page_round(100'000));
  std::size_t in_fiber = 0, actual = 0;
  rt.block_on([&] {
    in_fiber = weft::default_stack_size();
    auto me = weft::this_fiber::id();
    for (const auto& m : weft::Handle::current().fibers()) {
      if (m.id == me) actual = m.stack_size;
    }
  });
  CHECK(in_fiber == page_round(100'000));
  CHECK(actual == in_fiber);  // what the runtime says is what the fiber got
  std::thread t([] { CHECK(weft::default_stack_size() == page_round(weft::kDefaultStackSize)); });
  t.join();
}
