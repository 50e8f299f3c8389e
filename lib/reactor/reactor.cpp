#include "reactor/reactor.hpp"

#include <weft/error.hpp>

namespace weft::detail {

Reactor::Reactor() {
  // EVFLAG_NOENV: the environment must not pick our backend. Prefer epoll (Linux).
  loop_ = ev_loop_new(static_cast<unsigned>(EVFLAG_NOENV) | static_cast<unsigned>(EVBACKEND_EPOLL));
  if (!loop_) loop_ = ev_loop_new(EVFLAG_NOENV);
  if (!loop_) throw Error("weft: cannot create a libev loop (out of file descriptors?)");
  ev_async_init(&wakeup_, [](struct ev_loop*, ev_async*, int) {});
  // Stays referenced: libev only blocks in ev_run while some watcher is active.
  ev_async_start(loop_, &wakeup_);
}

Reactor::~Reactor() {
  ev_async_stop(loop_, &wakeup_);
  ev_loop_destroy(loop_);
}

}  // namespace weft::detail
