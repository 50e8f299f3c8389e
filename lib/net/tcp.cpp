#include <weft/resolve.hpp>
#include <weft/tcp.hpp>

#include "net/socket_ops.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>

#include <chrono>
#include <optional>
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

TcpStream connect_until(const SocketAddr& addr, const Clock::time_point* deadline) {
  const std::string what = "TcpStream::connect " + addr.to_string();
  detail::OwnedFd fd = detail::new_socket(addr.family(), SOCK_STREAM, what);
  detail::connect_fd(fd.get(), addr.native(), addr.native_len(), deadline, what);
  return TcpStream::from_fd(fd.release());
}
}  // namespace

// ------------------------------------------------------------------------------------ TcpStream

TcpStream TcpStream::connect(const SocketAddr& addr) { return connect_until(addr, nullptr); }

TcpStream TcpStream::connect(const SocketAddr& addr, std::chrono::nanoseconds timeout) {
  const Clock::time_point deadline = Clock::now() + std::chrono::ceil<Clock::duration>(timeout);
  return connect_until(addr, &deadline);
}

TcpStream TcpStream::connect(std::string_view host, std::uint16_t port,
                             std::optional<std::chrono::nanoseconds> timeout) {
  std::optional<Clock::time_point> deadline;
  if (timeout) deadline = Clock::now() + std::chrono::ceil<Clock::duration>(*timeout);
  std::vector<SocketAddr> addrs = resolve(host, port);
  std::optional<IoError> last;
  for (const SocketAddr& a : addrs) {
    try {
      return connect_until(a, deadline ? &*deadline : nullptr);
    } catch (const IoError& e) {
      last = e;
      if (deadline && Clock::now() >= *deadline) break;
    }
  }
  if (last) throw *last;
  throw IoError(std::error_code(EAI_NONAME, resolve_category()),
                "TcpStream::connect " + std::string(host) + ":" + std::to_string(port));
}

TcpStream TcpStream::from_fd(int fd) {
  detail::adopt_fd(fd, "TcpStream::from_fd");
  return TcpStream(detail::OwnedFd(fd));
}

void TcpStream::set_nodelay(bool on) {
  const int fd = checked_fd("set_nodelay");
  const int v = on ? 1 : 0;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0) detail::throw_io(errno, context("set_nodelay"));
}

bool TcpStream::nodelay() const {
  const int fd = checked_fd("nodelay");
  int v = 0;
  socklen_t len = sizeof v;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) != 0) detail::throw_io(errno, context("nodelay"));
  return v != 0;
}

SocketAddr TcpStream::local_addr() const { return sock_name(checked_fd("local_addr"), false, context("local_addr")); }
SocketAddr TcpStream::peer_addr() const { return sock_name(checked_fd("peer_addr"), true, context("peer_addr")); }

// ---------------------------------------------------------------------------------- TcpListener

TcpListener::TcpListener() noexcept : Socket(detail::OwnedFd(), "TcpListener") {}
TcpListener::TcpListener(detail::OwnedFd fd) : Socket(std::move(fd), "TcpListener") {}
TcpListener::TcpListener(TcpListener&&) noexcept = default;
TcpListener& TcpListener::operator=(TcpListener&&) noexcept = default;
TcpListener::~TcpListener() = default;

TcpListener TcpListener::bind(const SocketAddr& addr, int backlog) {
  const std::string what = "TcpListener::bind " + addr.to_string();
  detail::OwnedFd fd = detail::new_socket(addr.family(), SOCK_STREAM, what);
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), addr.native(), addr.native_len()) != 0) detail::throw_io(errno, what);
  if (::listen(fd.get(), backlog) != 0) detail::throw_io(errno, "TcpListener::listen " + addr.to_string());
  return TcpListener(std::move(fd));
}

TcpListener TcpListener::from_fd(int fd) {
  detail::adopt_fd(fd, "TcpListener::from_fd");
  return TcpListener(detail::OwnedFd(fd));
}

TcpStream TcpListener::accept() {
  const int fd = checked_fd("accept");
  return TcpStream(detail::accept_fd(fd, nullptr, nullptr, io(), "TcpListener"));
}

TcpStream TcpListener::accept(SocketAddr& peer) {
  const int fd = checked_fd("accept");
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  TcpStream s(detail::accept_fd(fd, &ss, &len, io(), "TcpListener"));
  peer = SocketAddr::from_native(reinterpret_cast<sockaddr*>(&ss), len);
  return s;
}

SocketAddr TcpListener::local_addr() const {
  return sock_name(checked_fd("local_addr"), false, "TcpListener::local_addr");
}

std::uint64_t TcpListener::fd_exhaustion_backoffs() const noexcept {
  return io_state() ? io_state()->backoffs.load(std::memory_order_relaxed) : 0;
}

}  // namespace weft
