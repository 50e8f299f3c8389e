/// @file
/// weft/stall.hpp — a watchdog that reports fibers that run too long without suspending (the
/// classic blocking call inside a fiber, which stalls every fiber queued on that worker).
///
/// @verbatim
///   weft::StallDetector watchdog(rt.handle());                      // reports to stderr
///   weft::StallDetector w2(rt.handle(), {.threshold = std::chrono::milliseconds(50),
///                                        .on_stall = [](const weft::StallReport& r) { ... }});
///
/// A helper thread samples each worker's run counter every threshold/4; a worker whose counter has
/// not moved while one fiber stayed on it for `threshold` is reported. The report carries the
/// fiber's id, name, spawn site, and a backtrace captured *on the offending worker* (the watchdog
/// sends it `signal`; the handler records backtrace() into a preallocated buffer), starting at the
/// interrupted instruction: the handler's own frames are left out. Costs nothing on the workers:
/// they already count runs.
///
/// Repeats follow Seastar's reactor stall detector: a stall still going is reported again at 2x,
/// 4x, 8x... the threshold (fresh backtrace each time), and each worker delivers at most
/// `reports_per_minute` reports per minute; those beyond are counted, not delivered, and the next
/// delivered report says how many were suppressed. When a reported stall ends, one more report
/// (`ended`) gives its final length (to within two sampling periods).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/runtime.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

WEFT_API_BEGIN

namespace weft {

/// One stall: a fiber that ran without suspending for longer than StallOptions::threshold.
struct StallReport {
  /// The stalling fiber's id.
  std::uint64_t fiber_id = 0;
  /// Its Options::name.
  std::string name;
  std::string spawn_site;          ///< "file:line (function)"
  /// The worker it is blocking.
  unsigned worker = 0;
  /// Still running: at least this long (sampled). `ended`: its whole length, sampled: no shorter
  /// than the truth, and at most two sampling periods (threshold/2) longer.
  std::chrono::nanoseconds running_for{0};
  bool ended = false;                       ///< the stall is over (the fiber suspended or finished)
  std::uint64_t suppressed = 0;             ///< reports the rate limit dropped since the last delivered one
  std::vector<std::string> backtrace;       ///< empty if the worker did not answer the signal, or `ended`
};

/// What counts as a stall, and where reports go.
struct StallOptions {
  /// A fiber running longer than this without suspending is reported.
  std::chrono::nanoseconds threshold = std::chrono::milliseconds(100);
  /// Called on the watchdog thread; default: print the report to stderr.
  std::function<void(const StallReport&)> on_stall;
  /// Per worker, per minute: reports beyond this are counted (StallReport::suppressed), not delivered.
  /// Seastar's default. 0: no limit.
  unsigned reports_per_minute = 5;
  /// Signal used to take the backtrace on the worker (0: SIGRTMIN + 5).
  int signal = 0;
};

/// While alive, a watchdog thread reports fibers that hold a worker for too long without
/// suspending, with their backtrace (see weft/stall.hpp).
class StallDetector {
 public:
  /// `StallDetector::Options{.threshold = ...}` reads better at the call site.
  using Options = StallOptions;

  /// Starts watching the workers of `rt`'s runtime.
  explicit StallDetector(const Handle& rt, StallOptions o = {});
  ~StallDetector();
  StallDetector(const StallDetector&) = delete;
  StallDetector& operator=(const StallDetector&) = delete;

  /// Reports delivered so far.
  std::uint64_t reports() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace weft

WEFT_API_END
