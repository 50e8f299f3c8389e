// The fiber dump: weft::dump / dump_json and Runtime::dump, text and JSON, built from the
// snapshots of lib/introspect/fiber_snapshot.cpp.
#include "sched/scheduler.hpp"
#include "introspect/fiber_json.hpp"
#include "introspect/fiber_snapshot.hpp"
#include "introspect/wait_graph.hpp"
#include "observe/json.hpp"

#include <weft/blocking.hpp>
#include <weft/dump.hpp>
#include <weft/runtime.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

namespace weft {

namespace detail {

namespace {
std::string fmt_ns(std::uint64_t ns) {
  char b[32];
  if (ns >= 1'000'000'000) std::snprintf(b, sizeof b, "%.2f s", static_cast<double>(ns) / 1e9);
  else if (ns >= 1'000'000) std::snprintf(b, sizeof b, "%.2f ms", static_cast<double>(ns) / 1e6);
  else std::snprintf(b, sizeof b, "%.1f us", static_cast<double>(ns) / 1e3);
  return b;
}
}  // namespace

// Readable names for the standard templates that fill backtraces.
std::string shorten_names(std::string s) {
  static const std::pair<const char*, const char*> kAliases[] = {
      {"std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string"},
      {"std::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string"},
      {"std::basic_string_view<char, std::char_traits<char> >", "std::string_view"},
      {"std::chrono::duration<long, std::ratio<1l, 1000000000l> >", "std::chrono::nanoseconds"},
      {"std::chrono::duration<long, std::ratio<1l, 1000000l> >", "std::chrono::microseconds"},
      {"std::chrono::duration<long, std::ratio<1l, 1000l> >", "std::chrono::milliseconds"},
      {"std::chrono::duration<long, std::ratio<1l, 1l> >", "std::chrono::seconds"},
      {"std::chrono::duration<long, std::ratio<1, 1000000000> >", "std::chrono::nanoseconds"},
      {"std::chrono::duration<long, std::ratio<1, 1000000> >", "std::chrono::microseconds"},
      {"std::chrono::duration<long, std::ratio<1, 1000> >", "std::chrono::milliseconds"},
      {"std::chrono::duration<long, std::ratio<1, 1> >", "std::chrono::seconds"},
      {"std::chrono::time_point<std::chrono::_V2::steady_clock, std::chrono::nanoseconds >", "steady_clock::time_point"},
      {"std::chrono::time_point<std::chrono::_V2::system_clock, std::chrono::nanoseconds >", "system_clock::time_point"},
      {"std::chrono::_V2::", "std::chrono::"},
      {"std::__cxx11::", "std::"},
  };
  for (const auto& [from, to] : kAliases) {
    const std::size_t n = std::strlen(from);
    for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + std::strlen(to))) {
      s.replace(at, n, to);
    }
  }
  // Still long: elide template arguments nested two deep ("f<a<...>>").
  if (s.size() <= 160) return s;
  std::string r;
  int depth = 0;
  for (char c : s) {
    if (c == '<') {
      if (++depth == 2) r += "<...";
      if (depth >= 2) continue;
    } else if (c == '>') {
      if (depth-- >= 2) {
        if (depth == 1) r += '>';
        continue;
      }
    } else if (depth >= 2) {
      continue;
    }
    r += c;
  }
  return r;
}

namespace {
bool selected(const FiberMetrics& f, const DumpOptions& o) {
  if (!o.name.empty() && f.name.find(o.name) == std::string::npos) return false;
  if (o.status && f.status != *o.status) return false;
  if (!o.wait.empty() && f.wait.find(o.wait) == std::string::npos) return false;
  return true;
}

// A frame as it counts for grouping. Every suspended fiber's innermost frame is the switch in
// Worker::switch_out, which has one call site in the source for both ways out (to the loop, or
// handed straight to the next fiber) — but the compiler may still emit two copies of it: arm64's
// g++ did once Reactor grew (thirteenth session), and 20,000 fibers parked on one semaphore
// printed as two groups (those that handed off and every poll interval's one that went back to
// the loop). Without line numbers (no libdw) the two copies differ only in the offset, which says
// nothing about the fiber: dropped for that frame.
std::string frame_key(const std::string& b) {
  static constexpr char kSwitch[] = "weft::detail::Worker::switch_out(";
  if (b.compare(0, sizeof kSwitch - 1, kSwitch) != 0) return b;
  const std::size_t off = b.find(")+0x");
  if (off == std::string::npos) return b;
  std::size_t end = off + 4;
  while (end < b.size() && std::isxdigit(static_cast<unsigned char>(b[end]))) ++end;
  return b.substr(0, off + 1) + b.substr(end);
}

// Fibers that print the same: state, kind of wait, spawn site, stack.
std::string group_key(const FiberMetrics& f) {
  std::string k = std::to_string(static_cast<int>(f.status)) + '|' + f.wait_kind + '|' + f.spawn_file + ':' +
                  std::to_string(f.spawn_line) + '|';
  for (const auto& b : f.backtrace) k += frame_key(b) + '|';
  return k;
}

void print_fiber(std::ostream& os, const FiberMetrics& f, const DumpOptions& o, std::size_t like) {
  os << "  ";
  if (like > 1) os << like << " fibers like this one: ";
  os << "fiber " << f.id;
  if (!f.name.empty()) os << " '" << f.name << "'";
  os << " [" << to_string(f.status) << "]";
  if (!f.wait.empty()) os << " waiting on: " << f.wait;
  os << "\n    spawned at " << f.spawn_file << ":" << f.spawn_line << " ("
     << (o.full_names ? f.spawn_function : shorten_names(f.spawn_function)) << "), age " << fmt_ns(f.age_ns)
     << ", worker " << f.worker << ", runs " << f.runs;
  if (f.timed_runs) {
    os << ", run " << fmt_ns(f.run_ns) << ", longest slice " << fmt_ns(f.max_slice_ns) << ", mean delay "
       << fmt_ns(f.delay_ns / f.timed_runs);
  }
  os << "\n    stack: " << f.stack_high_water << " of " << f.stack_size << " bytes used (high-water mark)\n";
  for (std::size_t i = 0; i < f.backtrace.size(); ++i) {
    os << "      #" << i << " " << (o.full_names ? f.backtrace[i] : shorten_names(f.backtrace[i])) << "\n";
  }
}
}  // namespace

namespace {
// Fills stack_high_water for fs[i], i in `which`: only for fibers a dump writes, since measuring
// costs a read of each untouched stack page (seconds, and page faults, for 100,000 fibers).
void measure_stacks(Scheduler& s, std::vector<FiberMetrics>& fs, const std::vector<std::size_t>& which) {
  std::unordered_map<std::uint64_t, std::size_t> index_of;  // fiber id -> index in fs
  for (std::size_t i : which) index_of.emplace(fs[i].id, i);
  s.for_each_live([&](FiberBase* f) {
    auto it = index_of.find(f->id_);
    if (it != index_of.end()) fs[it->second].stack_high_water = stack_use_of(f);
  });
}

// The process-wide spawn_blocking pool, after the fibers: one line per task it holds. Nothing when
// it holds none (most dumps), so a dump stays about fibers unless blocking work is in flight.
void dump_blocking_pool(std::ostream& os) {
  const std::vector<BlockingTaskInfo> tasks = blocking_tasks();
  if (tasks.empty()) return;
  const BlockingPoolStats st = blocking_pool_stats();
  os << "blocking pool: " << st.threads << " threads (" << st.idle_threads << " idle, at most " << st.max_threads
     << "), " << st.queue_depth << " tasks queued, " << st.completed << " completed\n";
  for (const BlockingTaskInfo& t : tasks) {
    os << "  " << describe_blocking(tasks, t.id) << ", spawned at " << t.spawn_file << ":" << t.spawn_line << "\n";
  }
}
}  // namespace

// One runtime's object of dump_json. Stack use is measured for the fibers written only.
void dump_runtime_json(Scheduler& s, std::ostream& os, const DumpOptions& o) {
  const RuntimeMetrics m = metrics_of(s);
  std::vector<FiberMetrics> fs = fibers_of(s, FiberQuery{.backtraces = true, .stack_usage = false});
  std::vector<std::size_t> chosen;
  std::size_t shown = 0;
  for (std::size_t i = 0; i < fs.size(); ++i) {
    if (!selected(fs[i], o)) continue;
    ++shown;
    if (!o.limit || chosen.size() < o.limit) chosen.push_back(i);
  }
  measure_stacks(s, fs, chosen);
  os << "{\"runtime\":" << s.runtime_id_ << ",\"workers\":" << m.workers.size() << ",\"live_fibers\":" << fs.size()
     << ",\"spawned_total\":" << m.spawned_total << ",\"shown\":" << shown << ",\"fibers\":[";
  for (std::size_t k = 0; k < chosen.size(); ++k) {
    if (k) os << ",";
    write_fiber_json(os, fs[chosen[k]]);
  }
  os << "],\"deadlocks\":";
  if (o.deadlocks) write_deadlocks_json(os, s);
  else os << "[]";
  os << "}";
}

void dump_runtime(Scheduler& s, std::ostream& os, const DumpOptions& o) {
  if (o.deadlocks) {
    std::vector<Deadlock> dl;
    find_deadlocks_in(s, DeadlockQuery{.backtraces = false}, dl);
    for (auto& d : dl) {
      // Members are listed with their stacks below; the summary names the cycle. (Edited in place:
      // a copy would instantiate std::vector<FiberMetrics>'s copy in the library, which the
      // export map would then export.)
      for (auto& f : d.fibers) f.spawn_file.clear();
      os << d.to_string();
    }
  }
  RuntimeMetrics m = metrics_of(s);
  // Stack use is measured below for the fibers printed only (measure_stacks says why).
  std::vector<FiberMetrics> fs = fibers_of(s, FiberQuery{.backtraces = true, .stack_usage = false});
  os << "weft runtime " << s.runtime_id_ << ": " << m.workers.size() << " workers, " << fs.size()
     << " live fibers, " << m.spawned_total << " spawned, " << m.live_stacks << " stacks in use\n";
  for (auto& w : m.workers) {
    char busy[16];
    std::snprintf(busy, sizeof busy, "%.1f",
                  w.uptime_ns ? 100.0 * static_cast<double>(w.busy_ns) / static_cast<double>(w.uptime_ns) : 0.0);
    os << "  worker " << w.index << ": ran " << w.fibers_run << " fibers, busy " << busy << " %, steals " << w.steals << " (" << w.stolen << " fibers), parks " << w.parks << ", inject pulls "
       << w.inject_pulls << ", queue " << w.queue_depth << ", watchers " << w.reactor_watchers << "\n";
  }
  // Groups in order of their first (lowest-id) fiber.
  std::vector<std::pair<std::size_t, std::size_t>> groups;  // (first fiber's index, count)
  std::unordered_map<std::string, std::size_t> group_of;
  std::size_t shown = 0;
  for (std::size_t i = 0; i < fs.size(); ++i) {
    if (!selected(fs[i], o)) continue;
    ++shown;
    if (!o.group) {
      groups.emplace_back(i, 1);
      continue;
    }
    auto [it, fresh] = group_of.emplace(group_key(fs[i]), groups.size());
    if (fresh) groups.emplace_back(i, 1);
    else ++groups[it->second].second;
  }
  if (shown != fs.size()) os << "  (" << shown << " of " << fs.size() << " fibers match the filter)\n";
  const std::size_t to_print = o.limit ? std::min(o.limit, groups.size()) : groups.size();
  std::vector<std::size_t> printed_fibers;  // the first fiber of each group printed
  for (std::size_t g = 0; g < to_print; ++g) printed_fibers.push_back(groups[g].first);
  measure_stacks(s, fs, printed_fibers);
  std::size_t printed = 0;
  for (const auto& [i, n] : groups) {
    if (o.limit && printed == o.limit) {
      os << "  ... " << groups.size() - printed << " more " << (o.group ? "groups" : "fibers")
         << " not shown (DumpOptions::limit " << o.limit << ")\n";
      break;
    }
    print_fiber(os, fs[i], o, n);
    ++printed;
  }
}

}  // namespace detail

void dump(std::ostream& os) { dump(os, DumpOptions{}); }

void dump(std::ostream& os, const DumpOptions& o) {
  struct Ctx {
    std::ostream* os;
    const DumpOptions* o;
  } ctx{&os, &o};
  detail::Scheduler::for_each_runtime(
      [](detail::Scheduler& s, void* p) {
        auto* c = static_cast<Ctx*>(p);
        detail::dump_runtime(s, *c->os, *c->o);
      },
      &ctx);
  detail::dump_blocking_pool(os);
}

void dump_json(std::ostream& os, const DumpOptions& o) {
  struct Ctx {
    std::ostream* os;
    const DumpOptions* o;
    bool first = true;
  } ctx{&os, &o};
  os << "{\"runtimes\":[";
  detail::Scheduler::for_each_runtime(
      [](detail::Scheduler& s, void* p) {
        auto* c = static_cast<Ctx*>(p);
        if (!c->first) *c->os << ",";
        c->first = false;
        detail::dump_runtime_json(s, *c->os, *c->o);
      },
      &ctx);
  os << "],\"blocking_tasks\":[";
  const std::vector<BlockingTaskInfo> tasks = blocking_tasks();
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const BlockingTaskInfo& t = tasks[i];
    os << (i ? "," : "") << "{\"id\":" << t.id << ",\"name\":";
    detail::json_string(os, t.name);
    os << ",\"spawn_file\":";
    detail::json_string(os, t.spawn_file);
    os << ",\"spawn_line\":" << t.spawn_line << ",\"running\":" << (t.running ? "true" : "false")
       << ",\"age_ns\":" << t.age.count() << "}";
  }
  os << "]}\n";
}

namespace detail {
void dump_runtime(Scheduler& s, std::ostream& os) {
  dump_runtime(s, os, DumpOptions{});
  dump_blocking_pool(os);
}
std::uint64_t runtime_id_of(const Scheduler& s) noexcept { return s.runtime_id_; }
}  // namespace detail

}  // namespace weft
