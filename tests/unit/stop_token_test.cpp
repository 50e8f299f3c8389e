// CancelCallback and the std::stop_token bridges: callbacks run exactly once (registered before
// or after the cancel, from fibers and threads), destruction waits for a running callback, and
// stop requests cross in both directions.
#include "test_util.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("CancelCallback: each callback runs once, whether registered before or after cancel") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const int n = static_cast<int>(weft_test::scaled(2'000, 100));
    std::atomic<int> ran{0};
    weft::CancellationToken token;
    rt.block_on([&] {
      // Fibers register callbacks concurrently with a plain thread cancelling the token.
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < n; ++i) {
        hs.push_back(weft::spawn([&] {
          std::atomic<int> mine{0};
          {
            weft::CancelCallback cb(token, [&] { mine++; ran++; });
            token.cancelled();  // wait for the cancel
            // The cancelling thread runs the callback; the wake-up of this fiber may come first
            // (seen under ASan), so wait for the callback itself: a callback that never ran hangs here.
            while (mine.load() == 0) weft::yield_now();
            CHECK(mine.load() == 1);
          }
          CHECK(mine.load() == 1);  // not again after unregistering
        }));
        if (i == n / 2) std::thread([token] { token.cancel(); }).detach();
      }
      for (auto& h : hs) CHECK(h.join().has_value());
    });
    CHECK(ran.load() == n);
    // Registered after the cancel: runs at once, in the constructor.
    int late = 0;
    weft::CancelCallback cb(token, [&] { late++; });
    CHECK(late == 1);
  });
}

TEST_CASE("CancelCallback: unregistered callbacks never run; a child token runs its parent's cancel") {
  weft::CancellationToken parent;
  weft::CancellationToken child = parent.child_token();
  int a = 0, b = 0;
  {
    weft::CancelCallback gone(parent, [&] { a++; });
  }
  weft::CancelCallback on_child(child, [&] { b++; });
  parent.cancel();
  parent.cancel();
  CHECK(a == 0);
  CHECK(b == 1);
}

TEST_CASE("CancelCallback destructor waits for a callback running on another thread") {
  weft::CancellationToken token;
  std::atomic<bool> in_callback{false}, release{false}, finished{false};
  auto cb = std::make_unique<weft::CancelCallback<std::function<void()>>>(token, std::function<void()>([&] {
    in_callback = true;
    while (!release.load()) std::this_thread::yield();
    finished = true;
  }));
  std::thread canceller([&] { token.cancel(); });
  while (!in_callback.load()) std::this_thread::yield();
  std::thread destroyer([&] {
    cb.reset();  // must block until the callback has returned
    CHECK(finished.load());
  });
  release = true;
  destroyer.join();
  canceller.join();
}

TEST_CASE("a callback may destroy its own registration") {
  weft::CancellationToken token;
  std::unique_ptr<weft::CancelCallback<std::function<void()>>> cb;
  int ran = 0;
  cb = std::make_unique<weft::CancelCallback<std::function<void()>>>(token, std::function<void()>([&] {
    ran++;
    cb.reset();
  }));
  token.cancel();
  CHECK(ran == 1);
  CHECK_FALSE(cb);
}

TEST_CASE("to_stop_token: stop is requested when the token is cancelled, from a fiber or a thread") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::CancellationToken token;
    std::stop_token st = weft::to_stop_token(token);
    CHECK(st.stop_possible());
    CHECK_FALSE(st.stop_requested());
    std::atomic<int> stopped{0};
    std::stop_callback scb(st, [&] { stopped++; });
    // A std::jthread-style worker that only speaks std::stop_token ends when a fiber cancels.
    std::thread legacy([st2 = weft::to_stop_token(token), &stopped] {
      while (!st2.stop_requested()) std::this_thread::yield();
      stopped++;
    });
    rt.block_on([&] { token.cancel(); });
    legacy.join();
    CHECK(st.stop_requested());
    CHECK(stopped.load() == 2);
    // After the cancel: already stopped.
    CHECK(weft::to_stop_token(token).stop_requested());
    // Through a child token, even after the child handle itself was dropped.
    weft::CancellationToken parent;
    std::stop_token child_st = weft::to_stop_token(parent.child_token());
    for (int i = 0; i < 10; ++i) (void)parent.child_token();  // gives child_token() a chance to prune
    parent.cancel();
    CHECK(child_st.stop_requested());
  });
}

TEST_CASE("cancel_on_stop: a std::stop_source cancels fibers through a weft token") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    std::stop_source src;
    weft::CancellationToken token = weft::cancel_on_stop(src.get_token());
    CHECK_FALSE(token.is_cancelled());
    std::atomic<int> ended{0};
    rt.block_on([&] {
      std::vector<weft::JoinHandle<bool>> hs;
      for (int i = 0; i < 100; ++i) {
        hs.push_back(weft::spawn([token, &ended] {
          bool finished = token.run_until_cancelled([] { weft::sleep(std::chrono::hours(1)); });
          ended++;
          return finished;
        }));
      }
      std::thread([&src] { src.request_stop(); }).join();
      for (auto& h : hs) CHECK(h.join().value() == false);
    });
    CHECK(token.is_cancelled());
    CHECK(ended.load() == 100);
    // Already stopped: the token is born cancelled.
    CHECK(weft::cancel_on_stop(src.get_token()).is_cancelled());
    // A token dropped before the stop: the stop_callback went with it (nothing dangles).
    std::stop_source other;
    { weft::CancellationToken gone = weft::cancel_on_stop(other.get_token()); }
    other.request_stop();
  });
}
