/// @file
/// weft/udp.hpp — UDP sockets, IPv4 and IPv6: datagrams to any peer, or to one connected peer.
///
/// @verbatim
///   weft::UdpSocket server = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
///   weft::UdpSocket client = weft::UdpSocket::bind(weft::SocketAddr::loopback_v4(0));
///   client.send_to("ping", 4, server.local_addr());
///   char buf[1500];
///   weft::UdpRecv r = server.recv_from(buf, sizeof buf);   // suspends until a datagram arrives
///   server.send_to(buf, r.size, r.from);                    // echo it back
///
///   client.connect(server.local_addr());                    // connected mode: send/recv
///   client.send("again", 5);
///
/// Datagrams are atomic: each call sends or receives one whole datagram, or nothing. So every
/// operation here, when cancelled (weft::Cancelled at its suspension point), guarantees nothing was
/// sent or received. A receive buffer shorter than the datagram keeps only its first bytes (the rest
/// is discarded; recv_from reports `truncated`). A zero-length datagram is a valid receive of 0
/// bytes, not an end of stream. Failures throw weft::IoError; on a connected socket an ICMP "port
/// unreachable" from the peer surfaces as ECONNREFUSED on a later send or recv.
///
/// Many fibers may receive (or send) on one socket at once — each datagram goes to exactly one of
/// them. Only one per direction waits on the reactor at a time; the others queue behind it, so
/// releasing them all costs linear time.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/owned_fd.hpp>
#include <weft/socket.hpp>
#include <weft/socket_addr.hpp>

#include <cstddef>
#include <memory>

WEFT_API_BEGIN

namespace weft {

namespace detail {
}

/// What UdpSocket::recv_from received: the datagram's size, its sender, and whether it was cut.
struct UdpRecv {
  std::size_t size = 0;    ///< bytes stored in the buffer
  SocketAddr from;         ///< the sender
  bool truncated = false;  ///< the datagram was longer than the buffer; the excess is lost
};

/// A UDP socket: datagrams sent and received with the calling fiber suspended, never its worker.
class UdpSocket : public Socket {
 public:
  /// A socket bound to `addr` (port 0: any free port, see local_addr()).
  static UdpSocket bind(const SocketAddr& addr);
  /// Takes ownership of a UDP socket (made non-blocking and close-on-exec).
  static UdpSocket from_fd(int fd);

  UdpSocket() noexcept;
  /// Takes over the other socket; the other becomes closed.
  UdpSocket(UdpSocket&&) noexcept;
  /// Closes this socket, then takes over the other's.
  UdpSocket& operator=(UdpSocket&&) noexcept;
  ~UdpSocket();

  /// Sends one datagram to `to`, waiting while the send buffer is full. Returns `len`.
  std::size_t send_to(const void* buf, std::size_t len, const SocketAddr& to);
  /// Receives one datagram, waiting until one arrives.
  UdpRecv recv_from(void* buf, std::size_t len);

  /// Sets the default destination and accepts datagrams only from `peer`. Never suspends.
  void connect(const SocketAddr& peer);
  /// Connected mode.
  std::size_t send(const void* buf, std::size_t len);
  /// Connected mode: receives one datagram from the peer into `buf`, waiting until one arrives;
  /// returns how many bytes were stored (the excess of a longer datagram is lost).
  std::size_t recv(void* buf, std::size_t len);

  /// SO_BROADCAST: allows sending to broadcast addresses.
  void set_broadcast(bool on);
  /// The bound address, with the port the kernel picked for port 0.
  SocketAddr local_addr() const;
  /// The connected peer; IoError ENOTCONN if not connected.
  SocketAddr peer_addr() const;

 private:
  explicit UdpSocket(detail::OwnedFd fd);
  std::string context(const char* op) const;
};

}  // namespace weft

WEFT_API_END
