#include "sched/worker.hpp"
#include "sched/wait.hpp"

#include <weft/this_fiber.hpp>

#include <thread>

namespace weft {

void yield_now() {
  detail::FiberBase* f = detail::current_fiber();
  if (!f) {
    std::this_thread::yield();  // documented fallback for plain threads
    return;
  }
  // One cancellation check, after the yield: a cancellation pending before it is still pending
  // then, so the suspension point throws all the same — one run later, for a check less on every
  // yield (yield_many's hot path).
  detail::Worker::switch_out(f, detail::SwitchReason::Yield);
  detail::check_cancel_point(f);
}

namespace this_fiber {

bool in_fiber() noexcept { return detail::current_fiber() != nullptr; }

namespace {
detail::FiberBase* require_fiber(const char* op) {
  detail::FiberBase* f = detail::current_fiber();
  if (!f) {
    throw Error(std::string("weft::this_fiber::") + op +
                ": called outside a weft fiber; check this_fiber::in_fiber() first");
  }
  return f;
}
}  // namespace

FiberId id() { return require_fiber("id")->id_; }

std::string_view name() { return rec(require_fiber("name"))->name_; }

bool is_cancelled() noexcept {
  detail::FiberBase* f = detail::current_fiber();
  return f && detail::cancellation_pending(f);
}

void check_cancelled() {
  if (detail::FiberBase* f = detail::current_fiber()) detail::check_cancel_point(f);
}

}  // namespace this_fiber
}  // namespace weft
