// The spawn_blocking thread pool (weft/blocking.hpp).
//
// One process-wide pool: a FIFO of tasks under one mutex, and detached threads that take from it.
// A submitter hands work to an idle thread by *claiming* it (idle_ -> notified_) before notifying,
// so two quick submissions never count the same idle thread twice and the second starts a new
// thread instead of waiting behind the first. Idle threads exit after keep_alive.
//
// Tasks are the fiber task objects (detail::Task<T, F>) run on a plain thread: invoke() runs the
// function (or skips it if cancellation was requested before it started), complete_task() wakes
// the joiner, release() drops the pool's reference. A queued task's on_cancel_ hook removes it
// from the queue, so an aborted task that has not started completes at once, never running.
//
// The pool also knows which tasks each thread runs (running_), and since when every task queued or
// ran, for blocking_tasks() and the fiber dumps. A task is in queue_ or running_ exactly while the
// pool holds its reference, so reading its identity under mu_ is safe.
//
// The pool object is deliberately leaked: detached pool threads may still be running a task while
// static destructors run at exit.
#include <weft/blocking.hpp>

#include "sched/chaos.hpp"
#include "observe/observe.hpp"
#include "sched/scheduler.hpp"
#include "sched/simulation.hpp"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <thread>

namespace weft {
namespace detail {
namespace {

class BlockingPool {
 public:
  static BlockingPool& instance() {
    static BlockingPool* pool = [] {
      auto* p = new BlockingPool;
      ::pthread_atfork([] { instance_unchecked()->mu_.lock(); }, [] { instance_unchecked()->mu_.unlock(); },
                       [] { instance_unchecked()->after_fork_in_child(); });
      return p;
    }();
    return *pool;
  }

  // In a simulation: runs `t` on the calling fiber at once (see submit_blocking).
  void run_inline(FiberBase* t) noexcept { finish(t); }

  void submit(FiberBase* t) {
    const std::uint64_t now = coarse_ns();
    std::unique_lock lk(mu_);
    queue_.push_back(Held{t, now});
    if (idle_ > 0) {
      --idle_;
      ++notified_;
      cv_.notify_one();
      return;
    }
    if (threads_ >= max_threads_) return;  // queues until a thread is free
    ++threads_;
    try {
      std::thread([this] { thread_main(); }).detach();
    } catch (const std::system_error& e) {
      --threads_;
      if (threads_ == 0) {
        // Nobody would ever run it: take it back and fail the submission.
        queue_.pop_back();
        lk.unlock();
        t->release();
        throw Error(std::string("weft::spawn_blocking: cannot start a pool thread (") + e.what() +
                    "); lower the number of threads in the process or configure_blocking_pool(max_threads)");
      }
    }
  }

  // request_cancel hook: a task still in the queue is removed and completed as cancelled.
  static void on_cancel(FiberBase* t) noexcept {
    BlockingPool& p = instance();
    {
      std::lock_guard lk(p.mu_);
      auto it = std::find_if(p.queue_.begin(), p.queue_.end(), [t](const Held& h) { return h.task == t; });
      if (it == p.queue_.end()) return;  // running or finished: it cannot be stopped
      p.queue_.erase(it);
    }
    p.finish(t);
  }

  void configure(const BlockingPoolOptions& o) {
    if (o.max_threads == 0) {
      throw Error("weft::configure_blocking_pool: max_threads must be at least 1 (tasks would never run)");
    }
    std::lock_guard lk(mu_);
    max_threads_ = o.max_threads;
    keep_alive_ = o.keep_alive;
    cv_.notify_all();  // idle threads re-read keep_alive, surplus ones leave
  }

  BlockingPoolStats stats() {
    std::lock_guard lk(mu_);
    BlockingPoolStats s;
    s.threads = threads_;
    s.idle_threads = idle_ + notified_;
    s.queue_depth = queue_.size();
    s.max_threads = max_threads_;
    s.completed = completed_;
    return s;
  }

  std::vector<BlockingTaskInfo> tasks() {
    std::vector<BlockingTaskInfo> out;
    const std::uint64_t now = coarse_ns();
    std::lock_guard lk(mu_);
    out.reserve(running_.size() + queue_.size());
    auto add = [&](const Held& h, bool running) {
      BlockingTaskInfo i;
      i.id = h.task->id_;
      i.name = rec(h.task)->name_;
      i.spawn_file = rec(h.task)->spawn_site_.file_name();
      i.spawn_line = rec(h.task)->spawn_site_.line();
      i.running = running;
      i.age = std::chrono::nanoseconds(now > h.since ? now - h.since : 0);
      out.push_back(std::move(i));
    };
    for (const Held& h : running_) add(h, true);  // in the order they started
    for (const Held& h : queue_) add(h, false);   // in the order they will start
    return out;
  }

 private:
  // A task the pool holds, and since when it has been queued (queue_) or running (running_).
  struct Held {
    FiberBase* task;
    std::uint64_t since;  // coarse_ns(): ages are shown at tick resolution
  };

  static BlockingPool* instance_unchecked() { return &instance(); }

  // Runs `t` (or completes it as cancelled), then hands it to its joiner. `t` is in running_ if
  // a pool thread took it from the queue, in neither list if on_cancel took it out.
  void finish(FiberBase* t) noexcept {
    t->invoke();  // skips the function if cancellation was requested before it started
    {
      // Counted before the joiner can see the completion: whoever returns from join() and reads
      // the stats finds the task included.
      std::lock_guard lk(mu_);
      ++completed_;
      auto it = std::find_if(running_.begin(), running_.end(), [t](const Held& h) { return h.task == t; });
      if (it != running_.end()) running_.erase(it);
    }
    chaos::preempt();  // a pool thread preempted here must not make the count lag
    complete_task(t);
    t->release();
  }

  void thread_main() noexcept {
    ::pthread_setname_np(::pthread_self(), "weft-blocking");
    std::unique_lock lk(mu_);
    for (;;) {
      if (!queue_.empty()) {
        FiberBase* t = queue_.front().task;
        queue_.pop_front();
        running_.push_back(Held{t, coarse_ns()});
        lk.unlock();
        finish(t);
        lk.lock();
        continue;
      }
      if (threads_ > max_threads_) break;  // the pool was shrunk: surplus threads leave when idle
      ++idle_;
      bool timed_out = false;
      auto deadline = std::chrono::steady_clock::now() + keep_alive_;
      while (notified_ == 0 && !timed_out && threads_ <= max_threads_) {
        timed_out = cv_.wait_until(lk, deadline) == std::cv_status::timeout;
        deadline = std::min(deadline, std::chrono::steady_clock::now() + keep_alive_);
      }
      if (notified_ > 0) {
        --notified_;  // a submitter claimed us (and already took us off idle_)
        continue;
      }
      --idle_;
      break;
    }
    --threads_;
  }

  // The child of a fork has none of the parent's threads: start from an empty pool. Tasks queued
  // in the parent belong to the parent's joiners and are dropped (leaked) here.
  void after_fork_in_child() noexcept {
    new (&queue_) std::deque<Held>();
    new (&running_) std::vector<Held>();
    new (&cv_) std::condition_variable();
    threads_ = idle_ = notified_ = 0;
    mu_.unlock();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Held> queue_;     // submitted, not started; FIFO
  std::vector<Held> running_;  // on a pool thread now (at most max_threads; erased by pointer)
  std::size_t threads_ = 0;   // alive, including idle
  std::size_t idle_ = 0;      // waiting for work and not claimed
  std::size_t notified_ = 0;  // claimed by a submitter, not yet awake
  std::size_t max_threads_ = BlockingPoolOptions{}.max_threads;
  std::chrono::milliseconds keep_alive_ = BlockingPoolOptions{}.keep_alive;
  std::uint64_t completed_ = 0;
};

}  // namespace

void prepare_blocking(FiberBase* t, Options&& o, const std::source_location& loc) noexcept {
  init_task_identity(t, std::move(o), loc);
  rec(t)->on_cancel_ = &BlockingPool::on_cancel;
}

void submit_blocking(FiberBase* t) {
  // A simulation runs on one thread under virtual time: a pool thread would run the task outside
  // both. It runs here, in the calling fiber, before spawn_blocking returns (weft/sim.hpp).
  if (current_simulation()) {
    BlockingPool::instance().run_inline(t);
    return;
  }
  BlockingPool::instance().submit(t);
}

}  // namespace detail

void configure_blocking_pool(const BlockingPoolOptions& options) { detail::BlockingPool::instance().configure(options); }

BlockingPoolStats blocking_pool_stats() { return detail::BlockingPool::instance().stats(); }

std::size_t blocking_queue_depth() { return blocking_pool_stats().queue_depth; }

std::vector<BlockingTaskInfo> blocking_tasks() { return detail::BlockingPool::instance().tasks(); }

}  // namespace weft
