// Every timed call accepts any std::chrono duration (duration<double> too) and a time point of any
// clock, and a conversion never makes a wait end early: durations round up, system_clock deadlines
// are honoured against system_clock, and out-of-range values saturate instead of overflowing.
#include "test_util.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
using System = std::chrono::system_clock;
using DSec = std::chrono::duration<double>;
using DMilli = std::chrono::duration<double, std::milli>;

TEST_CASE("ceil_nanos rounds up and saturates") {
  using weft::detail::ceil_nanos;
  CHECK(ceil_nanos(DSec(1e-10)) == 1ns);
  CHECK(ceil_nanos(std::chrono::duration<long, std::pico>(1500)) == 2ns);
  CHECK(ceil_nanos(DMilli(1.0000001)) == 1'000'001ns);
  CHECK(ceil_nanos(-5ms) == 0ns);
  CHECK(ceil_nanos(DSec(std::numeric_limits<double>::quiet_NaN())) == 0ns);
  CHECK(ceil_nanos(DSec(std::numeric_limits<double>::infinity())) == weft::detail::kForever);
  CHECK(ceil_nanos(std::chrono::hours::max()) == weft::detail::kForever);
  CHECK(ceil_nanos(std::chrono::nanoseconds::max()) == weft::detail::kForever);
  CHECK(ceil_nanos(7ms) == 7ms);
}

TEST_CASE("to_steady_deadline: other clocks, coarse and floating time points, extremes") {
  using weft::detail::to_steady_deadline;
  CHECK(to_steady_deadline(std::chrono::time_point<System, std::chrono::seconds>::max()) == Steady::time_point::max());
  CHECK(to_steady_deadline(std::chrono::time_point<Steady, std::chrono::hours>::max()) == Steady::time_point::max());
  const auto before = Steady::now();
  const auto past = to_steady_deadline(std::chrono::time_point<System, std::chrono::seconds>::min());
  CHECK(past >= before);
  CHECK(past <= Steady::now());
  // A floating steady time point between two ticks rounds up to the later tick.
  const std::chrono::time_point<Steady, DSec> f(DSec(1.0000000005));
  CHECK(to_steady_deadline(f).time_since_epoch() == 1'000'000'001ns);
  // A system_clock deadline 1 s ahead lands about 1 s ahead on the steady clock, never before.
  const auto s0 = Steady::now();
  const auto d = to_steady_deadline(System::now() + 1s);
  CHECK(d - s0 >= 1s - 1ms);  // system and steady now() are read at slightly different instants
  CHECK(d - Steady::now() <= 1s);
}

TEST_CASE("timed waits with any duration and clock never end early, many fibers") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    constexpr int kFibers = 64;
    std::atomic<int> early{0}, wrong{0};
    weft::Notify never;
    weft::WaitGroup busy;
    busy.add(1);
    weft::Semaphore none(0);
    rt.block_on([&] {
      weft_test::Pipe p;
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < kFibers; ++i) {
        hs.push_back(weft::spawn([&, i] {
          const auto t0 = Steady::now();
          const auto sys_deadline = System::now() + 3ms;
          bool r = true;
          switch (i % 7) {
            case 0: r = never.notified_for(DMilli(2.5)); break;
            case 1: r = busy.wait_for(DSec(0.0025)); break;
            case 2: r = none.try_acquire_for(DMilli(2.5)).has_value(); break;
            case 3: r = weft::wait_readable(p.r, DSec(0.0025)); break;
            case 4: r = never.notified_until(sys_deadline); break;
            case 5: r = busy.wait_until(sys_deadline); break;
            case 6: weft::sleep_until(sys_deadline); r = false; break;
          }
          if (r) wrong++;
          if (i % 7 >= 4) {
            if (System::now() < sys_deadline) early++;
          } else if (Steady::now() - t0 < 2500us) {
            early++;
          }
        }));
      }
      for (auto& h : hs) CHECK(h.join().has_value());
    });
    CHECK(wrong.load() == 0);
    CHECK(early.load() == 0);
  });
}

TEST_CASE("timed waits still succeed when the event is there, fibers and plain threads") {
  weft::Runtime rt = weft_test::make_runtime(2);
  weft::Notify n;
  weft::WaitGroup wg;
  weft::Semaphore sem(1);
  n.notify_one();  // a stored permit
  auto check_all = [&] {
    CHECK(n.notified_for(DSec(10.0)));
    n.notify_one();
    CHECK(n.notified_until(System::now() + 10s));
    n.notify_one();
    CHECK(wg.wait_for(DMilli(1e7)));
    CHECK(wg.wait_until(System::now() + 10s));
    CHECK(sem.try_acquire_for(DSec(1.5)).has_value());
    CHECK(sem.try_acquire_until(System::now() + 10s).has_value());
    weft_test::Pipe p;
    CHECK(weft_test::put_byte(p.w));
    CHECK(weft::wait_readable(p.r, DSec(10)));
    CHECK(weft::wait_readable_until(p.r, System::now() + 10s));
    CHECK(weft::wait_writable(p.w, DSec(10)));
    CHECK(weft::wait_writable_until(p.w, System::now() + 10s));
  };
  rt.block_on(check_all);
  std::thread t(check_all);  // plain thread: the blocking fallbacks take the same types
  t.join();
}

TEST_CASE("timeout_at takes any clock; sleep and timeout take huge and floating durations") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const auto deadline = System::now() + 5ms;
      CHECK_FALSE(weft::timeout_at(deadline, [] { weft::sleep(std::chrono::hours::max()); }));
      CHECK(System::now() >= deadline);
      // duration<double> timeout with a floating sleep inside; "forever" does not overflow.
      CHECK_FALSE(weft::timeout(DMilli(2.0), [] { weft::sleep(DSec(1e300)); }));
      CHECK(weft::timeout(DSec(1e300), [] { return 7; }) == std::optional<int>(7));
      const auto t0 = Steady::now();
      weft::sleep(DSec(0.002));
      CHECK(Steady::now() - t0 >= 2ms);
    });
  });
}

TEST_CASE("Select, CondVar, RwLock, mpsc::send_for and Runtime::Builder take any duration and clock") {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).shutdown_timeout(DSec(5.0)).build();
  rt.block_on([] {
    auto [tx, rx] = weft::mpsc::channel<int>(1);
    CHECK(tx.send(1).is_sent());
    CHECK(tx.send_for(2, DMilli(1.5)).is_full());  // full: gives up after the (rounded-up) timeout
    const auto sys_deadline = System::now() + 2ms;
    weft::Notify never;
    const std::size_t which = weft::Select().notified(never, [] {}).deadline(sys_deadline, [] {}).run();
    CHECK(which == 1);
    CHECK(System::now() >= sys_deadline);
    CHECK(weft::Select().notified(never, [] {}).timeout(DMilli(1.0), [] {}).run() == 1);

    weft::Mutex m;
    weft::CondVar cv;
    std::unique_lock<weft::Mutex> lk(m);
    const auto cv_deadline = System::now() + 2ms;
    CHECK(cv.wait_until(lk, cv_deadline) == std::cv_status::timeout);
    CHECK(System::now() >= cv_deadline);
    CHECK_FALSE(cv.wait_for(lk, DMilli(1.0), [] { return false; }));
    lk.unlock();

    weft::RwLock rw;
    rw.lock_shared();
    const auto t0 = Steady::now();
    CHECK_FALSE(rw.try_lock_for(DMilli(2.0)));
    CHECK(Steady::now() - t0 >= 2ms);
    CHECK_FALSE(rw.try_lock_until(System::now() + 1ms));
    rw.unlock_shared();
    CHECK(rw.try_lock_for(DSec(1e300)));
    rw.unlock();
  });
}
