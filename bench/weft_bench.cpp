// weft_bench: the weft peer of ../shared/BENCH.md ("peer":"weft").
//
//   weft_bench <bench> [--key value]...      # one workload, JSON lines on stdout
//   weft_bench echo_server --port P          # the `echo` server (echo_server.hpp), until SIGTERM
//
// The runtime (§1.1): one weft::Runtime with 2 workers, created before any timing; the root task
// is a fiber run by block_on (so it is one of the runtime's tasks, as the spec requires).
#include <weft/weft.hpp>

#include <boost/context/fiber.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "echo_server.hpp"

namespace {

struct Env {
  bench::Reps reps;
  std::unique_ptr<weft::Runtime> rt;
  explicit Env(bench::Args& args) : reps(bench::reps_from(args)) {}
  weft::Runtime& start() {
    rt = std::make_unique<weft::Runtime>(weft::Runtime::Builder().workers(2).build());
    return *rt;
  }
  void stop() { rt.reset(); }
};

double per_op(std::uint64_t t0, std::uint64_t t1, std::uint64_t n) {
  return static_cast<double>(t1 - t0) / static_cast<double>(n);
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
      for (auto& h : hs) h.join();
      const std::uint64_t t1 = bench::now_ns();
      if (total != tasks * yields) BENCH_FAIL("yield_many: %lu yields, expected %lu", total.load(), tasks * yields);
      return per_op(t0, t1, tasks * yields);
    });
  });
  return result(args, tasks * yields, samples, "ns/yield", "weft::yield_now");
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

// BENCH.md §1.2: `echo_server --port P` serves 127.0.0.1:P on the 2-worker runtime until SIGTERM
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
      server.join();
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
    {"spawn_join", spawn_join},
    {"yield_many", yield_many},
    {"ctx_switch", ctx_switch},
};

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv);
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
