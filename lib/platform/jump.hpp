// platform::jump — the one call into Boost.Context's jump_fcontext (lib/fiber/switch.hpp wraps it
// with the sanitizer annotations).
//
// x86-64: jump_fcontext resumes the other context with `jmp *%r8`, not `ret`, so the call that
// entered it leaves an entry on the CPU's return-stack predictor that nothing pops. Every return
// the resumed side makes afterwards is then predicted one frame off and mispredicts: two per
// yield (switch_out -> yield_now -> the fiber's loop), ~10 ns of a 22 ns yield on this project's
// EPYC machines (bench/RESULTS.md, eleventh session). weft_jump_fcontext (jump.cpp) enters
// jump_fcontext with a jump instead, having pushed its own resume label; the resumed side then
// executes the `ret` that matches the call into weft_jump_fcontext, and since every switch comes
// through here from the same call sites, that prediction is right.
//
// What the saved context looks like with and without it: lib/platform/fcontext_layout.hpp.
// arm64's jump_fcontext returns with `ret x4`, which the predictor already pairs with the `bl`.
#pragma once

#include <boost/context/detail/fcontext.hpp>

#if defined(__x86_64__) && defined(__ELF__)
#define WEFT_BALANCED_JUMP 1
extern "C" boost::context::detail::transfer_t weft_jump_fcontext(boost::context::detail::fcontext_t to,
                                                                 void* data) noexcept;
#else
#define WEFT_BALANCED_JUMP 0
#endif

namespace weft::detail::platform {

// Switches to `to`, passing `data`; returns when something switches back (jump_fcontext's contract).
inline boost::context::detail::transfer_t jump(boost::context::detail::fcontext_t to, void* data) noexcept {
#if WEFT_BALANCED_JUMP
  return weft_jump_fcontext(to, data);
#else
  return boost::context::detail::jump_fcontext(to, data);
#endif
}

}  // namespace weft::detail::platform
