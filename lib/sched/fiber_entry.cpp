// The first and last frames of every fiber.
//
// This file is compiled apart from the rest of the library: in TSan builds it is built with
// --param=tsan-instrument-func-entry-exit=0 (see meson.build). A fiber's final switch never
// returns, so any frame of this file that TSan had pushed on the fiber's shadow call stack would
// never be popped. With no func entry/exit here, and everything called from here returning before
// the final switch, a finished fiber's TSan context has an empty shadow stack, and the context can
// be kept with the pooled stack and handed to the next fiber that gets that stack. Creating a TSan
// fiber context costs ~0.3-0.7 ms (measured on this VM, gcc 12 libtsan), so creating one per spawn
// made TSan runs of spawn-heavy tests take minutes; now one is created per stack ever mapped.
// (Re-use adds no false happens-before: every switch between a worker and a fiber is a
// synchronising __tsan_switch_to_fiber already, and the previous fiber finished before the next
// one can start on the same stack.)
#include "sched/worker.hpp"

#include <cstdlib>

namespace weft::detail {

void fiber_entry(Transfer t) noexcept {
  on_fiber_entry();
  Worker* w = Worker::resumed(t);  // from the loop, or handed off to by another fiber
  FiberBase* f = w->current();
  f->invoke();
  // Its FiberLocals die with it, on its own stack, while it is still the current fiber (so their
  // destructors see the right FiberLocals); a call that returns, so no frame stays open.
  if (rec(f)->locals_) destroy_fiber_locals(f);
  // Finished, possibly on another worker than the one it started on: switch away for good. This is
  // Worker::switch_out(f, Finish) written out here so that no instrumented frame stays open.
  w = rec(f)->worker_;
  w->switch_reason_ = SwitchReason::Finish;
  const Endpoint from = fiber_endpoint(f);
  switch_context(w->sched_ctx_, nullptr, from, w->endpoint_, /*from_exits=*/true);
  std::abort();  // unreachable: a finished fiber is never resumed
}

}  // namespace weft::detail
