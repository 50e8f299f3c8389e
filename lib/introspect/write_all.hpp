// Writes a whole string to a file descriptor (dump and deadlock reports to stderr or a user's fd):
// retries on EINTR and partial writes, gives up quietly on any other error (a report must never
// throw or block the program on a closed pipe).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <string>

namespace weft::detail {

inline void write_all(int fd, const std::string& s) noexcept {
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace weft::detail
