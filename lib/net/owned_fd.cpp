#include <weft/detail/owned_fd.hpp>

#include <unistd.h>

namespace weft::detail {

void OwnedFd::reset(int fd) noexcept {
  // close() errors are not reported: on Linux the descriptor is released even when close fails
  // (EINTR, EIO), so there is nothing to retry, and a destructor has nobody to tell.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace weft::detail
