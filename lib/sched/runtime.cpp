// The Runtime's non-template half.
#include "fiber/stack_pool.hpp"
#include "sched/scheduler.hpp"

#include <weft/blocking.hpp>
#include <weft/runtime.hpp>

#include <thread>

namespace weft::detail {

std::shared_ptr<void> top_env_server(std::shared_ptr<Scheduler> s);  // lib/introspect/top.cpp

std::shared_ptr<Scheduler> make_scheduler(const Config& in) {
  Config cfg = in;
  if (cfg.workers == 0) cfg.workers = std::max(1u, std::thread::hardware_concurrency());
  if (cfg.workers > 4096) throw Error("Runtime::Builder::workers: " + std::to_string(cfg.workers) +
                                      " workers requested; at most 4096 are supported");
  if (cfg.stack_size < 16 * 1024) {
    throw Error("Runtime::Builder::stack_size: " + std::to_string(cfg.stack_size) +
                " bytes is too small for a fiber stack; use at least 16384");
  }
  auto s = std::make_shared<Scheduler>(cfg);
  trace_env_attach(s.get());
  s->start();
  s->top_server_ = top_env_server(s);
  return s;
}

RuntimeMetrics metrics_of(Scheduler& s) {
  RuntimeMetrics m;
  m.live_fibers = static_cast<std::size_t>(std::max(0L, s.live_fibers()));
  m.spawned_total = s.spawned_total();
  m.live_stacks = s.live_stacks();
  m.mapped_stacks = StackPool::instance().mapped_stacks();
  m.guarded_stacks = StackPool::instance().guarded_stacks();
  m.inject_queue_depth = s.inject().len();
  const BlockingPoolStats b = blocking_pool_stats();
  m.blocking_queue_depth = b.queue_depth;
  m.blocking_threads = b.threads;
  for (auto& w : s.workers()) {
    WorkerMetrics x;
    x.index = w->index();
    x.fibers_run = w->metrics.fibers_run.load(std::memory_order_relaxed);
    x.steals = w->metrics.steals.load(std::memory_order_relaxed);
    x.stolen = w->metrics.stolen.load(std::memory_order_relaxed);
    x.parks = w->metrics.parks.load(std::memory_order_relaxed);
    x.unparks = w->metrics.unparks.load(std::memory_order_relaxed);
    x.inject_pulls = w->metrics.inject_pulls.load(std::memory_order_relaxed);
    x.queue_depth = w->queue_len();
    const std::uint64_t now = mono_ns(), start = w->started_ns();
    x.uptime_ns = now > start ? now - start : 0;
    std::uint64_t parked = w->metrics.parked_ns.load(std::memory_order_relaxed);
    // A park in progress counts too (an idle worker is not busy).
    if (const std::uint64_t since = w->metrics.parked_since.load(std::memory_order_relaxed); since && now > since) {
      parked += now - since;
    }
    x.busy_ns = x.uptime_ns > parked ? x.uptime_ns - parked : 0;
    x.reactor_watchers = w->reactor().watchers();
    m.reactor_watchers += x.reactor_watchers;
    m.workers.push_back(x);
  }
  return m;
}

void shutdown_scheduler(Scheduler& s) { s.shutdown(); }

std::size_t worker_count(const Scheduler& s) { return s.config().workers; }

std::size_t stack_size_of(const Scheduler& s) noexcept { return StackPool::round_size(s.config().stack_size); }

void check_not_in_fiber(const char* op) {
  if (current_fiber()) {
    throw Error(std::string(op) + ": called from inside a fiber, where blocking would stall a worker "
                "thread; spawn the work and join() it instead");
  }
}

std::shared_ptr<Scheduler> current_scheduler(const char* op) {
  Worker* w = current_worker();
  if (!w) throw Error(std::string(op) + ": called outside a weft fiber; keep the Runtime's handle() instead");
  return w->scheduler().shared_from_this();
}

void rethrow_root(const JoinError& e) {
  if (e.is_panic()) std::rethrow_exception(e.panic());
  throw Error("Runtime::block_on: the root fiber was cancelled (" + std::string(e.what()) + ")");
}

}  // namespace weft::detail

namespace weft {
std::size_t default_stack_size() noexcept {
  if (detail::Worker* w = detail::current_worker()) return detail::stack_size_of(w->scheduler());
  return detail::StackPool::round_size(kDefaultStackSize);
}
}  // namespace weft
