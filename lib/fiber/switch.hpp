// The one place where stacks are switched. Every switch in weft goes through switch_context(),
// which owns the sanitizer annotations (doc/design.md §3): ASan's start/finish_switch_fiber, TSan's
// fiber switch, and (at stack creation) Valgrind's stack registration.
//
// We use Boost.Context's fcontext layer (make_fcontext/jump_fcontext, the layer boost::context::
// fiber is built on) rather than boost::context::fiber itself, because:
//  - a scheduler needs to know *why* a fiber switched out (yield, park, finish) and to act on that
//    only once the fiber is off its stack; jump_fcontext's data pointer carries exactly that;
//  - boost::context::fiber's constructor makes an extra round trip into the new stack, and its
//    destructor unwinds with forced_unwind; weft never destroys a suspended fiber (cancellation
//    unwinds it with weft::Cancelled instead), so neither is wanted;
//  - one function sees every switch, so the annotations cannot be forgotten on some path.
#pragma once

#include "fiber/fiber_record.hpp"

#include <boost/context/detail/fcontext.hpp>

#include <cstddef>

#include "fiber/sanitizers.hpp"
#include "platform/jump.hpp"

#if WEFT_ASAN
extern "C" {
void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, std::size_t size);
void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, std::size_t* size_old);
void __asan_unpoison_memory_region(void const volatile* addr, std::size_t size);
}
#endif
#if WEFT_TSAN
extern "C" {
void* __tsan_get_current_fiber(void);
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
}
#endif

namespace weft::detail {

namespace fctx = boost::context::detail;
using Transfer = fctx::transfer_t;

// One side of a switch: where its stack is and its sanitizer state.
struct Endpoint {
  void** asan_fake_stack = nullptr;  // slot for ASan's fake stack of this context
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  void* tsan_fiber = nullptr;
};

// Switches from the running context (`from`) to `to_ctx` (described by `to`), passing `data`.
// Returns when something switches back, with that context and its data. If `from_exits`, the
// running context is finished for good and this never returns.
inline Transfer switch_context(fctx::fcontext_t to_ctx, void* data, const Endpoint& from, const Endpoint& to,
                               bool from_exits = false) noexcept {
#if WEFT_ASAN
  __sanitizer_start_switch_fiber(from_exits ? nullptr : from.asan_fake_stack, to.stack_bottom, to.stack_size);
#endif
#if WEFT_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
  Transfer t = platform::jump(to_ctx, data);
#if WEFT_ASAN
  __sanitizer_finish_switch_fiber(*from.asan_fake_stack, nullptr, nullptr);
#endif
  (void)from;
  (void)to;
  (void)from_exits;
  return t;
}

// First instructions on a brand-new fiber stack: completes the switch that entered it.
inline void on_fiber_entry() noexcept {
#if WEFT_ASAN
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
}

// Prepares a fresh context on `s` (clears stale ASan poison left by the stack's previous fiber).
inline fctx::fcontext_t make_context(const Stack& s, void (*entry)(Transfer)) noexcept {
#if WEFT_ASAN
  __asan_unpoison_memory_region(s.lo, s.size);
#endif
  return fctx::make_fcontext(s.hi(), s.size, entry);
}

inline void* tsan_create_fiber() noexcept {
#if WEFT_TSAN
  return __tsan_create_fiber(0);
#else
  return nullptr;
#endif
}
inline void tsan_destroy_fiber(void* f) noexcept {
#if WEFT_TSAN
  if (f) __tsan_destroy_fiber(f);
#else
  (void)f;
#endif
}
inline void* tsan_current_fiber() noexcept {
#if WEFT_TSAN
  return __tsan_get_current_fiber();
#else
  return nullptr;
#endif
}

// Tells Valgrind that [s.lo, s.hi) is a stack, so switching onto it is not "wild" (once per stack:
// stacks are never unmapped).
void register_stack_with_valgrind(const Stack& s) noexcept;

// libstdc++'s per-thread exception state (__cxa_eh_globals). weft saves it per fiber on every
// switch, so uncaught_exceptions() and current_exception() are per fiber even across migration.
struct EhGlobals {
  void* caught_exceptions;
  unsigned int uncaught_exceptions;
};
EhGlobals* thread_eh_globals() noexcept;

}  // namespace weft::detail
