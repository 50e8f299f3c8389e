/// @file
/// weft/coop.hpp — the cooperative budget: a fiber whose operations never have to wait still lets
/// the other fibers on its worker run.
///
/// @verbatim
/// A fiber looping on operations that are always ready (recv on a channel that always has a message,
/// acquire on a semaphore with permits to spare) never reaches a point where it suspends, so
/// without a budget no other fiber on its worker would run until the loop ends. As Tokio does, each
/// time a fiber is scheduled it gets a budget of kCoopBudget operations; the operation that finds
/// the budget spent first yields (weft::yield_now: the fiber goes to the back of its worker's run
/// queue) and then proceeds with a fresh budget. The yield happens *before* the operation takes
/// effect, so a cancellation delivered there consumed nothing: every budgeted operation stays
/// cancel-safe.
///
/// Budgeted: mpsc send/send_for/recv (also each step of a range-for), oneshot recv, broadcast recv,
/// watch changed(), Notify notified*, Select run(), Semaphore acquire* (timed too), RwLock
/// lock/lock_shared (timed too), JoinHandle::join. Not weft::Mutex: its uncontended lock is the
/// hottest path there is, and a loop that locks and unlocks with nobody else wanting the lock
/// still reaches other suspension points in practice (sockets have their own budget: a yield every
/// 64 operations). try_* calls never yield. Plain threads have no budget.
///
///   {
///     weft::CoopUnconstrained hot;   // this fiber's operations never yield for the budget
///     for (...) rx.recv();           // until `hot` is destroyed
///   }
///
/// Cost: one call and a decrement per operation, plus one yield per kCoopBudget operations
/// (tests/unit/coop_test.cpp prints the ping-pong figures with and without the budget).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>

WEFT_API_BEGIN

namespace weft {

/// Budgeted operations a fiber may complete without waiting before one of them yields.
inline constexpr int kCoopBudget = 128;

namespace detail {
// Spends one unit of the running fiber's budget; yields first when it is spent. A suspension point
// (throws weft::Cancelled) only in that case. No-op on a plain thread.
void coop_proceed();
void coop_unconstrained_enter() noexcept;
void coop_unconstrained_exit() noexcept;
}  // namespace detail

/// While alive, the calling fiber's operations are not budgeted (nestable; a no-op on a plain
/// thread). Must be destroyed by the fiber that created it.
class CoopUnconstrained {
 public:
  CoopUnconstrained() noexcept { detail::coop_unconstrained_enter(); }
  ~CoopUnconstrained() { detail::coop_unconstrained_exit(); }
  CoopUnconstrained(const CoopUnconstrained&) = delete;
  CoopUnconstrained& operator=(const CoopUnconstrained&) = delete;
};

}  // namespace weft

WEFT_API_END
