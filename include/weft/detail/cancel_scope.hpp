// weft/detail/cancel_scope.hpp — RAII entry into a cancellation scope / a shield. Internal.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/fiber.hpp>
#include <weft/error.hpp>

#include <optional>
#include <type_traits>

WEFT_API_BEGIN

namespace weft::detail {

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
