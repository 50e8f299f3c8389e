// resolve(): numeric addresses without the pool, names through getaddrinfo on the blocking pool,
// family filters, failures as IoErrors in resolve_category(), cancellation, many at once.
#include "test_util.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

namespace {

using namespace std::chrono_literals;

bool has_loopback(const std::vector<weft::SocketAddr>& v) {
  return std::any_of(v.begin(), v.end(), [](const weft::SocketAddr& a) {
    return a == weft::SocketAddr::loopback_v4(a.port()) || a == weft::SocketAddr::loopback_v6(a.port());
  });
}

TEST_CASE("numeric addresses resolve to themselves") {
  CHECK(weft::resolve("127.0.0.1", 80) == std::vector{weft::SocketAddr::loopback_v4(80)});
  CHECK(weft::resolve("::1", 443) == std::vector{weft::SocketAddr::loopback_v6(443)});
  CHECK(weft::resolve("[::1]", 443) == std::vector{weft::SocketAddr::loopback_v6(443)});
  CHECK_THROWS_AS(weft::resolve("::1", 1, weft::AddressFamily::V4), weft::IoError);
}

TEST_CASE("localhost resolves on the pool, from fibers and plain threads") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      auto v = weft::resolve("localhost", 8080);
      REQUIRE_FALSE(v.empty());
      CHECK(has_loopback(v));
      for (const auto& a : v) CHECK(a.port() == 8080);
      auto v4 = weft::resolve("localhost", 1, weft::AddressFamily::V4);
      for (const auto& a : v4) CHECK(a.is_v4());
    });
  });
  CHECK(has_loopback(weft::resolve("localhost", 1)));
}

TEST_CASE("an unknown name is an IoError in resolve_category naming the host") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    try {
      (void)weft::resolve("no-such-host.invalid", 80);
      CHECK(false);
    } catch (const weft::IoError& e) {
      CHECK(weft_test::contains(e.what(), "resolve no-such-host.invalid"));
      const bool resolver = e.code().category() == weft::resolve_category();
      CHECK((resolver || e.errno_value() != 0));
    }
    CHECK_THROWS_AS(weft::resolve("", 80), weft::IoError);
  });
}

TEST_CASE("resolve is cancellable and many can run at once") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      CHECK_FALSE(weft::timeout(0ms, [] { return weft::resolve("localhost", 1); }).has_value());
      std::vector<weft::JoinHandle<bool>> hs;
      for (int i = 0; i < static_cast<int>(weft_test::scaled(64, 8)); ++i) {
        hs.push_back(weft::spawn([i] { return has_loopback(weft::resolve("localhost", static_cast<std::uint16_t>(i))); }));
      }
      for (auto& h : hs) CHECK(*h.join());
    });
  });
}

}  // namespace
