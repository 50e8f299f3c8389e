/// @file
/// weft/join_set.hpp — a set of fibers joined in completion order.
///
/// @verbatim
///   weft::JoinSet<int> set;
///   for (int i = 0; i < 5; ++i) set.spawn([i] { weft::sleep(std::chrono::milliseconds(50 - 10 * i)); return i; });
///   while (auto r = set.join_next()) std::printf("finished: %d\n", **r);   // 4 3 2 1 0
///
/// join_next() waits for whichever child finishes next and returns its Result<T>; std::nullopt when
/// the set is empty. Destroying a JoinSet (or shutdown()) aborts every child still running **and
/// waits** until each has finished unwinding, so no child outlives the set and every RAII guard on
/// the children's stacks has run — children may therefore borrow what outlives the set.
/// detach_all() lets the children run on instead. A JoinSet is used by one fiber (or thread) at a
/// time; it may be moved.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/join_set_core.hpp>
#include <weft/result.hpp>
#include <weft/task.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <source_location>
#include <utility>

WEFT_API_BEGIN

namespace weft {

/// Owns a set of child fibers that all return T: join_next() hands back their results in
/// completion order, and destroying the set aborts and waits for those still running (see
/// weft/join_set.hpp).
template <class T>
class JoinSet {
 public:
  JoinSet() : core_(std::make_unique<detail::JoinSetCore>()) {}
  /// Takes over the other set's children; using the moved-from set further is a weft::Error.
  JoinSet(JoinSet&&) noexcept = default;
  /// Shuts down this set's children (as shutdown() does), then takes over `o`'s.
  JoinSet& operator=(JoinSet&& o) noexcept {
    if (this != &o) {
      if (core_) core_->shutdown();
      core_ = std::move(o.core_);
    }
    return *this;
  }
  /// Aborts the children still running and waits for them (never throws, not interruptible).
  ~JoinSet() {
    if (core_) core_->shutdown();
  }

  /// Spawns a child on the calling fiber's runtime. Returns a handle that can abort it.
  template <class F>
  AbortHandle spawn(F&& fn, const std::source_location& loc = std::source_location::current()) {
    return spawn(Options{}, std::forward<F>(fn), loc);
  }
  /// Spawns a child with `opts` (name, stack size). spawn(f, args...) and spawn(opts, f, args...)
  /// bind arguments as weft::spawn does.
  template <class F>
  AbortHandle spawn(Options opts, F&& fn, const std::source_location& loc = std::source_location::current()) {
    static_assert(std::is_same_v<detail::spawn_result_t<F>, T>, "JoinSet<T>::spawn: the function must return T");
    detail::JoinSetCore& c = core();  // check before allocating: a throw must not leak the task
    auto* t = detail::make_task(std::forward<F>(fn));
    AbortHandle h = detail::HandleAccess::abort_handle(t);
    c.spawn(t, std::move(opts), loc);
    return h;
  }
  // spawn(f, args...) / spawn(opts, f, args...): arguments decay-copied, as weft::spawn.
  WEFT_DETAIL_BOUND_SPAWNS((AbortHandle), spawn, , spawn)

  /// The next child to finish (completion order), waiting if none has; nullopt if the set is empty.
  /// A suspension point: throws weft::Cancelled if the caller is cancelled (the set is unchanged).
  [[nodiscard]] std::optional<Result<T>> join_next() { return take(core().next(true)); }
  /// As join_next, without waiting: nullopt if no child has finished yet.
  [[nodiscard]] std::optional<Result<T>> try_join_next() { return take(core().next(false)); }

  /// Requests cancellation of every child still running; their results (cancelled, or a value if
  /// they finished first) still come out of join_next().
  void abort_all() noexcept { core().abort_all(); }
  /// Aborts all children and waits until every one has finished; their results are dropped.
  void shutdown() noexcept { core().shutdown(); }
  /// Lets every child run on, detached; the set becomes empty.
  void detach_all() noexcept { core().detach_all(); }
  /// Children not yet taken by join_next() (running or finished).
  std::size_t size() const noexcept { return core_ ? core_->size() : 0; }
  /// size() == 0.
  bool empty() const noexcept { return size() == 0; }

 private:
  detail::JoinSetCore& core() const {
    if (!core_) throw Error("JoinSet: used after being moved from");
    return *core_;
  }
  static std::optional<Result<T>> take(detail::FiberBase* f) {
    if (!f) return std::nullopt;
    auto* t = static_cast<detail::TaskOf<T>*>(f);
    std::optional<Result<T>> r(t->take_result());
    t->release();
    return r;
  }
  std::unique_ptr<detail::JoinSetCore> core_;
};

}  // namespace weft

WEFT_API_END
