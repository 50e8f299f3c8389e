// Cancellation delivery: which pending cancellation a suspension point throws, and scope entry/exit.
//
// Deliverability (doc/design.md §2):
//  - the fiber's own cancellation (abort, shutdown) only outside every shield, and never while
//    the fiber is unwinding or inside a catch block;
//  - a scope (timeout, token) only while the fiber is at the shield depth and in the exception
//    state the scope was entered in (Trio's rule: a shield holds off the scopes outside it, a
//    scope entered inside a shield or a cleanup still fires for the code inside it).
// begin_wait (wait.cpp) applies the same rules to decide which wakers may interrupt a wait, so a
// wait woken with Cancel always finds the cancellation it must throw here.
#include "sched/wait.hpp"

#include "fiber/switch.hpp"

#include <weft/task.hpp>

#include <algorithm>
#include <chrono>

namespace weft::detail {

namespace {
using Clock = weft::Clock;  // virtual in a simulation

bool eh_clean(const EhGlobals* g) noexcept { return g->uncaught_exceptions == 0 && g->caught_exceptions == nullptr; }

// The runtime is shutting down and this fiber is not one of the cleanup children it lets run.
bool shutdown_reaches(const FiberBase* f) noexcept {
  return rec(f)->shutdown_flag_->load(std::memory_order_acquire) && !rec(f)->cleanup_child_;
}

bool fiber_cancel_requested(const FiberBase* f, Cancelled::Reason& why) noexcept {
  if (const std::uint8_t c = f->cancel_.load(std::memory_order_acquire)) {
    why = static_cast<Cancelled::Reason>(c - 1);
    return true;
  }
  return false;
}

// The outermost scope in [rec(f)->scopes_, stop) that is cancelled or expired, considering only those
// `usable` admits; null if none.
template <class Usable>
CancelScope* outermost_hit(FiberBase* f, Usable usable) noexcept {
  Clock::time_point now = Clock::time_point::min();
  bool now_read = false;
  CancelScope* hit = nullptr;
  for (CancelScope* s = rec(f)->scopes_; s; s = s->parent) {
    if (!usable(s)) {
      if (s->shield_depth < rec(f)->shield_depth_) break;  // every outer scope is behind a shield too
      continue;
    }
    if (s->cancelled.load(std::memory_order_acquire)) {
      hit = s;
      continue;
    }
    if (s->deadline != Clock::time_point::max()) {
      if (!now_read) {
        now = Clock::now();
        now_read = true;
      }
      if (now >= s->deadline) hit = s;
    }
  }
  return hit;
}
}  // namespace

bool scope_deliverable(const FiberBase* f, const CancelScope* s, const EhGlobals* g) noexcept {
  return s->shield_depth == rec(f)->shield_depth_ && s->eh_uncaught == g->uncaught_exceptions &&
         s->eh_caught == g->caught_exceptions;
}

bool cancel_deliverable(const FiberBase* f) noexcept {
  return rec(f)->shield_depth_ == 0 && eh_clean(thread_eh_globals());
}

bool deliverable_cancellation(FiberBase* f, Cancelled::Reason& why, std::uint64_t& scope) noexcept {
  const EhGlobals* g = thread_eh_globals();
  if (rec(f)->shield_depth_ == 0 && eh_clean(g)) {
    // The fiber's own cancellation first: no scope catches it.
    if (fiber_cancel_requested(f, why)) {
      scope = 0;
      return true;
    }
  }
  CancelScope* hit = outermost_hit(f, [&](const CancelScope* s) { return scope_deliverable(f, s, g); });
  if (!hit) return false;
  why = hit->reason;
  scope = hit->id;
  return true;
}

void throw_cancelled(FiberBase* f) {
  Cancelled::Reason why = Cancelled::Reason::Aborted;
  std::uint64_t scope = 0;
  if (!deliverable_cancellation(f, why, scope)) {
    // A wait reported Cancel, but nothing may be thrown here. The wait protocol rules this out
    // (begin_wait admits only deliverable cancellers); reaching it would mean an invented
    // cancellation, which is exactly the kind of lie the wait core exists to prevent.
    wait_core_broken(f, "a wait ended Cancelled with no deliverable cancellation");
  }
  if (scope == 0) f->cancel_delivered_ = true;
  throw Cancelled(why, scope);
}

bool cancellation_pending(FiberBase* f) noexcept {
  if (shutdown_reaches(f)) return true;
  Cancelled::Reason why;
  if (fiber_cancel_requested(f, why)) return true;
  return outermost_hit(f, [](const CancelScope*) { return true; }) != nullptr;
}

void check_cancel_point_slow(FiberBase* f, bool chaos_yield) {
  if (chaos_yield && chaos::enabled()) chaos::maybe_yield(f);
  if (shutdown_reaches(f)) {
    request_cancel(f, Cancelled::Reason::Shutdown);  // the sweep may not have reached us yet
  }
  Cancelled::Reason why;
  std::uint64_t scope;
  if (deliverable_cancellation(f, why, scope)) {
    if (scope == 0) f->cancel_delivered_ = true;
    throw Cancelled(why, scope);
  }
}

void enter_scope(FiberBase* f, CancelScope& s) noexcept {
  const EhGlobals* g = thread_eh_globals();
  s.id = ++rec(f)->scope_seq_;
  s.parent = rec(f)->scopes_;
  s.shield_depth = rec(f)->shield_depth_;
  s.eh_uncaught = g->uncaught_exceptions;
  s.eh_caught = g->caught_exceptions;
  rec(f)->scopes_ = &s;
}

void exit_scope(FiberBase* f, CancelScope& s) noexcept { rec(f)->scopes_ = s.parent; }

}  // namespace weft::detail
