// weft/detail/cancel_scope.hpp — RAII entry into a cancellation scope / a shield. Internal.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/fiber.hpp>

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

// Defers cancellation of the running fiber (if any) while alive.
class ShieldGuard {
 public:
  ShieldGuard() noexcept : f_(current_fiber_or_null()) {
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

}  // namespace weft::detail

WEFT_API_END
