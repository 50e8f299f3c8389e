/// @file
/// weft/runtime.hpp — the runtime: worker threads that run fibers.
///
/// @verbatim
///   int main() {
///     weft::Runtime rt;                                   // one worker per core
///     return rt.block_on([] {                             // runs as a fiber; blocks main
///       auto h = weft::spawn([] { return 6 * 7; });
///       return *h.join() == 42 ? 0 : 1;
///     });
///   }
///
///   weft::Runtime rt = weft::Runtime::Builder().workers(2).stack_size(128 * 1024).build();
///
/// Destroying the runtime shuts it down: every remaining fiber is cancelled (it unwinds from its
/// suspension point, running its RAII guards), the destructor waits for all of them, then stops the
/// workers. Builder::shutdown_timeout bounds that wait; fibers still alive then are reported on
/// stderr and their stacks deliberately leaked (never freed under a live frame).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/chrono.hpp>
#include <weft/error.hpp>
#include <weft/metrics.hpp>
#include <weft/result.hpp>
#include <weft/task.hpp>

#include <chrono>
#include <cstddef>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

WEFT_API_BEGIN

namespace weft {

/// What happens when a fiber panics (an exception escapes it) and nobody observes the panic — its
/// JoinHandle was dropped (detached) without join(). Either way it is reported on stderr with the
/// fiber's name and spawn site.
enum class PanicPolicy {
  KeepGoing,  // report and continue (default; like Tokio)
  Abort,      // report and std::abort() the process
};

/// What Runtime::Builder::stack_size is unless set: the usable bytes of a fiber's stack.
inline constexpr std::size_t kDefaultStackSize = 64 * 1024;

namespace detail {
struct Config {
  std::size_t workers = 0;                 // 0 = std::thread::hardware_concurrency()
  std::size_t stack_size = kDefaultStackSize;  // usable bytes per fiber stack
  std::string thread_name;                  // empty: workers are "weft-w<index>"; else "<prefix>-<index>"
  std::optional<std::chrono::nanoseconds> shutdown_timeout;
  PanicPolicy panic_policy = PanicPolicy::KeepGoing;
  std::optional<std::uint64_t> sim_seed;    // set: a simulated runtime (weft/sim.hpp)
  std::uint64_t sim_max_steps = 50'000'000;  // a simulation that runs this many fibers without ending fails
};
std::shared_ptr<Scheduler> make_scheduler(const Config& cfg);
void shutdown_scheduler(Scheduler& s);
std::size_t worker_count(const Scheduler& s);
std::size_t stack_size_of(const Scheduler& s) noexcept;
void check_not_in_fiber(const char* op);
RuntimeMetrics metrics_of(Scheduler& s);
std::vector<FiberMetrics> fibers_of(Scheduler& s, const FiberQuery& q);
void dump_runtime(Scheduler& s, std::ostream& os);
std::uint64_t runtime_id_of(const Scheduler& s) noexcept;
std::shared_ptr<Scheduler> current_scheduler(const char* op);
[[noreturn]] void rethrow_root(const JoinError& e);
struct RuntimeAccess;
}  // namespace detail

/// A cheap, copyable reference to a runtime, usable from any thread to spawn onto it. Spawning
/// through a Handle whose runtime has shut down throws weft::Error.
class Handle {
 public:
  /// The runtime of the calling fiber; throws weft::Error from a plain thread.
  static Handle current() { return Handle(detail::current_scheduler("Handle::current")); }

  /// Spawns `fn` as a fiber on this runtime, from any thread; as weft::spawn (weft/task.hpp).
  template <class F>
  [[nodiscard("dropping a JoinHandle detaches the fiber; call .detach() to say so")]]
  auto spawn(F&& fn, const std::source_location& loc = std::source_location::current()) const {
    return spawn(Options{}, std::forward<F>(fn), loc);
  }
  /// Spawns with `opts` (name, stack size). spawn(f, args...) and spawn(opts, f, args...) bind
  /// arguments as weft::spawn does.
  template <class F>
  [[nodiscard("dropping a JoinHandle detaches the fiber; call .detach() to say so")]]
  auto spawn(Options opts, F&& fn, const std::source_location& loc = std::source_location::current()) const
      -> JoinHandle<detail::spawn_result_t<F>> {
    return detail::spawn_handle(std::forward<F>(fn), [&](detail::FiberBase* t) {
      detail::spawn_fiber(t, s_.get(), std::move(opts), loc);
    });
  }
  // spawn(f, args...) / spawn(opts, f, args...), as weft::spawn (weft/task.hpp).
  WEFT_DETAIL_BOUND_SPAWNS(WEFT_DETAIL_JOIN_HANDLE_RET, spawn, const, spawn)

  /// Runs `fn` as a fiber and blocks the calling (non-fiber) thread until it returns; returns its
  /// value or rethrows its exception. Calling it from inside a fiber throws weft::Error (it would
  /// block a worker): spawn and join instead.
  template <class F>
  auto block_on(F&& fn, const std::source_location& loc = std::source_location::current())
      -> detail::spawn_result_t<F> {
    detail::check_not_in_fiber("Runtime::block_on");
    Result<detail::spawn_result_t<F>> r = spawn(Options{.name = "block_on"}, std::forward<F>(fn), loc).join();
    if (!r) detail::rethrow_root(r.error());
    if constexpr (!std::is_void_v<detail::spawn_result_t<F>>) return std::move(*r);
  }

  /// The number of worker threads.
  std::size_t workers() const { return detail::worker_count(*s_); }
  /// The usable stack of a fiber spawned without Options::stack_size: Builder::stack_size rounded
  /// up to whole pages, as the stacks are actually mapped.
  std::size_t stack_size() const noexcept { return detail::stack_size_of(*s_); }
  /// A snapshot of the runtime's counters and of each worker's (weft/metrics.hpp).
  RuntimeMetrics metrics() const { return detail::metrics_of(*s_); }
  /// A snapshot of every live fiber (id, name, state, wait, spawn site, counters; backtraces and
  /// stack use on request). Safe while the runtime runs.
  std::vector<FiberMetrics> fibers(FiberQuery q = {}) const { return detail::fibers_of(*s_, q); }
  /// Writes this runtime's workers and fibers, with backtraces (see weft/dump.hpp).
  void dump(std::ostream& os) const { detail::dump_runtime(*s_, os); }
  /// The runtime's number in dumps and deadlock reports ("weft runtime 3", Deadlock::runtime).
  std::uint64_t id() const noexcept { return detail::runtime_id_of(*s_); }
  /// False only for the handle of a moved-from Runtime.
  explicit operator bool() const noexcept { return s_ != nullptr; }

 private:
  friend struct detail::RuntimeAccess;
  friend class Runtime;
  explicit Handle(std::shared_ptr<detail::Scheduler> s) : s_(std::move(s)) {}
  std::shared_ptr<detail::Scheduler> s_;
};

namespace detail {
// The scheduler behind a Handle, for weft's own code (lib/, weft/sim.hpp, tests): the public
// classes keep it out of their interface.
struct RuntimeAccess {
  static Scheduler& scheduler(const Handle& h) noexcept { return *h.s_; }
  static Handle handle(std::shared_ptr<Scheduler> s) { return Handle(std::move(s)); }
};
}  // namespace detail

/// The usable stack a fiber gets without Options::stack_size: in a fiber, its runtime's
/// (Handle::stack_size()); from a plain thread, what a Runtime built with default options gives
/// (kDefaultStackSize, rounded up to whole pages). Never throws.
std::size_t default_stack_size() noexcept;

/// Owns worker threads that run fibers. Build it with Runtime::Builder (or default-construct it),
/// enter it with block_on() from main, and let the destructor shut it down (see weft/runtime.hpp).
class Runtime {
 public:
  /// Runtime options, set one by one: `Runtime::Builder().workers(4).build()`.
  class Builder {
   public:
    /// Worker threads (default: one per hardware thread).
    Builder& workers(std::size_t n) { cfg_.workers = n; return *this; }
    /// Default usable stack size of a fiber (default 64 KiB; rounded up to whole pages).
    Builder& stack_size(std::size_t bytes) { cfg_.stack_size = bytes; return *this; }
    /// Worker threads are named "<prefix>-<index>" (default: "weft-w0", "weft-w1", ...). Linux keeps
    /// 15 characters of a thread's name: the prefix is cut so that the index always fits.
    Builder& thread_name(std::string prefix) { cfg_.thread_name = std::move(prefix); return *this; }
    /// Bound on how long shutdown waits for cancelled fibers to finish unwinding.
    /// Any duration, rounded up to whole nanoseconds.
    template <class Rep, class Period>
    Builder& shutdown_timeout(std::chrono::duration<Rep, Period> d) {
      cfg_.shutdown_timeout = detail::ceil_nanos(d);
      return *this;
    }
    /// What an unobserved panic in a detached fiber does (see PanicPolicy).
    Builder& panic_policy(PanicPolicy p) { cfg_.panic_policy = p; return *this; }
    /// A simulated runtime (weft/sim.hpp): no threads — the thread that joins its fibers
    /// (block_on, join from main, the destructor) runs all of them, every scheduling choice comes
    /// from `seed`, and time is virtual (weft/clock.hpp). The same seed replays the same run.
    Builder& simulated(std::uint64_t seed) { cfg_.sim_seed = seed; return *this; }
    /// In a simulation: how many fiber runs it may take before it is reported as never ending
    /// (a fiber polling in a loop keeps virtual time from moving). Default 50,000,000.
    Builder& simulation_max_steps(std::uint64_t n) { cfg_.sim_max_steps = n; return *this; }
    /// Starts a runtime with these options.
    Runtime build() const { return Runtime(cfg_); }

   private:
    detail::Config cfg_;
  };

  Runtime() : Runtime(detail::Config{}) {}
  /// Takes over the running runtime; the moved-from object no longer owns one (its destructor does
  /// nothing, and its handle() is false).
  Runtime(Runtime&&) noexcept = default;
  Runtime& operator=(Runtime&&) = delete;
  ~Runtime() { shutdown(); }

  /// As Handle::block_on: runs `fn` as a fiber and blocks the calling thread until it returns.
  template <class F>
  auto block_on(F&& fn, const std::source_location& loc = std::source_location::current()) {
    return handle_.block_on(std::forward<F>(fn), loc);
  }
  /// As Handle::spawn: spawns `fn` as a fiber on this runtime, from any thread.
  template <class F>
  [[nodiscard("dropping a JoinHandle detaches the fiber; call .detach() to say so")]]
  auto spawn(F&& fn, const std::source_location& loc = std::source_location::current()) {
    return handle_.spawn(std::forward<F>(fn), loc);
  }
  /// As Handle::spawn with Options.
  template <class F>
  [[nodiscard("dropping a JoinHandle detaches the fiber; call .detach() to say so")]]
  auto spawn(Options opts, F&& fn, const std::source_location& loc = std::source_location::current()) {
    return handle_.spawn(std::move(opts), std::forward<F>(fn), loc);
  }
  // spawn(f, args...) / spawn(opts, f, args...), as weft::spawn (weft/task.hpp).
  WEFT_DETAIL_BOUND_SPAWNS(WEFT_DETAIL_JOIN_HANDLE_RET, spawn, , handle_.spawn)

  /// A copyable reference to this runtime, for other threads and for fibers of other runtimes.
  const Handle& handle() const noexcept { return handle_; }
  /// Handle::workers().
  std::size_t workers() const { return handle_.workers(); }
  /// Handle::stack_size().
  std::size_t stack_size() const noexcept { return handle_.stack_size(); }
  /// Handle::metrics().
  RuntimeMetrics metrics() const { return handle_.metrics(); }
  /// Handle::fibers().
  std::vector<FiberMetrics> fibers(FiberQuery q = {}) const { return handle_.fibers(q); }
  /// Handle::dump().
  void dump(std::ostream& os) const { handle_.dump(os); }
  /// Handle::id().
  std::uint64_t id() const noexcept { return handle_.id(); }

  /// Cancels every fiber, waits for them to unwind, stops the workers. Idempotent; the destructor
  /// calls it. Must not be called from one of this runtime's fibers.
  void shutdown() {
    if (moved_from()) return;
    detail::shutdown_scheduler(*handle_.s_);
  }

 private:
  // Builder::build() calls this.
  explicit Runtime(const detail::Config& cfg) : handle_(detail::make_scheduler(cfg)) {}
  bool moved_from() const noexcept { return !handle_; }
  Handle handle_;
};

}  // namespace weft

WEFT_API_END
