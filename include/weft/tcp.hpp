/// @file
/// weft/tcp.hpp — TCP listeners and streams, IPv4 and IPv6.
///
/// @verbatim
///   weft::TcpListener listener = weft::TcpListener::bind(weft::SocketAddr::loopback_v4(0));
///   std::uint16_t port = listener.local_addr().port();
///   weft::spawn([&] {                                     // the server: one fiber per connection
///     for (;;) {
///       weft::TcpStream conn = listener.accept();
///       weft::spawn([c = std::move(conn)]() mutable {
///         char buf[4096];
///         while (std::size_t n = c.read(buf, sizeof buf)) c.write_all(buf, n);
///       }).detach();
///     }
///   }).detach();
///   weft::TcpStream s = weft::TcpStream::connect(weft::SocketAddr::loopback_v4(port), std::chrono::seconds(1));
///   s.set_nodelay(true);
///   s.write_all("ping");
///
/// The byte-stream operations (read, read_exact, write, write_all, vectored forms, shutdown) and
/// their cancellation semantics are documented in weft/stream_socket.hpp. Sockets are
/// non-blocking, close-on-exec and owned (move-only; the destructor closes). Failures throw
/// weft::IoError naming the call and the addresses.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/owned_fd.hpp>
#include <weft/socket.hpp>
#include <weft/socket_addr.hpp>
#include <weft/stream_socket.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

WEFT_API_BEGIN

namespace weft {

namespace detail {
WEFT_INTERNAL_BEGIN  // defined in lib/: keep hidden (see weft/detail/config.hpp)
struct SocketIo;
WEFT_INTERNAL_END
}

/// A connected TCP socket: StreamSocket's reads and writes, plus connecting and TCP options.
class TcpStream : public StreamSocket {
 public:
  /// Connects, suspending the fiber during the handshake. With `timeout`, gives up after it with
  /// IoError ETIMEDOUT. Cancelled: the half-open socket is closed (the peer may see a connection
  /// that is closed at once).
  static TcpStream connect(const SocketAddr& addr);
  /// As connect(addr), giving up after `timeout` with IoError ETIMEDOUT.
  static TcpStream connect(const SocketAddr& addr, std::chrono::nanoseconds timeout);
  /// Resolves `host` (weft::resolve, on the blocking pool unless it is a numeric address) and tries
  /// each address in turn until one connects; `timeout` bounds the whole attempt. Throws the last
  /// address's IoError if none does.
  static TcpStream connect(std::string_view host, std::uint16_t port,
                           std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
  /// Takes ownership of a connected TCP socket (made non-blocking and close-on-exec).
  static TcpStream from_fd(int fd);

  TcpStream() noexcept : StreamSocket(detail::OwnedFd(), "TcpStream") {}
  /// Takes over the other stream's socket; the other becomes closed.
  TcpStream(TcpStream&&) noexcept = default;
  /// Closes this stream, then takes over the other's socket.
  TcpStream& operator=(TcpStream&&) noexcept = default;

  /// TCP_NODELAY: send small writes at once instead of coalescing them (Nagle's algorithm).
  void set_nodelay(bool on);
  /// Whether TCP_NODELAY is set.
  bool nodelay() const;
  /// The local address and port of the connection.
  SocketAddr local_addr() const;
  /// The peer's address and port.
  SocketAddr peer_addr() const;

 private:
  explicit TcpStream(detail::OwnedFd fd) : StreamSocket(std::move(fd), "TcpStream") {}
  friend class TcpListener;
};

/// A listening TCP socket: accept() suspends the fiber until a connection arrives.
class TcpListener : public Socket {
 public:
  /// Binds (with SO_REUSEADDR, so a restarted server can reuse its port at once) and listens.
  /// Port 0 picks a free port: read it back with local_addr().
  static TcpListener bind(const SocketAddr& addr, int backlog = 1024);
  /// Takes ownership of a listening TCP socket (made non-blocking and close-on-exec).
  static TcpListener from_fd(int fd);

  TcpListener() noexcept;
  /// Takes over the other listener's socket; the other becomes closed.
  TcpListener(TcpListener&&) noexcept;
  /// Closes this listener, then takes over the other's socket.
  TcpListener& operator=(TcpListener&&) noexcept;
  ~TcpListener();

  /// Waits for the next connection and returns it (non-blocking, close-on-exec). Cancelled: no
  /// connection was taken (it stays queued for the next accept). Rides out transient conditions
  /// without throwing: connections that died in the queue are skipped, and running out of file
  /// descriptors (EMFILE/ENFILE) or kernel memory makes it back off (1 ms doubling to 100 ms) and
  /// retry — reported once on stderr and counted in fd_exhaustion_backoffs(). Other errors throw.
  TcpStream accept();
  /// As accept(), also giving the peer's address.
  TcpStream accept(SocketAddr& peer);

  /// The bound address, with the port the kernel picked for port 0.
  SocketAddr local_addr() const;
  /// How many times accept() backed off because descriptors or memory ran out.
  std::uint64_t fd_exhaustion_backoffs() const noexcept;

 private:
  explicit TcpListener(detail::OwnedFd fd);
};

}  // namespace weft

WEFT_API_END
