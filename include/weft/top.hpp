/// @file
/// weft/top.hpp — live snapshots of a runtime over a Unix socket, for tools/weft-top.
///
/// @verbatim
///   weft::TopServer top(rt.handle(), "/tmp/myapp.weft");   // or WEFT_TOP_SOCKET=/tmp/myapp.weft
///   // elsewhere:  tools/weft-top /tmp/myapp.weft
///
/// Each connection receives one JSON snapshot (runtime metrics, workers, every live fiber) and is
/// closed; weft-top connects once per refresh. Served by a helper thread; the socket file is
/// removed when the server stops. With WEFT_TOP_SOCKET set, every Runtime started serves at that
/// path (the first one to bind it wins; later ones report it taken on stderr and carry on).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/runtime.hpp>

#include <memory>
#include <string>

WEFT_API_BEGIN

namespace weft {

/// While alive, serves JSON snapshots of a runtime on a Unix socket, for tools/weft-top (see
/// weft/top.hpp).
class TopServer {
 public:
  /// Throws weft::Error if the socket cannot be created (path too long, exists and is live, ...).
  TopServer(const Handle& rt, std::string path);
  ~TopServer();
  TopServer(const TopServer&) = delete;
  TopServer& operator=(const TopServer&) = delete;
  /// The socket's path.
  const std::string& path() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

/// The snapshot TopServer sends (JSON), for other transports.
std::string top_snapshot_json(const Handle& rt);

}  // namespace weft

WEFT_API_END
