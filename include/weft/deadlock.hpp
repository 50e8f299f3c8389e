/// @file
/// weft/deadlock.hpp — finding fibers that wait for each other forever.
///
/// @verbatim
///   weft::DeadlockReport r = weft::find_deadlocks();   // every runtime in the process
///   if (!r.empty()) std::cerr << r.to_string();        // names, spawn sites, stacks of each member
///
///   weft::DeadlockWatchdog watchdog;                   // checks every second, prints each new
///                                                      // deadlock once to stderr
///
/// The wait-for graph. A fiber parked in one of these waits has an edge to the fiber(s) that alone
/// can end the wait:
///   - Mutex::lock           -> the fiber holding the mutex
///   - RwLock::lock (writer) / lock_shared -> the fiber holding it for writing (readers: no edge)
///   - JoinHandle::join      -> the fiber joined
///   - JoinSet::join_next, scope's join -> every child of the set not yet finished (it ends when any
///                              one finishes, so it is stuck only if all of them are)
/// The dump prints these edges ("held by fiber 7 'writer'", "joining fiber 9 'fetch'").
///
/// A **deadlock** is a set of fibers each parked in such a wait, with no deadline of its own or of
/// an enclosing timeout (a timer would end it), whose every edge leads into the set: nothing but
/// another member can end any member's wait, and no member can run. Reported as each cycle (or knot)
/// of members, plus the fibers stuck behind it.
///
/// The **global** case (Go's "all goroutines are asleep - deadlock!"): every live fiber of a runtime
/// is parked and none of them can be woken. "Could be woken" is deliberately generous, because plain
/// threads and handles held outside the runtime can feed weft primitives, and weft cannot see who
/// holds a Sender or a Semaphore: a fiber counts as wakeable if it waits on anything but the four
/// waits above (a channel, Notify, CondVar, Semaphore, Barrier, OnceCell, CancellationToken, a
/// signal, an fd), if its wait has a deadline or runs under a timeout (a timer is pending), if it
/// waits on a mutex/rwlock held by a plain thread or by no live fiber of this runtime, if it joins a
/// fiber that is not a live fiber of this runtime (e.g. a spawn_blocking task), or if it is inside
/// a CancellationToken scope. So the global report never names a runtime that could still move; a
/// runtime stuck on a channel nobody will ever send on is not reported (unless you pass
/// DeadlockQuery{.only_fibers_wake = true}, which states that no plain thread or outside handle
/// touches the runtime's primitives, as Go assumes). Cancellation from outside (abort(), shutdown)
/// is not counted as a wake-up: it ends a deadlock by unwinding, not by satisfying the wait.
///
/// No false reports from races: the graph is read in three passes over the live fibers (each
/// fiber's wait word, then the edges, then the wait words again); only fibers parked in the same
/// wait (same epoch) across all three count, so every member was parked, and every edge held, at
/// one instant — and a parked fiber cannot release what it holds. Not covered: a fiber that finished
/// while holding a Mutex (its record may be reused by a new fiber; a bug reported elsewhere).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/metrics.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

WEFT_API_BEGIN

namespace weft {

/// What find_deadlocks collects and assumes.
struct DeadlockQuery {
  /// Collect each member's backtrace (as the dump does) for the report.
  bool backtraces = true;
  /// Go's assumption: only fibers of the runtime wake each other (no plain thread or outside handle
  /// sends, notifies or releases). Widens the global check to every wait without a timer or fd.
  bool only_fibers_wake = false;
};

/// One deadlock: a cycle or knot of fibers that wait for each other, or a whole runtime asleep.
struct Deadlock {
  /// Which kind of deadlock this is.
  enum class Kind {
    Cycle,     ///< members wait for each other through mutexes, rwlocks, joins (a cycle or a knot)
    AllAsleep  ///< every live fiber of the runtime is parked and none can be woken
  };
  /// A cycle (or knot) of fibers, or a whole runtime asleep.
  Kind kind = Kind::Cycle;
  std::uint64_t runtime = 0;  ///< the runtime's id (as the dump prints it)
  /// Cycle: the members in wait-for order (each waits for the next; the last waits for the first),
  /// then `stuck_behind` fibers waiting on a member. AllAsleep: every fiber of the runtime.
  std::vector<FiberMetrics> fibers;
  std::size_t members = 0;        ///< fibers[0, members) form the cycle; the rest are stuck behind it
  /// Stable identity of this deadlock (sorted member ids): what the watchdog reports once.
  std::string key() const;
  /// "deadlock: fiber 3 'a' waits for mutex ... held by fiber 4 'b'; ..." then each fiber's
  /// spawn site and stack.
  std::string to_string() const;
  /// The same for tools: {"kind":"cycle"|"all_asleep","runtime":N,"members":N,"fibers":[{"id",
  /// "name","wait","waits_for":[ids],"spawn_file","spawn_line","spawn_function","backtrace":[...]}]}
  std::string to_json() const;
};

/// Every deadlock find_deadlocks found (none: empty()).
struct DeadlockReport {
  /// One entry per deadlock.
  std::vector<Deadlock> deadlocks;
  /// No deadlock was found.
  bool empty() const noexcept { return deadlocks.empty(); }
  /// Every deadlock as Deadlock::to_string renders it (a fiber in several deadlocks shows its stack
  /// once); "" when empty.
  std::string to_string() const;
  std::string to_json() const;  ///< {"deadlocks":[Deadlock::to_json()...]}
};

/// Looks for deadlocks in every runtime of the process (see the header comment for what counts).
/// Safe from any thread or fiber, while the runtimes run; costs three walks of the live fibers.
DeadlockReport find_deadlocks(const DeadlockQuery& q = {});

/// While alive, a helper thread runs find_deadlocks every `period` and reports each deadlock it has
/// not reported before: to `fd` (default stderr) as Deadlock::to_string, or to `on_report` (called
/// on the helper thread) if given. Several may exist at once.
class DeadlockWatchdog {
 public:
  /// Reports each new deadlock to `fd` (default stderr) as Deadlock::to_string.
  explicit DeadlockWatchdog(std::chrono::milliseconds period = std::chrono::seconds(1), int fd = 2,
                            DeadlockQuery q = {});
  /// Hands each new deadlock to `on_report`, called on the helper thread.
  DeadlockWatchdog(std::chrono::milliseconds period, std::function<void(const Deadlock&)> on_report,
                   DeadlockQuery q = {});
  ~DeadlockWatchdog();
  DeadlockWatchdog(const DeadlockWatchdog&) = delete;
  DeadlockWatchdog& operator=(const DeadlockWatchdog&) = delete;
  /// Deadlocks reported so far, and checks completed so far.
  unsigned reports() const noexcept;
  /// Checks completed so far.
  unsigned checks() const noexcept;

 private:
  struct State;
  std::shared_ptr<State> s_;
  std::thread thread_;
};

}  // namespace weft

WEFT_API_END
