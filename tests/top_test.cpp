// TopServer: snapshots over a Unix socket, read by tools/weft-top.
#include "test_util.hpp"

#include <weft/top.hpp>

#include <sys/un.h>

#include <cstdio>

#ifndef WEFT_SOURCE_DIR
#error "WEFT_SOURCE_DIR must name the source tree (tests/meson.build sets it)"
#endif

namespace {
std::string read_snapshot(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  return out;
}
}  // namespace

TEST_CASE("a TopServer sends snapshots that weft-top renders") {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  const std::string path = "/tmp/weft-top-test-" + std::to_string(::getpid()) + ".sock";
  weft::Notify go;
  auto h = rt.spawn(weft::Options{.name = "top-visible"}, [&] { go.notified(); });
  {
    weft::TopServer top(rt.handle(), path);
    CHECK_THROWS_WITH_AS(weft::TopServer(rt.handle(), path), doctest::Contains("cannot listen on"), weft::Error);
    std::string snap;
    // The fiber shows up once it ran and suspended.
    while (!weft_test::contains(snap = read_snapshot(path), "\"status\":\"suspended\"")) std::this_thread::yield();
    CHECK(weft_test::contains(snap, "\"name\":\"top-visible\""));
    CHECK(weft_test::contains(snap, "\"wait\":\"notify at 0x"));
    CHECK(weft_test::contains(snap, "\"workers\":[{\"index\":0"));
    const std::string shown = run(std::string("python3 ") + WEFT_SOURCE_DIR + "/tools/weft-top --once " + path);
    CHECK(weft_test::contains(shown, "busy%"));
    CHECK(weft_test::contains(shown, "top-visible"));
    CHECK(weft_test::contains(shown, "suspended"));
  }
  CHECK(::access(path.c_str(), F_OK) != 0);  // removed on stop
  go.notify_one();
  CHECK(h.join());
  CHECK_THROWS_AS(weft::TopServer(rt.handle(), std::string(200, 'x')), weft::Error);
}
