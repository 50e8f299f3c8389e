/// @file
/// weft/blocking.hpp — run calls that block a thread (a C library, a slow disk, getaddrinfo) on a
/// separate thread pool, so worker threads keep running fibers.
///
/// @verbatim
///   weft::JoinHandle<std::string> h = weft::spawn_blocking([] { return legacy_fetch(); });
///   std::string s = *h.join();                   // suspends this fiber; a pool thread blocks
///
///   weft::configure_blocking_pool({.max_threads = 16, .keep_alive = std::chrono::seconds(5)});
///   std::size_t waiting = weft::blocking_pool_stats().queue_depth;
///
/// The pool is process-wide, shared by every Runtime (and usable from plain threads too). A task
/// runs on a pool thread as soon as one is idle or a new one may be started (up to max_threads);
/// beyond that it queues, in submission order. Idle threads exit after `keep_alive`.
///
/// Cancellation: `abort()` on a task that has not started yet removes it from the queue at once —
/// it never runs, and join() reports it cancelled. A task that is already running **cannot be
/// aborted**: a plain thread has no suspension points, so abort() only marks it and it runs to
/// completion (join() then returns its value) — unless its function takes a std::stop_token
/// (weft/task.hpp): abort() then requests stop on it, and the task, returning after that, ends
/// cancelled. A fiber cancelled while waiting in join() throws Cancelled and leaves the task alone (abort it too if its result no longer matters). Runtime
/// shutdown does not wait for blocking tasks; capture by value what the task needs.
///
/// Inside a blocking task there is no current fiber: weft::sleep/yield_now fall back to the thread
/// versions and weft::spawn throws; spawn onto a runtime through a captured weft::Handle.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/task.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

WEFT_API_BEGIN

namespace weft {

/// Limits of the process-wide pool of threads that runs spawn_blocking tasks
/// (configure_blocking_pool).
struct BlockingPoolOptions {
  std::size_t max_threads = 512;                   ///< threads running blocking tasks at most
  std::chrono::milliseconds keep_alive{10'000};    ///< an idle thread exits after this long
};

/// A snapshot of the blocking pool (blocking_pool_stats()).
struct BlockingPoolStats {
  std::size_t threads = 0;       ///< pool threads alive (running a task or idle)
  std::size_t idle_threads = 0;  ///< of those, waiting for work
  std::size_t queue_depth = 0;   ///< tasks submitted and not yet started
  /// The configured limit (BlockingPoolOptions::max_threads).
  std::size_t max_threads = 0;
  std::uint64_t completed = 0;   ///< tasks finished, including those aborted before they started
};

/// Changes the limits; applies to threads from now on (a lower max takes effect as running tasks
/// finish). Throws weft::Error for max_threads == 0.
void configure_blocking_pool(const BlockingPoolOptions& options);
/// A snapshot of the blocking pool's threads, queue and completed tasks.
BlockingPoolStats blocking_pool_stats();
/// Tasks waiting for a pool thread.
std::size_t blocking_queue_depth();

/// One spawn_blocking task the pool holds: queued (waiting for a thread) or running on one.
struct BlockingTaskInfo {
  std::uint64_t id = 0;           ///< the id its JoinHandle reports; fiber dumps name joins by it
  std::string name;               ///< Options::name
  std::string spawn_file;         ///< where spawn_blocking was called
  std::uint32_t spawn_line = 0;   ///< the line of that call
  bool running = false;           ///< on a pool thread; false: queued
  std::chrono::nanoseconds age{}; ///< running for (running) or queued for (not yet started)
};
/// The pool's tasks now, running ones first, each group oldest first. Fiber dumps use it to name
/// a joined blocking task, and weft::dump lists the pool's tasks after the fibers.
std::vector<BlockingTaskInfo> blocking_tasks();

namespace detail {
// Gives the task its id, name and spawn site.
void prepare_blocking(FiberBase* t, Options&& o, const std::source_location& loc) noexcept;
// Queues it; takes the running reference. Throws weft::Error if no pool thread can be started.
void submit_blocking(FiberBase* t);
}  // namespace detail

/// Runs `fn` on a thread of the blocking pool, not on a worker: for blocking calls (file I/O,
/// getaddrinfo, CPU-heavy work) that would stall every fiber of the worker. Join the handle from a
/// fiber (it suspends) or a thread (it blocks). A task aborted before it started never runs; once
/// running it cannot be interrupted. See weft/blocking.hpp.
template <class F>
[[nodiscard("dropping a JoinHandle detaches the task; call .detach() to say so")]]
auto spawn_blocking(Options opts, F&& fn, const std::source_location& loc = std::source_location::current())
    -> JoinHandle<detail::spawn_result_t<F>> {
  return detail::spawn_handle(std::forward<F>(fn), [&](detail::FiberBase* t) {
    detail::prepare_blocking(t, std::move(opts), loc);
    detail::submit_blocking(t);
  });
}

/// spawn_blocking with default Options. spawn_blocking(f, args...) and spawn_blocking(opts, f,
/// args...) bind arguments as weft::spawn does.
template <class F>
[[nodiscard("dropping a JoinHandle detaches the task; call .detach() to say so")]]
auto spawn_blocking(F&& fn, const std::source_location& loc = std::source_location::current())
    -> JoinHandle<detail::spawn_result_t<F>> {
  return spawn_blocking(Options{}, std::forward<F>(fn), loc);
}

// spawn_blocking(f, args...) / spawn_blocking(opts, f, args...): arguments decay-copied, as
// weft::spawn.
WEFT_DETAIL_BOUND_SPAWNS(([[nodiscard("dropping a JoinHandle detaches the task; call .detach() to say so")]] auto), spawn_blocking, , spawn_blocking)

}  // namespace weft

WEFT_API_END
