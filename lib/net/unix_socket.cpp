#include <weft/error.hpp>
#include <weft/unix_socket.hpp>

#include "net/socket_ops.hpp"

#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <string>

namespace weft {

namespace {

struct UnixAddr {
  sockaddr_un sa{};
  socklen_t len = 0;
  std::string text;  // for messages: the path or "@name"
};

UnixAddr make_addr(std::string_view name, bool abstract, const char* op) {
  UnixAddr a;
  a.sa.sun_family = AF_UNIX;
  const std::size_t room = sizeof(a.sa.sun_path) - 1;  // a path needs its NUL; an abstract name its leading NUL
  if (name.empty() || name.size() > room || name.find('\0') != std::string_view::npos) {
    throw Error(std::string(op) + ": '" + std::string(name) + "' is not a usable " +
                (abstract ? "abstract socket name" : "socket path") + " (it must be 1.." + std::to_string(room) +
                " bytes without NUL; use a shorter path, e.g. in /tmp)");
  }
  if (abstract) {
    std::memcpy(a.sa.sun_path + 1, name.data(), name.size());
    a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    a.text = std::string("@").append(name);
  } else {
    std::memcpy(a.sa.sun_path, name.data(), name.size());
    a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
    a.text = std::string(name);
  }
  return a;
}

UnixStream connect_to(const UnixAddr& a, std::optional<std::chrono::nanoseconds> timeout) {
  const std::string what = "UnixStream::connect " + a.text;
  Clock::time_point deadline;
  if (timeout) deadline = Clock::now() + std::chrono::ceil<Clock::duration>(*timeout);
  detail::OwnedFd fd = detail::new_socket(AF_UNIX, SOCK_STREAM, what);
  detail::connect_fd(fd.get(), reinterpret_cast<const sockaddr*>(&a.sa), a.len, timeout ? &deadline : nullptr, what);
  return UnixStream::from_fd(fd.release());
}

UnixListener listen_at(const UnixAddr& a, int backlog) {
  const std::string what = "UnixListener::bind " + a.text;
  detail::OwnedFd fd = detail::new_socket(AF_UNIX, SOCK_STREAM, what);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a.sa), a.len) != 0) {
    const int e = errno;
    if (e == EADDRINUSE && !a.text.starts_with("@")) {
      throw IoError(e, what + " (a socket file exists there; if no server uses it any more, remove it)");
    }
    detail::throw_io(e, what);
  }
  if (::listen(fd.get(), backlog) != 0) detail::throw_io(errno, "UnixListener::listen " + a.text);
  return UnixListener::from_fd(fd.release());
}
}  // namespace

// ----------------------------------------------------------------------------------- UnixStream

UnixStream UnixStream::connect(std::string_view path, std::optional<std::chrono::nanoseconds> timeout) {
  return connect_to(make_addr(path, false, "UnixStream::connect"), timeout);
}

UnixStream UnixStream::connect_abstract(std::string_view name, std::optional<std::chrono::nanoseconds> timeout) {
  return connect_to(make_addr(name, true, "UnixStream::connect_abstract"), timeout);
}

std::pair<UnixStream, UnixStream> UnixStream::pair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
    detail::throw_io(errno, "UnixStream::pair");
  }
  return {UnixStream(detail::OwnedFd(sv[0])), UnixStream(detail::OwnedFd(sv[1]))};
}

UnixStream UnixStream::from_fd(int fd) {
  detail::adopt_fd(fd, "UnixStream::from_fd");
  return UnixStream(detail::OwnedFd(fd));
}

std::string UnixStream::local_path() const {
  const std::string s = detail::local_address_string(checked_fd("local_path"));
  return s == "(unnamed)" ? std::string() : s;
}

std::string UnixStream::peer_path() const {
  const std::string s = detail::peer_address_string(checked_fd("peer_path"));
  return s == "(unnamed)" ? std::string() : s;
}

// --------------------------------------------------------------------------------- UnixListener

UnixListener::UnixListener() noexcept : Socket(detail::OwnedFd(), "UnixListener") {}
UnixListener::UnixListener(detail::OwnedFd fd) : Socket(std::move(fd), "UnixListener") {}
UnixListener::UnixListener(UnixListener&&) noexcept = default;
UnixListener& UnixListener::operator=(UnixListener&&) noexcept = default;
UnixListener::~UnixListener() = default;

UnixListener UnixListener::bind(std::string_view path, int backlog) {
  return listen_at(make_addr(path, false, "UnixListener::bind"), backlog);
}

UnixListener UnixListener::bind_abstract(std::string_view name, int backlog) {
  return listen_at(make_addr(name, true, "UnixListener::bind_abstract"), backlog);
}

UnixListener UnixListener::from_fd(int fd) {
  detail::adopt_fd(fd, "UnixListener::from_fd");
  return UnixListener(detail::OwnedFd(fd));
}

UnixStream UnixListener::accept() {
  const int fd = checked_fd("accept");
  return UnixStream(detail::accept_fd(fd, nullptr, nullptr, io(), "UnixListener"));
}

std::string UnixListener::local_path() const { return detail::local_address_string(checked_fd("local_path")); }

std::uint64_t UnixListener::fd_exhaustion_backoffs() const noexcept {
  return io_state() ? io_state()->backoffs.load(std::memory_order_relaxed) : 0;
}

}  // namespace weft
