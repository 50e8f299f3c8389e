/// @file
/// weft/task_tracker.hpp — wait until every fiber spawned through a tracker has ended (tokio-util's
/// TaskTracker).
///
/// @verbatim
///   weft::TaskTracker tracker;
///   for (int i = 0; i < 10; ++i) tracker.spawn([i] { work(i); }).detach();
///   tracker.close();            // no more tasks are expected...
///   tracker.wait();             // ...so this returns once all ten have ended
///
/// A tracker counts tasks; it keeps no results (a JoinSet keeps them). A fiber spawned through it
/// counts until it has *ended*, however that happened: returned, panicked, cancelled while running,
/// or cancelled before it ever ran — the count is held by the fiber's closure, and weft destroys a
/// closure in every one of those cases (DESIGN: the closure dies with the fiber). A spawn that
/// throws counts nothing. token() counts anything else (a thread, a callback) until the token is
/// destroyed.
///
/// wait() returns once the tracker is closed *and* empty (so it cannot return between two spawns of
/// a loop that has not finished spawning). close() does not stop spawning: a closed tracker still
/// tracks what is spawned through it, and wait() then waits for that too; reopen() undoes close().
/// wait() is a suspension point (weft::Cancelled) with no effect on the tracker; from a plain thread
/// it blocks. TaskTracker is a cheap, copyable handle to shared state: copies track together, and
/// the state lives until the last copy and the last tracked task are gone.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>

#include <weft/detail/chrono.hpp>
#include <weft/task.hpp>
#include <weft/runtime.hpp>
#include <weft/wait_group.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <source_location>
#include <utility>

WEFT_API_BEGIN

namespace weft {

class TaskTracker;

/// Counts as one task of its tracker from creation until destruction (or reset()). Movable.
class TrackerToken {
 public:
  TrackerToken() = default;
  /// Takes over `o`'s count; `o` no longer counts.
  TrackerToken(TrackerToken&& o) noexcept : s_(std::move(o.s_)) {}
  /// Stops counting this token (reset()), then takes over `o`'s count.
  TrackerToken& operator=(TrackerToken&& o) noexcept {
    if (this != &o) {
      reset();
      s_ = std::move(o.s_);
    }
    return *this;
  }
  ~TrackerToken() { reset(); }
  /// Stops counting now (idempotent).
  void reset() noexcept;
  /// Whether the token still counts.
  explicit operator bool() const noexcept { return s_ != nullptr; }

 private:
  friend class TaskTracker;
  struct State;
  explicit TrackerToken(std::shared_ptr<State> s) noexcept : s_(std::move(s)) {}
  std::shared_ptr<State> s_;
};

/// The shared state. Invariant: wg.count() == tasks + (closed ? 0 : 1), so the WaitGroup reaches
/// zero exactly when the tracker is closed and empty, and wait() is WaitGroup::wait().
struct TrackerToken::State {
  WaitGroup wg;                     ///< starts at 1: the "open" unit
  /// Whether close() was called (and not undone by reopen()).
  std::atomic<bool> closed{false};
  /// Fibers and tokens counted now.
  std::atomic<std::size_t> tasks{0};
  State() { wg.add(1); }
};

namespace detail {
// The closure a tracked fiber runs. The token is declared first so it is destroyed last: the
// tracker stops counting only after everything the function captured has been destroyed.
template <class F>
struct TrackedFn {
  TrackerToken token;
  F fn;
  decltype(auto) operator()() { return std::invoke(fn); }
};
}  // namespace detail

/// Counts fibers (and tokens) so that a shutdown can wait for all of them, without owning them
/// (tokio-util's TaskTracker): close() and wait() return once every tracked task is done (see
/// weft/task_tracker.hpp). Copies share one count.
class TaskTracker {
 public:
  TaskTracker() : s_(std::make_shared<TrackerToken::State>()) {}

  /// Spawns on the calling fiber's runtime (weft::spawn), tracked. Throws weft::Error from a plain
  /// thread: use spawn_on(handle, f) there.
  template <class F>
  [[nodiscard("dropping a JoinHandle detaches the fiber; call .detach() to say so")]]
  auto spawn(F&& fn, const std::source_location& loc = std::source_location::current()) const {
    return weft::spawn(track(std::forward<F>(fn)), loc);
  }
  /// spawn() with `opts` (name, stack size).
  template <class F>
  [[nodiscard("dropping a JoinHandle detaches the fiber; call .detach() to say so")]]
  auto spawn(Options opts, F&& fn, const std::source_location& loc = std::source_location::current()) const {
    return weft::spawn(std::move(opts), track(std::forward<F>(fn)), loc);
  }
  /// Spawns onto `h`'s runtime, from any thread (Handle::spawn), tracked.
  template <class F>
  [[nodiscard("dropping a JoinHandle detaches the fiber; call .detach() to say so")]]
  auto spawn_on(const Handle& h, F&& fn, const std::source_location& loc = std::source_location::current()) const {
    return h.spawn(track(std::forward<F>(fn)), loc);
  }
  /// spawn_on() with `opts` (name, stack size). spawn(f, args...) and spawn_on(h, f, args...) with
  /// or without Options bind arguments as weft::spawn does.
  template <class F>
  [[nodiscard("dropping a JoinHandle detaches the fiber; call .detach() to say so")]]
  auto spawn_on(const Handle& h, Options opts, F&& fn,
                const std::source_location& loc = std::source_location::current()) const {
    return h.spawn(std::move(opts), track(std::forward<F>(fn)), loc);
  }
  WEFT_DETAIL_BOUND_SPAWNS(WEFT_DETAIL_JOIN_HANDLE_RET, spawn, const, spawn)

  /// Wraps `fn` so that it counts from now until its closure is destroyed; for spawning through
  /// other entry points (spawn_local, JoinSet::spawn, spawn_blocking, Scope::spawn).
  template <class F>
  auto track(F&& fn) const {
    return detail::TrackedFn<std::decay_t<F>>{token(), std::forward<F>(fn)};
  }
  /// A token counted as one task until it is destroyed.
  TrackerToken token() const;

  /// Lets wait() return once the tracker is empty. Idempotent; true if it was open.
  bool close() const noexcept;
  /// Undoes close(). True if it was closed.
  bool reopen() const noexcept;
  /// Whether close() was called (and not undone by reopen()).
  bool is_closed() const noexcept { return s_->closed.load(std::memory_order_acquire); }
  /// Tasks (fibers and tokens) still counted: a snapshot.
  std::size_t len() const noexcept { return s_->tasks.load(std::memory_order_acquire); }
  /// len() == 0.
  bool is_empty() const noexcept { return len() == 0; }

  /// Suspends (blocks a plain thread) until the tracker is closed and empty.
  void wait() const { s_->wg.wait(); }
  /// As wait(); false if it was not closed and empty by then.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> d) const {
    return s_->wg.wait_for(detail::ceil_nanos(d));
  }
  /// As wait(); false if it was not closed and empty at `t` (any clock).
  template <class Clock, class Duration>
  bool wait_until(std::chrono::time_point<Clock, Duration> t) const {
    return s_->wg.wait_until(detail::to_steady_deadline(t));
  }

 private:
  std::shared_ptr<TrackerToken::State> s_;  // never null
};

}  // namespace weft

WEFT_API_END
