// Result<T>::value_or, and that value()/error() keep their contract beside it. (That a dropped
// Result or SendResult is diagnosed is checked at compile time: the README examples are built with
// -Werror, and the test sources with the warnings that flag `h.join();`.)
#include "test_util.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

TEST_CASE("value_or gives the value, or the fallback for a panic or a cancellation") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      std::vector<weft::JoinHandle<std::string>> hs;
      weft::Notify never;
      for (int i = 0; i < 300; ++i) {
        switch (i % 3) {
          case 0: hs.push_back(weft::spawn([i] { return std::to_string(i); })); break;
          case 1: hs.push_back(weft::spawn([]() -> std::string { throw std::runtime_error("boom"); })); break;
          case 2: hs.push_back(weft::spawn([&never]() -> std::string { never.notified(); return "x"; })); break;
        }
        if (i % 3 == 2) hs.back().abort();
      }
      for (int i = 0; i < 300; ++i) {
        weft::Result<std::string> r = hs[static_cast<std::size_t>(i)].join();
        const std::string want = i % 3 == 0 ? std::to_string(i) : "fallback";
        CHECK(r.value_or("fallback") == want);                     // const& form: r keeps its value
        CHECK(std::move(r).value_or(std::string("fallback")) == want);  // && form moves the value out
      }
    });
  });
}

TEST_CASE("value_or on a move-only value, and error() on a success still throws weft::Error") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    auto r = weft::spawn([] { return std::make_unique<int>(7); }).join();
    std::unique_ptr<int> p = std::move(r).value_or(nullptr);
    REQUIRE(p);
    CHECK(*p == 7);
    auto ok = weft::spawn([] { return 1; }).join();
    CHECK_THROWS_AS((void)ok.error(), weft::Error);
    auto bad = weft::spawn([]() -> int { throw std::logic_error("no"); }).join();
    CHECK(bad.value_or(-1) == -1);
    CHECK(bad.error().is_panic());  // value_or did not consume the error
  });
}
