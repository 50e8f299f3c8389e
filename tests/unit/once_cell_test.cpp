// weft::OnceCell and weft::call_once: exactly one initializer runs while the others suspend; a
// throwing or cancelled initializer leaves the cell empty and another caller takes over; waiting
// is cancel-safe; recursive initialisation is a clear error.
#include "sync_util.hpp"

#include <weft/once_cell.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct Config {
  std::string name;
  int workers = 0;
};

std::atomic<int> g_loads{0};
Config load_config() {
  g_loads.fetch_add(1);
  weft::yield_now();  // the initializer may suspend; the other callers wait meanwhile
  return Config{"prod", 4};
}

TEST_CASE("once_cell: the header's usage example, with many concurrent callers") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    g_loads = 0;
    rt.block_on([] {
      weft::OnceCell<Config> config;
      std::atomic<int> printed{0};
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < 50; ++i) {
        hs.push_back(weft::spawn([&] {
          // In any number of fibers at once: one runs load_config(), the others suspend until it is done.
          const Config& c = config.get_or_init([] { return load_config(); });
          CHECK(c.workers == 4);
        }));
      }
      std::thread t([&] { CHECK(config.get_or_init(load_config).name == "prod"); });
      for (auto& h : hs) h.join().value();
      t.join();

      weft::OnceFlag flag;
      for (int i = 0; i < 3; ++i) weft::call_once(flag, [&] { printed.fetch_add(1); });
      CHECK(printed.load() == 1);
      CHECK(flag.is_done());
      CHECK(config.get() != nullptr);
      CHECK_FALSE(config.set(Config{"other", 1}));
    });
    CHECK(g_loads.load() == 1);
  });
}

TEST_CASE("once_cell: a throwing initializer leaves it empty; the next caller initialises") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::OnceCell<int> cell;
      CHECK_THROWS_AS(cell.get_or_init([]() -> int { throw std::runtime_error("boom"); }), std::runtime_error);
      CHECK(cell.get() == nullptr);
      CHECK(cell.get_or_init([] { return 7; }) == 7);
      CHECK(cell.set(8) == false);
      CHECK(*cell.get() == 7);
    });
  });
}

TEST_CASE("once_cell: the initializing fiber is cancelled — a waiter takes over; waiters cancel harmlessly") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::OnceCell<int> cell;
      weft::Notify in_init;
      std::atomic<int> runs{0};
      auto first = weft::spawn([&] {
        return cell.get_or_init([&] {
          runs.fetch_add(1);
          in_init.notify_one();
          weft::sleep(10s);  // cancelled here
          return 1;
        });
      });
      in_init.notified();
      // Waiters queue behind the running initializer; one of them is cancelled while waiting.
      auto doomed = weft::spawn([&] { return cell.get_or_init([] { return 3; }); });
      auto second = weft::spawn([&] { return cell.get_or_init([&] { runs.fetch_add(1); return 2; }); });
      for (int i = 0; i < 10; ++i) weft::yield_now();
      doomed.abort();
      first.abort();
      CHECK(first.join().error().is_cancelled());
      const int v = second.join().value();
      weft::Result<int> d = doomed.join();
      CHECK((v == 2 || v == 3));  // whichever waiter took over
      if (d) CHECK(d.value() == v);
      CHECK(*cell.get() == v);
      CHECK(runs.load() >= 1);
    });
  });
}

TEST_CASE("once_cell: get_or_init from inside its own initializer is a clear error") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::OnceCell<int> cell;
      try {
        cell.get_or_init([&] { return cell.get_or_init([] { return 1; }) + 1; });
        CHECK(false);
      } catch (const weft::Error& e) {
        CHECK(weft_test::contains(e.what(), "own initializer"));
      }
      CHECK(cell.get() == nullptr);
      CHECK(cell.get_or_init([] { return 5; }) == 5);
    });
  });
}

}  // namespace
