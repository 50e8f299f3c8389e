// weft/detail/cancel_scope.hpp — RAII entry into a cancellation scope / a shield. Internal.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/fiber.hpp>
#include <weft/error.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>

WEFT_API_BEGIN

namespace weft::detail {

// A cancellation scope on a fiber's stack (timeout, run_until_cancelled). Scopes nest; the fiber
// keeps a list of the active ones, innermost first. A scope is cancelled when its deadline passes
// or when `cancelled` is set from another thread (a CancellationToken); the fiber then throws
// Cancelled tagged with the scope's id, and only that scope catches it.
//
// Which scopes may interrupt a wait (Trio's rule, lib/sched/cancel_delivery.cpp): a scope entered
// inside a shield still cancels the code inside it; a shield holds off only the scopes outside
// it (and the fiber's own abort/shutdown). Likewise a scope entered while unwinding or inside a
// catch block (a bounded cleanup in a destructor) fires for the code inside it, while the scopes
// being unwound through do not. So each scope records the shield depth and the exception state it
// was entered in, and is deliverable only while both are unchanged.
struct CancelScope {
  CancelScope* parent = nullptr;
  std::uint64_t id = 0;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::atomic<bool> cancelled{false};
  Cancelled::Reason reason = Cancelled::Reason::Timeout;
  // Entry state (fiber only; set by enter_scope).
  std::uint32_t shield_depth = 0;
  unsigned eh_uncaught = 0;
  void* eh_caught = nullptr;
  // The epoch of the fiber's current wait if this scope may cancel that wait, else older. Written
  // by the fiber in begin_wait before it publishes the wait; read by a token cancelling the scope.
  std::atomic<std::uint64_t> armed_epoch{0};
};

// The running fiber; throws weft::Error naming `op` on a plain thread.
FiberBase* require_fiber(const char* op);
FiberBase* current_fiber_or_null() noexcept;
void enter_scope_of(FiberBase* f, CancelScope& s) noexcept;
void exit_scope_of(FiberBase* f, CancelScope& s) noexcept;
void enter_shield(FiberBase* f) noexcept;
void exit_shield(FiberBase* f) noexcept;

class ScopeGuard {
 public:
  ScopeGuard(FiberBase* f, CancelScope& s) noexcept : f_(f), s_(s) { enter_scope_of(f_, s_); }
  ~ScopeGuard() { exit_scope_of(f_, s_); }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;

 private:
  FiberBase* f_;
  CancelScope& s_;
};

// Defers cancellation of the running fiber (if any) while alive: the one way weft shields, for
// weft::shield() and for library waits that must not be interrupted. Shields `f`, or nothing when
// `f` is null (a plain thread, or a shield only some calls want).
class ShieldGuard {
 public:
  ShieldGuard() noexcept : ShieldGuard(current_fiber_or_null()) {}
  explicit ShieldGuard(FiberBase* f) noexcept : f_(f) {
    if (f_) enter_shield(f_);
  }
  ~ShieldGuard() {
    if (f_) exit_shield(f_);
  }
  ShieldGuard(const ShieldGuard&) = delete;
  ShieldGuard& operator=(const ShieldGuard&) = delete;

 private:
  FiberBase* f_;
};

// What timeout() and run_until_cancelled() return for `f`: its value, or nothing when the scope
// ended it (bool for a void `f`: true when it finished).
template <class F>
using scope_result_t = std::conditional_t<std::is_void_v<std::invoke_result_t<F&>>, bool,
                                          std::optional<std::invoke_result_t<F&>>>;

// Runs `f` in the calling fiber inside `scope`, which the caller has entered (ScopeGuard): f's
// value, or an empty result if `scope` cancelled it. A Cancelled of any other scope (an outer
// timeout, abort, shutdown) passes through: each scope catches only its own.
template <class F>
scope_result_t<F> run_in_scope(const CancelScope& scope, F& f) {
  using R = scope_result_t<F>;
  try {
    if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
      f();
      return R(true);
    } else {
      return R(f());
    }
  } catch (const Cancelled& c) {
    if (c.scope() != scope.id) throw;
  }
  return R{};
}

}  // namespace weft::detail

WEFT_API_END
