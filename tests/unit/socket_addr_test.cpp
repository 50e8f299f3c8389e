// SocketAddr: numeric IPv4/IPv6 addresses with a port — parsing, printing, comparing — and the
// IoError messages built from errno values and weft's own codes.
#include "test_util.hpp"

namespace {

TEST_CASE("SocketAddr: parse, print, compare") {
  auto a = weft::SocketAddr::parse("10.1.2.3:8080");
  REQUIRE(a);
  CHECK(a->to_string() == "10.1.2.3:8080");
  CHECK(a->ip() == "10.1.2.3");
  CHECK(a->port() == 8080);
  auto b = weft::SocketAddr::parse("[fe80::1]:53");
  REQUIRE(b);
  CHECK(b->is_v6());
  CHECK(b->to_string() == "[fe80::1]:53");
  CHECK_FALSE(weft::SocketAddr::parse("::1:80"));  // IPv6 needs brackets
  CHECK_FALSE(weft::SocketAddr::parse("1.2.3.4"));
  CHECK_FALSE(weft::SocketAddr::parse("1.2.3.4:99999"));
  CHECK_FALSE(weft::SocketAddr::parse("host:80"));
  CHECK(weft::SocketAddr("127.0.0.1", 5) == weft::SocketAddr::loopback_v4(5));
  CHECK_FALSE(weft::SocketAddr::loopback_v4(5) == weft::SocketAddr::loopback_v4(6));
  CHECK(weft::SocketAddr().to_string() == "0.0.0.0:0");
  try {
    weft::SocketAddr bad("example.com", 80);
    CHECK(false);
  } catch (const weft::Error& e) {
    CHECK(weft_test::contains(e.what(), "resolve host names with weft::resolve"));
  }
}

TEST_CASE("IoError: operation, errno name, hint; weft's own and the resolver's codes") {
  weft::IoError e(ECONNRESET, "TcpStream::read (1.2.3.4:5 -> 6.7.8.9:10)");
  CHECK(std::string(e.what()) ==
        "TcpStream::read (1.2.3.4:5 -> 6.7.8.9:10): Connection reset by peer (ECONNRESET); the peer closed the "
        "connection; close this socket");
  CHECK(e.code() == std::errc::connection_reset);
  CHECK(e.operation() == "TcpStream::read (1.2.3.4:5 -> 6.7.8.9:10)");
  weft::IoError eof(weft::IoErrc::unexpected_eof, "UnixStream::read_exact");
  CHECK(eof.is_eof());
  CHECK(eof.errno_value() == 0);
  weft::IoError emfile(EMFILE, "TcpListener::accept");
  CHECK(weft_test::contains(emfile.what(), "raise RLIMIT_NOFILE"));
  const weft::Error& base = emfile;  // every weft failure is a weft::Error
  CHECK(weft_test::contains(base.what(), "EMFILE"));
}

}  // namespace
