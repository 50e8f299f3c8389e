// TopServer: one JSON snapshot per connection on a Unix socket (weft/top.hpp).
#include "sched/scheduler.hpp"
#include "observe/observe.hpp"
#include "introspect/fiber_json.hpp"
#include "introspect/stall_log.hpp"
#include "observe/json.hpp"
#include "introspect/wait_graph.hpp"

#include <weft/deadlock.hpp>
#include <weft/top.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <thread>

namespace weft {

using detail::json_string;

std::string top_snapshot_json(const Handle& rt) {
  RuntimeMetrics m = rt.metrics();
  std::vector<FiberMetrics> fs = rt.fibers();
  std::ostringstream os;
  os << "{\"pid\":" << ::getpid() << ",\"runtime\":" << detail::RuntimeAccess::scheduler(rt).runtime_id_ << ",\"live_fibers\":" << m.live_fibers
     << ",\"spawned_total\":" << m.spawned_total << ",\"live_stacks\":" << m.live_stacks
     << ",\"inject_queue_depth\":" << m.inject_queue_depth << ",\"reactor_watchers\":" << m.reactor_watchers
     << ",\"workers\":[";
  for (std::size_t i = 0; i < m.workers.size(); ++i) {
    const auto& w = m.workers[i];
    os << (i ? "," : "") << "{\"index\":" << w.index << ",\"fibers_run\":" << w.fibers_run << ",\"steals\":" << w.steals
       << ",\"stolen\":" << w.stolen << ",\"parks\":" << w.parks << ",\"unparks\":" << w.unparks
       << ",\"inject_pulls\":" << w.inject_pulls << ",\"queue_depth\":" << w.queue_depth
       << ",\"uptime_ns\":" << w.uptime_ns << ",\"busy_ns\":" << w.busy_ns << ",\"watchers\":" << w.reactor_watchers << "}";
  }
  os << "],\"fibers\":[";
  for (std::size_t i = 0; i < fs.size(); ++i) {
    if (i) os << ",";
    detail::write_fiber_json(os, fs[i]);
  }
  // What weft-top shows above the fibers when there is any: the runtime's deadlocks (without
  // stacks: the tool has no room for them; the dump has) and what its stall detectors reported.
  os << "],\"deadlocks\":";
  detail::write_deadlocks_json(os, detail::RuntimeAccess::scheduler(rt));
  const detail::StallLog stalls = detail::stall_log_of(detail::RuntimeAccess::scheduler(rt).runtime_id_);
  const std::uint64_t now = detail::coarse_ns();
  os << ",\"stalls\":{\"total\":" << stalls.total << ",\"recent\":[";
  for (std::size_t i = 0; i < stalls.recent.size(); ++i) {
    const detail::StallSeen& s = stalls.recent[i];
    os << (i ? "," : "") << "{\"fiber\":" << s.fiber_id << ",\"name\":";
    json_string(os, s.name);
    os << ",\"worker\":" << s.worker << ",\"running_for_ns\":" << s.running_for_ns
       << ",\"ended\":" << (s.ended ? "true" : "false") << ",\"ago_ns\":" << (now > s.seen_ns ? now - s.seen_ns : 0) << "}";
  }
  os << "]}}\n";
  return os.str();
}

struct TopServer::State {
  Handle rt;
  std::string path;
  int fd = -1;
  int stop_pipe[2] = {-1, -1};
  std::thread thread;
  explicit State(const Handle& h) : rt(h) {}
};

TopServer::TopServer(const Handle& rt, std::string path) : s_(std::make_unique<State>(rt)) {
  if (!rt) throw Error("weft::TopServer: the handle refers to no runtime (moved-from Runtime)");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    throw Error("weft::TopServer: socket path '" + path + "' is empty or longer than " +
                std::to_string(sizeof addr.sun_path - 1) + " bytes; pick a shorter path");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  s_->path = std::move(path);
  s_->fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s_->fd < 0) throw Error("weft::TopServer: socket() failed: " + std::string(std::strerror(errno)));
  auto try_bind = [&] { return ::bind(s_->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0; };
  bool ok = try_bind();
  if (!ok && errno == EADDRINUSE) {
    // A stale file left by a dead process is replaced; a live server's is not.
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) ::close(probe);
    if (live) {
      errno = EADDRINUSE;
    } else {
      ::unlink(s_->path.c_str());
      ok = try_bind();
    }
  }
  if (!ok || ::listen(s_->fd, 8) != 0 || ::pipe2(s_->stop_pipe, O_CLOEXEC) != 0) {
    const std::string err = std::strerror(errno);
    ::close(s_->fd);
    throw Error("weft::TopServer: cannot listen on '" + s_->path + "': " + err +
                " (another process may be serving it)");
  }
  s_->thread = std::thread([st = s_.get()] {
    for (;;) {
      pollfd p[2] = {{st->fd, POLLIN, 0}, {st->stop_pipe[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (p[1].revents) return;
      const int c = ::accept4(st->fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      const std::string snap = top_snapshot_json(st->rt);
      std::size_t off = 0;
      while (off < snap.size()) {
        const ssize_t n = ::send(c, snap.data() + off, snap.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      ::close(c);
    }
  });
}

TopServer::~TopServer() {
  const char q = 'q';
  while (::write(s_->stop_pipe[1], &q, 1) < 0 && errno == EINTR) {
  }
  s_->thread.join();
  ::close(s_->fd);
  ::close(s_->stop_pipe[0]);
  ::close(s_->stop_pipe[1]);
  ::unlink(s_->path.c_str());
}

const std::string& TopServer::path() const noexcept { return s_->path; }

namespace detail {
// WEFT_TOP_SOCKET: started by make_scheduler, stopped by Scheduler::shutdown.
std::shared_ptr<void> top_env_server(std::shared_ptr<Scheduler> s) {
  const char* p = std::getenv("WEFT_TOP_SOCKET");
  if (!p || !*p) return nullptr;
  try {
    return std::make_shared<TopServer>(detail::RuntimeAccess::handle(std::move(s)), p);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft: WEFT_TOP_SOCKET: %s\n", e.what());
    return nullptr;
  }
}
}  // namespace detail

}  // namespace weft
