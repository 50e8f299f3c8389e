// UnixListener / UnixStream: filesystem paths and abstract names, socketpairs, addresses, the
// errors people meet (stale socket file, no listener, over-long path), and a connect that waits for
// room in a full backlog. Stream semantics are in stream_socket_test.cpp.
#include "net_util.hpp"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A fresh directory, removed with its contents at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/weft-unix-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string unique_abstract_name(const char* what) {
  static std::atomic<int> seq{0};
  return std::string("weft-test-") + what + "-" + std::to_string(::getpid()) + "-" + std::to_string(seq++);
}

TEST_CASE("path listener: accept, connect, both directions, addresses") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    TempDir dir;
    const std::string path = dir.path + "/s.sock";
    rt.block_on([&] {
      weft::UnixListener l = weft::UnixListener::bind(path);
      CHECK(l.local_path() == path);
      struct stat st {};
      CHECK(::stat(path.c_str(), &st) == 0);
      CHECK(S_ISSOCK(st.st_mode));
      auto server = weft::spawn([&] {
        weft::UnixStream s = l.accept();
        CHECK(s.local_path() == path);
        CHECK(s.peer_path().empty());  // the connecting side is unnamed
        char buf[5];
        s.read_exact(buf, 5);
        s.write_all(buf, 5);
      });
      weft::UnixStream c = weft::UnixStream::connect(path);
      CHECK(c.peer_path() == path);
      c.write_all("hello");
      char buf[5];
      c.read_exact(buf, 5);
      CHECK(std::string(buf, 5) == "hello");
      CHECK(server.join().has_value());
    });
  });
}

TEST_CASE("abstract names: no file, '@name' addresses") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const std::string name = unique_abstract_name("abstract");
      weft::UnixListener l = weft::UnixListener::bind_abstract(name);
      CHECK(l.local_path() == "@" + name);
      auto server = weft::spawn([&] {
        weft::UnixStream s = l.accept();
        s.write_all("hi");
      });
      weft::UnixStream c = weft::UnixStream::connect_abstract(name, 2s);
      CHECK(c.peer_path() == "@" + name);
      char buf[2];
      c.read_exact(buf, 2);
      CHECK(std::string(buf, 2) == "hi");
      CHECK(server.join().has_value());
    });
  });
}

TEST_CASE("pair(): two connected unnamed streams") {
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on([] {
    auto [a, b] = weft::UnixStream::pair();
    CHECK(a.local_path().empty());
    auto t = weft::spawn([&b = b] {
      char x[3];
      b.read_exact(x, 3);
      b.write_all(x, 3);
    });
    a.write_all("abc");
    char y[3];
    a.read_exact(y, 3);
    CHECK(std::string(y, 3) == "abc");
    CHECK(t.join().has_value());
  });
}

TEST_CASE("errors: stale socket file, no listener, missing path, over-long path") {
  weft::Runtime rt = weft_test::make_runtime(2);
  TempDir dir;
  rt.block_on([&] {
    const std::string path = dir.path + "/stale.sock";
    { weft::UnixListener l = weft::UnixListener::bind(path); }  // closed; the file stays
    try {
      weft::UnixListener again = weft::UnixListener::bind(path);
      CHECK(false);
    } catch (const weft::IoError& e) {
      CHECK(e.errno_value() == EADDRINUSE);
      CHECK(weft_test::contains(e.what(), "a socket file exists there"));
    }
    try {
      (void)weft::UnixStream::connect(path);  // nobody listens on the stale file
      CHECK(false);
    } catch (const weft::IoError& e) {
      CHECK(e.errno_value() == ECONNREFUSED);
      CHECK(weft_test::contains(e.what(), "UnixStream::connect " + path));
    }
    try {
      (void)weft::UnixStream::connect(dir.path + "/missing.sock");
      CHECK(false);
    } catch (const weft::IoError& e) {
      CHECK(e.errno_value() == ENOENT);
    }
    try {
      (void)weft::UnixListener::bind(dir.path + "/" + std::string(200, 'x'));
      CHECK(false);
    } catch (const weft::IoError&) {
      CHECK(false);
    } catch (const weft::Error& e) {
      CHECK(weft_test::contains(e.what(), "is not a usable socket path"));
    }
  });
}

TEST_CASE("connect to a full backlog waits for room (or times out)") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const std::string name = unique_abstract_name("backlog");
      weft::UnixListener l = weft::UnixListener::bind_abstract(name, 0);
      // Fill the backlog (how many fit at backlog 0 varies by kernel): until a short connect fails.
      std::vector<weft::UnixStream> queued;
      bool full = false;
      for (int i = 0; i < 16 && !full; ++i) {
        try {
          queued.push_back(weft::UnixStream::connect_abstract(name, 30ms));
        } catch (const weft::IoError& e) {
          CHECK(e.errno_value() == ETIMEDOUT);
          full = true;
        }
      }
      REQUIRE(full);
      std::atomic<bool> connected{false};
      auto late = weft::spawn([&] {
        weft::UnixStream s = weft::UnixStream::connect_abstract(name, 10s);  // waits for room
        connected = true;
        s.write_all("late");
      });
      // Make room: accept everything queued so far, then the late one.
      std::size_t accepted = 0;
      std::string got;
      while (!connected || accepted <= queued.size()) {
        auto s = weft::timeout(10s, [&] { return l.accept(); });
        REQUIRE(s.has_value());
        ++accepted;
        if (accepted == queued.size() + 1) {
          char buf[4];
          s->read_exact(buf, 4);
          got.assign(buf, 4);
        }
      }
      CHECK(late.join().has_value());
      CHECK(got == "late");
    });
  });
}

}  // namespace
