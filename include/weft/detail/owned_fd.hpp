// weft/detail/owned_fd.hpp — a move-only owner of one file descriptor. Internal: the socket
// types hold one; users reach the number through their fd()/release().
#pragma once

#include <weft/detail/config.hpp>
#include <utility>

WEFT_API_BEGIN

namespace weft::detail {

class OwnedFd {
 public:
  OwnedFd() noexcept = default;
  explicit OwnedFd(int fd) noexcept : fd_(fd) {}
  OwnedFd(OwnedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  // Gives up ownership: the caller must close the fd.
  int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the current fd (errors from close are ignored: the fd is gone either way on Linux).
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

}  // namespace weft::detail

WEFT_API_END
