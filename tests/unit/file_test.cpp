// read_file / write_file: round trips from fibers and plain threads, errors naming the path,
// permissions kept, and a cancelled write that had not started leaving the file untouched.
#include "test_util.hpp"

#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <latch>
#include <string>

namespace {

using namespace std::chrono_literals;

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/weft-file-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + (i >> 9)) & 0xff);
  return s;
}

TEST_CASE("write_file then read_file gives the same bytes (fibers and plain threads)") {
  TempDir dir;
  const std::string data = bytes(3 * 1024 * 1024 + 7);
  weft_test::for_each_worker_count([&](weft::Runtime& rt) {
    rt.block_on([&] {
      const auto p = dir.path / "data.bin";
      weft::write_file(p, data);
      CHECK(weft::read_file(p) == data);
      weft::write_file(p, "short");  // replaces, does not leave the old tail
      CHECK(weft::read_file(p) == "short");
      weft::write_file(dir.path / "empty", "");
      CHECK(weft::read_file(dir.path / "empty").empty());
    });
  });
  weft::write_file(dir.path / "plain", "from a thread");
  CHECK(weft::read_file(dir.path / "plain") == "from a thread");
}

TEST_CASE("errors are IoErrors naming the call and the path") {
  TempDir dir;
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([&] {
    try {
      (void)weft::read_file(dir.path / "missing");
      CHECK(false);
    } catch (const weft::IoError& e) {
      CHECK(e.errno_value() == ENOENT);
      CHECK(weft_test::contains(e.what(), "read_file " + (dir.path / "missing").string()));
      CHECK(weft_test::contains(e.what(), "(ENOENT)"));
    }
    try {
      weft::write_file(dir.path / "no-such-dir" / "f", "x");
      CHECK(false);
    } catch (const weft::IoError& e) {
      CHECK(e.errno_value() == ENOENT);
      CHECK(weft_test::contains(e.what(), "write_file"));
    }
    try {
      (void)weft::read_file(dir.path);  // a directory
      CHECK(false);
    } catch (const weft::IoError& e) {
      CHECK(e.errno_value() == EISDIR);
    }
  });
}

TEST_CASE("write_file keeps an existing file's permissions and leaves no temporary behind") {
  TempDir dir;
  const auto p = dir.path / "secret";
  weft::write_file(p, "v1");
  ::chmod(p.c_str(), 0600);
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([&] { weft::write_file(p, "v2"); });
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(weft::read_file(p) == "v2");
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir.path)) ++entries;
  CHECK(entries == 1);
}

TEST_CASE("a write_file cancelled before the pool started it never happens") {
  TempDir dir;
  const auto p = dir.path / "f";
  weft::write_file(p, "old");
  weft::configure_blocking_pool({.max_threads = 1, .keep_alive = 10s});
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([&] {
    std::latch release(1);
    auto busy = weft::spawn_blocking([&] { release.wait(); });  // occupies the only pool thread
    CHECK_FALSE(weft::timeout(20ms, [&] { weft::write_file(p, "new"); }));
    CHECK(weft::blocking_queue_depth() == 0);  // the queued write was removed, not left behind
    release.count_down();
    CHECK(busy.join().has_value());
  });
  weft::configure_blocking_pool({});
  CHECK(weft::read_file(p) == "old");
}

}  // namespace
