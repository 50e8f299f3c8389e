// Fiber dumps: every kind of wait is named, and each blocked fiber's backtrace (walked from its
// saved context, without resuming it) contains the function it blocked in.
#include "test_util.hpp"

#include <weft/dump.hpp>

#include <chrono>
#include <map>
#include <sstream>

using namespace std::chrono_literals;
using weft_test::contains;

// Exported (the test links with -rdynamic) and never inlined or tail-called, so each shows up in
// the backtrace of the fiber blocked in it.
std::atomic<int> dump_test_sink{0};  // an atomic: several fibers bump it at once
#define BLOCKED_IN(name, body)                 \
  [[gnu::noinline]] void name() {              \
    body;                                      \
    dump_test_sink.fetch_add(1, std::memory_order_relaxed);       \
  }

weft::Mutex g_mutex;
weft::Notify g_notify;
weft::Semaphore g_sem(0);
weft::RwLock g_rw;
BLOCKED_IN(blocked_in_sleep, weft::sleep(1h))
BLOCKED_IN(blocked_in_mutex, std::scoped_lock lk(g_mutex))
BLOCKED_IN(blocked_in_notify, g_notify.notified())
BLOCKED_IN(blocked_in_semaphore, g_sem.acquire().forget())
BLOCKED_IN(blocked_in_rwlock, g_rw.lock(); g_rw.unlock())
[[gnu::noinline]] void blocked_in_recv(weft::mpsc::Receiver<int>& rx) {
  (void)rx.recv();
  dump_test_sink.fetch_add(1, std::memory_order_relaxed);
}
[[gnu::noinline]] void blocked_in_fd(int fd) {
  weft::wait_readable(fd);
  dump_test_sink.fetch_add(1, std::memory_order_relaxed);
}
[[gnu::noinline]] void blocked_in_join(weft::JoinHandle<void>& h) {
  (void)h.join();
  dump_test_sink.fetch_add(1, std::memory_order_relaxed);
}
[[gnu::noinline]] void blocked_in_select(weft::mpsc::Receiver<int>& a, weft::Notify& n) {
  weft::Select().recv(a, [](std::optional<int>) {}).notified(n, [] {}).run();
  dump_test_sink.fetch_add(1, std::memory_order_relaxed);
}

namespace {

// Waits (by polling the registry, bounded) until every fiber in `names` is suspended.
std::map<std::string, weft::FiberMetrics> wait_all_suspended(weft::Runtime& rt, const std::vector<std::string>& names) {
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    std::map<std::string, weft::FiberMetrics> by_name;
    for (auto& f : rt.fibers(weft::FiberQuery{.backtraces = true, .stack_usage = true})) by_name[f.name] = f;
    bool all = true;
    for (auto& n : names) {
      auto it = by_name.find(n);
      if (it == by_name.end() || it->second.status != weft::FiberStatus::Suspended || it->second.wait.empty()) all = false;
    }
    if (all || std::chrono::steady_clock::now() > give_up) return by_name;
    std::this_thread::yield();
  }
}

// -Dframe_pointers=false (or another CPU): dumps carry no backtraces to check.
#if defined(WEFT_FRAME_POINTERS) && (defined(__x86_64__) || defined(__aarch64__))
constexpr bool kBacktraces = true;
#else
constexpr bool kBacktraces = false;
#endif

bool backtrace_has(const weft::FiberMetrics& f, const std::string& fn) {
  if (!kBacktraces) return true;
  for (auto& line : f.backtrace) {
    if (contains(line, fn)) return true;
  }
  return false;
}

// The walk of a suspended fiber starts at the resume pc the saved context holds
// (lib/platform/fcontext_layout.hpp): the return into the C++ that switched, never a pc inside the
// switch's own assembly (x86-64's weft_jump_fcontext, Boost's jump_fcontext). With libdw the
// functions inlined at that pc come first, marked "(inlined)"; the first real frame is `fn`.
bool backtrace_starts_in(const weft::FiberMetrics& f, const std::string& fn) {
  if (!kBacktraces) return true;
  for (auto& line : f.backtrace) {
    if (!contains(line, "(inlined)")) return contains(line, fn);
  }
  return false;
}

}  // namespace

TEST_CASE("a dump names each kind of wait and has the blocked function in the backtrace") {
  for (unsigned workers : {1u, 2u, 4u}) {
    CAPTURE(workers);
    weft_test::Pipe pipe;
    weft::Runtime rt = weft::Runtime::Builder().workers(workers).build();
    weft_test::StopWorkersFirst stop{rt};
    auto [tx, rx] = weft::mpsc::channel<int>(4);
    auto [tx2, rx2] = weft::mpsc::channel<int>(4);
    weft::Notify select_notify;
    std::unique_lock held(g_mutex);  // main thread holds it: the fiber must wait
    std::unique_lock held_rw(g_rw);
    auto forever = rt.spawn(weft::Options{.name = "target"}, [] { weft::sleep(1h); });
    std::vector<weft::JoinHandle<void>> hs;
    const auto sleep_spawned = std::chrono::steady_clock::now();  // before its sleep's deadline
    hs.push_back(rt.spawn(weft::Options{.name = "sleep"}, [] { blocked_in_sleep(); }));
    hs.push_back(rt.spawn(weft::Options{.name = "mutex"}, [] { blocked_in_mutex(); }));
    hs.push_back(rt.spawn(weft::Options{.name = "notify"}, [] { blocked_in_notify(); }));
    hs.push_back(rt.spawn(weft::Options{.name = "semaphore"}, [] { blocked_in_semaphore(); }));
    hs.push_back(rt.spawn(weft::Options{.name = "rwlock"}, [] { blocked_in_rwlock(); }));
    hs.push_back(rt.spawn(weft::Options{.name = "recv"}, [&rx = rx] { blocked_in_recv(rx); }));
    hs.push_back(rt.spawn(weft::Options{.name = "fd"}, [fd = pipe.r] { blocked_in_fd(fd); }));
    hs.push_back(rt.spawn(weft::Options{.name = "join"}, [&forever] { blocked_in_join(forever); }));
    hs.push_back(rt.spawn(weft::Options{.name = "select"}, [&rx2 = rx2, &select_notify] { blocked_in_select(rx2, select_notify); }));

    const std::vector<std::string> names = {"sleep", "mutex", "notify", "semaphore", "rwlock", "recv", "fd", "join", "select"};
    // "target" too: the text dump below expects it inside its sleep, and it was spawned first but
    // may still be queued (a flake seen at load: dumped as [runnable], no wait).
    std::vector<std::string> awaited = names;
    awaited.push_back("target");
    auto fs = wait_all_suspended(rt, awaited);
    const std::chrono::duration<double> slept = std::chrono::steady_clock::now() - sleep_spawned;
    for (auto& n : awaited) REQUIRE(fs.count(n) == 1);
    CAPTURE(fs["sleep"].wait);
    CAPTURE(slept.count());
    // weft::sleep(1h), at most `slept` before the snapshot (not a fixed "59m5": the machine decides
    // how long the fibers take to get there). A snapshot may read the clock just before the fiber
    // took its deadline: "1h00m".
    const double left = weft_test::shown_seconds_after(fs["sleep"].wait, "sleep, wakes in ");
    CHECK(left <= 3600);
    CHECK(left > 3600 - slept.count() - 0.2);
    CHECK(contains(fs["mutex"].wait, "mutex at 0x"));
    CHECK(contains(fs["mutex"].wait, "(held by a plain thread"));  // the main thread holds it
    CHECK(fs["mutex"].held_by == 0);
    CHECK(contains(fs["notify"].wait, "notify at 0x"));
    CHECK(contains(fs["semaphore"].wait, "semaphore at 0x"));
    CHECK(contains(fs["rwlock"].wait, "rwlock at 0x"));
    CHECK(contains(fs["recv"].wait, "channel recv at 0x"));
    CHECK(fs["fd"].wait == "fd " + std::to_string(pipe.r) + " readable");
    CHECK(fs["join"].wait == "joining fiber " + std::to_string(forever.id()) + " 'target'");
    CHECK(fs["join"].waits_for == std::vector<std::uint64_t>{forever.id()});
    CHECK(fs["select"].wait == "select over 2 operations");

    std::map<std::string, std::string> fn = {{"sleep", "blocked_in_sleep"},         {"mutex", "blocked_in_mutex"},
                                             {"notify", "blocked_in_notify"},       {"semaphore", "blocked_in_semaphore"},
                                             {"rwlock", "blocked_in_rwlock"},       {"recv", "blocked_in_recv"},
                                             {"fd", "blocked_in_fd"},               {"join", "blocked_in_join"},
                                             {"select", "blocked_in_select"}};
    for (auto& [n, f] : fn) {
      CAPTURE(n);
      CHECK(backtrace_has(fs[n], f));
      std::string frames;
      for (auto& line : fs[n].backtrace) frames += line + "\n";
      CAPTURE(frames);
      CHECK(backtrace_starts_in(fs[n], "Worker::switch_out"));  // every suspension switches there
      CHECK(fs[n].spawn_line > 0);
      CHECK(contains(fs[n].spawn_file, "dump_test.cpp"));
      CHECK(fs[n].stack_high_water > 0);
      CHECK(fs[n].stack_high_water <= fs[n].stack_size);
      CHECK(fs[n].runs >= 1);
    }

    // The text dump shows the same.
    std::ostringstream os;
    rt.dump(os);
    const std::string d = os.str();
    INFO(d);
    CHECK(contains(d, "fiber " + std::to_string(forever.id()) + " 'target' [suspended] waiting on: sleep, wakes in "));
    CHECK(contains(d, "waiting on: semaphore at 0x"));
#if defined(WEFT_FRAME_POINTERS) && (defined(__x86_64__) || defined(__aarch64__))
    CHECK(contains(d, "blocked_in_semaphore"));  // the text dump carries the backtraces
#endif
    CHECK(contains(d, "spawned at "));
    CHECK(contains(d, "high-water mark"));
    std::ostringstream all;
    weft::dump(all);
    CHECK(contains(all.str(), "'select' [suspended] waiting on: select over 2 operations"));

    held.unlock();
    held_rw.unlock();
    g_sem.add_permits(1);
    g_notify.notify_one();
    select_notify.notify_one();
    (void)tx.send(1);
    CHECK(weft_test::put_byte(pipe.w));
    forever.abort();
    hs[0].abort();  // the sleeper
    CHECK(hs[0].join().error().is_cancelled());
    for (std::size_t i = 1; i < hs.size(); ++i) CHECK(hs[i].join());
  }
}

TEST_CASE("a dump says which fiber holds the mutex a fiber waits on") {
  for (unsigned workers : {1u, 2u, 4u}) {
    CAPTURE(workers);
    weft::Runtime rt = weft::Runtime::Builder().workers(workers).build();
    weft_test::StopWorkersFirst stop{rt};
    weft::Mutex m;
    weft::Notify release;
    std::atomic<bool> held{false};
    auto holder = rt.spawn(weft::Options{.name = "holder"}, [&] {
      std::lock_guard<weft::Mutex> g(m);
      held = true;
      release.notified();
    });
    while (!held.load()) std::this_thread::yield();
    auto waiter = rt.spawn(weft::Options{.name = "waiter"}, [&] { std::lock_guard<weft::Mutex> g(m); });
    auto fs = wait_all_suspended(rt, {"holder", "waiter"});
    REQUIRE(fs.count("waiter") == 1);
    CHECK(fs["waiter"].held_by == holder.id());
    CHECK(contains(fs["waiter"].wait, "(held by fiber " + std::to_string(holder.id()) + " 'holder')"));
    CHECK(fs["holder"].held_by == 0);
    std::ostringstream os;
    rt.dump(os);
    CHECK(contains(os.str(), "'waiter' [suspended] waiting on: mutex at 0x"));
    CHECK(contains(os.str(), "(held by fiber " + std::to_string(holder.id()) + " 'holder')"));
    release.notify_one();
    CHECK(holder.join());
    CHECK(waiter.join());
  }
}

TEST_CASE("dump_json is valid JSON with every fiber's fields, filtered and limited like the text dump") {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  weft_test::StopWorkersFirst stop{rt};
  weft::Mutex m;
  weft::Notify release;
  std::atomic<bool> held{false};
  // A name with characters JSON must escape.
  auto holder = rt.spawn(weft::Options{.name = "holder \"q\"\\\t"}, [&] {
    std::lock_guard<weft::Mutex> g(m);
    held = true;
    release.notified();
  });
  while (!held.load()) std::this_thread::yield();
  std::vector<weft::JoinHandle<void>> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.push_back(rt.spawn(weft::Options{.name = "waiter"}, [&] { std::lock_guard<weft::Mutex> g(m); }));
  }
  wait_all_suspended(rt, {"holder \"q\"\\\t", "waiter"});
  while (rt.metrics().live_fibers != 4 || [&] {
    std::size_t n = 0;
    for (auto& f : rt.fibers()) n += f.status == weft::FiberStatus::Suspended && !f.wait.empty();
    return n != 4;
  }()) {
    std::this_thread::yield();
  }
  // Parsed by Python's json module: the test checks what a tool reads, not substrings.
  auto parse = [](const std::string& json, const std::string& expr) {
    char path[] = "/tmp/weft-dump-json-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, json.data(), json.size()) == static_cast<ssize_t>(json.size()));
    ::close(fd);
    const std::string cmd = std::string("python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(") + expr +
                            ")' " + path + " 2>&1";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    ::pclose(p);
    ::unlink(path);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  };
  std::ostringstream all;
  weft::dump_json(all);
  const std::string rid = std::to_string(rt.id());
  const std::string mine = "[r for r in d[\"runtimes\"] if r[\"runtime\"] == " + rid + "][0]";
  CHECK(parse(all.str(), mine + "[\"live_fibers\"]") == "4");
  CHECK(parse(all.str(), mine + "[\"shown\"]") == "4");
  CHECK(parse(all.str(), "sorted(f[\"name\"] for f in " + mine + "[\"fibers\"])") ==
        "['holder \"q\"\\\\\\t', 'waiter', 'waiter', 'waiter']");
  const std::string w = "[f for f in " + mine + "[\"fibers\"] if f[\"name\"] == \"waiter\"][0]";
  CHECK(parse(all.str(), w + "[\"held_by\"]") == std::to_string(holder.id()));
  CHECK(parse(all.str(), w + "[\"status\"], " + w + "[\"wait_kind\"], " + w + "[\"waits_for\"]") ==
        "suspended mutex [" + std::to_string(holder.id()) + "]");
  CHECK(parse(all.str(), w + "[\"spawn_file\"].endswith(\"dump_test.cpp\"), " + w + "[\"spawn_line\"] > 0, " + w +
                             "[\"stack_high_water\"] > 0") == "True True True");
#if defined(WEFT_FRAME_POINTERS) && (defined(__x86_64__) || defined(__aarch64__))
  CHECK(parse(all.str(), "any(\"lock\" in fr for fr in " + w + "[\"backtrace\"])") == "True");
#endif
  CHECK(parse(all.str(), "type(d[\"blocking_tasks\"]).__name__") == "list");
  // The filter and the limit apply; `shown` counts what matched before the limit.
  std::ostringstream some;
  weft::dump_json(some, weft::DumpOptions{.limit = 2, .name = "waiter"});
  CHECK(parse(some.str(), "len(" + mine + "[\"fibers\"]), " + mine + "[\"shown\"]") == "2 3");
  release.notify_one();
  CHECK(holder.join());
  for (auto& h : waiters) CHECK(h.join());
}

TEST_CASE("dumps are safe while fibers run and migrate") {
  weft::Runtime rt = weft::Runtime::Builder().workers(4).build();
  std::atomic<bool> stop{false};
  std::vector<weft::JoinHandle<void>> hs;
  for (int i = 0; i < 16; ++i) {
    hs.push_back(rt.spawn(weft::Options{.name = "busy"}, [&] {
      while (!stop.load(std::memory_order_relaxed)) {
        weft::yield_now();
        weft::sleep(std::chrono::microseconds(50));
      }
    }));
  }
  const long rounds = weft_test::scaled(200, 10);
  std::size_t frames = 0;
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  // At least `rounds` dumps, and on until some fiber was caught suspended (they may start late).
  for (long i = 0; i < rounds || (frames == 0 && std::chrono::steady_clock::now() < give_up); ++i) {
    std::ostringstream os;
    rt.dump(os);
    for (auto& f : rt.fibers(weft::FiberQuery{.backtraces = true})) frames += f.backtrace.size();
  }
  stop = true;
  for (auto& h : hs) CHECK(h.join());
  CHECK(frames > 0);
}

TEST_CASE("DumpOnSignal writes a dump on SIGUSR1") {
  weft::Runtime rt = weft::Runtime::Builder().workers(2).build();
  weft::Notify go;
  auto h = rt.spawn(weft::Options{.name = "waiting-for-go"}, [&] { blocked_in_notify(); (void)go; });
  while (true) {
    auto fs = rt.fibers();
    if (!fs.empty() && fs[0].status == weft::FiberStatus::Suspended && !fs[0].wait.empty()) break;
    std::this_thread::yield();
  }
  weft_test::Pipe out;
  {
    weft::DumpOnSignal on_usr1(SIGUSR1, out.w);
    CHECK_THROWS_AS(weft::DumpOnSignal(SIGUSR2), weft::Error);  // one per process
    ::raise(SIGUSR1);
    while (on_usr1.dumps() == 0) std::this_thread::yield();
  }
  std::string text;
  for (int c; (c = weft_test::try_get_byte(out.r)) >= 0;) text += static_cast<char>(c);
  CHECK(contains(text, "==== weft fiber dump"));
  CHECK(contains(text, "'waiting-for-go' [suspended] waiting on: notify at 0x"));
  CHECK(contains(text, "waiting on: notify at 0x"));
#if defined(WEFT_FRAME_POINTERS) && (defined(__x86_64__) || defined(__aarch64__))
  CHECK(contains(text, "blocked_in_notify"));  // the text dump carries the backtrace
#endif
  g_notify.notify_one();
  CHECK(h.join());
}
