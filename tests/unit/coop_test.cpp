// The cooperative budget: a fiber whose operations are always ready still lets the other fibers
// on its worker run (one yield per kCoopBudget operations), CoopUnconstrained switches that off,
// a yield for the budget is cancel-safe, and the cost is printed.
#include "sched/chaos.hpp"
#include "test_util.hpp"

#include <atomic>
#include <chrono>
#include <optional>
#include <cstdio>
#include <vector>

namespace {
// Runs on the same (single) worker as the busy fiber: counts how often it got to run.
struct Bystander {
  std::atomic<long> runs{0};
  std::atomic<bool> stop{false};
  weft::JoinHandle<void> start() {
    return weft::spawn([this] {
      while (!stop.load()) {
        runs++;
        weft::yield_now();
      }
    });
  }
};
}  // namespace

TEST_CASE("always-ready channel, semaphore and join loops yield to a bystander on a single worker") {
  weft::Runtime rt = weft_test::make_runtime(1);
  rt.block_on([] {
    constexpr long kOps = 100'000;
    Bystander b;
    auto by = b.start();
    weft::yield_now();  // let the bystander start
    auto [tx, rx] = weft::mpsc::unbounded_channel<long>();
    const long before = b.runs.load();
    long sum = 0;
    for (long i = 0; i < kOps; ++i) {
      if (!tx.send(i)) break;
      sum += rx.recv().value_or(0);
    }
    const long during_channel = b.runs.load() - before;
    CHECK(sum == kOps * (kOps - 1) / 2);
    // 2 * kOps budgeted operations: one yield per kCoopBudget of them, and each yield lets the
    // bystander run once (it is the only other fiber on the worker).
    CHECK(during_channel >= 2 * kOps / weft::kCoopBudget - 2);

    weft::Semaphore sem(1);
    const long before_sem = b.runs.load();
    for (long i = 0; i < kOps; ++i) {
      weft::Permit p = sem.acquire();
    }
    CHECK(b.runs.load() - before_sem >= kOps / weft::kCoopBudget - 2);

    std::vector<weft::JoinHandle<int>> done;
    for (int i = 0; i < 2'000; ++i) done.push_back(weft::spawn([] { return 1; }));
    for (auto& h : done) {
      while (!h.is_finished()) weft::yield_now();  // all finished before the joins below
    }
    const long before_join = b.runs.load();
    int total = 0;
    for (auto& h : done) total += h.join().value_or(0);  // never suspends: each is finished
    CHECK(total == 2'000);
    CHECK(b.runs.load() - before_join >= 2'000 / weft::kCoopBudget - 2);
    b.stop = true;
    by.join().value();
  });
}

TEST_CASE("always-ready Notify, watch and Select loops yield to a bystander on a single worker") {
  weft::Runtime rt = weft_test::make_runtime(1);
  rt.block_on([] {
    constexpr long kOps = 50'000;
    Bystander b;
    auto by = b.start();
    weft::yield_now();

    weft::Notify n;
    long before = b.runs.load();
    for (long i = 0; i < kOps; ++i) {
      n.notify_one();  // stores the permit
      n.notified();    // takes it at once
    }
    CHECK(b.runs.load() - before >= kOps / weft::kCoopBudget - 2);

    auto [wtx, wrx] = weft::watch::channel<long>(0);
    before = b.runs.load();
    for (long i = 1; i <= kOps; ++i) {
      wtx.send(i);
      CHECK(wrx.changed());  // a new version is always there
    }
    CHECK(b.runs.load() - before >= kOps / weft::kCoopBudget - 2);

    auto [tx, rx] = weft::mpsc::unbounded_channel<long>();
    before = b.runs.load();
    long got = 0;
    for (long i = 0; i < kOps; ++i) {
      (void)tx.send(i);
      weft::Select().recv(rx, [&](std::optional<long> v) { got += v.has_value(); }).run();
    }
    CHECK(got == kOps);
    // The send and the Select are budgeted: one yield per kCoopBudget of them.
    CHECK(b.runs.load() - before >= 2 * kOps / weft::kCoopBudget - 2);
    b.stop = true;
    by.join().value();
  });
}

TEST_CASE("CoopUnconstrained: no budget yields while it lives, and the budget is back afterwards") {
  weft::Runtime rt = weft_test::make_runtime(1);
  rt.block_on([] {
    Bystander b;
    auto by = b.start();
    weft::yield_now();
    auto [tx, rx] = weft::mpsc::unbounded_channel<int>();
    long before = 0;
    {
      weft::CoopUnconstrained hot;
      before = b.runs.load();
      for (int i = 0; i < 50'000; ++i) {
        if (!tx.send(i)) break;
        (void)rx.recv();
      }
      // Nothing else ran (chaos mode's injected yields at suspension points are not the budget's).
      if (!weft::detail::chaos::enabled()) CHECK(b.runs.load() == before);
    }
    before = b.runs.load();
    for (int i = 0; i < 50'000; ++i) {
      if (!tx.send(i)) break;
      (void)rx.recv();
    }
    CHECK(b.runs.load() > before);
    b.stop = true;
    by.join().value();
  });
}

TEST_CASE("a receiver aborted in a budget yield consumed nothing: every message is accounted for") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      for (int round = 0; round < 20; ++round) {
        auto [tx, rx] = weft::mpsc::unbounded_channel<long>();
        constexpr long kMsgs = 5'000;
        for (long i = 0; i < kMsgs; ++i) {
          if (!tx.send(1)) break;
        }
        std::atomic<long> got{0};
        auto h = weft::spawn([&] {
          for (;;) {
            std::optional<long> v = rx.recv();  // always ready: yields only for the budget
            if (!v) return;
            got += *v;
          }
        });
        for (int i = 0; i < round; ++i) weft::yield_now();
        h.abort();
        (void)h.join();  // cancelled, or finished if it drained everything first
        tx = {};
        long rest = 0;
        while (auto v = rx.try_recv()) rest += *v;
        CHECK(got.load() + rest == kMsgs);
      }
    });
  });
}

TEST_CASE("the budget's cost on an always-ready send+recv loop (printed)") {
  weft::Runtime rt = weft_test::make_runtime(1);
  rt.block_on([] {
    auto [tx, rx] = weft::mpsc::unbounded_channel<int>();
    constexpr int kOps = 1'000'000;
    auto run = [&] {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < kOps; ++i) {
        if (!tx.send(i)) break;
        (void)rx.recv();
      }
      return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / kOps;
    };
    (void)run();  // warm up
    const double budgeted = run();
    double unconstrained = 0;
    {
      weft::CoopUnconstrained hot;
      unconstrained = run();
    }
    MESSAGE("send+recv: " << budgeted << " ns with the budget, " << unconstrained << " ns without");
    CHECK(budgeted > 0);
  });
}
