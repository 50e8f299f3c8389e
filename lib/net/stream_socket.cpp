// The byte-stream operations of TcpStream and UnixStream.
#include <weft/error.hpp>
#include <weft/stream_socket.hpp>

#include "net/socket_ops.hpp"

#include <climits>
#include <cstring>
#include <vector>

namespace weft {

using detail::io_retry;

std::string StreamSocket::context(const char* op) const {
  return std::string(kind_) + "::" + op + " (" + detail::endpoints(fd_.get()) + ")";
}

std::size_t StreamSocket::read(void* buf, std::size_t len) {
  const int fd = checked_fd("read");
  if (len == 0) return 0;
  return io_retry(
      fd, true, io().read, [&] { return ::recv(fd, buf, len, 0); },
      [&](int e) { detail::throw_io(e, context("read")); }, len);
}

void StreamSocket::read_exact(void* buf, std::size_t len, std::size_t* progress) {
  std::size_t done = 0;
  if (progress) *progress = 0;
  auto* p = static_cast<char*>(buf);
  while (done < len) {
    const std::size_t n = read(p + done, len - done);
    if (n == 0) {
      throw IoError(IoErrc::unexpected_eof, context("read_exact") + ": got " + std::to_string(done) + " of " +
                                                std::to_string(len) + " bytes");
    }
    done += n;
    if (progress) *progress = done;
  }
}

std::size_t StreamSocket::read_vectored(std::span<const iovec> bufs) {
  const int fd = checked_fd("read_vectored");
  if (bufs.size() > IOV_MAX) bufs = bufs.first(IOV_MAX);
  return io_retry(
      fd, true, io().read,
      [&] {
        msghdr m{};
        m.msg_iov = const_cast<iovec*>(bufs.data());
        m.msg_iovlen = bufs.size();
        return ::recvmsg(fd, &m, 0);
      },
      [&](int e) { detail::throw_io(e, context("read_vectored")); });
}

std::size_t StreamSocket::write(const void* buf, std::size_t len) {
  const int fd = checked_fd("write");
  if (len == 0) return 0;
  // MSG_NOSIGNAL: a closed peer is an EPIPE error here, never a SIGPIPE for the process.
  return io_retry(
      fd, false, io().write, [&] { return ::send(fd, buf, len, MSG_NOSIGNAL); },
      [&](int e) { detail::throw_io(e, context("write")); });
}

void StreamSocket::write_all(const void* buf, std::size_t len, std::size_t* progress) {
  std::size_t done = 0;
  if (progress) *progress = 0;
  const auto* p = static_cast<const char*>(buf);
  while (done < len) {
    done += write(p + done, len - done);
    if (progress) *progress = done;
  }
}

std::size_t StreamSocket::write_vectored(std::span<const iovec> bufs) {
  const int fd = checked_fd("write_vectored");
  if (bufs.size() > IOV_MAX) bufs = bufs.first(IOV_MAX);
  return io_retry(
      fd, false, io().write,
      [&] {
        msghdr m{};
        m.msg_iov = const_cast<iovec*>(bufs.data());
        m.msg_iovlen = bufs.size();
        return ::sendmsg(fd, &m, MSG_NOSIGNAL);
      },
      [&](int e) { detail::throw_io(e, context("write_vectored")); });
}

void StreamSocket::write_all_vectored(std::span<const iovec> bufs, std::size_t* progress) {
  // A private copy to advance through partial writes; the caller's array is left alone.
  std::vector<iovec> left(bufs.begin(), bufs.end());
  std::size_t first = 0, done = 0;
  if (progress) *progress = 0;
  for (;;) {
    while (first < left.size() && left[first].iov_len == 0) ++first;
    if (first == left.size()) return;
    std::size_t n = write_vectored(std::span<const iovec>(left).subspan(first));
    done += n;
    if (progress) *progress = done;
    while (n > 0) {
      const std::size_t take = std::min(n, left[first].iov_len);
      left[first].iov_base = static_cast<char*>(left[first].iov_base) + take;
      left[first].iov_len -= take;
      n -= take;
      if (left[first].iov_len == 0) ++first;
    }
  }
}

void StreamSocket::shutdown(Shutdown how) {
  const int fd = checked_fd("shutdown");
  const int h = how == Shutdown::Read ? SHUT_RD : how == Shutdown::Write ? SHUT_WR : SHUT_RDWR;
  if (::shutdown(fd, h) != 0 && errno != ENOTCONN) detail::throw_io(errno, context("shutdown"));
}

}  // namespace weft
