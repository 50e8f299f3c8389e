// The cooperative budget (weft/coop.hpp). The budget lives on the worker, not the fiber: it is
// reset every time the worker resumes a fiber (Worker::run_impl), which is exactly "per
// scheduling", and it costs the fiber control block nothing. Only the owner thread touches it.
#include <weft/coop.hpp>
#include <weft/this_fiber.hpp>

#include "sched/worker.hpp"

#include <climits>

namespace weft::detail {

void coop_proceed() {
  Worker* w = current_worker();
  if (!w) return;  // plain thread: no budget
  if (--w->coop_budget_ > 0) return;
  if (rec(w->current())->coop_off_) {
    w->coop_budget_ = INT_MAX;
    return;
  }
  // Spent: let the others run first. run_impl refills the budget when we are resumed (possibly
  // on another worker, which is why nothing here touches `w` afterwards).
  yield_now();
}

void coop_unconstrained_enter() noexcept {
  Worker* w = current_worker();
  if (!w) return;
  ++rec(w->current())->coop_off_;
  w->coop_budget_ = INT_MAX;
}

void coop_unconstrained_exit() noexcept {
  Worker* w = current_worker();  // afresh: the fiber may have moved since enter
  if (!w) return;
  FiberBase* f = w->current();
  if (--rec(f)->coop_off_ == 0) w->coop_budget_ = kCoopBudget;
}

}  // namespace weft::detail
