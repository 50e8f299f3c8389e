// weft/metrics.hpp — always-on counters of a runtime, read at any time from any thread.
//
//   weft::RuntimeMetrics m = rt.metrics();
//   std::printf("%zu live fibers, %ld stacks in use\n", m.live_fibers, m.live_stacks);
//   for (const auto& w : m.workers) std::printf("worker %u ran %llu\n", w.index, (unsigned long long)w.fibers_run);
//
// Counters are read without stopping the runtime, so a snapshot taken while it runs is only
// approximately consistent across fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace weft {

struct WorkerMetrics {
  unsigned index = 0;
  std::uint64_t fibers_run = 0;    // times a fiber was resumed on this worker
  std::uint64_t steals = 0;        // successful steal operations by this worker
  std::uint64_t stolen = 0;        // fibers moved by those steals
  std::uint64_t parks = 0;         // times the worker went idle in its event loop
  std::uint64_t inject_pulls = 0;  // fibers taken from the global queue
  std::size_t queue_depth = 0;     // fibers in its run queue now
  unsigned loop_waiters = 0;       // fibers waiting on its libev loop now (an fd watcher or a timer)
};

struct RuntimeMetrics {
  std::size_t live_fibers = 0;       // spawned and not yet finished
  std::uint64_t spawned_total = 0;
  long live_stacks = 0;              // fiber stacks in use (returns to 0 when all fibers ended)
  std::size_t mapped_stacks = 0;     // stacks ever mapped by the process (reused, never unmapped)
  std::size_t guarded_stacks = 0;    // of those, how many have a guard page
  std::size_t inject_queue_depth = 0;
  // The spawn_blocking pool (process-wide, shared by every runtime; see weft/blocking.hpp).
  std::size_t blocking_queue_depth = 0;  // blocking tasks waiting for a pool thread
  std::size_t blocking_threads = 0;      // pool threads alive (running a task or idle)
  std::vector<WorkerMetrics> workers;
};

}  // namespace weft
