// weft::scope (weft/scope.hpp): children that borrow the caller's locals, the call returning only
// after every child finished on every path, the first failure cancelling the siblings and being
// rethrown as ScopeError (with the later ones kept), and the parent's cancellation reaching the
// children.
#include "cancel_util.hpp"

#include <weft/scope.hpp>
#include <weft/shield.hpp>
#include <weft/this_fiber.hpp>
#include <weft/timeout.hpp>
#include <weft/wait_group.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <random>
#include <stdexcept>
#include <vector>

namespace {

using namespace std::chrono_literals;
using weft_test::CountedGuard;
using weft_test::GuardCounter;
using weft_test::wait_for;

// Cannot be copied or moved: children can only reach it by reference.
struct Shared {
  std::vector<long> v;
  explicit Shared(std::size_t n) : v(n, -1) {}
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;
};

TEST_CASE("scope children mutate the parent's local vector in place; the parent sees every write") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::fibers_scaled(2'000, 200));
    rt.block_on([&] {
      Shared local(static_cast<std::size_t>(n));  // a local of the parent fiber
      const long* const data = local.v.data();
      std::atomic<int> same_storage{0};
      weft::scope([&](weft::Scope& s) {
        for (int i = 0; i < n; ++i) {
          s.spawn([&local, data, &same_storage, i] {
            // Suspend first, so children interleave and migrate before writing.
            if (i % 3 == 0) weft::yield_now();
            if (i % 3 == 1) weft::sleep(std::chrono::microseconds(i % 200));
            local.v[static_cast<std::size_t>(i)] = static_cast<long>(i) * i;
            if (local.v.data() == data) same_storage.fetch_add(1);
          });
        }
        CHECK(s.size() > 0);
      });  // returns only after every child finished: no waiting of our own below
      int right = 0;
      for (int i = 0; i < n; ++i) right += local.v[static_cast<std::size_t>(i)] == static_cast<long>(i) * i;
      CHECK(right == n);
      CHECK(same_storage.load() == n);
    });
  });
}

TEST_CASE("nested scopes borrow from every enclosing frame; an empty scope returns at once") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      std::atomic<int> total{0};
      weft::scope([&](weft::Scope& outer) {
        for (int i = 0; i < 8; ++i) {
          outer.spawn([&total, i] {
            int local_sum = 0;  // a child's local, borrowed by its own scope's children
            std::atomic<int> inner_sum{0};
            weft::scope([&](weft::Scope& inner) {
              for (int j = 0; j < 8; ++j) {
                inner.spawn([&inner_sum, i, j] {
                  inner_sum.fetch_add(i * 8 + j);
                  weft::yield_now();
                });
              }
            });
            local_sum = inner_sum.load();
            total.fetch_add(local_sum);
          });
        }
      });
      CHECK(total.load() == 63 * 64 / 2);
      weft::scope([](weft::Scope& s) { CHECK(s.size() == 0); });
    });
  });
}

TEST_CASE("the first failing child cancels its siblings; scope throws ScopeError with that failure") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int siblings = static_cast<int>(weft_test::scaled(100, 10));
    GuardCounter guards;
    std::atomic<int> started{0}, past_sleep{0}, scope_reason{0};
    bool threw = false;
    rt.block_on([&] {
      try {
        weft::scope([&](weft::Scope& s) {
          for (int i = 0; i < siblings; ++i) {
            s.spawn([&] {
              CountedGuard g(guards);
              started.fetch_add(1);
              try {
                weft::sleep(1h);
              } catch (const weft::Cancelled& c) {
                if (c.reason() == weft::Cancelled::Reason::Scope) scope_reason.fetch_add(1);
                throw;
              }
              past_sleep.fetch_add(1);
            });
          }
          s.spawn([&] {
            // All siblings are (about to be) asleep when this one fails.
            weft_test::expect_eventually([&] { return started.load() == siblings; }, "handshake");
            throw std::runtime_error("first failure");
          });
        });
      } catch (const weft::ScopeError& e) {
        threw = true;
        // Thrown only after every sibling unwound.
        CHECK(guards.created.load() == siblings);
        CHECK(guards.balanced());
        CHECK(e.errors().size() == 1);
        CHECK(weft_test::contains(e.what(), "first failure"));
        CHECK_THROWS_WITH_AS(e.rethrow_first(), "first failure", std::runtime_error);
        CHECK_THROWS_WITH_AS(std::rethrow_exception(e.first()), "first failure", std::runtime_error);
        const weft::Error& as_error = e;  // a weft::Error, so a std::exception
        CHECK(weft_test::contains(as_error.what(), "weft::scope"));
      }
    });
    CHECK(threw);
    CHECK(past_sleep.load() == 0);
    CHECK(scope_reason.load() == siblings);
  });
}

TEST_CASE("later failures are kept behind the first one in ScopeError::errors()") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    std::atomic<bool> b_started{false};
    std::vector<std::string> whats;
    rt.block_on([&] {
      try {
        weft::scope([&](weft::Scope& s) {
          // B turns its cancellation into a failure of its own: the second error.
          s.spawn([&] {
            try {
              b_started.store(true);
              weft::sleep(1h);
            } catch (const weft::Cancelled&) {
              throw std::logic_error("second failure");
            }
          });
          s.spawn([&] {
            weft_test::expect_eventually([&] { return b_started.load(); }, "handshake");
            throw std::runtime_error("first failure");
          });
        });
      } catch (const weft::ScopeError& e) {
        for (const auto& ep : e.errors()) {
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& ex) {
            whats.emplace_back(ex.what());
          }
        }
        CHECK(weft_test::contains(e.what(), "1 more"));
      }
    });
    CHECK(whats == std::vector<std::string>{"first failure", "second failure"});
  });
}

// A guard whose destructor suspends, so "the parent returned after the children unwound" is
// distinguishable from "the parent returned after requesting their cancellation".
struct SlowGuard {
  std::atomic<int>& done;
  ~SlowGuard() {
    weft::sleep(1ms);
    done.fetch_add(1);
  }
};

TEST_CASE("cancelling the parent cancels the children; its Cancelled propagates after they unwound") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(100, 10));
    GuardCounter guards;
    std::atomic<int> started{0}, slow_done{0}, after_scope{0};
    std::atomic<long> unwound_when_parent_left{-1};
    auto parent = rt.spawn([&] {
      struct Probe {  // runs as the parent unwinds past the scope
        GuardCounter& g;
        std::atomic<long>& out;
        ~Probe() { out.store(g.destroyed.load()); }
      } probe{guards, unwound_when_parent_left};
      weft::scope([&](weft::Scope& s) {
        for (int i = 0; i < n; ++i) {
          s.spawn([&] {
            CountedGuard g(guards);
            SlowGuard sg{slow_done};
            started.fetch_add(1);
            weft::sleep(1h);
          });
        }
      });
      after_scope.fetch_add(1);
    });
    CHECK(wait_for([&] { return started.load() == n; }));
    parent.abort();
    weft::Result<void> r = parent.join();
    CHECK((!r && r.error().is_cancelled()));
    CHECK(after_scope.load() == 0);
    CHECK(slow_done.load() == n);
    CHECK(unwound_when_parent_left.load() == n);
    CHECK(guards.balanced());
  });
}

TEST_CASE("if the body throws, the children are cancelled and waited for, and the body's exception propagates") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    GuardCounter guards;
    std::atomic<int> started{0};
    bool caught = false;
    rt.block_on([&] {
      try {
        weft::scope([&](weft::Scope& s) {
          for (int i = 0; i < 10; ++i) {
            s.spawn([&] {
              CountedGuard g(guards);
              started.fetch_add(1);
              weft::sleep(1h);
            });
          }
          CHECK(wait_for([&] { return started.load() == 10; }));
          throw std::invalid_argument("body failed");
        });
      } catch (const std::invalid_argument& e) {
        caught = true;
        CHECK(std::string(e.what()) == "body failed");
        CHECK(guards.balanced());  // every child unwound before the exception left scope()
      }
    });
    CHECK(caught);
    CHECK(guards.created.load() == 10);
  });
}

TEST_CASE("a timeout around a scope: the deadline cancels the children and the timeout reports elapsed") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    GuardCounter guards;
    rt.block_on([&] {
      // Every child must be inside its sleep when the deadline cancels it: a child cancelled before
      // its first run never runs (no guard to count), and ten first runs can take longer than the
      // 20 ms on a loaded or sanitized machine. So the body waits for them, shielded: an expiry
      // meanwhile is delivered when the shield ends, at the scope's wait for its children.
      weft::WaitGroup asleep;
      asleep.add(10);
      bool finished = weft::timeout(20ms, [&] {
        weft::scope([&](weft::Scope& s) {
          for (int i = 0; i < 10; ++i) {
            s.spawn([&] {
              CountedGuard g(guards);
              asleep.done();
              weft::sleep(1h);
            });
          }
          weft::shield([&] { asleep.wait(); });
        });
      });
      CHECK_FALSE(finished);
      CHECK(guards.balanced());
      weft::yield_now();  // the timeout caught its own cancellation: the parent goes on
    });
    CHECK(guards.created.load() == 10);
  });
}

TEST_CASE("spawning into a scope needs a fiber") {
  weft::Runtime rt = weft_test::make_runtime(1);
  CHECK_THROWS_AS(weft::scope([](weft::Scope& s) { s.spawn([] {}); }), weft::Error);
  int ran = 0;
  weft::scope([&](weft::Scope&) { ++ran; });  // no children: nothing to wait for, from any thread
  CHECK(ran == 1);
}

TEST_CASE("stress: many concurrent scopes with random failures and aborts release every guard") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int parents = static_cast<int>(weft_test::fibers_scaled(300, 30));
    GuardCounter guards;
    std::atomic<int> scope_errors{0}, clean{0};
    std::vector<weft::JoinHandle<void>> hs;
    std::mt19937 rng(5);
    for (int p = 0; p < parents; ++p) {
      const unsigned seed = rng();
      hs.push_back(rt.spawn([&, seed] {
        CountedGuard g(guards);
        std::mt19937 r(seed);
        const int kids = 2 + static_cast<int>(r() % 10);
        const int failing = (r() % 3 == 0) ? static_cast<int>(r() % static_cast<unsigned>(kids)) : -1;
        try {
          weft::scope([&](weft::Scope& s) {
            for (int k = 0; k < kids; ++k) {
              s.spawn([&guards, k, failing, us = r() % 200] {
                CountedGuard cg(guards);
                weft::sleep(std::chrono::microseconds(us));
                if (k == failing) throw std::runtime_error("kid failed");
                weft::yield_now();
              });
            }
          });
          clean.fetch_add(1);
        } catch (const weft::ScopeError&) {
          scope_errors.fetch_add(1);
        }
      }));
    }
    for (std::size_t i = 0; i < hs.size(); i += 3) hs[i].abort();  // some parents are cancelled too
    int cancelled = 0;
    for (auto& h : hs) {
      weft::Result<void> r = h.join();
      if (!r) {
        CHECK(r.error().is_cancelled());
        ++cancelled;
      }
    }
    CHECK(scope_errors.load() + clean.load() + cancelled == parents);
    CHECK(guards.balanced());
  });
}

}  // namespace

// Children may spawn siblings into their scope (a recursive fan-out), from any worker while the
// parent is already joining: every one is joined before scope() returns.
TEST_CASE("children spawn siblings into the scope: a recursive fan-out is fully joined") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      for (int round = 0; round < weft_test::scaled(20, 2); ++round) {
        const int depth = 11;  // 2^12 - 1 fibers per round
        std::atomic<long> ran{0};
        std::atomic<long> sum{0};
        // Outside the body: the body returns before its children finish; the scope's caller does not.
        weft::Scope* sp = nullptr;
        std::function<void(int, long)> node = [&](int d, long v) {
          ran.fetch_add(1, std::memory_order_relaxed);
          sum.fetch_add(v, std::memory_order_relaxed);
          if (d == depth) return;
          sp->spawn([&node, d, v] { node(d + 1, 2 * v); });
          if ((v & 3) == 0) weft::yield_now();  // let some siblings start before the next spawn
          sp->spawn([&node, d, v] { node(d + 1, 2 * v + 1); });
        };
        weft::scope([&](weft::Scope& s) {
          sp = &s;
          s.spawn([&node] { node(0, 1); });
        });
        // Values 1 .. 2^(depth+1)-1 in heap order: each exactly once.
        const long n = (1L << (depth + 1)) - 1;
        CHECK(ran.load() == n);
        CHECK(sum.load() == n * (n + 1) / 2);
      }
    });
  });
}

// After the first failure, a sibling spawned by a still-running child starts cancelled: its
// function never runs, and scope() still reports the one failure.
TEST_CASE("after the first failure, siblings spawned by other children start cancelled") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      for (int round = 0; round < weft_test::scaled(50, 5); ++round) {
        std::atomic<bool> started{false};
        std::atomic<bool> failed{false};
        std::atomic<long> late_ran{0};
        std::atomic<long> late_spawned{0};
        try {
          weft::scope([&](weft::Scope& s) {
            s.spawn([&] {
              weft::shield([&] {  // keeps running after its cancellation, spawning more
                started = true;
                while (!failed.load()) weft::yield_now();
                // The scope's abort follows the failure; wait until this fiber has seen it.
                while (!weft::this_fiber::is_cancelled()) weft::yield_now();
                for (int i = 0; i < 10; ++i) {
                  s.spawn([&] { late_ran.fetch_add(1); });
                  late_spawned.fetch_add(1);
                }
              });
            });
            s.spawn([&] {
              while (!started.load()) weft::yield_now();
              failed = true;
              throw std::runtime_error("first");
            });
          });
          FAIL("scope() did not throw");
        } catch (const weft::ScopeError& e) {
          CHECK(e.errors().size() == 1);
          CHECK(weft_test::contains(e.what(), "first"));
        }
        CHECK(late_spawned.load() == 10);
        CHECK(late_ran.load() == 0);
      }
    });
  });
}
