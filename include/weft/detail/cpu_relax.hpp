// weft/detail/cpu_relax.hpp — the spin-wait hint, per architecture (the one place that knows).
//
//   while (flag.load(std::memory_order_relaxed)) weft::detail::cpu_relax();
//
// x86-64: `pause` (yields the core's pipeline to its hyper-thread sibling and avoids the memory-order
// machine clear when the spin ends). arm64: `yield`. Elsewhere: nothing — a compiler barrier only,
// so a spin loop still re-reads memory. Public because the header-only SpinLock (detail/fiber.hpp)
// spins; the library's own spin loops (worker search, Mutex) use it too.
#pragma once

#include <weft/detail/config.hpp>

WEFT_API_BEGIN

namespace weft::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#else
  asm volatile("" ::: "memory");
#endif
}

}  // namespace weft::detail

WEFT_API_END
