// boostfiber_bench: the Boost.Fiber peer of doc/bench.md ("peer":"boostfiber").
//
//   boostfiber_bench <bench> [--key value]...
//   boostfiber_bench spawn_many --n 100000 --warmup 1 --reps 5
//
// Workloads: spawn_many spawn_join chained_spawn yield_many ping_pong
// mutex_contended sleep_many idle_memory ctx_switch, and idle_cpu (not in
// doc/bench.md; `boostfiber_bench list` prints them). No echo: Boost.Fiber has
// no I/O. Peer-specific flags, accepted by every workload but ctx_switch:
//   --suspend 0|1     work_stealing's `suspend` argument (default 0, Boost's
//                     default: an idle worker spins instead of sleeping; with
//                     1 it sleeps but is only woken for fibers made ready
//                     *for it*, so it can miss work to steal).
//   --stack-size B    bytes per fiber stack (default: Boost.Context's
//                     default_size(), 128 KiB, from fixedsize_stack = malloc).
//
// The runtime (§1.1): two worker threads, both running
// boost::fibers::algo::work_stealing(2): the main thread and one extra thread
// whose main fiber parks on a fiber condition variable until shutdown, so its
// dispatcher keeps stealing. The root task is the main thread's own fiber,
// which Boost pins to its thread (it is never stolen).
//
// Why the spawn-heavy workloads cost microseconds per task: fixedsize_stack
// mallocs each stack, and glibc hands the freed memory back to the kernel
// (unmapping mmap'd chunks, trimming the heap top), so nearly every spawn
// touches fresh pages and pays for page faults. To see Boost.Fiber with warm
// stacks instead, run with
//   GLIBC_TUNABLES=glibc.malloc.trim_threshold=68719476736:glibc.malloc.mmap_threshold=33554432
#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>
#include <boost/fiber/all.hpp>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"

namespace {

namespace fibers = boost::fibers;
namespace ctx = boost::context;

// One-shot completion signal from the task that finishes a repetition to the
// root. Carries a value so the root can check who signalled.
class Signal {
 public:
  void notify(std::uint64_t value = 0) {
    std::unique_lock lk(mutex_);
    value_ = value;
    set_ = true;
    cv_.notify_one();
  }

  std::uint64_t wait() {
    std::unique_lock lk(mutex_);
    cv_.wait(lk, [this] { return set_; });
    return value_;
  }

 private:
  fibers::mutex mutex_;
  fibers::condition_variable cv_;
  bool set_ = false;
  std::uint64_t value_ = 0;
};

// The 2-worker Boost.Fiber runtime. Only one may exist per process:
// work_stealing keeps its scheduler table and start-up barrier in statics.
class Runtime {
 public:
  Runtime(bool suspend, std::size_t stack_size) : suspend_(suspend), stack_size_(stack_size) {
    worker_ = std::thread([this] {
      fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(kWorkers, suspend_);
      std::unique_lock lk(park_mutex_);
      park_cv_.wait(lk, [this] { return shutdown_; });
      // Returning destroys this thread's scheduler, which first runs every
      // fiber still attached to it to completion.
    });
    // Blocks on work_stealing's internal barrier until the worker has
    // registered too, so no spawn can precede a complete scheduler table.
    fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(kWorkers, suspend_);
  }

  ~Runtime() {
    {
      std::unique_lock lk(park_mutex_);
      shutdown_ = true;
    }
    park_cv_.notify_all();
    worker_.join();
  }

  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Every fiber of every workload is created here, so that all use the same
  // stack allocator and size.
  template <class Fn>
  fibers::fiber spawn(Fn&& fn) {
    return fibers::fiber(std::allocator_arg, fibers::fixedsize_stack(stack_size_),
                         std::forward<Fn>(fn));
  }

  // A Signal that lives as long as the runtime. The task that notifies may
  // still be inside notify() (releasing the mutex) on the other thread when
  // the root has already woken up, so a Signal must not die with the
  // repetition; by ~Runtime every fiber has finished.
  Signal& make_signal() { return signals_.emplace_back(); }

  bool suspend() const { return suspend_; }
  std::size_t stack_size() const { return stack_size_; }

 private:
  static constexpr std::uint32_t kWorkers = 2;
  bool suspend_;
  std::size_t stack_size_;
  std::deque<Signal> signals_;  // touched by the root only
  fibers::mutex park_mutex_;
  fibers::condition_variable park_cv_;
  bool shutdown_ = false;
  std::thread worker_;  // last: started once the members above exist
};

// Process CPU time (user + system) in ns, to show how busy the runtime keeps
// the machine: with suspend=0 an idle worker spins, so ~2 cores is normal.
std::uint64_t process_cpu_ns() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) {
    return std::uint64_t(tv.tv_sec) * 1'000'000'000u + std::uint64_t(tv.tv_usec) * 1000u;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

// What a workload needs besides its own flags: the common ones and the
// runtime, which is started only after every flag was accepted.
class Env {
 public:
  explicit Env(bench::Args& args) : args_(args) {
    reps = bench::reps_from(args);
    if (args.bench() != "ctx_switch") {
      suspend_ = args.integer("suspend", 0, 0) != 0;
      stack_size_ = static_cast<std::size_t>(
          args.integer("stack-size", std::int64_t(ctx::stack_traits::default_size()),
                       std::int64_t(ctx::stack_traits::minimum_size())));
    }
  }

  // Starts the runtime; call after reading the workload's flags.
  Runtime& start() {
    args_.reject_unknown();
    runtime_.emplace(suspend_, stack_size_);
    cpu0_ = process_cpu_ns();
    wall0_ = bench::now_ns();
    return *runtime_;
  }

  void stop() { runtime_.reset(); }

  // Common note: what was measured, so the number can be read without this file.
  std::string note(const std::string& what) const {
    char buf[160];
    const double cores = double(process_cpu_ns() - cpu0_) / double(bench::now_ns() - wall0_);
    std::snprintf(buf, sizeof buf,
                  "; work_stealing(2, suspend=%s); fixedsize_stack %zu KiB (malloc); root = main "
                  "thread's fiber; process cpu %.2f cores over all reps",
                  suspend_ ? "true" : "false", stack_size_ / 1024, cores);
    return what + buf;
  }

  bench::Reps reps;

 private:
  bench::Args& args_;
  bool suspend_ = false;
  std::size_t stack_size_ = 0;
  std::optional<Runtime> runtime_;
  std::uint64_t cpu0_ = 0;
  std::uint64_t wall0_ = 0;
};

bench::Measurement result(const bench::Args& args, std::uint64_t n, std::vector<double> samples,
                          const char* unit, std::string note) {
  bench::Measurement m;
  m.peer = "boostfiber";
  m.bench = args.bench();
  m.n = n;
  m.median = bench::median(samples);
  m.unit = unit;
  m.samples = std::move(samples);
  m.note = std::move(note);
  return m;
}

double per_op(std::uint64_t t0, std::uint64_t t1, std::uint64_t ops) {
  return double(t1 - t0) / double(ops);
}

// ---------------------------------------------------------------- workloads

bench::Measurement spawn_many(bench::Args& args, Env& env) {
  const auto n = std::uint64_t(args.integer("n", 100000, 1));
  Runtime& rt = env.start();
  auto samples = bench::run_reps(env.reps, [&] {
    std::atomic<std::uint64_t> count{0};
    Signal& done = rt.make_signal();
    const std::uint64_t t0 = bench::now_ns();
    for (std::uint64_t i = 0; i < n; ++i) {
      rt.spawn([&count, &done, n] {
          if (count.fetch_add(1, std::memory_order_acq_rel) + 1 == n) done.notify(n);
        }).detach();
    }
    done.wait();
    const std::uint64_t t1 = bench::now_ns();
    if (count.load() != n) BENCH_FAIL("spawn_many: count %lu, expected %lu", count.load(), n);
    return per_op(t0, t1, n);
  });
  return result(args, n, samples, "ns/task",
                env.note("detached fibers, last one notifies a fibers::condition_variable"));
}

bench::Measurement spawn_join(bench::Args& args, Env& env) {
  const auto n = std::uint64_t(args.integer("n", 100000, 1));
  Runtime& rt = env.start();
  auto samples = bench::run_reps(env.reps, [&] {
    const std::uint64_t t0 = bench::now_ns();
    // Boost fibers return nothing: task i writes i into its own slot, and the
    // root reads it after join() (which waits for the fiber to terminate).
    std::vector<std::uint64_t> results(n);
    std::vector<fibers::fiber> handles;
    handles.reserve(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      handles.push_back(rt.spawn([slot = &results[i], i] { *slot = i; }));
    }
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      handles[i].join();
      sum += results[i];
    }
    const std::uint64_t t1 = bench::now_ns();
    if (sum != n * (n - 1) / 2)
      BENCH_FAIL("spawn_join: sum %lu, expected %lu", sum, n * (n - 1) / 2);
    return per_op(t0, t1, n);
  });
  return result(args, n, samples, "ns/task",
                env.note("fiber::join in spawn order, result via a per-task slot"));
}

// Task `d` of a chain: spawns task d+1 and returns without waiting.
void chain_link(Runtime& rt, std::uint64_t d, std::uint64_t depth, Signal& done) {
  if (d == depth) {
    done.notify(d);
    return;
  }
  rt.spawn([&rt, d, depth, &done] { chain_link(rt, d + 1, depth, done); }).detach();
}

bench::Measurement chained_spawn(bench::Args& args, Env& env) {
  const auto depth = std::uint64_t(args.integer("depth", 1000, 1));
  const auto chains = std::uint64_t(args.integer("chains", 100, 1));
  Runtime& rt = env.start();
  auto samples = bench::run_reps(env.reps, [&] {
    std::vector<Signal*> dones;  // created before the clock: shared objects
    for (std::uint64_t c = 0; c < chains; ++c) dones.push_back(&rt.make_signal());
    const std::uint64_t t0 = bench::now_ns();
    for (std::uint64_t c = 0; c < chains; ++c) {
      Signal& done = *dones[c];
      rt.spawn([&rt, depth, &done] { chain_link(rt, 1, depth, done); }).detach();
      const std::uint64_t last = done.wait();
      if (last != depth)
        BENCH_FAIL("chained_spawn: chain %lu ended at depth %lu, expected %lu", c, last, depth);
    }
    return per_op(t0, bench::now_ns(), depth * chains);
  });
  return result(args, depth * chains, samples, "ns/spawn", env.note("detached fibers"));
}

bench::Measurement yield_many(bench::Args& args, Env& env) {
  const auto tasks = std::uint64_t(args.integer("tasks", 200, 1));
  const auto yields = std::uint64_t(args.integer("yields", 1000, 1));
  Runtime& rt = env.start();
  auto samples = bench::run_reps(env.reps, [&] {
    std::atomic<std::uint64_t> total{0};
    const std::uint64_t t0 = bench::now_ns();
    std::vector<fibers::fiber> handles;
    handles.reserve(tasks);
    for (std::uint64_t t = 0; t < tasks; ++t) {
      handles.push_back(rt.spawn([&total, yields] {
        std::uint64_t done = 0;
        for (; done < yields; ++done) boost::this_fiber::yield();
        total.fetch_add(done, std::memory_order_relaxed);
      }));
    }
    for (auto& h : handles) h.join();
    const std::uint64_t t1 = bench::now_ns();
    if (total.load() != tasks * yields)
      BENCH_FAIL("yield_many: %lu yields, expected %lu", total.load(), tasks * yields);
    return per_op(t0, t1, tasks * yields);
  });
  return result(args, tasks * yields, samples, "ns/yield", env.note("boost::this_fiber::yield"));
}

bench::Measurement ping_pong(bench::Args& args, Env& env) {
  const auto pairs = std::uint64_t(args.integer("pairs", 100, 1));
  const auto rounds = std::uint64_t(args.integer("rounds", 1000, 1));
  using Channel = fibers::buffered_channel<std::uint64_t>;
  // buffered_channel's ring buffer keeps one slot empty, so the smallest
  // capacity it accepts (2) holds exactly one value: the spec's capacity-1
  // channel. Checked here rather than trusted, in case Boost changes it.
  {
    Channel probe(2);
    if (probe.try_push(1) != fibers::channel_op_status::success ||
        probe.try_push(2) != fibers::channel_op_status::full) {
      BENCH_FAIL("ping_pong: buffered_channel(2) does not hold exactly one value");
    }
  }
  Runtime& rt = env.start();
  auto samples = bench::run_reps(env.reps, [&] {
    std::atomic<std::uint64_t> completed{0};
    const std::uint64_t t0 = bench::now_ns();
    struct Pair {
      Channel c1{2};
      Channel c2{2};
    };
    std::vector<std::unique_ptr<Pair>> channels;
    channels.reserve(pairs);
    std::vector<fibers::fiber> handles;
    handles.reserve(2 * pairs);
    for (std::uint64_t p = 0; p < pairs; ++p) {
      Pair& pair = *channels.emplace_back(std::make_unique<Pair>());
      handles.push_back(rt.spawn([&pair, &completed, rounds] {  // A
        for (std::uint64_t r = 0; r < rounds; ++r) {
          std::uint64_t back = ~r;
          if (pair.c1.push(r) != fibers::channel_op_status::success ||
              pair.c2.pop(back) != fibers::channel_op_status::success || back != r) {
            BENCH_FAIL("ping_pong: round %lu came back as %lu", r, back);
          }
        }
        completed.fetch_add(rounds, std::memory_order_relaxed);
      }));
      handles.push_back(rt.spawn([&pair, rounds] {  // B
        for (std::uint64_t r = 0; r < rounds; ++r) {
          std::uint64_t v = 0;
          if (pair.c1.pop(v) != fibers::channel_op_status::success ||
              pair.c2.push(v) != fibers::channel_op_status::success) {
            BENCH_FAIL("ping_pong: channel closed in round %lu", r);
          }
        }
      }));
    }
    for (auto& h : handles) h.join();
    const std::uint64_t t1 = bench::now_ns();
    if (completed.load() != pairs * rounds)
      BENCH_FAIL("ping_pong: %lu round trips, expected %lu", completed.load(), pairs * rounds);
    return per_op(t0, t1, pairs * rounds);
  });
  return result(args, pairs * rounds, samples, "ns/roundtrip",
                env.note("fibers::buffered_channel<u64>(2) = 1 usable slot (capacity 1)"));
}

bench::Measurement mutex_contended(bench::Args& args, Env& env) {
  const auto tasks = std::uint64_t(args.integer("tasks", 1000, 1));
  const auto locks = std::uint64_t(args.integer("locks", 1000, 1));
  Runtime& rt = env.start();
  auto samples = bench::run_reps(env.reps, [&] {
    fibers::mutex mutex;
    std::uint64_t counter = 0;  // guarded by `mutex`
    const std::uint64_t t0 = bench::now_ns();
    std::vector<fibers::fiber> handles;
    handles.reserve(tasks);
    for (std::uint64_t t = 0; t < tasks; ++t) {
      handles.push_back(rt.spawn([&mutex, &counter, locks] {
        for (std::uint64_t i = 0; i < locks; ++i) {
          std::lock_guard lk(mutex);
          ++counter;
        }
      }));
    }
    for (auto& h : handles) h.join();
    const std::uint64_t t1 = bench::now_ns();
    if (counter != tasks * locks)
      BENCH_FAIL("mutex_contended: counter %lu, expected %lu", counter, tasks * locks);
    return per_op(t0, t1, tasks * locks);
  });
  return result(args, tasks * locks, samples, "ns/lock", env.note("fibers::mutex"));
}

bench::Measurement sleep_many(bench::Args& args, Env& env) {
  const auto n = std::uint64_t(args.integer("n", 100000, 1));
  const auto sleep_ms = args.integer("sleep-ms", 10, 0);
  Runtime& rt = env.start();
  const auto sleep = std::chrono::milliseconds(sleep_ms);
  auto samples = bench::run_reps(env.reps, [&] {
    std::atomic<std::uint64_t> count{0};
    Signal& done = rt.make_signal();
    const std::uint64_t t0 = bench::now_ns();
    for (std::uint64_t i = 0; i < n; ++i) {
      rt.spawn([&count, &done, n, sleep] {
          boost::this_fiber::sleep_for(sleep);
          if (count.fetch_add(1, std::memory_order_acq_rel) + 1 == n) done.notify(n);
        }).detach();
    }
    done.wait();
    const std::uint64_t t1 = bench::now_ns();
    if (count.load() != n) BENCH_FAIL("sleep_many: count %lu, expected %lu", count.load(), n);
    return (double(t1 - t0) - double(sleep_ms) * 1e6) / double(n);
  });
  return result(args, n, samples, "ns/task", env.note("boost::this_fiber::sleep_for"));
}

bench::Measurement idle_memory(bench::Args& args, Env& env) {
  const auto n = std::uint64_t(args.integer("n", 100000, 1));
  Runtime& rt = env.start();
  const std::uint64_t base = bench::vm_rss_bytes();
  auto samples = bench::run_reps(env.reps, [&] {
    std::atomic<std::uint64_t> ready{0};
    std::atomic<std::uint64_t> released{0};
    Signal& all_blocked = rt.make_signal();
    // The root keeps the N senders and N handles, as the spec asks.
    std::vector<fibers::promise<void>> senders(n);
    std::vector<fibers::fiber> handles;
    handles.reserve(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      handles.push_back(
          rt.spawn([rx = senders[i].get_future(), &ready, &released, &all_blocked, n]() mutable {
            if (ready.fetch_add(1, std::memory_order_acq_rel) + 1 == n) all_blocked.notify(n);
            rx.get();
            released.fetch_add(1, std::memory_order_relaxed);
          }));
    }
    all_blocked.wait();
    const std::uint64_t rss = bench::vm_rss_bytes();
    for (auto& tx : senders) tx.set_value();
    for (auto& h : handles) h.join();
    if (released.load() != n)
      BENCH_FAIL("idle_memory: %lu tasks released, expected %lu", released.load(), n);
    return (double(rss) - double(base)) / double(n);
  });
  char what[96];
  std::snprintf(what, sizeof what,
                "each fiber blocked on its own fibers::promise<void>/future; base VmRSS %.1f MiB",
                double(base) / (1024.0 * 1024.0));
  return result(args, n, samples, "bytes/task", env.note(what));
}

// Raw Boost.Context switch cost, the floor for every fiber library built on
// it: no scheduler, one thread, no runtime started.
bench::Measurement ctx_switch(bench::Args& args, Env& env) {
  const auto n = std::uint64_t(args.integer("n", 1000000, 1));
  args.reject_unknown();
  auto samples = bench::run_reps(env.reps, [&] {
    std::uint64_t bounces = 0;
    bool stop = false;
    ctx::fiber partner{[&bounces, &stop](ctx::fiber&& main) {
      while (!stop) {
        ++bounces;
        main = std::move(main).resume();
      }
      return std::move(main);
    }};
    const std::uint64_t t0 = bench::now_ns();
    for (std::uint64_t i = 0; i < n; ++i) partner = std::move(partner).resume();
    const std::uint64_t t1 = bench::now_ns();
    stop = true;
    partner = std::move(partner).resume();  // lets the fiber return and free its stack
    if (partner || bounces != n)
      BENCH_FAIL("ctx_switch: %lu round trips, expected %lu", bounces, n);
    return per_op(t0, t1, 2 * n);
  });
  return result(
      args, n, samples, "ns/switch",
      "boost::context::fiber (fcontext) ping-pong on one thread, fixedsize_stack 128 KiB; "
      "n round trips = 2n switches");
}

// Not a doc/bench.md workload (issue 6: idle CPU). Holds the started 2-worker runtime for --seconds
// while the root (the main thread) sleeps in the OS, and reports the process's CPU time as % of one
// core. With suspend=false (the default) the other worker's dispatcher spins.
bench::Measurement idle_cpu(bench::Args& args, Env& env) {
  const auto seconds = args.integer("seconds", 5, 1);
  env.start();
  auto samples = bench::run_reps(env.reps, [&] {
    const std::uint64_t c0 = process_cpu_ns();
    const std::uint64_t t0 = bench::now_ns();
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    return 100.0 * double(process_cpu_ns() - c0) / double(bench::now_ns() - t0);
  });
  return result(args, std::uint64_t(seconds), samples, "% of a core",
                env.note("process CPU (getrusage) while an idle 2-worker runtime exists; n = seconds per sample"));
}

struct Workload {
  const char* name;
  bench::Measurement (*run)(bench::Args&, Env&);
};

constexpr Workload kWorkloads[] = {
    {"spawn_many", spawn_many}, {"spawn_join", spawn_join},   {"chained_spawn", chained_spawn},
    {"yield_many", yield_many}, {"ping_pong", ping_pong},     {"mutex_contended", mutex_contended},
    {"sleep_many", sleep_many}, {"idle_memory", idle_memory}, {"ctx_switch", ctx_switch},
    {"idle_cpu", idle_cpu},
};

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv);
  if (args.bench() == "list") {  // for bench/run: which workloads this program implements
    for (const Workload& w : kWorkloads) std::printf("%s\n", w.name);
    return 0;
  }
  for (const Workload& w : kWorkloads) {
    if (args.bench() != w.name) continue;
    Env env(args);
    bench::Measurement m = w.run(args, env);
    // Shut down before printing, so a hang at shutdown shows up as a
    // timeout rather than as a result followed by a stuck process.
    env.stop();
    bench::emit(m);
    return 0;
  }
  std::string names;
  for (const Workload& w : kWorkloads) names += std::string(" ") + w.name;
  bench::die(bench::kExitUsage,
             "%s: unknown bench '%s' (known:%s; echo is not offered: Boost.Fiber has no I/O)",
             args.prog().c_str(), args.bench().c_str(), names.c_str());
}
