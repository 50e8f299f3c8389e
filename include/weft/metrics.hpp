/// @file
/// weft/metrics.hpp — always-on counters of a runtime, read at any time from any thread.
///
/// @verbatim
///   weft::RuntimeMetrics m = rt.metrics();
///   std::printf("%zu live fibers, %ld stacks in use\n", m.live_fibers, m.live_stacks);
///   for (const auto& w : m.workers) std::printf("worker %u ran %llu\n", w.index, (unsigned long long)w.fibers_run);
///
/// Counters are read without stopping the runtime, so a snapshot taken while it runs is only
/// approximately consistent across fields.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

WEFT_API_BEGIN

namespace weft {

/// One worker thread's counters (RuntimeMetrics::workers).
struct WorkerMetrics {
  /// The worker's number (0..workers-1; its thread is named "<prefix>-<index>").
  unsigned index = 0;
  std::uint64_t fibers_run = 0;    ///< times a fiber was resumed on this worker
  std::uint64_t steals = 0;        ///< successful steal operations by this worker
  std::uint64_t stolen = 0;        ///< fibers moved by those steals
  std::uint64_t parks = 0;         ///< times the worker went idle in its event loop
  std::uint64_t unparks = 0;       ///< times it came back (parks - unparks: parked right now)
  std::uint64_t inject_pulls = 0;  ///< fibers taken from the global queue
  std::size_t queue_depth = 0;     ///< fibers in its run queue now
  std::uint64_t uptime_ns = 0;     ///< since the worker started
  std::uint64_t busy_ns = 0;       ///< of that, not parked (running fibers or looking for work)
  std::uint64_t reactor_watchers = 0;  ///< fibers waiting on its event loop (timers, fds)
};

/// What Handle::fibers() collects besides the always-available fields.
struct FiberQuery {
  bool backtraces = false;   ///< walk the saved stack of each fiber that is not running
  bool stack_usage = false;  ///< scan each stack for its high-water mark
};

/// A fiber's state: Created (not yet scheduled), Runnable (queued), Running, Suspended (waiting),
/// Finished.
enum class FiberStatus { Created, Runnable, Running, Suspended, Finished };
/// "created", "runnable", "running", "suspended", "finished".
const char* to_string(FiberStatus s) noexcept;

/// One live fiber, as the registry sees it (weft::Handle::fibers(), dumps, tools/weft-top).
struct FiberMetrics {
  /// The fiber's id (FiberId).
  std::uint64_t id = 0;
  /// Options::name ("" if none was given).
  std::string name;
  /// Its state when the snapshot was taken.
  FiberStatus status = FiberStatus::Created;
  std::string wait;                ///< what it waits on while Suspended ("sleep, wakes in 12.0 ms", ...)
  /// While it waits on a weft::Mutex held by a live fiber of the same runtime: that fiber's id
  /// (`wait` then also says "held by fiber N 'name'"). 0 otherwise.
  std::uint64_t held_by = 0;
  /// The kind of wait, without its argument ("mutex", "sleep", "joining fiber", ...): empty unless
  /// Suspended. Points to a string with static storage.
  const char* wait_kind = "";
  /// Live fibers of the same runtime that alone can end this wait (weft/deadlock.hpp): the Mutex's
  /// or RwLock writer's holder, the joined fiber, a JoinSet's or scope's unfinished children.
  std::vector<std::uint64_t> waits_for;
  std::string spawn_file;          ///< spawn site (std::source_location of the spawn call)
  /// The spawn site's line.
  unsigned spawn_line = 0;
  /// The function that spawned it.
  std::string spawn_function;
  std::uint64_t age_ns = 0;        ///< since spawn (coarse clock: ms resolution)
  int worker = -1;                 ///< worker it last ran on (-1: never ran)
  std::uint64_t runs = 0;          ///< times resumed (always counted)
  /// Maintained only while fiber timing or tracing is on (weft::set_fiber_timing): 0 otherwise.
  std::uint64_t timed_runs = 0;
  std::uint64_t run_ns = 0;        ///< total running time
  std::uint64_t max_slice_ns = 0;  ///< longest single run without suspending
  std::uint64_t delay_ns = 0;      ///< total scheduling delay (runnable -> running)
  /// Longest scheduling delay.
  std::uint64_t max_delay_ns = 0;
  std::size_t stack_size = 0;      ///< usable bytes of its stack (0: no stack yet)
  /// Deepest stack use seen on its stack (on demand: FiberQuery::stack_usage). Stacks are reused,
  /// so this is the peak over every fiber that ran on this stack since it was mapped: an upper
  /// bound for this fiber, and exactly what sizing stacks needs.
  std::size_t stack_high_water = 0;
  /// Symbolized frames of a suspended or runnable fiber (on demand: FiberQuery::backtraces).
  std::vector<std::string> backtrace;
};

/// A snapshot of a runtime's counters (Handle::metrics()), with one WorkerMetrics per worker.
struct RuntimeMetrics {
  std::size_t live_fibers = 0;       ///< spawned and not yet finished
  /// Fibers spawned on this runtime since it started.
  std::uint64_t spawned_total = 0;
  long live_stacks = 0;              ///< fiber stacks in use (returns to 0 when all fibers ended)
  std::size_t mapped_stacks = 0;     ///< stacks ever mapped by the process (reused, never unmapped)
  std::size_t guarded_stacks = 0;    ///< of those, how many have a guard page
  /// Fibers in the global (inject) queue now, not yet taken by a worker.
  std::size_t inject_queue_depth = 0;
  /// The spawn_blocking pool (process-wide, shared by every runtime; see weft/blocking.hpp).
  std::size_t blocking_queue_depth = 0;  // blocking tasks waiting for a pool thread
  std::size_t blocking_threads = 0;      ///< pool threads alive (running a task or idle)
  std::uint64_t reactor_watchers = 0;  ///< sum over workers
  /// One entry per worker, in index order.
  std::vector<WorkerMetrics> workers;
};

}  // namespace weft

WEFT_API_END
