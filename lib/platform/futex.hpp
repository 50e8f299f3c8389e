// Futex: how a plain (non-fiber) thread blocks on a 32-bit word until another thread changes it.
// The thread side of detail::Waiter (lib/sched/waiter.cpp) is the only user. Linux-only, like the
// rest of weft; this file is where another kernel's primitive (a WaitOnAddress, a ulock) would go.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace weft::detail::platform {

// Blocks while *word == expected, until futex_wake_one(word), `deadline` (steady_clock, absolute;
// null: none), a signal or a spurious wake-up. Callers re-check their condition in a loop.
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                const std::chrono::steady_clock::time_point* deadline) noexcept;
// Wakes one thread blocked in futex_wait on `word` (the address is all it uses: the word's owner
// may already be gone, which is why a waker may call this after releasing every lock).
void futex_wake_one(std::atomic<std::uint32_t>* word) noexcept;

}  // namespace weft::detail::platform
