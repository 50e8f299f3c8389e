#include <weft/error.hpp>
#include <weft/udp.hpp>

#include "net/socket_ops.hpp"

#include <string>

namespace weft {

namespace {
SocketAddr sock_name(int fd, bool peer, const std::string& what) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const int r = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                     : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (r != 0) detail::throw_io(errno, what);
  return SocketAddr::from_native(reinterpret_cast<sockaddr*>(&ss), len);
}
}  // namespace

UdpSocket::UdpSocket() noexcept : Socket(detail::OwnedFd(), "UdpSocket") {}
UdpSocket::UdpSocket(detail::OwnedFd fd) : Socket(std::move(fd), "UdpSocket") {}
UdpSocket::UdpSocket(UdpSocket&&) noexcept = default;
UdpSocket& UdpSocket::operator=(UdpSocket&&) noexcept = default;
UdpSocket::~UdpSocket() = default;

UdpSocket UdpSocket::bind(const SocketAddr& addr) {
  const std::string what = "UdpSocket::bind " + addr.to_string();
  detail::OwnedFd fd = detail::new_socket(addr.family(), SOCK_DGRAM, what);
  if (::bind(fd.get(), addr.native(), addr.native_len()) != 0) detail::throw_io(errno, what);
  return UdpSocket(std::move(fd));
}

UdpSocket UdpSocket::from_fd(int fd) {
  detail::adopt_fd(fd, "UdpSocket::from_fd");
  return UdpSocket(detail::OwnedFd(fd));
}

std::string UdpSocket::context(const char* op) const {
  return std::string("UdpSocket::") + op + " (" + detail::local_address_string(fd_.get()) + ")";
}

std::size_t UdpSocket::send_to(const void* buf, std::size_t len, const SocketAddr& to) {
  const int fd = checked_fd("send_to");
  return detail::io_retry(
      fd, false, io().write, [&] { return ::sendto(fd, buf, len, MSG_NOSIGNAL, to.native(), to.native_len()); },
      [&](int e) { detail::throw_io(e, context("send_to") + " to " + to.to_string()); });
}

UdpRecv UdpSocket::recv_from(void* buf, std::size_t len) {
  const int fd = checked_fd("recv_from");
  sockaddr_storage ss{};
  msghdr m{};
  iovec iov{buf, len};
  const std::size_t n = detail::io_retry(
      fd, true, io().read,
      [&] {
        m = msghdr{};
        m.msg_name = &ss;
        m.msg_namelen = sizeof ss;
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        return ::recvmsg(fd, &m, 0);
      },
      [&](int e) { detail::throw_io(e, context("recv_from")); });
  UdpRecv r;
  r.size = n;
  r.truncated = (m.msg_flags & MSG_TRUNC) != 0;
  r.from = SocketAddr::from_native(reinterpret_cast<sockaddr*>(&ss), m.msg_namelen);
  return r;
}

void UdpSocket::connect(const SocketAddr& peer) {
  const int fd = checked_fd("connect");
  if (::connect(fd, peer.native(), peer.native_len()) != 0) {
    detail::throw_io(errno, context("connect") + " to " + peer.to_string());
  }
}

std::size_t UdpSocket::send(const void* buf, std::size_t len) {
  const int fd = checked_fd("send");
  return detail::io_retry(
      fd, false, io().write, [&] { return ::send(fd, buf, len, MSG_NOSIGNAL); },
      [&](int e) { detail::throw_io(e, context("send") + " to " + detail::peer_address_string(fd)); });
}

std::size_t UdpSocket::recv(void* buf, std::size_t len) {
  const int fd = checked_fd("recv");
  return detail::io_retry(
      fd, true, io().read, [&] { return ::recv(fd, buf, len, 0); },
      [&](int e) { detail::throw_io(e, context("recv") + " from " + detail::peer_address_string(fd)); });
}

void UdpSocket::set_broadcast(bool on) {
  const int fd = checked_fd("set_broadcast");
  const int v = on ? 1 : 0;
  if (::setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &v, sizeof v) != 0) detail::throw_io(errno, context("set_broadcast"));
}

SocketAddr UdpSocket::local_addr() const { return sock_name(checked_fd("local_addr"), false, context("local_addr")); }
SocketAddr UdpSocket::peer_addr() const { return sock_name(checked_fd("peer_addr"), true, context("peer_addr")); }

}  // namespace weft
