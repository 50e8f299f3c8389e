// Parking with a deadline or on an fd, served by the current worker's libev loop.
//
// Use after begin_wait() and after publishing the wait (so wakers can find it):
//   std::uint64_t e = begin_wait(f);
//   ... link a node carrying (f, e) into a wait list ...
//   WakeReason r = park_until(f, e, deadline ? &*deadline : nullptr);
//   ... unlink the node if still linked; act on r (Notify, Timeout, Cancel) ...
// With a deadline the fiber is pinned to its worker until it wakes (the timer lives on that loop
// and on the fiber's stack); it then continues on that worker.
#pragma once

#include <weft/detail/fiber.hpp>

#include <chrono>
#include <cstdint>

namespace weft::detail {

// Parks until woken; if `deadline` is non-null, a timer wakes it with WakeReason::Timeout then.
WakeReason park_until(FiberBase* f, std::uint64_t epoch, const std::chrono::steady_clock::time_point* deadline) noexcept;
// Also wakes with WakeReason::Ready when `fd` (>= 0) has any of `events` (EV_READ/EV_WRITE).
WakeReason park_on_loop(FiberBase* f, std::uint64_t epoch, int fd, int events,
                        const std::chrono::steady_clock::time_point* deadline) noexcept;

}  // namespace weft::detail
