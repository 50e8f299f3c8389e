/// @file
/// weft/sim.hpp — deterministic simulation: run fiber code under virtual time with a seeded
/// schedule, find a seed that breaks it, replay that seed.
///
/// @verbatim
///   // An hour of sleeping, in microseconds of real time:
///   weft::sim::run(1, [] {
///     auto t0 = weft::Clock::now();
///     weft::sleep(1h);
///     assert(weft::Clock::now() - t0 == 1h);
///   });
///
///   // In a test: 300 schedules; a failure names its seed, WEFT_SIM_SEED=<seed> replays just it.
///   weft::sim::check(300, [] { run_my_protocol(); });
///
///   // Or search and replay by hand:
///   if (auto bad = weft::sim::find_failing_seed(1, 1000, body)) weft::sim::run(bad->seed, body);
///
/// A simulated runtime has no threads. The thread that waits for one of its fibers (sim::run,
/// Runtime::block_on, a JoinHandle::join or JoinSet::join_next from main, the Runtime's
/// destructor) runs them all, one at a time,
/// over `workers` *virtual* workers, so work stealing, the LIFO slot and migration still happen —
/// and every choice the scheduler makes (which worker runs next, whom it steals from, when a due
/// timer fires between two runs) is drawn from the seed. The clock is virtual (weft/clock.hpp): it
/// starts at the same instant in every run and jumps to the next timer whenever no fiber can run,
/// so sleep(1h), timeout(), Interval and try_lock_for cost nothing. The same code runs unchanged
/// on the real runtime: `Runtime::Builder().simulated(seed)` is the only difference.
///
/// What it explores: the order in which fibers run between suspension points (which fiber runs
/// next, on which worker, which timer fires first, which ready Select branch wins). Code between
/// two suspension points runs without interruption in a simulation, whereas on the real runtime
/// two fibers on two workers run truly in parallel: a data race between code that never suspends
/// (two fibers writing a plain int) is ThreadSanitizer's to find, not the simulation's.
///
/// Replay: the same seed gives the same run, bit for bit (same fiber ids, same order, same virtual
/// times), as long as the code under test is itself deterministic: no plain threads touching its
/// fibers' primitives, no real time (std::chrono::steady_clock::now(): use weft::Clock), no
/// randomness of its own that is not seeded. With WEFT_CHAOS set, chaos mode's injected yields
/// and run-order shuffles are drawn from the seed too (so they replay).
///
/// When a simulation cannot go on it throws sim::Failure, naming its seed:
///   Deadlock  — the awaited fiber is unfinished, no fiber can run and no timer is pending;
///   Leftover  — sim::run's function returned, but fibers it started are blocked forever;
///   Livelock  — Options::max_steps fiber runs without ending (a fiber polling in a loop keeps
///               virtual time from moving: wait on something instead);
/// each with every live fiber, what it waits on and who holds it ("mutex, held by fiber 3").
///
/// What is not simulated: real file descriptors — any wait on one in a simulated fiber
/// (wait_readable(), a socket's accept/read/write that would block) throws weft::Error: it would
/// wait on the real kernel, outside virtual time;
/// spawn_blocking runs its function inline, in the calling fiber, at the spawn, in zero virtual
/// time; plain threads run in real time and are not part of the schedule — and a plain thread
/// that blocks on a simulated fiber's Mutex, channel or Notify waits for fibers that only a join
/// runs: wait through a join, or do the work inside the simulation. Only one thread at a time may
/// run a simulation (a second gets weft::Error).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/clock.hpp>
#include <weft/error.hpp>
#include <weft/runtime.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <utility>

WEFT_API_BEGIN

namespace weft::sim {

/// What went wrong in a simulation (Failure::kind()).
enum class FailureKind {
  Deadlock,  ///< the awaited fiber cannot finish: nothing can run, no timer is pending
  Leftover,  ///< the root function returned, but fibers it started are blocked forever
  Livelock,  ///< Options::max_steps runs without finishing
  Threw,     ///< sim::check: the function (or a fiber it joined) threw; what() has its message
};

/// A simulation that failed; what() names the seed and, for a deadlock, every blocked fiber.
class Failure : public Error {
 public:
  /// A failure of kind `k` in the run of `seed`, described by `what`.
  Failure(FailureKind k, std::uint64_t seed, const std::string& what)
      : Error(what), kind_(k), seed_(seed) {}
  /// Which way it failed.
  FailureKind kind() const noexcept { return kind_; }
  /// The seed that replays it.
  std::uint64_t seed() const noexcept { return seed_; }

 private:
  FailureKind kind_;
  std::uint64_t seed_;
};

/// The shape of a simulated runtime.
struct Options {
  std::size_t workers = 2;                      ///< virtual workers (run on one thread)
  std::size_t stack_size = kDefaultStackSize;   ///< as Runtime::Builder::stack_size
  std::uint64_t max_steps = 50'000'000;         ///< fiber runs before a Livelock failure
};

namespace detail {
// Runs the simulation of `s` until no fiber is alive (sim::Failure{Leftover} if it cannot).
void run_all(weft::detail::Scheduler& s);
// "weft::sim: seed N ..." on stderr, with how to replay it.
void report_seed(std::uint64_t seed, const char* what) noexcept;
// $WEFT_SIM_SEED, if set.
std::optional<std::uint64_t> env_seed();
}  // namespace detail

namespace detail {
// run() without the report on stderr (find_failing_seed tries many seeds quietly).
template <class F>
auto run_quiet(std::uint64_t seed, F&& fn, const Options& o) -> weft::detail::spawn_result_t<F> {
  Runtime rt = Runtime::Builder()
                   .workers(o.workers)
                   .stack_size(o.stack_size)
                   .simulated(seed)
                   .simulation_max_steps(o.max_steps)
                   .build();
  auto r = rt.spawn(weft::Options{.name = "sim root"}, std::forward<F>(fn)).join();  // runs it until the root returns
  if (!r) weft::detail::rethrow_root(r.error());
  run_all(weft::detail::RuntimeAccess::scheduler(rt.handle()));  // and until every fiber it started has finished
  if constexpr (!std::is_void_v<weft::detail::spawn_result_t<F>>) return std::move(*r);
}
}  // namespace detail

/// Runs `fn` as the root fiber of a fresh simulated runtime seeded with `seed`, and returns its
/// value once it *and every fiber it started* have finished (Go's synctest.Run). Throws Failure on
/// a deadlock, a livelock, or fibers left blocked forever; `fn`'s own exception propagates as is.
/// A Failure's message names the seed; `fn`'s own exception is reported on stderr with its seed. Whatever is still alive when it throws is
/// cancelled and unwound (the runtime's shutdown), so locals of `fn` that blocked fibers use must
/// outlive them: keep such state outside `fn`, or in the fibers that use it.
template <class F>
auto run(std::uint64_t seed, F&& fn, const Options& o = {}) -> weft::detail::spawn_result_t<F> {
  try {
    return detail::run_quiet(seed, std::forward<F>(fn), o);
  } catch (const Failure&) {
    throw;  // its message names the seed and how to replay it
  } catch (const std::exception& e) {
    detail::report_seed(seed, e.what());
    throw;
  } catch (...) {
    detail::report_seed(seed, "a non-standard exception");
    throw;
  }
}

/// What find_failing_seed found.
struct SeedFailure {
  std::uint64_t seed;  ///< pass it to run() (or WEFT_SIM_SEED) to replay
  std::string what;    ///< what that run threw
};

/// Runs run(seed, fn) for seeds first, first+1, ... (count of them) and returns the first that
/// throws, with its message; nullopt if every run succeeded. `fn` is called once per seed, so it
/// must be callable repeatedly (take state by value or rebuild it inside).
template <class F>
std::optional<SeedFailure> find_failing_seed(std::uint64_t first, std::uint64_t count, F&& fn,
                                             const Options& o = {}) {
  for (std::uint64_t seed = first; seed - first < count; ++seed) {
    try {
      detail::run_quiet(seed, fn, o);
    } catch (const std::exception& e) {
      return SeedFailure{seed, e.what()};
    } catch (...) {
      return SeedFailure{seed, "a non-standard exception"};
    }
  }
  return std::nullopt;
}

/// For tests: run(seed, fn) for seeds 1..count — or only $WEFT_SIM_SEED when it is set, to
/// replay one — and throws Failure naming the first seed that failed (kind Threw when `fn` threw:
/// a failed REQUIRE, a broken invariant).
template <class F>
void check(std::uint64_t count, F&& fn, const Options& o = {}) {
  std::uint64_t first = 1;
  if (auto s = detail::env_seed()) {
    first = *s;
    count = 1;
  }
  for (std::uint64_t seed = first; seed - first < count; ++seed) {
    try {
      detail::run_quiet(seed, fn, o);
    } catch (const Failure&) {
      throw;
    } catch (const std::exception& e) {
      throw Failure(FailureKind::Threw, seed,
                    "weft::sim: seed " + std::to_string(seed) + " failed: " + e.what() +
                        " (replay: WEFT_SIM_SEED=" + std::to_string(seed) + ")");
    } catch (...) {
      throw Failure(FailureKind::Threw, seed,
                    "weft::sim: seed " + std::to_string(seed) + " failed: an exception not derived from "
                    "std::exception (a test framework's failed REQUIRE, say) (replay: WEFT_SIM_SEED=" +
                        std::to_string(seed) + ")");
    }
  }
}

}  // namespace weft::sim

WEFT_API_END
