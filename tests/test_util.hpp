// Shared helpers for weft's tests.
#pragma once

#include <weft/weft.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <initializer_list>
#include <string>

namespace weft_test {

// Stress counts are multiplied by WEFT_TEST_SCALE percent (default 100). The sanitizer builds in
// .ci/run lower it; no test is skipped, only shortened.
inline long scaled(long n, long min = 1) {
  static const long pct = [] {
    const char* s = std::getenv("WEFT_TEST_SCALE");
    long v = s ? std::strtol(s, nullptr, 10) : 100;
    return v > 0 ? v : 100;
  }();
  long r = n * pct / 100;
  return r < min ? min : r;
}

// Every scheduler-facing test runs with each of these worker counts.
inline constexpr std::initializer_list<unsigned> kWorkerCounts = {1, 2, 4, 8};

inline weft::Runtime make_runtime(unsigned workers) {
  return weft::Runtime::Builder().workers(workers).build();
}

// Runs `body(rt)` once per worker count, each in a fresh runtime, inside a doctest SUBCASE.
template <class Body>
void for_each_worker_count(Body&& body) {
  for (unsigned n : kWorkerCounts) {
    SUBCASE((std::to_string(n) + " workers").c_str()) {
      weft::Runtime rt = make_runtime(n);
      body(rt);
    }
  }
}

}  // namespace weft_test
