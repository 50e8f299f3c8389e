/// @file
/// weft/socket.hpp — what every weft socket shares: one owned descriptor and its wait gates.
///
/// @verbatim
///   weft::TcpStream s = weft::TcpStream::connect(addr);
///   int fd = s.fd();             // still owned by s
///   weft::TcpStream t = weft::TcpStream::connect(addr);
///   int mine = t.release();      // now the caller's to close; t is closed
///   if (s) s.close();            // or let the destructor close it
/// @endverbatim
///
/// TcpStream and UnixStream (through StreamSocket), UdpSocket, TcpListener and UnixListener are
/// Sockets: movable, not copyable; closed when default-constructed, moved from, released or
/// close()d, and every operation on a closed socket throws weft::Error naming the class and the call.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/owned_fd.hpp>

#include <memory>

WEFT_API_BEGIN

namespace weft {

namespace detail {
WEFT_INTERNAL_BEGIN  // defined in lib/: keep hidden (see weft/detail/config.hpp)
struct SocketIo;
WEFT_INTERNAL_END
}  // namespace detail

/// The base of every weft socket (see weft/socket.hpp).
class Socket {
 public:
  /// The descriptor (still owned by this object), or -1 once closed / moved from.
  int fd() const noexcept { return fd_.get(); }
  /// Whether the object owns a descriptor (false once closed, released or moved from).
  bool is_open() const noexcept { return fd_.valid(); }
  /// is_open().
  explicit operator bool() const noexcept { return is_open(); }
  /// Gives up ownership of the descriptor (the caller closes it); the object becomes closed.
  int release() noexcept { return fd_.release(); }
  /// Closes the descriptor now (the destructor does it otherwise). Idempotent. Do not close a
  /// socket while another fiber is suspended in an operation on it: cancel that fiber first.
  void close() noexcept { fd_.reset(); }

 protected:
  /// Owns `fd` (a closed socket if it is invalid: no I/O state, every operation throws). `kind`
  /// names the class in messages ("TcpStream", "UdpSocket", "TcpListener").
  Socket(detail::OwnedFd fd, const char* kind);
  /// Takes over `o`'s descriptor and I/O state; `o` becomes closed.
  Socket(Socket&&) noexcept;
  /// Closes this socket, then takes over the other's descriptor; the other becomes closed.
  Socket& operator=(Socket&&) noexcept;
  ~Socket();

  /// The descriptor; throws weft::Error naming the call `kind::op` if the socket is closed.
  int checked_fd(const char* op) const;
  /// Per direction: the fairness budget and the wait gate. Only on an open socket (after checked_fd).
  detail::SocketIo& io() const noexcept { return *io_; }
  /// The I/O state, or null for a socket that was never open (for counters that read 0 then).
  const detail::SocketIo* io_state() const noexcept { return io_.get(); }

  /// The owned descriptor (invalid once closed).
  detail::OwnedFd fd_;
  /// The class's name for messages.
  const char* kind_;

 private:
  std::unique_ptr<detail::SocketIo> io_;
};

}  // namespace weft

WEFT_API_END
