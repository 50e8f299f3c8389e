#include <weft/error.hpp>
#include <weft/socket.hpp>

#include "net/socket_ops.hpp"

#include <string>

namespace weft {

Socket::Socket(detail::OwnedFd fd, const char* kind)
    : fd_(std::move(fd)), kind_(kind), io_(fd_.valid() ? std::make_unique<detail::SocketIo>() : nullptr) {}
Socket::Socket(Socket&&) noexcept = default;
Socket& Socket::operator=(Socket&&) noexcept = default;
Socket::~Socket() = default;

int Socket::checked_fd(const char* op) const {
  if (!fd_.valid()) {
    throw Error(std::string(kind_) + "::" + op + ": the socket is closed (moved from, released or close()d); "
                "use an open one");
  }
  return fd_.get();
}

}  // namespace weft
