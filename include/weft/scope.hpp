/// @file
/// weft/scope.hpp — structured concurrency: children that may borrow the caller's locals.
///
/// @verbatim
///   std::vector<int> results(10);                       // a local of the parent
///   weft::scope([&](weft::Scope& s) {
///     for (int i = 0; i < 10; ++i) s.spawn([&results, i] { results[i] = i * i; });
///   });                                                 // returns after every child finished
///
/// scope(body) runs `body` in the calling fiber with a Scope to spawn children into, and returns only
/// after every child has finished — on every path (normal return, exception, cancellation) — which
/// is what makes borrowing the caller's locals safe. The first child that fails (an escaped
/// exception) cancels its siblings; once all have finished, scope() throws weft::ScopeError holding
/// that failure first and any later ones. If `body` throws, the children are cancelled, waited for,
/// and body's exception propagates. Cancelling the parent cancels the children (the parent's
/// Cancelled propagates once they have unwound). Children run on the caller's runtime and may
/// migrate between its workers. Children may spawn siblings through the same Scope& (a recursive
/// fan-out); every one is joined before scope() returns, and a sibling spawned after the scope was
/// cancelled starts cancelled (its function never runs). Keep what the children share outside
/// the body lambda: the body returns before its children finish.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/join_set_core.hpp>
#include <weft/error.hpp>
#include <weft/task.hpp>

#include <exception>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

WEFT_API_BEGIN

namespace weft {

/// Thrown by scope() when children failed: every failure, the first one first.
class ScopeError : public Error {
 public:
  /// `what` summarises the failures; `errors` holds them, the first one first.
  ScopeError(std::string what, std::vector<std::exception_ptr> errors)
      : Error(std::move(what)), errors_(std::move(errors)) {}
  /// Every child's failure, the first one first.
  const std::vector<std::exception_ptr>& errors() const noexcept { return errors_; }
  /// The first failure (null if there was none).
  std::exception_ptr first() const noexcept { return errors_.empty() ? nullptr : errors_.front(); }
  /// Rethrows the first child's original exception.
  [[noreturn]] void rethrow_first() const { std::rethrow_exception(first()); }

 private:
  std::vector<std::exception_ptr> errors_;
};

/// The children of one weft::scope() call: spawn() starts them, and scope() waits for all of them
/// before it returns, so they may borrow the caller's locals (see weft/scope.hpp).
class Scope {
 public:
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

  /// Starts a child. Its return value is discarded (share results through borrowed locals).
  template <class F>
  void spawn(F&& fn, const std::source_location& loc = std::source_location::current()) {
    spawn(Options{}, std::forward<F>(fn), loc);
  }
  /// Starts a child with `opts` (name, stack size). spawn(f, args...) and spawn(opts, f, args...)
  /// bind arguments as weft::spawn does.
  template <class F>
  void spawn(Options opts, F&& fn, const std::source_location& loc = std::source_location::current()) {
    core_.spawn(detail::make_task(std::forward<F>(fn)), std::move(opts), loc);
  }
  // spawn(f, args...) / spawn(opts, f, args...): arguments decay-copied, as weft::spawn.
  WEFT_DETAIL_BOUND_SPAWNS((void), spawn, , spawn)
  /// Children not yet collected (running, or finished and not yet joined by scope()).
  std::size_t size() const noexcept { return core_.size(); }

 private:
  template <class Body>
  friend void scope(Body&& body);
  Scope() = default;
  // Waits for every child; collects failures (cancelling siblings at the first). Returns normally
  // or throws ScopeError; rethrows the caller's own cancellation after the children finished.
  void join_all();
  detail::JoinSetCore core_{"weft::scope"};
};

namespace detail {
void scope_join_all(JoinSetCore& core);
}

inline void Scope::join_all() { detail::scope_join_all(core_); }

/// Structured concurrency: runs body(Scope&) in the calling fiber, then waits for every child it
/// spawned. The first failure cancels the siblings; the failures are thrown together as a
/// ScopeError once all children have finished (see weft/scope.hpp).
template <class Body>
void scope(Body&& body) {
  Scope s;  // on any exception, its destructor aborts the children and waits for them
  std::forward<Body>(body)(s);
  s.join_all();
}

}  // namespace weft

WEFT_API_END
