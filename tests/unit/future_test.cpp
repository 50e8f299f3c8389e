// weft::wait(std::future / std::shared_future): many fibers wait on futures that plain threads
// fulfil, exceptions and broken promises come through, a cancelled waiter leaves, misuse is a
// weft::Error.
#include "test_util.hpp"

#include <weft/future.hpp>  // not in weft.hpp: it pulls in <future>

#include <atomic>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

TEST_CASE("weft::wait(future): many fibers, promises set by plain threads, values and exceptions") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(64, 8));
    std::vector<std::promise<int>> ps(n);
    std::vector<std::future<int>> fs;
    for (auto& p : ps) fs.push_back(p.get_future());
    std::promise<void> gate_p;
    std::shared_future<void> gate = gate_p.get_future().share();
    rt.block_on([&] {
      std::vector<weft::JoinHandle<int>> hs;
      for (int i = 0; i < n; ++i) {
        hs.push_back(weft::spawn([&, i] {
          weft::wait(gate);  // a shared_future, waited on by every fiber
          try {
            return weft::wait(std::move(fs[i]));
          } catch (const std::runtime_error&) {
            return -1;
          } catch (const std::future_error& e) {
            return e.code() == std::future_errc::broken_promise ? -2 : -3;
          }
        }));
      }
      std::thread setter([&] {
        gate_p.set_value();
        for (int i = 0; i < n; ++i) {
          if (i % 7 == 1) ps[i].set_exception(std::make_exception_ptr(std::runtime_error("no")));
          else if (i % 7 == 2) ps[i] = std::promise<int>();  // abandoned: broken_promise
          else ps[i].set_value(i * 3);
        }
      });
      for (int i = 0; i < n; ++i) {
        const int v = hs[i].join().value();
        if (i % 7 == 1) CHECK(v == -1);
        else if (i % 7 == 2) CHECK(v == -2);
        else CHECK(v == i * 3);
      }
      setter.join();
    });
  });
}

TEST_CASE("weft::wait(future): a cancelled waiter leaves at once; a plain thread can wait; misuse is a weft::Error") {
  weft::Runtime rt = weft_test::make_runtime(2);
  std::promise<std::unique_ptr<int>> p;
  std::future<std::unique_ptr<int>> f = p.get_future();
  rt.block_on([&] {
    auto h = weft::spawn([&f] { return *weft::wait(std::move(f)); });
    weft_test::yield_until_suspended(h.id());  // suspended: inside the wait
    h.abort();
    weft::Result<int> r = h.join();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is_cancelled());
  });
  p.set_value(std::make_unique<int>(1));  // releases the pool thread still blocked in get()

  std::promise<void> pv;
  std::thread t([&] { pv.set_value(); });
  weft::wait(pv.get_future());  // plain thread
  t.join();

  std::future<int> empty;
  CHECK_THROWS_AS(weft::wait(std::move(empty)), weft::Error);
  std::shared_future<int> sempty;
  CHECK_THROWS_AS(weft::wait(sempty), weft::Error);
}
