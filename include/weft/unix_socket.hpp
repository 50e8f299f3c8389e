/// @file
/// weft/unix_socket.hpp — Unix-domain stream sockets: filesystem paths and Linux abstract names.
///
/// @verbatim
///   weft::UnixListener l = weft::UnixListener::bind("/tmp/app.sock");    // or bind_abstract("app")
///   weft::spawn([&] {
///     weft::UnixStream c = l.accept();
///     char buf[256];
///     std::size_t n = c.read(buf, sizeof buf);
///     c.write_all(buf, n);
///   }).detach();
///   weft::UnixStream s = weft::UnixStream::connect("/tmp/app.sock");
///   s.write_all("hi");
///
///   auto [a, b] = weft::UnixStream::pair();                              // connected, unnamed
///
/// The byte-stream operations and their cancellation semantics are those of weft::StreamSocket
/// (weft/stream_socket.hpp). Paths are limited to 107 bytes (sockaddr_un); an abstract name lives
/// in the network namespace, not the filesystem, and vanishes with its last socket. A path
/// listener's socket file is *not* removed on close (as with every Unix socket API): unlink it, or
/// binding it again fails with EADDRINUSE.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/owned_fd.hpp>
#include <weft/socket.hpp>
#include <weft/stream_socket.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

WEFT_API_BEGIN

namespace weft {

namespace detail {
WEFT_INTERNAL_BEGIN  // defined in lib/: keep hidden (see weft/detail/config.hpp)
struct SocketIo;
WEFT_INTERNAL_END
}

/// A connected Unix-domain stream socket (a filesystem path or a Linux abstract name):
/// StreamSocket's reads and writes, plus connecting.
class UnixStream : public StreamSocket {
 public:
  /// Connects to a listener at a filesystem path / an abstract name. If the listener's backlog is
  /// full, waits for room like a blocking connect would (bounded by `timeout`, then IoError
  /// ETIMEDOUT). Cancelled: the unconnected socket is closed.
  static UnixStream connect(std::string_view path, std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
  /// As connect(), to a listener bound with UnixListener::bind_abstract (`name` without the leading
  /// NUL or "@").
  static UnixStream connect_abstract(std::string_view name,
                                     std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
  /// Two connected, unnamed streams (socketpair).
  static std::pair<UnixStream, UnixStream> pair();
  /// Takes ownership of a connected Unix stream socket (made non-blocking and close-on-exec).
  static UnixStream from_fd(int fd);

  UnixStream() noexcept : StreamSocket(detail::OwnedFd(), "UnixStream") {}
  /// Takes over the other stream's socket; the other becomes closed.
  UnixStream(UnixStream&&) noexcept = default;
  /// Closes this stream, then takes over the other's socket.
  UnixStream& operator=(UnixStream&&) noexcept = default;

  /// A path, "@name" for an abstract name, or "" when unnamed (e.g. the connecting side).
  std::string local_path() const;
  /// The peer's address, in the form of local_path() ("" when the peer is unnamed).
  std::string peer_path() const;

 private:
  explicit UnixStream(detail::OwnedFd fd) : StreamSocket(std::move(fd), "UnixStream") {}
  friend class UnixListener;
};

/// A listening Unix-domain stream socket: accept() suspends the fiber until a connection arrives.
class UnixListener : public Socket {
 public:
  /// Binds to the filesystem path `path` and listens. Throws IoError EADDRINUSE if a socket file
  /// exists there already (it is not removed on close: unlink it).
  static UnixListener bind(std::string_view path, int backlog = 1024);
  /// Binds to the abstract name `name` (Linux; no file, gone when the socket closes) and listens.
  static UnixListener bind_abstract(std::string_view name, int backlog = 1024);
  /// Takes ownership of a listening Unix stream socket (made non-blocking and close-on-exec).
  static UnixListener from_fd(int fd);

  UnixListener() noexcept;
  /// Takes over the other listener's socket; the other becomes closed.
  UnixListener(UnixListener&&) noexcept;
  /// Closes this listener, then takes over the other's socket.
  UnixListener& operator=(UnixListener&&) noexcept;
  ~UnixListener();

  /// As TcpListener::accept: cancelled means no connection was taken; descriptor exhaustion backs
  /// off and retries (counted in fd_exhaustion_backoffs()).
  UnixStream accept();
  /// The bound path, or "@name" for an abstract name.
  std::string local_path() const;
  /// How many times accept() backed off because descriptors or memory ran out.
  std::uint64_t fd_exhaustion_backoffs() const noexcept;

 private:
  explicit UnixListener(detail::OwnedFd fd);
};

}  // namespace weft

WEFT_API_END
