// spawn and join (the errors they report: lib/sched/join_error.cpp).
#include "sched/scheduler.hpp"
#include "sched/wait.hpp"

#include <weft/runtime.hpp>
#include <weft/coop.hpp>
#include <weft/task.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace weft {

namespace detail {

// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
constexpr WaitDesc kWaitJoin{"joining fiber", WaitDesc::Fiber, WaitDesc::JoinFiber};

void report_unobserved_panic(FiberBase& f, const std::string& how) noexcept {
  f.panic_observed_ = true;
  std::string msg = "weft: " + std::string(make_join_error(f).what()) + ", and nobody observed it (" + how +
                    "); spawned at " + rec(&f)->spawn_site_.file_name() + ":" + std::to_string(rec(&f)->spawn_site_.line()) + "\n";
  std::fputs(msg.c_str(), stderr);
  if (rec(&f)->abort_on_panic_) {
    std::fputs("weft: aborting (Runtime::Builder::panic_policy(PanicPolicy::Abort))\n", stderr);
    std::abort();
  }
}

void FiberBase::destroy() noexcept {
  if (panic_ && !panic_observed_) report_unobserved_panic(*this, "its JoinHandle was dropped unjoined");
  delete this;
}

void throw_bad_handle(const char* op, std::uint64_t id, bool joined) {
  std::string s = std::string("JoinHandle::") + op + ": ";
  if (joined) {
    s += "handle already joined (fiber " + std::to_string(id) + "); a JoinHandle can be joined once";
  } else {
    s += "this handle refers to no fiber (default-constructed, moved-from or detached)";
  }
  throw Error(s);
}

void spawn_fiber(FiberBase* f, Scheduler* s, Options&& o, const std::source_location& loc) {
  if (!s) {
    Worker* w = current_worker();
    if (!w) {
      f->release();
      throw Error("weft::spawn: called outside a weft fiber; from a plain thread use Runtime::spawn or "
                  "Handle::spawn");
    }
    s = &w->scheduler();
  }
  s->spawn(f, std::move(o), loc);
}

void spawn_child(FiberBase* f, Options&& o, const std::source_location& loc, JoinWaiter* joiner, bool local) {
  Worker* w = current_worker();
  if (!w) {
    f->release();
    throw Error("weft: JoinSet/scope/select need a fiber to spawn from; call them inside a fiber (e.g. in "
                "Runtime::block_on)");
  }
  w->scheduler().spawn(f, std::move(o), loc, joiner, local);
}

namespace {
struct FiberJoinWaiter final : JoinWaiter {
  FiberBase* fiber;
  std::uint64_t epoch = 0;
  explicit FiberJoinWaiter(FiberBase* f) : fiber(f) {}
  void notify(FiberBase*) noexcept override { wake(fiber, epoch, WakeReason::Notify); }
};

struct ThreadJoinWaiter final : JoinWaiter {
  std::atomic<bool> done{false};
  void notify(FiberBase*) noexcept override {
    done.store(true, std::memory_order_release);
    done.notify_one();
  }
};
}  // namespace

void join_wait(FiberBase* t) {
  FiberBase* self = current_fiber();
  // A suspension point even when the target already finished (level-triggered cancellation).
  if (self) check_cancel_point(self);
  coop_proceed();  // joining finished fibers in a loop never suspends either
  if (t->finished()) return;
  if (!self) {
    // A simulated runtime has no threads of its own: the joining thread runs its fibers.
    if (Simulation* sim = rec(t)->sched_ ? rec(t)->sched_->sim() : nullptr) {
      sim->run_until(*rec(t)->sched_, t);
      return;
    }
    ThreadJoinWaiter w;
    {
      std::lock_guard lk(rec(t)->join_lock_);
      if (t->finished()) return;
      rec(t)->joiner_ = &w;
    }
    w.done.wait(false, std::memory_order_acquire);
    std::lock_guard lk(rec(t)->join_lock_);  // notify() has returned once we hold this
    return;
  }
  if (self == t) {
    throw Error("JoinHandle::join: " + std::string("fiber ") + std::to_string(t->id_) +
                " tried to join itself; it would wait forever");
  }
  FiberJoinWaiter w(self);
  for (;;) {
    note_wait(self, kWaitJoin, t->id_);
    w.epoch = begin_wait(self);
    {
      std::lock_guard lk(rec(t)->join_lock_);
      if (t->finished()) return;
      rec(t)->joiner_ = &w;
    }
    const WakeReason r = park(self, w.epoch);
    // Woken by the completion: the notifier cleared joiner_ and is done with `w` (it read its
    // fields before the wake that let us run). Otherwise unregister under the lock.
    if (r == WakeReason::Notify && t->finished()) {
      // Level-triggered: a cancellation that arrived while we were being woken is delivered here
      // (nothing was consumed: the handle stays joinable).
      check_cancel_point(self);
      return;
    }
    {
      std::lock_guard lk(rec(t)->join_lock_);
      if (rec(t)->joiner_ == &w) rec(t)->joiner_ = nullptr;
    }
    // Cancellation wins even if the target finished meanwhile; the handle stays joinable.
    if (r == WakeReason::Cancel) throw_cancelled(self);
    if (t->finished()) return;
  }
}

}  // namespace detail
}  // namespace weft
