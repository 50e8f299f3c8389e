// How a fiber waits and how it is woken — the protocol every suspension point uses.
//
// A fiber's `wait_word_` packs: epoch (bits 8..63) | scope-cancellable (7) | wake reason (4..6) |
// cancellable (3) | state (0..2). For each wait the fiber takes a new epoch (begin_wait), publishes
// itself to the wake sources (a timer, an fd watcher, a wait list...) *with that epoch*, then
// parks. Any number of sources may race to wake it; wake() lets exactly one win (CAS
// Waiting|Parked -> Notified with its reason), and every later or stale attempt fails and says so —
// which is what lets a primitive pass a lost wake-up on to the next waiter.
//
// The reason is decided once, by the winner, and nobody re-derives it later:
//  - Notify / Ready: the condition (a grant, fd readiness) — a primitive acts on it;
//  - Timeout: only from the wait's *own* deadline timer, and only once steady_clock has reached
//    that deadline (a timer that fires early re-arms): a wait without a deadline never times out;
//  - Cancel: only from a canceller the wait admitted in begin_wait — the fiber's own abort or
//    shutdown (kCancellable) or one of its deliverable scopes, by deadline or token
//    (kScopeCancellable, woken with ScopeCancel) — so a Cancel always has something to throw.
//
// Parking is two-phase because the fiber is still on its stack when it decides to park:
//   fiber: begin_wait (Waiting) ... switch to worker
//   worker, after the switch: CAS Waiting -> Parked. If that fails, a waker already moved it to
//   Notified while it was still running, so the worker requeues it at once.
//   waker: CAS Waiting -> Notified (the worker will requeue) or Parked -> Notified (waker schedules).
// So a fiber is never resumed before it has fully left its stack, and never lost.
#pragma once

#include "fiber/fiber_record.hpp"

#include "sched/chaos.hpp"

#include <chrono>
#include <cstdint>

struct ev_io;  // <ev.h>

namespace weft::detail {

inline constexpr std::uint64_t kStateMask = 0x7;
inline constexpr std::uint64_t kActive = 0;
inline constexpr std::uint64_t kWaiting = 1;
inline constexpr std::uint64_t kParked = 2;
inline constexpr std::uint64_t kNotified = 3;
inline constexpr std::uint64_t kCancellable = 0x8;
inline constexpr std::uint64_t kScopeCancellable = 0x80;
inline constexpr unsigned kReasonShift = 4;
inline constexpr unsigned kEpochShift = 8;

inline std::uint64_t epoch_of(std::uint64_t w) noexcept { return w >> kEpochShift; }
inline WakeReason reason_of(std::uint64_t w) noexcept {
  return static_cast<WakeReason>((w >> kReasonShift) & 0x7);
}

struct EhGlobals;
// Whether the fiber's own cancellation (abort, shutdown) may be thrown in `f` right now: not
// shielded, not unwinding, not inside a catch block. Only call on the running fiber.
bool cancel_deliverable(const FiberBase* f) noexcept;
// Whether scope `s` of the running fiber `f` may cancel it now (same shield depth and exception
// state as when it was entered; `g` is the thread's exception state).
bool scope_deliverable(const FiberBase* f, const CancelScope* s, const EhGlobals* g) noexcept;
// The cancellation a suspension point must throw now, if any.
bool deliverable_cancellation(FiberBase* f, Cancelled::Reason& why, std::uint64_t& scope) noexcept;
[[noreturn]] void throw_cancelled(FiberBase* f);
void check_cancel_point_slow(FiberBase* f, bool chaos_yield);
// A broken invariant of the wait protocol: reports it naming the fiber, and aborts.
[[noreturn]] void wait_core_broken(const FiberBase* f, const char* what) noexcept;
// Whether the fiber has been aborted, is being shut down, or is inside a scope (timeout, token)
// that expired or was cancelled — whether or not a shield defers delivery right now.
bool cancellation_pending(FiberBase* f) noexcept;
// The suspension-point check: throws Cancelled if cancellation is pending and deliverable — for
// the whole fiber (abort, shutdown) or for one of its active scopes (timeout, token).
// `chaos_yield`: chaos mode may yield here first; false where the caller holds a thread-bound lock
// (a std::mutex a CondVar wait has not released yet), which must not migrate to another thread.
inline void check_cancel_point(FiberBase* f, bool chaos_yield = true) {
  if (__builtin_expect((f->cancel_.load(std::memory_order_acquire) |
                        rec(f)->scope_cancels_.load(std::memory_order_acquire)) != 0 ||
                           rec(f)->scopes_ != nullptr || rec(f)->shutdown_flag_->load(std::memory_order_relaxed) ||
                           chaos::enabled(),
                       0)) {
    check_cancel_point_slow(f, chaos_yield);
  }
}

// Fiber side: starts a new wait and returns its epoch. Decides who may interrupt it: with
// `cancellable`, the fiber's own cancellation if deliverable, and every deliverable scope (whose
// earliest deadline becomes rec(f)->wait_deadline_); without, nothing (waits that must complete, e.g.
// CondVar re-locking its mutex).
std::uint64_t begin_wait(FiberBase* f, bool cancellable = true) noexcept;
// Fiber side: suspends until woken; returns why: Notify, Ready or Cancel — never Timeout. Does not
// switch if already woken (or if an admitted cancellation is already pending: then Cancel). If a
// scope that may cancel the wait has a deadline, a timer on the worker's loop enforces it.
WakeReason park(FiberBase* f, std::uint64_t epoch) noexcept;
// The bare switch under park(): no timers.
WakeReason park_switch(FiberBase* f, std::uint64_t epoch) noexcept;
// park() with the wait's own deadline too (null: none): returns Timeout only once steady_clock
// has reached *deadline. The fiber is pinned to its worker until it wakes (the timer lives on that
// loop and on the fiber's stack). lib/sched/loop_wait.cpp.
WakeReason park_until(FiberBase* f, std::uint64_t epoch, const std::chrono::steady_clock::time_point* deadline) noexcept;
// Also wakes with Ready when the fd watcher `io` (null: none; initialised for this worker's loop,
// not started) fires; the wait starts and stops it (see sched/fd_watch.hpp).
WakeReason park_on_loop(FiberBase* f, std::uint64_t epoch, ev_io* io,
                        const std::chrono::steady_clock::time_point* deadline) noexcept;

// Cancellation scopes (fiber side; nest strictly).
void enter_scope(FiberBase* f, CancelScope& s) noexcept;
void exit_scope(FiberBase* f, CancelScope& s) noexcept;
// Any thread: wakes `f` if it is still in wait `epoch`. Returns whether this call woke it.
bool wake(FiberBase* f, std::uint64_t epoch, WakeReason why) noexcept;
// wake() without the scheduling: returns whether this call won; if it did and the fiber had
// already parked, sets *must_schedule and the caller must call rec(f)->sched_->schedule(f, true) once,
// soon (lib/sync does it right after releasing the wait-list lock, so no syscall of the wake-up runs
// under a spin lock). Until then the fiber cannot run, so `f` stays valid.
bool wake_claim(FiberBase* f, std::uint64_t epoch, WakeReason why, bool* must_schedule) noexcept;

inline void notify_joiner(JoinWaiter* j, FiberBase* finished) noexcept { j->notify(finished); }

}  // namespace weft::detail
