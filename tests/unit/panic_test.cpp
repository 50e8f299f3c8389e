// Panics: an exception escaping a fiber is captured into its JoinError (never std::terminate), with
// the original exception available for rethrow; the runtime is unaffected.
#include "test_util.hpp"

#include <atomic>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

TEST_CASE("a std::exception escaping a fiber is a panic: message, rethrow of the original type") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::FiberId id = 0;  // read inside: JoinHandle::id() is tested in runtime_test
    auto h = rt.spawn(weft::Options{.name = "doomed"}, [&id]() -> int {
      id = weft::this_fiber::id();
      throw std::runtime_error("boom");
    });
    weft::Result<int> r = h.join();
    REQUIRE_FALSE(r.has_value());
    const weft::JoinError& e = r.error();
    CHECK(e.is_panic());
    CHECK_FALSE(e.is_cancelled());
    CHECK(e.id() == id);
    CHECK(weft_test::contains(e.what(), "boom"));
    CHECK(weft_test::contains(e.what(), "'doomed'"));
    CHECK(weft_test::contains(e.what(), "panicked"));
    CHECK(weft_test::contains(e.what(), "fiber " + std::to_string(id) + " "));
    REQUIRE(e.panic() != nullptr);
    CHECK_THROWS_WITH_AS(e.rethrow(), "boom", std::runtime_error);
    CHECK_THROWS_WITH_AS(std::rethrow_exception(e.panic()), "boom", std::runtime_error);
    CHECK_THROWS_AS((void)r.value(), std::runtime_error);  // value() of a panic rethrows it too
    CHECK_THROWS_AS((void)*r, std::runtime_error);

    // The runtime keeps working.
    CHECK(rt.block_on([] { return weft::spawn([] { return 5; }).join().value(); }) == 5);
  });
}

TEST_CASE("non-std exceptions are captured too") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::Result<int> r = rt.spawn([]() -> int { throw 42; }).join();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is_panic());
    CHECK(weft_test::contains(r.error().what(), "panicked"));
    int thrown = 0;
    try {
      r.error().rethrow();
    } catch (int v) {
      thrown = v;
    }
    CHECK(thrown == 42);

    struct Custom {
      std::string why;
    };
    weft::Result<void> r2 = rt.spawn([] { throw Custom{"custom"}; }).join();
    REQUIRE_FALSE(r2.has_value());
    CHECK(r2.error().is_panic());
    std::string why;
    try {
      r2.error().rethrow();
    } catch (const Custom& c) {
      why = c.why;
    }
    CHECK(why == "custom");
  });
}

TEST_CASE("void fibers: JoinHandle<void> joins, and panics in void fibers are captured") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    std::atomic<int> ran{0};
    weft::JoinHandle<void> ok = rt.spawn([&] { ran.fetch_add(1); });
    weft::Result<void> r = ok.join();
    CHECK(r.has_value());
    CHECK(static_cast<bool>(r));
    CHECK_NOTHROW(r.value());
    CHECK_THROWS_AS((void)r.error(), weft::Error);  // no error to give
    CHECK(ran.load() == 1);

    weft::JoinHandle<void> bad = rt.spawn([] { throw std::logic_error("void boom"); });
    weft::Result<void> rb = bad.join();
    REQUIRE_FALSE(rb.has_value());
    CHECK(rb.error().is_panic());
    CHECK(weft_test::contains(rb.error().what(), "void boom"));
    CHECK_THROWS_WITH_AS(rb.value(), "void boom", std::logic_error);
  });
}

TEST_CASE("many concurrent panics, joined by fibers, leave the runtime healthy") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(10'000, 1'000));
    struct Tally {
      int values = 0, panics = 0, wrong = 0;
    };
    const Tally t = rt.block_on([n] {
      std::vector<weft::JoinHandle<int>> hs;
      for (int i = 0; i < n; ++i) {
        hs.push_back(weft::spawn([i] {
          weft::yield_now();  // panic after a suspension point, possibly on another worker
          if (i % 3 == 0) throw std::runtime_error("panic " + std::to_string(i));
          return i;
        }));
      }
      Tally x;
      for (int i = 0; i < n; ++i) {
        weft::Result<int> r = hs[static_cast<std::size_t>(i)].join();
        if (r) {
          ++x.values;
          if (*r != i || i % 3 == 0) ++x.wrong;
        } else {
          ++x.panics;
          if (!r.error().is_panic() || !std::string(r.error().what()).ends_with(": panic " + std::to_string(i))) ++x.wrong;
        }
      }
      return x;
    });
    CHECK(t.panics == (n + 2) / 3);
    CHECK(t.values == n - (n + 2) / 3);
    CHECK(t.wrong == 0);
    CHECK(rt.metrics().live_fibers == 0);
  });
}

TEST_CASE("exception state is per fiber: a catch block may suspend, migrate and rethrow") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(500, 50));
    std::atomic<int> wrong{0};
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn([i, &wrong] {
        try {
          throw std::runtime_error("inner " + std::to_string(i));
        } catch (const std::exception& e) {
          // Other fibers throw and catch on this thread meanwhile; after yielding this fiber may
          // run on another thread. Its current exception must still be its own.
          for (int k = 0; k < 3; ++k) weft::yield_now();
          if (std::string(e.what()) != "inner " + std::to_string(i)) wrong.fetch_add(1);
          if (std::uncaught_exceptions() != 0) wrong.fetch_add(1);
          throw;  // rethrows the exception being handled: needs the per-fiber state
        }
      }));
    }
    int ok = 0;
    for (int i = 0; i < n; ++i) {
      weft::Result<void> r = hs[static_cast<std::size_t>(i)].join();
      if (!r && r.error().is_panic() && std::string(r.error().what()).ends_with(": inner " + std::to_string(i))) ++ok;
    }
    CHECK(ok == n);
    CHECK(wrong.load() == 0);
  });
}

TEST_CASE("block_on returns the root fiber's value and rethrows its exception with the original type") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    CHECK(rt.block_on([] { return 42; }) == 42);
    CHECK(rt.block_on([] { return std::string("text"); }) == "text");
    rt.block_on([] {});  // void
    CHECK_THROWS_WITH_AS(rt.block_on([]() -> int { throw std::out_of_range("range"); }), "range", std::out_of_range);
    CHECK_THROWS_AS(rt.block_on([] { throw 7; }), int);
    // A panic in a child, rethrown by the root through Result::value(), reaches the caller.
    CHECK_THROWS_WITH_AS(rt.block_on([] {
      return weft::spawn([]() -> int { throw std::invalid_argument("child"); }).join().value();
    }),
                         "child", std::invalid_argument);
    CHECK(rt.block_on([] { return 1; }) == 1);  // and the runtime is still fine
  });
}

}  // namespace
