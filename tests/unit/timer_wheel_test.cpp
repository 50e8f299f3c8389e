// The timer wheel (lib/reactor/timer_wheel.hpp) against a model, with a clock the test drives: a
// timer fires exactly once, at the first advance() whose clock reading has reached the start of
// its deadline's tick (so never before its deadline, never more than a tick after it), in tick
// order; a removed timer never fires; deadlines the wheel cannot hold are refused; a callback may
// re-add its own timer. Then on a real runtime: fibers aborted while they sleep in the same ticks
// as others take their timers with them (their stacks are gone before the tick comes), and
// deadlines too far for the wheel take libev's heap, as exact and as cancellable.
#include "cancel_util.hpp"
#include "test_util.hpp"

#include "reactor/timer_wheel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

namespace {

using weft::detail::TimerWheel;
using weft::detail::WheelTimer;
constexpr std::int64_t kTick = TimerWheel::kTickNs;

std::int64_t tick_start(std::int64_t deadline) { return deadline <= 0 ? 0 : ((deadline - 1) / kTick + 1) * kTick; }

// A timer plus what the model knows of it.
struct Probe {
  WheelTimer t;
  std::int64_t deadline = 0;
  bool added = false;
  int fired = 0;
  std::int64_t fired_at = -1;  // the clock reading it fired with
  std::int64_t* last_fire_tick = nullptr;
  bool out_of_order = false;
};

void on_fire(WheelTimer* t, std::int64_t now) noexcept {
  auto* p = static_cast<Probe*>(t->data);
  ++p->fired;
  p->fired_at = now;
  // Fired in tick order within an advance (and across advances, since the clock only grows).
  if (t->tick < *p->last_fire_tick) p->out_of_order = true;
  *p->last_fire_tick = t->tick;
}

}  // namespace

TEST_CASE("timer wheel against a model: fires once, never early, at most a tick late, in order; removed never fire") {
  for (unsigned seed = 1; seed <= static_cast<unsigned>(weft_test::scaled(40, 8)); ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    // Start anywhere, also just before a slot-array wrap, so the circular scan is crossed.
    std::int64_t now = static_cast<std::int64_t>(rng() % (1ull << 40)) + 5 * kTick;
    TimerWheel wheel(now);
    std::int64_t last_fire_tick = 0;
    std::vector<std::unique_ptr<Probe>> probes;
    std::int64_t prev_now = now;
    for (int step = 0; step < 3000; ++step) {
      const unsigned op = static_cast<unsigned>(rng() % 10);
      if (op < 5) {
        auto p = std::make_unique<Probe>();
        // Mostly near (sub-tick offsets included), some in the past, some beyond the wheel.
        const std::int64_t span = (rng() % 8 == 0) ? 2 * static_cast<std::int64_t>(TimerWheel::kSlots) * kTick
                                                    : 40 * kTick;
        p->deadline = now - 3 * kTick + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(span));
        p->t.fire = on_fire;
        p->t.data = p.get();
        p->t.deadline_ns = p->deadline;
        p->last_fire_tick = &last_fire_tick;
        p->added = wheel.add(&p->t);
        // Refused exactly when the rounded-up tick is kSlots or more ticks past the first unserved one.
        const std::int64_t first_unserved = prev_now / kTick + 1;
        const std::int64_t tick = std::max(tick_start(p->deadline) / kTick, first_unserved);
        CHECK(p->added == (tick - first_unserved < static_cast<std::int64_t>(TimerWheel::kSlots)));
        probes.push_back(std::move(p));
      } else if (op < 7 && !probes.empty()) {
        Probe& p = *probes[rng() % probes.size()];
        wheel.remove(&p.t);  // a no-op on fired, refused or already removed timers
        if (p.added && p.fired == 0) p.added = false;
      } else {
        // The clock moves on by 0..3 ticks, sub-tick amounts included.
        now += static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(3 * kTick));
        const std::int64_t before = prev_now;
        wheel.advance(now);
        // One CHECK per kind of error per advance (a CHECK per probe would make this test slow).
        long missed = 0, early = 0, wrong_reading = 0, spurious = 0, twice = 0, disordered = 0;
        for (auto& pp : probes) {
          Probe& p = *pp;
          const bool due = p.added && std::max(tick_start(p.deadline), (before / kTick + 1) * kTick) <= now;
          if (due) {
            missed += p.fired != 1;
            wrong_reading += p.fired_at != now;
            early += p.fired_at < p.deadline;
            p.added = false;  // done: must never fire again
            p.deadline = -1;
          } else if (p.deadline != -1) {
            spurious += p.fired != 0;  // not due yet, removed, or refused
          }
          twice += p.fired > 1;
          disordered += p.out_of_order;
        }
        CHECK(missed == 0);
        CHECK(early == 0);
        CHECK(wrong_reading == 0);
        CHECK(spurious == 0);
        CHECK(twice == 0);
        CHECK(disordered == 0);
        last_fire_tick = 0;
        prev_now = now;
      }
    }
    // The earliest expiry the wheel reports is never later than the earliest live timer's tick.
    std::int64_t earliest = TimerWheel::kNone;
    for (auto& pp : probes) {
      if (pp->added && pp->fired == 0) earliest = std::min(earliest, std::max(tick_start(pp->deadline), (prev_now / kTick + 1) * kTick));
    }
    CHECK(wheel.next_expiry_ns() <= earliest);
    // Drain: everything still added fires once the clock passes it; then the wheel is empty.
    wheel.advance(now + 2 * static_cast<std::int64_t>(TimerWheel::kSlots) * kTick);
    for (auto& pp : probes) {
      if (pp->added && pp->deadline != -1) CHECK(pp->fired == 1);
      CHECK(pp->fired <= 1);
    }
    CHECK(wheel.empty());
    CHECK(wheel.next_expiry_ns() == TimerWheel::kNone);
  }
}

namespace {
struct Rearm {
  WheelTimer t;
  TimerWheel* wheel = nullptr;
  int fired = 0;
  std::vector<std::int64_t> at;
};
void rearm_fire(WheelTimer* t, std::int64_t now) noexcept {
  auto* r = static_cast<Rearm*>(t->data);
  ++r->fired;
  r->at.push_back(now);
  if (r->fired < 3) {
    // Back into the very slot being served: kSlots - 1 ticks on lands one tick before it wraps.
    t->deadline_ns = now + static_cast<std::int64_t>(TimerWheel::kSlots - 1) * kTick;
    r->wheel->add(t);
  }
}
}  // namespace

TEST_CASE("timer wheel: a callback re-adding its own timer, even into the slot being served, fires it later, not now") {
  const std::int64_t start = 1000 * kTick + kTick / 2;
  TimerWheel wheel(start);
  Rearm r;
  r.wheel = &wheel;
  r.t.fire = rearm_fire;
  r.t.data = &r;
  r.t.deadline_ns = start + kTick;
  REQUIRE(wheel.add(&r.t));
  wheel.advance(start + 2 * kTick);
  CHECK(r.fired == 1);
  CHECK(r.t.added());
  // One tick short of its new deadline's tick: nothing.
  wheel.advance(r.t.deadline_ns - kTick);
  CHECK(r.fired == 1);
  wheel.advance(r.t.deadline_ns + kTick);
  CHECK(r.fired == 2);
  wheel.advance(r.t.deadline_ns + kTick);
  CHECK(r.fired == 3);
  CHECK_FALSE(r.t.added());
  CHECK(wheel.empty());
  for (std::size_t i = 1; i < r.at.size(); ++i) CHECK(r.at[i] - r.at[i - 1] >= static_cast<std::int64_t>(TimerWheel::kSlots - 1) * kTick);
}

TEST_CASE("timer wheel: a deadline exactly on a tick fires at that tick; one ns past it waits for the next") {
  TimerWheel wheel(10 * kTick);
  Probe on, past;
  std::int64_t last = 0;
  for (Probe* p : {&on, &past}) {
    p->t.fire = on_fire;
    p->t.data = p;
    p->last_fire_tick = &last;
  }
  on.t.deadline_ns = 20 * kTick;
  past.t.deadline_ns = 20 * kTick + 1;
  REQUIRE(wheel.add(&on.t));
  REQUIRE(wheel.add(&past.t));
  CHECK(wheel.next_expiry_ns() == 20 * kTick);
  wheel.advance(20 * kTick - 1);
  CHECK(on.fired == 0);
  wheel.advance(20 * kTick);
  CHECK(on.fired == 1);
  CHECK(past.fired == 0);
  CHECK(wheel.next_expiry_ns() == 21 * kTick);
  wheel.advance(21 * kTick - 1);
  CHECK(past.fired == 0);
  wheel.advance(21 * kTick);
  CHECK(past.fired == 1);
}

TEST_CASE("sleepers aborted mid-sleep leave no timer behind while their tick-mates sleep on and wake on time") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(4'000, 400));
    std::atomic<long> early{0}, woke{0}, sleeping{0};
    rt.block_on([&] {
      const auto spawned = std::chrono::steady_clock::now();
      std::vector<weft::JoinHandle<void>> hs;
      hs.reserve(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) {
        hs.push_back(weft::spawn([&, i] {
          // Half sleep long (aborted below; within the wheel's range), half short.
          const auto d = (i % 2) ? std::chrono::milliseconds(400) + std::chrono::microseconds(i % 1000)
                                 : std::chrono::milliseconds(5) + std::chrono::microseconds(i % 1000);
          const auto start = std::chrono::steady_clock::now();
          sleeping.fetch_add(1);
          weft::sleep(d);
          if (std::chrono::steady_clock::now() < start + d) early.fetch_add(1);
          woke.fetch_add(1);
        }));
      }
      // Abort the long sleepers once every fiber sleeps (or is about to): their timers must go
      // with them, since their stacks are reused by the time those ticks come.
      weft_test::wait_for([&] { return sleeping.load() == n; });
      for (int i = 1; i < n; i += 2) hs[static_cast<std::size_t>(i)].abort();
      // More sleepers reuse those stacks at once, into the same ticks.
      std::vector<weft::JoinHandle<void>> again;
      for (int i = 0; i < n / 2; ++i) {
        again.push_back(weft::spawn([&] {
          const auto d = std::chrono::milliseconds(30);
          const auto start = std::chrono::steady_clock::now();
          weft::sleep(d);
          if (std::chrono::steady_clock::now() < start + d) early.fetch_add(1);
          woke.fetch_add(1);
        }));
      }
      long cancelled = 0, failed = 0;
      for (std::size_t i = 0; i < hs.size(); ++i) {
        auto r = hs[i].join();
        if (r) continue;
        if (i % 2 && r.error().is_cancelled()) {
          ++cancelled;
        } else {
          ++failed;
        }
      }
      for (auto& h : again) CHECK(h.join().has_value());
      CHECK(failed == 0);
      // Each long sleeper was either aborted or (only if the aborts took 800 ms) woke normally.
      CHECK(cancelled > 0);
      CHECK(woke.load() + cancelled == n + n / 2);
      // Stay past the aborted sleepers' deadlines: a timer they left behind would fire now, into a
      // stack that other fibers have reused since (and for a fiber that is gone: ASan reports it;
      // with remove() a no-op this test fails or crashes).
      weft::sleep_until(spawned + std::chrono::milliseconds(450));
    });
    CHECK(early.load() == 0);
  });
}

TEST_CASE("deadlines beyond the wheel's range wait on libev's heap: never early, and gone when their sleeper is aborted") {
  weft::Runtime rt = weft_test::make_runtime(2);
  std::atomic<long> early{0}, woke{0}, sleeping{0};
  rt.block_on([&] {
    // Past the wheel's kSlots ticks, mixed with near ones on the same workers.
    std::vector<weft::JoinHandle<void>> far, doomed;
    for (int i = 0; i < 40; ++i) {
      const auto d = (i % 2) ? std::chrono::milliseconds(1100) + std::chrono::microseconds(i * 37)
                             : std::chrono::milliseconds(3) + std::chrono::microseconds(i * 37);
      far.push_back(weft::spawn([&, d] {
        const auto start = std::chrono::steady_clock::now();
        weft::sleep(d);
        if (std::chrono::steady_clock::now() < start + d) early.fetch_add(1);
        woke.fetch_add(1);
      }));
      doomed.push_back(weft::spawn([&] {
        sleeping.fetch_add(1);
        weft::sleep(std::chrono::seconds(30));
      }));
    }
    weft_test::wait_for([&] { return sleeping.load() == 40; });
    for (auto& h : doomed) h.abort();
    for (auto& h : doomed) {
      auto r = h.join();
      CHECK((!r && r.error().is_cancelled()));
    }
    for (auto& h : far) CHECK(h.join().has_value());
  });
  CHECK(early.load() == 0);
  CHECK(woke.load() == 40);
  rt.shutdown();
  CHECK(rt.metrics().live_fibers == 0);
}
