// Symbolization of fiber backtraces (lib/introspect/symbolize.cpp): a fiber parked in a known function
// of this file shows that function, and — when weft was built with libdw (this test is compiled
// with -g) — this file's name and the line it parked on, its inlined calls, and its lambdas by name.
// Built without libdw, names come from dladdr (this test links with -rdynamic) and the file:line,
// inlined-frame and lambda checks are skipped: dladdr knows neither lines nor local symbols.
#include "test_util.hpp"
#include "introspect/symbolize.hpp"

#include <weft/dump.hpp>

#include <chrono>
#include <sstream>

using namespace std::chrono_literals;
using weft_test::contains;

namespace {
// The line each fiber below parks on (set before it parks; read after it is seen suspended).
std::atomic<int> g_parked_line{0};
std::atomic<int> g_inlined_line{0};
std::atomic<int> g_sink{0};

// Inlined into its caller: its own frame exists only in the debug info.
[[gnu::always_inline]] inline void symbolize_test_inlined_wait(weft::Notify& n) {
  g_inlined_line = __LINE__ + 1;
  n.notified();
}
// Inlined too, so the call chain has two inlined frames in one physical frame.
std::atomic<int> g_outer_line{0};
[[gnu::always_inline]] inline void symbolize_test_inlined_outer(weft::Notify& n) {
  g_outer_line = __LINE__ + 1;
  symbolize_test_inlined_wait(n);
  g_sink.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

// Exported and never inlined: its frame is a real one.
[[gnu::noinline]] void symbolize_test_parked_here(weft::Notify& n) {
  g_parked_line = __LINE__ + 1;
  n.notified();
  g_sink.fetch_add(1, std::memory_order_relaxed);  // no tail call: the frame stays
}

[[gnu::noinline]] void symbolize_test_calls_inlined(weft::Notify& n) {
  symbolize_test_inlined_outer(n);
  g_sink.fetch_add(1, std::memory_order_relaxed);
}

namespace {
// Polls the registry (bounded) until the fiber named `name` is suspended in a wait.
weft::FiberMetrics wait_suspended(weft::Runtime& rt, const std::string& name) {
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    for (auto& f : rt.fibers(weft::FiberQuery{.backtraces = true})) {
      if (f.name == name && f.status == weft::FiberStatus::Suspended && !f.wait.empty()) return f;
    }
    if (std::chrono::steady_clock::now() > give_up) FAIL("fiber '" << name << "' never parked");
    std::this_thread::yield();
  }
}

std::string joined(const weft::FiberMetrics& f) {
  std::string s;
  for (auto& line : f.backtrace) s += line + "\n";
  return s;
}

constexpr bool kWalks =
#if defined(WEFT_FRAME_POINTERS) && (defined(__x86_64__) || defined(__aarch64__))
    true;
#else
    false;  // -Dframe_pointers=false or not x86-64: dumps carry no backtraces to check
#endif
}  // namespace

TEST_CASE("a parked fiber's frame names its function, and with libdw this file and line") {
  for (unsigned workers : {1u, 2u}) {
    CAPTURE(workers);
    weft::Runtime rt = weft::Runtime::Builder().workers(workers).build();
    weft::Notify n;
    auto h = rt.spawn(weft::Options{.name = "parked"}, [&n] { symbolize_test_parked_here(n); });
    const weft::FiberMetrics f = wait_suspended(rt, "parked");
    const std::string bt = joined(f);
    CAPTURE(bt);
    if (kWalks) {
      CHECK(contains(bt, "symbolize_test_parked_here(weft::Notify&)"));
      if (weft::detail::symbolize_has_source_lines()) {
        CHECK(contains(bt, "symbolize_test_parked_here(weft::Notify&) at "));
        CHECK(contains(bt, "tests/tools/symbolize_test.cpp:" + std::to_string(g_parked_line.load()) +
                               "\n"));
        // The lambda it was spawned with is a frame of its own, named for its enclosing function
        // (g++: "f()::{lambda}::operator() at", clang: "f()::{lambda}::operator()() const at").
        CHECK(contains(bt, "::{lambda}::operator()"));
      } else {
        MESSAGE("built without libdw: file:line and lambda names are not checked");
      }
      // The text dump carries the same frames.
      std::ostringstream os;
      rt.dump(os);
      CHECK(contains(os.str(), "symbolize_test_parked_here"));
      if (weft::detail::symbolize_has_source_lines()) {
        CHECK(contains(os.str(), "symbolize_test.cpp:" + std::to_string(g_parked_line.load())));
      }
    }
    n.notify_one();
    CHECK(h.join());
  }
}

TEST_CASE("an inlined call is a frame of its own, at its line, inside its caller") {
  weft::Runtime rt = weft::Runtime::Builder().workers(1).build();
  weft::Notify n;
  auto h = rt.spawn(weft::Options{.name = "inlined"}, [&n] { symbolize_test_calls_inlined(n); });
  const weft::FiberMetrics f = wait_suspended(rt, "inlined");
  const std::string bt = joined(f);
  CAPTURE(bt);
  if (kWalks && weft::detail::symbolize_has_source_lines()) {
    // g++ gives an inlined function with internal linkage no linkage name (named by its scopes, no
    // parameters); clang does (with its parameters).
    CHECK(contains(bt, "(anonymous namespace)::symbolize_test_inlined_wait"));
    CHECK(contains(bt, "symbolize_test.cpp:" + std::to_string(g_inlined_line.load()) + " (inlined)\n"));
    CHECK(contains(bt, "symbolize_test_inlined_outer"));
    CHECK(contains(bt, "symbolize_test.cpp:" + std::to_string(g_outer_line.load()) + " (inlined)\n"));
    // Each inlined frame comes right before its caller's, innermost first.
    bool ordered = false;
    for (std::size_t i = 0; i + 2 < f.backtrace.size(); ++i) {
      ordered = ordered || (contains(f.backtrace[i], "symbolize_test_inlined_wait") &&
                            contains(f.backtrace[i + 1], "symbolize_test_inlined_outer") &&
                            contains(f.backtrace[i + 2], "symbolize_test_calls_inlined"));
    }
    CHECK(ordered);
  } else if (kWalks) {
    MESSAGE("built without libdw: inlined frames are not checked");
    CHECK(contains(bt, "symbolize_test_calls_inlined"));
  }
  n.notify_one();
  CHECK(h.join());
}

TEST_CASE("long template argument lists are shortened, operators are not") {
  using weft::detail::shorten_templates;
  CHECK(shorten_templates("weft::JoinHandle<int>::join()") == "weft::JoinHandle<int>::join()");
  CHECK(shorten_templates("void weft::sleep<long, std::ratio<1l, 1000000000l> >(std::chrono::duration<long, "
                          "std::ratio<1l, 1000000000l> >)") ==
        "void weft::sleep<...>(std::chrono::duration<...>)");
  CHECK(shorten_templates("std::ostream::operator<<(int)") == "std::ostream::operator<<(int)");
  CHECK(shorten_templates("bool operator< <std::basic_string<char, std::char_traits<char>, std::allocator<char> > >(X)") ==
        "bool operator< <std::basic_string<...> >(X)");
  CHECK(shorten_templates("A<B>::operator->() const") == "A<B>::operator->() const");
}

TEST_CASE("symbolize gives the function, or module+offset, or the bare address") {
  const std::string self = weft::detail::symbolize(reinterpret_cast<const void*>(&symbolize_test_parked_here));
  CHECK(contains(self, "symbolize_test_parked_here"));
  const std::string nowhere = weft::detail::symbolize(reinterpret_cast<const void*>(std::uintptr_t{16}));
  CHECK(nowhere == "0x10");
}
