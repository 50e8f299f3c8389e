// libev_echo: the comparison point for weft's echo server — a minimal single-threaded libev echo
// server (one loop, one ev_io per connection, no fibers), driven by the same echo_client.
//
//   libev_echo echo_server --port P        # serves 127.0.0.1:P until SIGTERM/SIGINT, exits 0
//
// Same behaviour as the weft server (bench/echo_server.hpp): TCP_NODELAY on accepted sockets, a
// 4096-byte read, everything read is written back before reading again (if the socket cannot take
// it all, the connection stops reading and waits for EV_WRITE), until EOF.
#include <ev.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "bench_common.hpp"

namespace {

struct Conn {
  ev_io io;
  char buf[4096];
  std::size_t len = 0;  // bytes read and not yet written back
  std::size_t off = 0;
};

void close_conn(struct ev_loop* loop, Conn* c) {
  ev_io_stop(loop, &c->io);
  ::close(c->io.fd);
  delete c;
}

void on_conn(struct ev_loop* loop, ev_io* w, int) {
  Conn* c = reinterpret_cast<Conn*>(w);
  for (;;) {
    if (c->off < c->len) {  // flush what we owe first
      const ssize_t n = ::send(w->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) {
          if (!(w->events & EV_WRITE)) {
            ev_io_stop(loop, w);
            ev_io_set(w, w->fd, EV_WRITE);
            ev_io_start(loop, w);
          }
          return;
        }
        return close_conn(loop, c);
      }
      c->off += static_cast<std::size_t>(n);
      continue;
    }
    if (w->events & EV_WRITE) {
      ev_io_stop(loop, w);
      ev_io_set(w, w->fd, EV_READ);
      ev_io_start(loop, w);
    }
    const ssize_t n = ::recv(w->fd, c->buf, sizeof c->buf, 0);
    if (n > 0) {
      c->len = static_cast<std::size_t>(n);
      c->off = 0;
      continue;
    }
    if (n < 0 && errno == EAGAIN) return;
    return close_conn(loop, c);  // EOF or error
  }
}

void on_accept(struct ev_loop* loop, ev_io* w, int) {
  for (;;) {
    const int fd = ::accept4(w->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or out of descriptors: try again on the next readiness
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto* c = new Conn;
    ev_io_init(&c->io, on_conn, fd, EV_READ);
    ev_io_start(loop, &c->io);
  }
}

void on_stop(struct ev_loop* loop, ev_signal*, int) { ev_break(loop, EVBREAK_ALL); }

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv);
  if (args.bench() != "echo_server") {
    bench::die(bench::kExitUsage, "%s: only `echo_server --port P` is implemented", args.prog().c_str());
  }
  const auto port = args.integer("port", 0, 1);
  args.reject_unknown();
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd, 4096) != 0) {
    bench::die(bench::kExitFailed, "%s: cannot listen on 127.0.0.1:%ld: %s", args.where().c_str(), long(port),
               std::strerror(errno));
  }
  struct ev_loop* loop = ev_default_loop(static_cast<unsigned>(EVFLAG_NOENV) | static_cast<unsigned>(EVBACKEND_EPOLL));
  ev_io accept_w;
  ev_io_init(&accept_w, on_accept, lfd, EV_READ);
  ev_io_start(loop, &accept_w);
  ev_signal term, intr;
  ev_signal_init(&term, on_stop, SIGTERM);
  ev_signal_init(&intr, on_stop, SIGINT);
  ev_signal_start(loop, &term);
  ev_signal_start(loop, &intr);
  ev_run(loop, 0);
  return 0;
}
