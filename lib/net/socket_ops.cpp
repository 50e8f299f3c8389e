#include "net/socket_ops.hpp"

#include "sched/worker.hpp"
#include "sched/wait.hpp"

#include <weft/socket_addr.hpp>
#include <weft/this_fiber.hpp>

#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace weft::detail {

void io_enter(IoBudget& budget) {
  FiberBase* f = current_fiber();
  if (!f) return;
  check_cancel_point(f);
  const std::uint8_t left = budget.left.load(std::memory_order_relaxed);
  if (left > 1) {
    budget.left.store(static_cast<std::uint8_t>(left - 1), std::memory_order_relaxed);
    return;
  }
  budget.left.store(IoBudget::kFull, std::memory_order_relaxed);
  weft::yield_now();
}

void throw_io(int err, std::string operation) { throw IoError(err, std::move(operation)); }

OwnedFd new_socket(int family, int type, const std::string& what) {
  const int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_io(errno, what);
  return OwnedFd(fd);
}

void adopt_fd(int fd, const char* what) {
  if (fd < 0) throw Error(std::string(what) + ": invalid file descriptor " + std::to_string(fd));
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) throw_io(errno, what);
  const int fdfl = ::fcntl(fd, F_GETFD);
  if (fdfl >= 0) ::fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC);
}

std::string address_string(const sockaddr* sa, socklen_t len) {
  if (!sa || len < static_cast<socklen_t>(sizeof(sa_family_t))) return "(unknown)";
  if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) return SocketAddr::from_native(sa, len).to_string();
  if (sa->sa_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(sa);
    const std::size_t n = static_cast<std::size_t>(len) - offsetof(sockaddr_un, sun_path);
    if (len <= static_cast<socklen_t>(offsetof(sockaddr_un, sun_path)) || n == 0) return "(unnamed)";
    if (un->sun_path[0] == '\0') return std::string("@").append(un->sun_path + 1, n - 1);
    return std::string(un->sun_path, strnlen(un->sun_path, n));
  }
  return "(family " + std::to_string(sa->sa_family) + ")";
}

std::string local_address_string(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return address_string(reinterpret_cast<sockaddr*>(&ss), len);
}

std::string peer_address_string(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return address_string(reinterpret_cast<sockaddr*>(&ss), len);
}

std::string endpoints(int fd) { return local_address_string(fd) + " -> " + peer_address_string(fd); }

void connect_fd(int fd, const sockaddr* addr, socklen_t len, const std::chrono::steady_clock::time_point* deadline,
                const std::string& what) {
  using namespace std::chrono;
  IoBudget budget;
  io_enter(budget);
  milliseconds backoff{1};
  for (;;) {
    if (::connect(fd, addr, len) == 0) return;
    const int e = errno;
    if (e == EAGAIN) {
      // A Unix listener's backlog is full; a blocking connect would wait for room, so do we.
      if (deadline && steady_clock::now() + backoff >= *deadline) throw_io(ETIMEDOUT, what);
      weft::sleep(backoff);
      backoff = std::min(backoff * 2, milliseconds(50));
      continue;
    }
    if (e != EINPROGRESS && e != EINTR) throw_io(e, what);
    break;
  }
  // The handshake is under way: the socket turns writable when it completes or fails.
  if (deadline) {
    if (!weft::wait_writable_until(fd, *deadline)) throw_io(ETIMEDOUT, what);
  } else {
    weft::wait_writable(fd);
  }
  int err = 0;
  socklen_t elen = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) err = errno;
  if (err != 0) throw_io(err, what);
}

OwnedFd accept_fd(int lfd, sockaddr_storage* peer, socklen_t* peer_len, SocketIo& st, const char* kind) {
  using namespace std::chrono;
  io_enter(st.read.budget);
  std::unique_lock<Mutex> gate(st.read.gate, std::defer_lock);
  milliseconds backoff{0};
  for (;;) {
    if (peer_len) *peer_len = sizeof(sockaddr_storage);
    const int c = ::accept4(lfd, reinterpret_cast<sockaddr*>(peer), peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c >= 0) return OwnedFd(c);
    const int e = errno;
    switch (e) {
      case EINTR:
        continue;
      case EAGAIN:
#if EWOULDBLOCK != EAGAIN
      case EWOULDBLOCK:
#endif
        io_waited(st.read.budget);
        if (!gate.owns_lock() && !gate.try_lock()) {
          gate.lock();  // behind another acceptor; Cancelled here: no connection was taken
          continue;     // it may have left connections queued: try again before waiting
        }
        st.read.watch.wait(lfd, EV_READ);
        continue;
      // The connection was aborted or hit a network error while queued (Linux reports those on
      // accept): it is gone, the listener is fine.
      case ECONNABORTED:
      case EPROTO:
      case ENETDOWN:
      case ENOPROTOOPT:
      case EHOSTDOWN:
      case ENONET:
      case EHOSTUNREACH:
      case EOPNOTSUPP:
      case ENETUNREACH:
      case EPERM:
        continue;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM: {
        if (!gate.owns_lock()) {
          gate.lock();  // one acceptor backs off; the others wait behind it
          continue;
        }
        if (st.backoffs.fetch_add(1, std::memory_order_relaxed) == 0) {
          const std::string msg = std::string("weft: ") + kind + "::accept on " + local_address_string(lfd) + ": " +
                                  std::strerror(e) + "; backing off and retrying (this is reported once per listener; "
                                  "raise RLIMIT_NOFILE or bound the number of connections)\n";
          std::fputs(msg.c_str(), stderr);
        }
        backoff = backoff.count() == 0 ? milliseconds(1) : std::min(backoff * 2, milliseconds(100));
        io_waited(st.read.budget);
        weft::sleep(backoff);
        continue;
      }
      default:
        throw_io(e, std::string(kind) + "::accept on " + local_address_string(lfd));
    }
  }
}

}  // namespace weft::detail
