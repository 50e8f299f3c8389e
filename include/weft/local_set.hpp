/// @file
/// weft/local_set.hpp — fibers that never leave their thread.
///
/// @verbatim
///   weft::LocalSet local;
///   local.run_until([&] {                     // the calling fiber stays on its worker meanwhile
///     auto h = weft::spawn_local([] {         // so does this one, for its whole life
///       thread_affine_api();                  // safe: always the same OS thread
///       weft::sleep(10ms);
///       thread_affine_api();
///     });
///     h.join().value();
///   });
///
/// Ordinary fibers may run on any worker after any suspension point. A LocalSet pins work to one
/// worker: run_until(f) runs `f` in the calling fiber, which stays on its current worker until `f`
/// returns, and inside it spawn_local(g) starts fibers that run on that same worker for their whole
/// lives (they may spawn_local further ones). Use them for thread-affine objects. Destroying the
/// LocalSet aborts its local fibers that are still running and waits for them. spawn_local outside
/// a LocalSet throws weft::Error. run_until must be called from a fiber; from a plain thread use
/// `rt.block_on([&] { weft::LocalSet ls; return ls.run_until(f); })`.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/cancel_scope.hpp>
#include <weft/task.hpp>

#include <memory>
#include <source_location>
#include <utility>

WEFT_API_BEGIN

namespace weft {

namespace detail {
WEFT_INTERNAL_BEGIN  // defined in lib/: keep hidden (see weft/detail/config.hpp)
class LocalSetCore;
WEFT_INTERNAL_END
std::unique_ptr<LocalSetCore> make_local_set_core();
void destroy_local_set_core(LocalSetCore* c) noexcept;
// Pins the calling fiber to its worker and makes `c` its LocalSet; returns what to restore.
struct LocalBinding {
  FiberBase* fiber;
  Worker* home;
  LocalSetCore* set;
};
LocalBinding bind_local(LocalSetCore* c);
void unbind_local(const LocalBinding& b) noexcept;
std::size_t local_set_size(const LocalSetCore* c) noexcept;
struct LocalSetDeleter {
  void operator()(LocalSetCore* c) const noexcept { destroy_local_set_core(c); }
};
}  // namespace detail

/// Pins fibers to one worker: run_until(f) keeps the calling fiber on its worker while `f` runs,
/// and spawn_local() inside it starts fibers that never leave that worker (see
/// weft/local_set.hpp).
class LocalSet {
 public:
  LocalSet();
  ~LocalSet() = default;  // the core's deleter aborts remaining local fibers and waits for them
  LocalSet(const LocalSet&) = delete;
  LocalSet& operator=(const LocalSet&) = delete;

  /// Runs `f` in the calling fiber, which stays on its current worker until `f` returns; returns
  /// what `f` returns. spawn_local() inside `f` spawns into this set. Must be called from a fiber.
  template <class F>
  decltype(auto) run_until(F&& f) {
    struct Unbind {
      detail::LocalBinding b;
      ~Unbind() { detail::unbind_local(b); }
    } unbind{detail::bind_local(core_.get())};
    return std::forward<F>(f)();
  }
  /// Local fibers still alive.
  std::size_t size() const noexcept { return detail::local_set_size(core_.get()); }

 private:
  std::unique_ptr<detail::LocalSetCore, detail::LocalSetDeleter> core_;
};

/// Spawns a fiber pinned to the calling fiber's worker, in its LocalSet.
template <class F>
[[nodiscard("dropping a JoinHandle detaches the fiber; call .detach() to say so")]]
auto spawn_local(Options opts, F&& fn, const std::source_location& loc = std::source_location::current())
    -> JoinHandle<detail::spawn_result_t<F>> {
  return detail::spawn_handle(std::forward<F>(fn), [&](detail::FiberBase* t) {
    detail::spawn_child(t, std::move(opts), loc, nullptr, true);
  });
}

/// spawn_local with default Options. spawn_local(f, args...) and spawn_local(opts, f, args...)
/// bind arguments as weft::spawn does.
template <class F>
[[nodiscard("dropping a JoinHandle detaches the fiber; call .detach() to say so")]]
auto spawn_local(F&& fn, const std::source_location& loc = std::source_location::current())
    -> JoinHandle<detail::spawn_result_t<F>> {
  return spawn_local(Options{}, std::forward<F>(fn), loc);
}

// spawn_local(f, args...) / spawn_local(opts, f, args...): arguments decay-copied, as weft::spawn.
WEFT_DETAIL_BOUND_SPAWNS(WEFT_DETAIL_JOIN_HANDLE_RET, spawn_local, , spawn_local)

}  // namespace weft

WEFT_API_END
