// Reading a thread_local pointer that a migrating fiber must never see stale.
//
// A fiber can resume on another thread between two reads of a thread_local, while g++ may compute
// a thread_local's *address* once and reuse it across a call (doc/design.md §7): the second read
// would then read the previous thread's slot. On x86-64 Linux an initial-exec variable is read here
// with a volatile asm that recomputes the address from %fs every time; elsewhere
// WEFT_PLATFORM_TLS_ASM is undefined and callers go through a function the optimiser cannot see
// through (lib/sched/worker.hpp: current_worker_slow).
#pragma once

#if defined(__x86_64__) && defined(__linux__)
#define WEFT_PLATFORM_TLS_ASM 1
// Loads the initial-exec thread_local pointer `sym` (an extern "C" identifier) into `out`.
#define WEFT_PLATFORM_LOAD_TLS_IE(sym, out) \
  asm volatile("movq " #sym "@gottpoff(%%rip), %0\n\tmovq %%fs:(%0), %0" : "=r"(out))
#endif
