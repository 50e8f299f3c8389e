// weft_bench: the weft peer of doc/bench.md ("peer":"weft").
//
//   weft_bench <bench> [--key value]...      # one workload, JSON lines on stdout
//   weft_bench echo_server --port P          # the `echo` server (echo_server.hpp), until SIGTERM
//   weft_bench list                          # the workloads implemented here
//
// Workloads: spawn_many spawn_join chained_spawn yield_many ping_pong mutex_contended sleep_many
// idle_memory ctx_switch, echo (through echo_server), and, not in doc/bench.md: idle_cpu (CPU use of an
// idle runtime, issue 6) and fiber_local (the cost of a FiberLocal read, issue 15). ping_pong and
// mutex_contended take --coop on|off (the cooperative budget's cost, issue 15).
//
// The runtime (§1.1): one weft::Runtime with 2 workers, created before any timing; the root task
// is a fiber run by block_on (so it is one of the runtime's tasks, as the spec requires).
#include <weft/weft.hpp>

#include <boost/context/fiber.hpp>

#include "fiber/stack_pool.hpp"  // lib/: stack counts for the idle_memory note

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"
#include "echo_server.hpp"

namespace {

struct Env {
  bench::Reps reps;
  std::unique_ptr<weft::Runtime> rt;
  // Completion signals outlive the repetition that used them: the task that notified may still be
  // returning from notify_one() on the other worker when the root has already woken up.
  std::deque<weft::Notify> signals;
  explicit Env(bench::Args& args) : reps(bench::reps_from(args)) {}
  weft::Runtime& start() {
    rt = std::make_unique<weft::Runtime>(weft::Runtime::Builder().workers(2).build());
    return *rt;
  }
  weft::Notify& make_signal() { return signals.emplace_back(); }
  void stop() { rt.reset(); }
};

double per_op(std::uint64_t t0, std::uint64_t t1, std::uint64_t n) {
  return static_cast<double>(t1 - t0) / static_cast<double>(n);
}

// `--coop off` (ping_pong, mutex_contended): every task body runs inside weft::CoopUnconstrained, so
// no operation spends the cooperative budget (include/weft/coop.hpp). Running the same workload
// with and without it, side by side, is how the budget's cost is measured (bench/RESULTS.md).
bool coop_from(bench::Args& args) {
  const std::string v = args.string("coop", "on");
  if (v != "on" && v != "off") bench::die(bench::kExitUsage, "--coop must be on or off, not '%s'", v.c_str());
  return v == "on";
}

// Runs `body` inside a CoopUnconstrained section unless the budget is on.
template <class F>
void with_coop(bool coop, F&& body) {
  if (coop) {
    body();
  } else {
    weft::CoopUnconstrained unbudgeted;
    body();
  }
}

std::string coop_note(bool coop) { return coop ? "" : "; --coop off (CoopUnconstrained)"; }

std::string max_map_count() {
  std::FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r");
  if (!f) return "?";
  char buf[32] = {};
  const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
  std::fclose(f);
  std::string s = ok ? buf : "?";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::uint64_t process_cpu_ns() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) {
    return std::uint64_t(tv.tv_sec) * 1'000'000'000u + std::uint64_t(tv.tv_usec) * 1000u;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

bench::Measurement result(bench::Args& args, std::uint64_t n, std::vector<double> samples, const char* unit,
                          std::string note) {
  bench::Measurement m;
  m.peer = "weft";
  m.bench = args.bench();
  m.n = n;
  m.median = bench::median(samples);
  m.unit = unit;
  m.samples = std::move(samples);
  m.note = std::move(note);
  return m;
}

bench::Measurement spawn_many(bench::Args& args, Env& env) {
  const auto n = std::uint64_t(args.integer("n", 100000, 1));
  args.reject_unknown();
  weft::Runtime& rt = env.start();
  auto samples = rt.block_on([&] {
    return bench::run_reps(env.reps, [&] {
      std::atomic<std::uint64_t> count{0};
      weft::Notify& done = env.make_signal();
      const std::uint64_t t0 = bench::now_ns();
      for (std::uint64_t i = 0; i < n; ++i) {
        weft::spawn([&count, &done, n] {
          if (count.fetch_add(1, std::memory_order_acq_rel) + 1 == n) done.notify_one();
        }).detach();
      }
      done.notified();
      const std::uint64_t t1 = bench::now_ns();
      if (count.load() != n) BENCH_FAIL("spawn_many: count %lu, expected %lu", count.load(), n);
      return per_op(t0, t1, n);
    });
  });
  return result(args, n, samples, "ns/task", "detached fibers, the last one notifies a weft::Notify");
}

// Task `d` of a chain: spawns task d+1 (detached) and returns without waiting.
void chain_link(std::uint64_t d, std::uint64_t depth, weft::Notify* done, std::atomic<std::uint64_t>* reached) {
  if (d == depth) {
    reached->store(d, std::memory_order_release);
    done->notify_one();
    return;
  }
  weft::spawn([d, depth, done, reached] { chain_link(d + 1, depth, done, reached); }).detach();
}

bench::Measurement chained_spawn(bench::Args& args, Env& env) {
  const auto depth = std::uint64_t(args.integer("depth", 1000, 1));
  const auto chains = std::uint64_t(args.integer("chains", 100, 1));
  args.reject_unknown();
  weft::Runtime& rt = env.start();
  auto samples = rt.block_on([&] {
    return bench::run_reps(env.reps, [&] {
      std::vector<weft::Notify*> dones;  // created before the clock: shared objects
      for (std::uint64_t c = 0; c < chains; ++c) dones.push_back(&env.make_signal());
      std::atomic<std::uint64_t> reached{0};
      const std::uint64_t t0 = bench::now_ns();
      for (std::uint64_t c = 0; c < chains; ++c) {
        weft::Notify* done = dones[c];
        weft::spawn([depth, done, &reached] { chain_link(1, depth, done, &reached); }).detach();
        done->notified();
        const std::uint64_t last = reached.exchange(0, std::memory_order_acq_rel);
        if (last != depth) BENCH_FAIL("chained_spawn: chain %lu ended at depth %lu, expected %lu", c, last, depth);
      }
      return per_op(t0, bench::now_ns(), depth * chains);
    });
  });
  return result(args, depth * chains, samples, "ns/spawn", "detached fibers, the last of a chain notifies a weft::Notify");
}

bench::Measurement spawn_join(bench::Args& args, Env& env) {
  const auto n = std::uint64_t(args.integer("n", 100000, 1));
  args.reject_unknown();
  weft::Runtime& rt = env.start();
  auto samples = rt.block_on([&] {
    return bench::run_reps(env.reps, [&] {
      const std::uint64_t t0 = bench::now_ns();
      std::vector<weft::JoinHandle<std::uint64_t>> hs;
      hs.reserve(n);
      for (std::uint64_t i = 0; i < n; ++i) hs.push_back(weft::spawn([i] { return i; }));
      std::uint64_t sum = 0;
      for (auto& h : hs) sum += *h.join();
      const std::uint64_t t1 = bench::now_ns();
      if (sum != n * (n - 1) / 2) BENCH_FAIL("spawn_join: sum %lu, expected %lu", sum, n * (n - 1) / 2);
      return per_op(t0, t1, n);
    });
  });
  return result(args, n, samples, "ns/task", "JoinHandle<u64>::join in spawn order");
}

bench::Measurement yield_many(bench::Args& args, Env& env) {
  const auto tasks = std::uint64_t(args.integer("tasks", 200, 1));
  const auto yields = std::uint64_t(args.integer("yields", 1000, 1));
  args.reject_unknown();
  weft::Runtime& rt = env.start();
  auto samples = rt.block_on([&] {
    return bench::run_reps(env.reps, [&] {
      std::atomic<std::uint64_t> total{0};
      const std::uint64_t t0 = bench::now_ns();
      std::vector<weft::JoinHandle<void>> hs;
      hs.reserve(tasks);
      for (std::uint64_t i = 0; i < tasks; ++i) {
        hs.push_back(weft::spawn([&] {
          for (std::uint64_t y = 0; y < yields; ++y) weft::yield_now();
          total.fetch_add(yields, std::memory_order_relaxed);
        }));
      }
      for (auto& h : hs) {
        if (!h.join()) BENCH_FAIL("yield_many: a task failed");
      }
      const std::uint64_t t1 = bench::now_ns();
      if (total != tasks * yields) BENCH_FAIL("yield_many: %lu yields, expected %lu", total.load(), tasks * yields);
      return per_op(t0, t1, tasks * yields);
    });
  });
  return result(args, tasks * yields, samples, "ns/yield", "weft::yield_now");
}

bench::Measurement ping_pong(bench::Args& args, Env& env) {
  const auto pairs = std::uint64_t(args.integer("pairs", 100, 1));
  const auto rounds = std::uint64_t(args.integer("rounds", 1000, 1));
  const bool coop = coop_from(args);
  args.reject_unknown();
  weft::Runtime& rt = env.start();
  auto samples = rt.block_on([&] {
    return bench::run_reps(env.reps, [&] {
      std::atomic<std::uint64_t> completed{0};
      const std::uint64_t t0 = bench::now_ns();
      std::vector<weft::JoinHandle<void>> hs;
      hs.reserve(2 * pairs);
      for (std::uint64_t p = 0; p < pairs; ++p) {
        auto [tx1, rx1] = weft::mpsc::channel<std::uint64_t>(1);  // c1: A -> B
        auto [tx2, rx2] = weft::mpsc::channel<std::uint64_t>(1);  // c2: B -> A
        hs.push_back(weft::spawn([tx = std::move(tx1), rx = std::move(rx2), &completed, rounds, coop] {  // A
          with_coop(coop, [&] {
            for (std::uint64_t r = 0; r < rounds; ++r) {
              if (!tx.send(r)) BENCH_FAIL("ping_pong: c1 closed in round %lu", r);
              const std::optional<std::uint64_t> back = rx.recv();
              if (!back || *back != r) BENCH_FAIL("ping_pong: round %lu came back as %ld", r, back ? long(*back) : -1L);
            }
          });
          completed.fetch_add(rounds, std::memory_order_relaxed);
        }));
        hs.push_back(weft::spawn([rx = std::move(rx1), tx = std::move(tx2), rounds, coop] {  // B
          with_coop(coop, [&] {
            for (std::uint64_t r = 0; r < rounds; ++r) {
              const std::optional<std::uint64_t> v = rx.recv();
              if (!v || !tx.send(*v)) BENCH_FAIL("ping_pong: channel closed in round %lu", r);
            }
          });
        }));
      }
      for (auto& h : hs) {
        if (!h.join()) BENCH_FAIL("ping_pong: a task failed");
      }
      const std::uint64_t t1 = bench::now_ns();
      if (completed.load() != pairs * rounds)
        BENCH_FAIL("ping_pong: %lu round trips, expected %lu", completed.load(), pairs * rounds);
      return per_op(t0, t1, pairs * rounds);
    });
  });
  return result(args, pairs * rounds, samples, "ns/roundtrip",
                "weft::mpsc::channel<u64>(1) (bounded, capacity 1)" + coop_note(coop));
}

bench::Measurement mutex_contended(bench::Args& args, Env& env) {
  const auto tasks = std::uint64_t(args.integer("tasks", 1000, 1));
  const auto locks = std::uint64_t(args.integer("locks", 1000, 1));
  const bool coop = coop_from(args);
  args.reject_unknown();
  weft::Runtime& rt = env.start();
  auto samples = rt.block_on([&] {
    return bench::run_reps(env.reps, [&] {
      weft::Mutex mutex;
      std::uint64_t counter = 0;  // guarded by `mutex`
      const std::uint64_t t0 = bench::now_ns();
      std::vector<weft::JoinHandle<void>> hs;
      hs.reserve(tasks);
      for (std::uint64_t t = 0; t < tasks; ++t) {
        hs.push_back(weft::spawn([&mutex, &counter, locks, coop] {
          with_coop(coop, [&] {
            for (std::uint64_t i = 0; i < locks; ++i) {
              std::lock_guard lk(mutex);
              ++counter;
            }
          });
        }));
      }
      for (auto& h : hs) {
        if (!h.join()) BENCH_FAIL("mutex_contended: a task failed");
      }
      const std::uint64_t t1 = bench::now_ns();
      if (counter != tasks * locks) BENCH_FAIL("mutex_contended: counter %lu, expected %lu", counter, tasks * locks);
      return per_op(t0, t1, tasks * locks);
    });
  });
  return result(args, tasks * locks, samples, "ns/lock",
                "weft::Mutex (default: barging with a starvation guard)" + coop_note(coop));
}

bench::Measurement sleep_many(bench::Args& args, Env& env) {
  const auto n = std::uint64_t(args.integer("n", 100000, 1));
  const auto sleep_ms = args.integer("sleep-ms", 10, 0);
  args.reject_unknown();
  weft::Runtime& rt = env.start();
  const auto sleep = std::chrono::milliseconds(sleep_ms);
  auto samples = rt.block_on([&] {
    return bench::run_reps(env.reps, [&] {
      std::atomic<std::uint64_t> count{0};
      weft::Notify& done = env.make_signal();
      const std::uint64_t t0 = bench::now_ns();
      for (std::uint64_t i = 0; i < n; ++i) {
        weft::spawn([&count, &done, n, sleep] {
          weft::sleep(sleep);
          if (count.fetch_add(1, std::memory_order_acq_rel) + 1 == n) done.notify_one();
        }).detach();
      }
      done.notified();
      const std::uint64_t t1 = bench::now_ns();
      if (count.load() != n) BENCH_FAIL("sleep_many: count %lu, expected %lu", count.load(), n);
      return (double(t1 - t0) - double(sleep_ms) * 1e6) / double(n);
    });
  });
  return result(args, n, samples, "ns/task", "weft::sleep (ev_timer on the worker's loop)");
}

bench::Measurement idle_memory(bench::Args& args, Env& env) {
  const auto n = std::uint64_t(args.integer("n", 100000, 1));
  args.reject_unknown();
  weft::Runtime& rt = env.start();
  const std::uint64_t base = bench::vm_rss_bytes();
  std::uint64_t peak_rss = 0;
  auto samples = rt.block_on([&] {
    return bench::run_reps(env.reps, [&] {
      std::atomic<std::uint64_t> ready{0};
      std::atomic<std::uint64_t> released{0};
      weft::Notify& all_blocked = env.make_signal();
      // The root keeps the N senders and N handles, as the spec asks.
      std::vector<weft::oneshot::Sender<std::uint32_t>> senders;
      std::vector<weft::JoinHandle<void>> hs;
      senders.reserve(n);
      hs.reserve(n);
      for (std::uint64_t i = 0; i < n; ++i) {
        auto [tx, rx] = weft::oneshot::channel<std::uint32_t>();
        senders.push_back(std::move(tx));
        hs.push_back(weft::spawn([rx = std::move(rx), &ready, &released, &all_blocked, n] {
          if (ready.fetch_add(1, std::memory_order_acq_rel) + 1 == n) all_blocked.notify_one();
          if (rx.recv() == std::optional<std::uint32_t>(7)) released.fetch_add(1, std::memory_order_relaxed);
        }));
      }
      all_blocked.notified();
      const std::uint64_t rss = bench::vm_rss_bytes();
      peak_rss = std::max(peak_rss, rss);
      for (auto& tx : senders) {
        if (!tx.send(7)) BENCH_FAIL("idle_memory: a receiver was gone");
      }
      for (auto& h : hs) {
        if (!h.join()) BENCH_FAIL("idle_memory: a task failed");
      }
      if (released.load() != n) BENCH_FAIL("idle_memory: %lu tasks released, expected %lu", released.load(), n);
      return (double(rss) - double(base)) / double(n);
    });
  });
  const weft::detail::StackPool& pool = weft::detail::StackPool::instance();
  char note[320];
  std::snprintf(note, sizeof note,
                "each fiber blocked on its own weft::oneshot; base VmRSS %.1f MiB, peak %.1f MiB; stacks mapped %zu, "
                "guarded %zu (guard budget %zu of vm.max_map_count %s)",
                double(base) / (1024.0 * 1024.0), double(peak_rss) / (1024.0 * 1024.0), pool.mapped_stacks(),
                pool.guarded_stacks(), pool.guard_budget(), max_map_count().c_str());
  return result(args, n, samples, "bytes/task", note);
}

// weft's row of the ctx_switch table: a yield_now round trip of one fiber on an otherwise idle
// worker (fiber -> worker -> fiber), next to the raw Boost.Context switch of the other peer.
bench::Measurement ctx_switch(bench::Args& args, Env& env) {
  const auto n = std::uint64_t(args.integer("n", 1000000, 1));
  args.reject_unknown();
  weft::Runtime& rt = env.start();
  auto samples = rt.block_on([&] {
    return bench::run_reps(env.reps, [&] {
      const std::uint64_t t0 = bench::now_ns();
      for (std::uint64_t i = 0; i < n; ++i) weft::yield_now();
      const std::uint64_t t1 = bench::now_ns();
      return per_op(t0, t1, 2 * n);
    });
  });
  return result(args, n, samples, "ns/switch",
                "yield_now of a lone fiber: each yield is 2 fcontext switches (fiber->worker->fiber) plus "
                "the run-queue round trip; reported per switch like the raw peer");
}

// Not a doc/bench.md workload: what reading a weft::FiberLocal costs (issue 15). One fiber reads
// the last of --locals FiberLocal<u64> it has touched (the lookup scans the fiber's locals, so
// the last one is the slowest) --n times; `--what thread_local` reads a thread_local instead, the
// baseline a FiberLocal replaces. The loop adds each value into a sum the compiler cannot drop.
thread_local std::uint64_t t_local_value = 1;

bench::Measurement fiber_local(bench::Args& args, Env& env) {
  const auto n = std::uint64_t(args.integer("n", 10000000, 1));
  const auto locals = std::size_t(args.integer("locals", 2, 1));
  const std::string what = args.string("what", "FiberLocal");
  if (what != "FiberLocal" && what != "thread_local")
    bench::die(bench::kExitUsage, "--what must be FiberLocal or thread_local, not '%s'", what.c_str());
  args.reject_unknown();
  std::vector<std::unique_ptr<weft::FiberLocal<std::uint64_t>>> fls;
  for (std::size_t i = 0; i < locals; ++i) fls.push_back(std::make_unique<weft::FiberLocal<std::uint64_t>>([] { return 1; }));
  weft::Runtime& rt = env.start();
  auto samples = rt.block_on([&] {
    for (auto& fl : fls) (void)fl->get();  // constructed once, outside the timing
    weft::FiberLocal<std::uint64_t>& last = *fls.back();
    return bench::run_reps(env.reps, [&] {
      std::uint64_t sum = 0;
      const std::uint64_t t0 = bench::now_ns();
      if (what == "FiberLocal") {
        for (std::uint64_t i = 0; i < n; ++i) {
          sum += *last;
          asm volatile("" : "+r"(sum));  // keeps every read: no hoisting out of the loop
        }
      } else {
        for (std::uint64_t i = 0; i < n; ++i) {
          sum += t_local_value;
          asm volatile("" : "+r"(sum));
        }
      }
      const std::uint64_t t1 = bench::now_ns();
      if (sum != n) BENCH_FAIL("fiber_local: sum %lu, expected %lu", sum, n);
      return per_op(t0, t1, n);
    });
  });
  return result(args, n, samples, "ns/read",
                what == "FiberLocal" ? "FiberLocal read, the last of " + std::to_string(locals) + " locals the fiber touched"
                                     : std::string("thread_local read (the baseline)"));
}

// Not a doc/bench.md workload: the "an idle runtime must use ~0 % CPU". One repetition holds a
// started, idle 2-worker runtime for --seconds while the main thread sleeps (it is not a worker),
// and reports the process's CPU time (getrusage, user + system) as % of one core.
bench::Measurement idle_cpu(bench::Args& args, Env& env) {
  const auto seconds = args.integer("seconds", 5, 1);
  args.reject_unknown();
  weft::Runtime& rt = env.start();
  rt.block_on([] {});  // both workers have started and gone idle after this
  auto samples = bench::run_reps(env.reps, [&] {
    const std::uint64_t c0 = process_cpu_ns();
    const std::uint64_t t0 = bench::now_ns();
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    const std::uint64_t c1 = process_cpu_ns();
    const std::uint64_t t1 = bench::now_ns();
    return 100.0 * double(c1 - c0) / double(t1 - t0);
  });
  return result(args, std::uint64_t(seconds), samples, "% of a core",
                "process CPU (getrusage) while an idle 2-worker runtime exists; n = seconds per sample");
}

// doc/bench.md §1.2: `echo_server --port P` serves 127.0.0.1:P on the 2-worker runtime until SIGTERM
// (or SIGINT), then cancels the accept fiber and every connection and exits 0.
int echo_server(bench::Args& args) {
  const auto port = args.integer("port", 0, 1);
  args.reject_unknown();
  if (port > 65535) bench::die(bench::kExitUsage, "%s: --port %ld is not a TCP port", args.where().c_str(), long(port));
  weft::block_signals({SIGTERM, SIGINT});  // taken by weft's signal thread only (workers inherit the mask)
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  try {
    return rt.block_on([&] {
      weft::SignalStream stop({SIGTERM, SIGINT});  // before accepting: a client may signal at once
      weft::TcpListener listener =
          weft::TcpListener::bind(weft::SocketAddr::loopback_v4(static_cast<std::uint16_t>(port)), 4096);
      auto server = weft::spawn(weft::Options{.name = "echo accept"}, [&] { weft_echo::serve(listener); });
      stop.recv();
      server.abort();
      (void)server.join();  // aborted: Cancelled is the expected outcome
      return 0;
    });
  } catch (const weft::Error& e) {
    bench::die(bench::kExitFailed, "%s: %s", args.where().c_str(), e.what());
  }
}

struct Workload {
  const char* name;
  bench::Measurement (*run)(bench::Args&, Env&);
};

constexpr Workload kWorkloads[] = {
    {"spawn_many", spawn_many}, {"spawn_join", spawn_join},   {"chained_spawn", chained_spawn},
    {"yield_many", yield_many}, {"ping_pong", ping_pong},     {"mutex_contended", mutex_contended},
    {"sleep_many", sleep_many}, {"idle_memory", idle_memory}, {"ctx_switch", ctx_switch},
    {"idle_cpu", idle_cpu},     {"fiber_local", fiber_local},
};

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv);
  if (args.bench() == "list") {  // for bench/run: which workloads this program implements
    for (const Workload& w : kWorkloads) std::printf("%s\n", w.name);
    std::printf("echo\n");  // served by `echo_server`, driven by echo_client
    return 0;
  }
  if (args.bench() == "echo_server") return echo_server(args);
  for (const Workload& w : kWorkloads) {
    if (args.bench() != w.name) continue;
    Env env(args);
    bench::Measurement m = w.run(args, env);
    env.stop();
    bench::emit(m);
    return 0;
  }
  std::string names = " echo_server";
  for (const Workload& w : kWorkloads) names += std::string(" ") + w.name;
  bench::die(bench::kExitUsage, "%s: unknown or not yet implemented bench '%s' (implemented:%s)",
             args.prog().c_str(), args.bench().c_str(), names.c_str());
}
