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

class UnixStream : public StreamSocket {
 public:
  /// Connects to a listener at a filesystem path / an abstract name. If the listener's backlog is
  /// full, waits for room like a blocking connect would (bounded by `timeout`, then IoError
  /// ETIMEDOUT). Cancelled: the unconnected socket is closed.
  static UnixStream connect(std::string_view path, std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
  static UnixStream connect_abstract(std::string_view name,
                                     std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
  /// Two connected, unnamed streams (socketpair).
  static std::pair<UnixStream, UnixStream> pair();
  /// Takes ownership of a connected Unix stream socket (made non-blocking and close-on-exec).
  static UnixStream from_fd(int fd);

  UnixStream() noexcept : StreamSocket(detail::OwnedFd(), "UnixStream") {}
  UnixStream(UnixStream&&) noexcept = default;
  UnixStream& operator=(UnixStream&&) noexcept = default;

  /// A path, "@name" for an abstract name, or "" when unnamed (e.g. the connecting side).
  std::string local_path() const;
  std::string peer_path() const;

 private:
  explicit UnixStream(detail::OwnedFd fd) : StreamSocket(std::move(fd), "UnixStream") {}
  friend class UnixListener;
};

class UnixListener {
 public:
  static UnixListener bind(std::string_view path, int backlog = 1024);
  static UnixListener bind_abstract(std::string_view name, int backlog = 1024);
  static UnixListener from_fd(int fd);

  UnixListener() noexcept;
  UnixListener(UnixListener&&) noexcept;
  UnixListener& operator=(UnixListener&&) noexcept;
  ~UnixListener();

  /// As TcpListener::accept: cancelled means no connection was taken; descriptor exhaustion backs
  /// off and retries (counted in fd_exhaustion_backoffs()).
  UnixStream accept();
  std::string local_path() const;
  std::uint64_t fd_exhaustion_backoffs() const noexcept;

  int fd() const noexcept { return fd_.get(); }
  bool is_open() const noexcept { return fd_.valid(); }
  explicit operator bool() const noexcept { return is_open(); }
  int release() noexcept { return fd_.release(); }
  void close() noexcept { fd_.reset(); }

 private:
  explicit UnixListener(detail::OwnedFd fd);
  int checked_fd(const char* op) const;
  detail::OwnedFd fd_;
  std::unique_ptr<detail::SocketIo> state_;  // accept gate, backoff count
};

}  // namespace weft

WEFT_API_END
