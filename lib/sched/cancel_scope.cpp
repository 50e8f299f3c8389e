// Cancel scopes and shields, the fiber side of timeout(), token scopes and shield()
// (weft/detail/cancel_scope.hpp): entering and leaving a scope, shield depth, and the checks the
// header-only templates call into. Delivery (what a suspension point throws) is
// cancel_delivery.cpp; the CancellationToken is cancellation_token.cpp.
#include <weft/detail/cancel_scope.hpp>
#include <weft/error.hpp>
#include <weft/race.hpp>

#include "sched/worker.hpp"
#include "sched/wait.hpp"

#include <string>

namespace weft {
namespace detail {


FiberBase* require_fiber(const char* op) {
  FiberBase* f = current_fiber();
  if (!f) {
    throw Error(std::string(op) + ": called outside a weft fiber; a plain thread's blocking calls cannot be "
                "cancelled — run this inside Runtime::block_on or a spawned fiber");
  }
  return f;
}

FiberBase* current_fiber_or_null() noexcept { return current_fiber(); }

void enter_scope_of(FiberBase* f, CancelScope& s) noexcept { enter_scope(f, s); }
void exit_scope_of(FiberBase* f, CancelScope& s) noexcept { exit_scope(f, s); }
void enter_shield(FiberBase* f) noexcept { ++rec(f)->shield_depth_; }
void exit_shield(FiberBase* f) noexcept { --rec(f)->shield_depth_; }

void race_winner_cancelled() {
  if (FiberBase* self = current_fiber()) check_cancel_point(self);  // we are being cancelled too
  throw Error("weft::race: the first alternative to finish was cancelled from outside (by runtime "
              "shutdown or an AbortHandle), so no alternative produced a value");
}

}  // namespace detail
}  // namespace weft
