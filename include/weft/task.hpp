/// @file
/// weft/task.hpp — spawning fibers and joining them.
///
/// @verbatim
///   weft::JoinHandle<int> h = weft::spawn([] { weft::sleep(10ms); return 42; });
///   weft::Result<int> r = h.join();            // suspends this fiber (or blocks a plain thread)
///   assert(r && *r == 42);
///
///   auto named = weft::spawn(weft::Options{.name = "fetch", .stack_size = 256 * 1024}, [] { ... });
///
///   auto worker = weft::spawn([](std::stop_token st) {     // like std::jthread
///     while (!st.stop_requested()) crunch();                // stops without a suspension point
///   });
///   worker.abort();                                         // requests stop on st
///
/// Destroying a JoinHandle *detaches*: the fiber runs on and its result is discarded. Cancelling
/// is explicit: abort().
///
/// A function taking a std::stop_token (spawn(f) with f(std::stop_token), or spawn(f, args...) with
/// f(std::stop_token, args...)) gets a token whose stop is requested whenever the fiber itself is
/// cancelled: abort(), its JoinSet or LocalSet dropped, a failing sibling in its scope, runtime
/// shutdown — not a timeout() or token scope inside the fiber, which cancel only that scope. The
/// token is chosen only when f cannot be called without it, so other callables are unaffected
/// (unlike std::jthread, `[](auto...) {}` is called without a token). std::stop_callbacks on the
/// token run on the cancelling thread, inside abort() and the like (std's rule): keep them short,
/// never suspend, spawn or throw in them. Outcome: if the fiber's cancellation was requested before
/// it finished, join() reports it cancelled — also when the function noticed the stop through the
/// token and returned normally (returning is how a jthread-style function acknowledges stop); the
/// fiber still throws weft::Cancelled at its suspension points as any fiber does.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/fiber.hpp>
#include <weft/detail/spawn_args.hpp>
#include <weft/error.hpp>
#include <weft/result.hpp>

#include <cstddef>
#include <functional>
#include <source_location>
#include <string>
#include <type_traits>
#include <utility>

WEFT_API_BEGIN

namespace weft {

/// How to spawn a fiber: what to call it and how big a stack to give it. Aggregate, so that
/// `weft::spawn(weft::Options{.name = "fetch"}, f)` reads at the call site.
struct Options {
  std::string name;            ///< shown in errors, dumps and traces
  std::size_t stack_size = 0;  ///< bytes; 0 = the runtime's default (Runtime::Builder::stack_size)
};

namespace detail {
// Registers and enqueues `f`. `s` may be null: then the calling fiber's runtime is used, and a
// weft::Error is thrown when the caller is not a fiber. Takes ownership of one reference.
void spawn_fiber(FiberBase* f, Scheduler* s, Options&& o, const std::source_location& loc);
// Suspends the calling fiber (or blocks the calling thread) until `f` finished. Throws Cancelled if
// the calling fiber is cancelled while waiting; `f` is unaffected then.
void join_wait(FiberBase* f);
// Spawns on the calling fiber's runtime (throws weft::Error from a plain thread). `joiner` is
// installed before the fiber can run; `local` pins it to the caller's worker and LocalSet.
void spawn_child(FiberBase* f, Options&& o, const std::source_location& loc, JoinWaiter* joiner, bool local);
// Thread-safe, idempotent; the first reason is kept.
void request_cancel(FiberBase* f, Cancelled::Reason why) noexcept;
[[noreturn]] void throw_bad_handle(const char* op, std::uint64_t id, bool joined);

// What the fiber returns; f(std::stop_token) counts as a fiber function (fiber.hpp).
template <class F>
using spawn_result_t = fiber_invoke_result_t<std::decay_t<F>>;

template <class F>
auto make_task(F&& fn) {
  using T = spawn_result_t<F>;
  static_assert(!std::is_reference_v<T>, "weft::spawn: a fiber cannot return a reference; return a value or a pointer");
  return new Task<T, std::decay_t<F>>(std::forward<F>(fn));
}

// Makes JoinHandles and AbortHandles, whose constructors are private (defined below them).
struct HandleAccess;
}  // namespace detail

/// Cancels a fiber without being able to join it. Copyable; outliving the fiber is fine.
class AbortHandle {
 public:
  AbortHandle() = default;
  /// Another handle to the same fiber.
  AbortHandle(const AbortHandle& o) : AbortHandle(o.f_) {}
  /// Takes over `o`'s fiber; `o` becomes empty.
  AbortHandle(AbortHandle&& o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
  /// Refers to `o`'s fiber instead (copy or move).
  AbortHandle& operator=(AbortHandle o) noexcept {
    std::swap(f_, o.f_);
    return *this;
  }
  ~AbortHandle() {
    if (f_) f_->release();
  }
  /// Requests cancellation, as JoinHandle::abort(): the fiber throws weft::Cancelled at its next
  /// suspension point. Idempotent; does nothing on an empty handle or a finished fiber.
  void abort() const noexcept {
    if (f_) detail::request_cancel(f_, Cancelled::Reason::Aborted);
  }
  /// Whether the fiber has finished (true for an empty handle).
  bool is_finished() const noexcept { return !f_ || f_->finished(); }

 private:
  friend struct detail::HandleAccess;
  template <class>
  friend class JoinHandle;
  // Refers to the fiber `f` (null: an empty handle) and keeps its record alive.
  explicit AbortHandle(detail::FiberBase* f) : f_(f) {
    if (f_) f_->add_ref();
  }
  detail::FiberBase* f_ = nullptr;
};

/// Owns a spawned fiber's result: join() waits for it, abort() cancels the fiber. Move-only;
/// destroying it (or detach()) lets the fiber run on unobserved. See weft/task.hpp.
template <class T>
class JoinHandle {
 public:
  JoinHandle() = default;
  /// Takes over `o`'s fiber; `o` becomes invalid().
  JoinHandle(JoinHandle&& o) noexcept
      : t_(std::exchange(o.t_, nullptr)), id_(o.id_), joined_(std::exchange(o.joined_, false)) {}
  /// Detaches the fiber this handle held, then takes over `o`'s.
  JoinHandle& operator=(JoinHandle&& o) noexcept {
    if (this != &o) {
      reset();
      t_ = std::exchange(o.t_, nullptr);
      id_ = o.id_;
      joined_ = std::exchange(o.joined_, false);
    }
    return *this;
  }
  JoinHandle(const JoinHandle&) = delete;
  JoinHandle& operator=(const JoinHandle&) = delete;
  /// Detaches: the fiber keeps running; nobody will see its result.
  ~JoinHandle() { reset(); }

  /// Waits for the fiber and returns its value, its panic, or that it was cancelled. Suspends a
  /// fiber; blocks a plain thread. Can be called once. Throws weft::Cancelled if the *caller* is
  /// cancelled while waiting (the handle stays joinable then).
  Result<T> join() {
    if (!t_) detail::throw_bad_handle("join", id_, joined_);
    detail::join_wait(t_);
    Result<T> r = t_->take_result();
    id_ = t_->id_;
    t_->release();
    t_ = nullptr;
    joined_ = true;
    return r;
  }

  /// Requests cancellation: the fiber throws weft::Cancelled at its next suspension point (at once
  /// if it is suspended). A fiber that finishes first keeps its result. Idempotent.
  void abort() const noexcept {
    if (t_) detail::request_cancel(t_, Cancelled::Reason::Aborted);
  }
  /// A copyable handle that can cancel this fiber from elsewhere (it cannot join). Throws weft::Error
  /// on an invalid handle.
  AbortHandle abort_handle() const {
    if (!t_) detail::throw_bad_handle("abort_handle", id_, joined_);
    return AbortHandle(t_);
  }
  /// Whether the fiber has finished (join() would not wait). Throws weft::Error on an invalid handle.
  bool is_finished() const {
    if (!t_) detail::throw_bad_handle("is_finished", id_, joined_);
    return t_->finished();
  }
  /// The fiber's id (also after join()).
  FiberId id() const noexcept { return t_ ? t_->id_ : id_; }
  /// False once joined, detached or moved from.
  bool valid() const noexcept { return t_ != nullptr; }
  /// Explicit form of the destructor's behaviour.
  void detach() noexcept { reset(); }

 private:
  void reset() noexcept {
    if (t_) {
      id_ = t_->id_;
      t_->release();
    }
    t_ = nullptr;
  }
  friend struct detail::HandleAccess;
  // Takes over one reference to the task `t` (spawn makes these).
  explicit JoinHandle(detail::TaskOf<T>* t) noexcept : t_(t) {}

  detail::TaskOf<T>* t_ = nullptr;
  FiberId id_ = 0;
  bool joined_ = false;
};

namespace detail {
// How weft's own templates (spawn, JoinSet) make handles; their constructors are private.
struct HandleAccess {
  template <class T>
  static JoinHandle<T> join_handle(TaskOf<T>* t) noexcept { return JoinHandle<T>(t); }
  static AbortHandle abort_handle(FiberBase* f) { return AbortHandle(f); }
};
}  // namespace detail

namespace detail {
// The one spawn sequence behind spawn, Handle::spawn, spawn_local and spawn_blocking: the task, its
// handle, a second reference (one for the handle, one for whoever runs the task), then `submit`
// hands the task to a runtime, a LocalSet or the blocking pool. If `submit` throws, it has dropped
// its reference and the handle drops the other: nothing leaks.
template <class F, class Submit>
JoinHandle<spawn_result_t<F>> spawn_handle(F&& fn, Submit&& submit) {
  auto* t = make_task(std::forward<F>(fn));
  JoinHandle<spawn_result_t<F>> h = HandleAccess::join_handle<spawn_result_t<F>>(t);
  t->add_ref();
  submit(t);
  return h;
}
}  // namespace detail

/// Spawns on the calling fiber's runtime. From a plain thread use Runtime::spawn or Handle::spawn.
template <class F>
[[nodiscard("dropping a JoinHandle detaches the fiber; call .detach() to say so")]]
auto spawn(F&& fn, const std::source_location& loc = std::source_location::current())
    -> JoinHandle<detail::spawn_result_t<F>> {
  return detail::spawn_handle(std::forward<F>(fn),
                              [&](detail::FiberBase* t) { detail::spawn_fiber(t, nullptr, Options{}, loc); });
}

/// Spawns with `opts` (name, stack size) on the calling fiber's runtime.
template <class F>
[[nodiscard("dropping a JoinHandle detaches the fiber; call .detach() to say so")]]
auto spawn(Options opts, F&& fn, const std::source_location& loc = std::source_location::current())
    -> JoinHandle<detail::spawn_result_t<F>> {
  return detail::spawn_handle(std::forward<F>(fn), [&](detail::FiberBase* t) {
    detail::spawn_fiber(t, nullptr, std::move(opts), loc);
  });
}

// spawn(f, args...) and spawn(opts, f, args...): like std::thread, `f` and the arguments are
// decay-copied and `f` is invoked as std::invoke(f, args...) in the fiber, so member functions work
// (`spawn(&Server::run, &server)`). Up to WEFT_MAX_SPAWN_ARGS arguments (weft/detail/spawn_args.hpp
// says why there is a bound).
WEFT_DETAIL_BOUND_SPAWNS(WEFT_DETAIL_JOIN_HANDLE_RET, spawn, , spawn)

}  // namespace weft

WEFT_API_END
