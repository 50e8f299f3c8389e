/// @file
/// weft/dump.hpp — what every live fiber is doing, printed on demand or on a signal.
///
/// @verbatim
///   weft::dump(std::cerr);                     // every runtime in the process
///   rt.dump(std::cout);                        // one runtime
///   weft::DumpOnSignal on_usr1;                // `kill -USR1 <pid>` prints a dump to stderr
///
/// For each fiber: id, name, state (runnable/running/suspended), what it waits on, spawn site, age,
/// stack high-water mark, and — for a fiber that is not running — a symbolized backtrace walked
/// from its saved context without resuming it. That walk follows frame pointers (weft is built
/// with -fno-omit-frame-pointer; frames of code built without them are skipped or end the walk)
/// and is x86-64 only. Built with elfutils libdw (the default when libdw-dev is installed), each
/// frame reads "function at file:line", with one extra frame per inlined call ("... (inlined)"),
/// lambdas named after their enclosing function, and long template argument lists shortened to
/// "<...>" (WEFT_FULL_NAMES=1 in the environment keeps them); file:line needs debug info (-g) in
/// the module, else "function+0xoff (module)". Without libdw, names come from the dynamic symbol
/// table: link executables with -rdynamic to see their own functions; otherwise frames print as
/// module+offset, which `addr2line -f -C -i -e <module> <offset>` resolves. Safe while the runtime
/// runs: a fiber resumed during its walk is reported as running (the walk is discarded).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/metrics.hpp>
#include <weft/runtime.hpp>

#include <csignal>
#include <iosfwd>
#include <optional>
#include <string>
#include <thread>

WEFT_API_BEGIN

namespace weft {

/// What a dump shows. Fibers with the same state, kind of wait, spawn site and stack print once,
/// as "N fibers like this one: fiber 12 ..." (Go's goroutine profile does the same).
struct DumpOptions {
  std::size_t limit = 0;                ///< print at most this many fibers / groups (0: all)
  std::string name;                     ///< only fibers whose name contains this
  std::optional<FiberStatus> status;    ///< only fibers in this state
  std::string wait;                     ///< only fibers whose wait contains this ("mutex", "sleep"...)
  bool group = true;                    ///< fold identical fibers into one entry with a count
  bool full_names = false;              ///< print template names in full (else std::string etc.)
  bool deadlocks = true;                ///< start with the deadlocks found (weft/deadlock.hpp)
};

/// Writes a dump of every live fiber of every runtime in the process; deadlocks come first.
void dump(std::ostream& os);
/// The same, filtered and folded as `o` says.
void dump(std::ostream& os, const DumpOptions& o);

/// The same dump as one JSON object, for tools:
/// @verbatim
/// {"runtimes":[{"runtime":id,"workers":n,"live_fibers":n,"spawned_total":n,"shown":n,
///               "fibers":[...],"deadlocks":[Deadlock::to_json()...]}],
///  "blocking_tasks":[{"id","name","spawn_file","spawn_line","running","age_ns"}]}
/// @endverbatim
/// Each fiber is an object with every FiberMetrics field (its backtrace and stack high-water mark
/// included). The filters and the limit of `o` apply (`shown` counts the fibers that matched
/// before the limit); `group` does not (a tool groups as it likes), nor `full_names`.
void dump_json(std::ostream& os, const DumpOptions& o = {});

/// While alive, signal `sig` (default SIGUSR1) makes a helper thread write weft::dump to `fd`
/// (default stderr). The handler only writes a byte to a pipe, so it is async-signal-safe; the dump
/// itself runs on the helper thread. One at a time; restores the previous handler when destroyed.
class DumpOnSignal {
 public:
  /// Installs the handler for `sig` and starts the helper thread that writes to `fd`.
  explicit DumpOnSignal(int sig = SIGUSR1, int fd = 2);
  ~DumpOnSignal();
  DumpOnSignal(const DumpOnSignal&) = delete;
  DumpOnSignal& operator=(const DumpOnSignal&) = delete;
  /// Dumps written so far (for tests).
  unsigned dumps() const noexcept;

 private:
  int sig_;
  int out_fd_;
  int pipe_[2] = {-1, -1};
  std::thread thread_;
  struct sigaction old_ {};
};

namespace detail {
void dump_runtime(Scheduler& s, std::ostream& os, const DumpOptions& o);
// Symbolizes a code address: the function containing it, "function at file:line" (libdw and debug
// info), "function+0xoff (module)" or "module+0xoff". Its inlined calls are left out (dumps list them).
std::string symbolize(const void* pc);
}  // namespace detail

}  // namespace weft

WEFT_API_END
