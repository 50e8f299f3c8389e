// Where Boost.Context's jump_fcontext leaves a switched-out context's frame pointer and resume pc:
// what a backtrace of a suspended fiber starts from (lib/introspect/fiber_snapshot.cpp walks it).
//
// Boost.Context 1.74's jump_fcontext saves the callee-saved registers below the caller's return
// address:
//  - x86-64 SysV ELF: ctx+0x00 mxcsr/x87 cw, +0x08 r12 .. +0x28 rbx, +0x30 rbp, +0x38 the return
//    address; the resumed stack pointer is ctx+0x40;
//  - arm64 AAPCS ELF: ctx+0x00 d8..d15, +0x40 x19..x28, +0x90 x29 (fp), +0x98 x30 (lr), +0xa0 the
//    pc to resume at (lr again); the record is 0xb0 bytes.
// Both keep frame records as {previous fp, return address}.
// On x86-64 weft enters jump_fcontext through weft_jump_fcontext (jump.hpp), so the saved return
// address at +0x38 is that function's resume label and the return into the C++ that switched is
// one slot further, at +0x40: a backtrace starts there, with the stack pointer that C++ frame sees
// (ctx+0x48) — the constants below.
// fcontext_layout_known() checks the instructions that establish the layout before anything
// trusts it; another layout (another Boost, another CPU) must get no backtrace, never a walk of
// garbage. tools/gdb/weft.py reads the same
// offsets from weft_debug_layout (lib/introspect/debug_layout.cpp).
#pragma once

#include "platform/jump.hpp"

#include <cstddef>

namespace weft::detail::platform {

#if defined(__aarch64__)
inline constexpr std::size_t kCtxFp = 0x90;
inline constexpr std::size_t kCtxPc = 0xa0;
inline constexpr std::size_t kCtxSize = 0xb0;
#elif WEFT_BALANCED_JUMP
inline constexpr std::size_t kCtxFp = 0x30;
inline constexpr std::size_t kCtxPc = 0x40;    // the return into switch_context's caller
inline constexpr std::size_t kCtxSize = 0x48;  // weft_jump_fcontext's frame included
#else
inline constexpr std::size_t kCtxFp = 0x30;
inline constexpr std::size_t kCtxPc = 0x38;
inline constexpr std::size_t kCtxSize = 0x40;
#endif

// True if this process's jump_fcontext saves contexts as described above (checked once).
bool fcontext_layout_known() noexcept;

// The pc a signal interrupted, from the handler's ucontext argument; null where unknown.
const void* interrupted_pc(const void* ucontext) noexcept;

}  // namespace weft::detail::platform
