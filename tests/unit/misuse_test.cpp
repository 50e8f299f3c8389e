// Misuse is reported as weft::Error with a message that says what was wrong (checked by
// substring), never as a crash, a hang or undefined behaviour. The one misuse that cannot be
// reported by throwing (shutting a runtime down from its own fiber) aborts with a message.
#include "test_util.hpp"

#include <weft/mutex.hpp>
#include <weft/semaphore.hpp>

#include <atomic>
#include <csignal>
#include <memory>
#include <string>
#include <thread>

namespace {

// Runs `fn`, expecting a weft::Error; returns its message ("<no weft::Error>" otherwise).
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const weft::Error& e) {
    return e.what();
  } catch (...) {
    return "<another exception>";
  }
  return "<no weft::Error>";
}

// First in the file: it forks, which must happen while no runtime (no worker thread) exists.
TEST_CASE("shutting a runtime down from one of its own fibers aborts with an explanation") {
  weft_test::ChildResult r = weft_test::run_in_child([] {
    weft::Runtime rt = weft_test::make_runtime(2);
    rt.block_on([&rt] { rt.shutdown(); });  // would wait for itself forever
  });
  CHECK(r.signal == SIGABRT);
  CHECK(weft_test::contains(r.err, "from one of its own fibers"));
}

// Also forks: before any runtime exists in this process.
TEST_CASE("destroying a locked weft::Mutex, or one with waiters, aborts with an explanation") {
  weft_test::ChildResult locked = weft_test::run_in_child([] {
    auto* m = new weft::Mutex;
    REQUIRE(m->try_lock());
    delete m;  // NOLINT: the misuse under test
  });
  CHECK(locked.signal == SIGABRT);
  CHECK(weft_test::contains(locked.err, "weft::Mutex"));
  CHECK(weft_test::contains(locked.err, "destroyed while locked"));

  weft_test::ChildResult waited = weft_test::run_in_child([] {
    // The new fiber must be blocked in lock() before the mutex goes.
    weft::Runtime rt = weft_test::make_runtime(1);
    rt.block_on([] {
      auto* m = new weft::Mutex;
      m->lock();
      weft::JoinHandle<void> h = weft::spawn([m] { m->lock(); });
      weft_test::yield_until_suspended(h.id());
      delete m;  // NOLINT: the misuse under test
    });
  });
  CHECK(waited.signal == SIGABRT);
  CHECK(weft_test::contains(waited.err, "fibers were waiting for it"));
}

// Also forks. unlock() is noexcept (Lockable), so a wrong unlock cannot throw: it is fatal, named.
TEST_CASE("unlocking a weft::Mutex twice, or one another fiber holds, aborts naming the caller") {
  weft_test::ChildResult twice = weft_test::run_in_child([] {
    weft::Runtime rt = weft_test::make_runtime(1);
    rt.block_on([] {
      weft::Mutex m;
      m.lock();
      m.unlock();
      m.unlock();  // the misuse under test
    });
  });
  CHECK(twice.signal == SIGABRT);
  CHECK(weft_test::contains(twice.err, "weft::Mutex::unlock()"));
  CHECK(weft_test::contains(twice.err, "the mutex is not locked"));
  CHECK(weft_test::contains(twice.err, "by fiber "));

  weft_test::ChildResult other = weft_test::run_in_child([] {
    weft::Runtime rt = weft_test::make_runtime(2);
    rt.block_on([] {
      weft::Mutex m;
      m.lock();
      weft::JoinHandle<void> h =
          weft::spawn(weft::Options{.name = "thief"}, [&m] { m.unlock(); });  // the misuse under test
      (void)h.join();
      m.unlock();
    });
  });
  CHECK(other.signal == SIGABRT);
  CHECK(weft_test::contains(other.err, "by fiber "));
  CHECK(weft_test::contains(other.err, "'thief', which does not hold it"));

  weft_test::ChildResult thread = weft_test::run_in_child([] {
    weft::Mutex m;
    m.lock();
    std::thread([&m] { m.unlock(); }).join();  // the misuse under test, between plain threads
    m.unlock();
  });
  CHECK(thread.signal == SIGABRT);
  CHECK(weft_test::contains(thread.err, "by a plain thread, which does not hold it"));
}

// Also forks. The README's cleanup rule, broken: a destructor that waits without a shield, in a
// fiber cancelled while it ran. The Cancelled cannot leave the destructor; weft names the fiber and
// the fix before the process aborts.
TEST_CASE("a Cancelled escaping a destructor is a fatal report naming the fiber and the fix") {
  weft_test::ChildResult r = weft_test::run_in_child([] {
    struct Unshielded {
      ~Unshielded() { weft::sleep(std::chrono::milliseconds(1)); }  // the misuse under test: throws Cancelled here
    };
    weft::Runtime rt = weft_test::make_runtime(2);
    rt.block_on([] {
      std::atomic<bool> started{false}, aborted{false};
      auto h = weft::spawn(weft::Options{.name = "conn-7"}, [&] {
        Unshielded u;
        started = true;
        while (!aborted.load()) {
        }
      });
      while (!started.load()) weft::yield_now();
      h.abort();
      aborted = true;
      (void)h.join();
    });
  });
  CHECK(r.signal == SIGABRT);
  CHECK(weft_test::contains(r.err, "weft::Cancelled (cause: abort()) escaped a noexcept frame in fiber"));
  CHECK(weft_test::contains(r.err, "'conn-7' (spawned at "));
  CHECK(weft_test::contains(r.err, "misuse_test.cpp:"));
  CHECK(weft_test::contains(r.err, "weft::shield"));
}

// Every primitive's wait list checks this; a Semaphore stands for them.
TEST_CASE("destroying a Semaphore that fibers wait on aborts with an explanation") {
  weft_test::ChildResult r = weft_test::run_in_child([] {
    weft::Runtime rt = weft_test::make_runtime(1);
    rt.block_on([] {
      auto* sem = new weft::Semaphore(0);
      weft::JoinHandle<void> h = weft::spawn([sem] { (void)sem->acquire(); });
      weft_test::yield_until_suspended(h.id());
      delete sem;  // NOLINT: the misuse under test
    });
  });
  CHECK(r.signal == SIGABRT);
  CHECK(weft_test::contains(r.err, "destroyed while 1 fiber(s) or thread(s) were waiting"));
}

TEST_CASE("joining a handle twice, or an empty handle") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::JoinHandle<int> h = rt.spawn([] { return 1; });
    CHECK(h.join().value() == 1);
    CHECK_FALSE(h.valid());
    const std::string twice = error_of([&] { (void)h.join(); });
    CHECK(weft_test::contains(twice, "already joined"));
    CHECK(weft_test::contains(twice, "JoinHandle::join"));
    CHECK(weft_test::contains(error_of([&] { (void)h.is_finished(); }), "already joined"));

    weft::JoinHandle<int> src = rt.spawn([] { return 2; });
    weft::JoinHandle<int> dst = std::move(src);
    CHECK(weft_test::contains(error_of([&] { (void)src.join(); }), "refers to no fiber"));  // NOLINT(bugprone-use-after-move)
    CHECK(dst.join().value() == 2);

    weft::JoinHandle<void> empty;
    CHECK_FALSE(empty.valid());
    CHECK(empty.id() == 0);
    CHECK(weft_test::contains(error_of([&] { (void)empty.join(); }), "refers to no fiber"));
    CHECK(weft_test::contains(error_of([&] { (void)empty.is_finished(); }), "JoinHandle::is_finished"));
    CHECK(weft_test::contains(error_of([&] { (void)empty.abort_handle(); }), "JoinHandle::abort_handle"));
    CHECK_NOTHROW(empty.abort());  // documented noexcept no-op
    CHECK_NOTHROW(empty.detach());

    weft::JoinHandle<int> detached = rt.spawn([] { return 3; });
    detached.detach();
    CHECK(weft_test::contains(error_of([&] { (void)detached.join(); }), "refers to no fiber"));
  });
}

TEST_CASE("a fiber joining itself gets an error instead of waiting forever") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    // The fiber reaches its own handle through a shared slot, filled after spawn returns.
    auto slot = std::make_shared<weft::JoinHandle<std::string>>();
    std::atomic<bool> filled{false};
    *slot = rt.spawn([slot, &filled] {
      while (!filled.load(std::memory_order_acquire)) weft::yield_now();
      std::string msg = error_of([&] { (void)slot->join(); });  // only reads the handle
      return slot->valid() ? msg : "<the failed join consumed the handle>";
    });
    filled.store(true, std::memory_order_release);
    // Joining from here is fine: the fiber's own attempt failed without touching the handle.
    weft::Result<std::string> r = slot->join();
    REQUIRE(r.has_value());
    CHECK(weft_test::contains(*r, "join itself"));
    CHECK(weft_test::contains(*r, "wait forever"));
  });
}

TEST_CASE("spawning through a Handle (or the Runtime) after shutdown throws") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::Handle handle = rt.handle();
    CHECK(handle.spawn([] { return 1; }).join().value() == 1);
    rt.shutdown();
    const std::string msg = error_of([&] { (void)handle.spawn([] { return 1; }); });
    CHECK(weft_test::contains(msg, "shut down"));
    CHECK(weft_test::contains(error_of([&] { (void)rt.spawn([] {}); }), "shut down"));
    CHECK(weft_test::contains(error_of([&] { rt.block_on([] {}); }), "shut down"));
    CHECK(rt.metrics().live_fibers == 0);  // the refused closures were not left registered
  });
}

TEST_CASE("weft::spawn and Handle::current from a plain thread throw: there is no current runtime") {
  CHECK(weft_test::contains(error_of([] { (void)weft::spawn([] {}); }), "outside a weft fiber"));
  CHECK(weft_test::contains(error_of([] { (void)weft::spawn(weft::Options{.name = "x"}, [] {}); }),
                            "Runtime::spawn or Handle::spawn"));
  CHECK(weft_test::contains(error_of([] { (void)weft::Handle::current(); }), "Handle::current"));
  // Also from a thread that is not the main one, while a runtime exists.
  weft::Runtime rt = weft_test::make_runtime(2);
  std::string from_thread;
  std::thread([&] { from_thread = error_of([] { (void)weft::spawn([] { return 1; }); }); }).join();
  CHECK(weft_test::contains(from_thread, "outside a weft fiber"));
}

TEST_CASE("block_on from inside a fiber throws instead of blocking a worker") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    const std::string msg = rt.block_on([&rt] { return error_of([&rt] { rt.block_on([] { return 1; }); }); });
    CHECK(weft_test::contains(msg, "Runtime::block_on"));
    CHECK(weft_test::contains(msg, "inside a fiber"));
    // Through Handle::current() too, and the fiber that tried is fine afterwards.
    const std::string msg2 = rt.block_on([] {
      std::string m = error_of([] { weft::Handle::current().block_on([] {}); });
      weft::yield_now();
      return m;
    });
    CHECK(weft_test::contains(msg2, "inside a fiber"));
  });
}

TEST_CASE("this_fiber::id() and name() outside a fiber throw; in_fiber() says false") {
  CHECK_FALSE(weft::this_fiber::in_fiber());
  CHECK_FALSE(weft::this_fiber::is_cancelled());
  CHECK_NOTHROW(weft::this_fiber::check_cancelled());
  CHECK(weft_test::contains(error_of([] { (void)weft::this_fiber::id(); }), "this_fiber::id"));
  CHECK(weft_test::contains(error_of([] { (void)weft::this_fiber::id(); }), "outside a weft fiber"));
  CHECK(weft_test::contains(error_of([] { (void)weft::this_fiber::name(); }), "this_fiber::name"));
}

TEST_CASE("invalid sizes and counts are refused up front") {
  const std::string small = error_of([] { (void)weft::Runtime::Builder().stack_size(100).build(); });
  CHECK(weft_test::contains(small, "stack_size"));
  CHECK(weft_test::contains(small, "too small"));
  CHECK(weft_test::contains(error_of([] { (void)weft::Runtime::Builder().workers(100'000).build(); }), "workers"));

  weft::Runtime rt = weft_test::make_runtime(2);
  const std::string opt = error_of([&] { (void)rt.spawn(weft::Options{.name = "", .stack_size = 100}, [] {}); });
  CHECK(weft_test::contains(opt, "stack_size"));
  CHECK(weft_test::contains(opt, "too small"));
  const std::string opt_in_fiber = rt.block_on([] {
    return error_of([] { (void)weft::spawn(weft::Options{.name = "", .stack_size = 1}, [] {}); });
  });
  CHECK(weft_test::contains(opt_in_fiber, "too small"));
  CHECK(weft_test::contains(error_of([] { weft::wait_readable(-1); }), "invalid file descriptor"));
  CHECK(rt.block_on([] { return error_of([] { (void)weft::wait_writable(-5, std::chrono::seconds(1)); }); })
            .find("invalid file descriptor") != std::string::npos);
  CHECK(rt.metrics().live_fibers == 0);  // refused spawns left nothing behind
}

TEST_CASE("Result misuse: error() of a value, value() of a cancelled fiber") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    weft::Result<int> ok = rt.spawn([] { return 1; }).join();
    CHECK(weft_test::contains(error_of([&] { (void)ok.error(); }), "succeeded"));

    auto h = rt.spawn([] {
      weft::sleep(std::chrono::hours(1));
      return 1;
    });
    h.abort();
    weft::Result<int> cancelled = h.join();
    REQUIRE_FALSE(cancelled.has_value());
    // value() of a cancelled fiber throws weft::Error — never weft::Cancelled, which would cancel
    // the caller instead.
    CHECK(weft_test::contains(error_of([&] { (void)cancelled.value(); }), "cancelled"));
    CHECK(weft_test::contains(error_of([&] { cancelled.error().rethrow(); }), "cancelled"));
  });
}

}  // namespace
