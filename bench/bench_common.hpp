// bench_common.hpp: what every peer program in bench/ shares, so that they all
// read flags, take time, and print results the same way (doc/bench.md §1).
//
//   int main(int argc, char** argv) {
//     bench::Args args(argc, argv);                 // <prog> <bench> [--key value]...
//     const std::int64_t n = args.integer("n", 100000, 1);
//     const bench::Reps reps = bench::reps_from(args);  // --warmup 1 --reps 5
//     args.reject_unknown();                        // a typo'd flag exits 2, before any work
//     std::vector<double> samples = bench::run_reps(reps, [&] {
//       const std::uint64_t t0 = bench::now_ns();
//       ... one repetition, verified with bench::fail(...) on a mismatch ...
//       return double(bench::now_ns() - t0) / double(n);
//     });
//     bench::emit({.peer = "weft", .bench = args.bench(), .n = std::uint64_t(n),
//                  .median = bench::median(samples), .unit = "ns/task", .samples = samples});
//   }
//
// Header-only and free of any runtime's headers so that the weft peer, the
// Boost.Fiber peer and echo_client can all include it.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bench {

// Exit codes: 1 = the workload ran but its result was wrong (or it could not
// run); 2 = the command line was wrong. The driver reports both as errors.
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

// Prints the message (which names its program or workload) to stderr and
// ends the process with `code`.
// _Exit, not exit: a verification failure is usually detected inside a task
// while other worker threads still run, and running static destructors under
// their feet would turn a clear message into a crash.
[[noreturn]] inline void die(int code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
[[noreturn]] inline void die(int code, const char* fmt, ...) {
  std::va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

// A workload's own check failed (wrong sum, lost wake-up, bad echo byte).
#define BENCH_FAIL(...) ::bench::die(::bench::kExitFailed, __VA_ARGS__)

// --------------------------------------------------------------------------
// Command line: `<prog> <bench> [--key value | --key=value]...`.
//
// Every flag is looked up by the workload that owns it; whatever was given but
// never looked up is a typo or a flag for another workload, and
// reject_unknown() turns it into an error instead of a silently ignored
// setting (which would produce a plausible but wrong number).
class Args {
 public:
  // `with_bench`: argv[1] names the workload (every peer program); false for
  // single-purpose tools such as echo_client that take flags only.
  Args(int argc, char** argv, bool with_bench = true) : prog_(argc > 0 ? argv[0] : "bench") {
    int first_flag = 1;
    if (with_bench) {
      if (argc < 2 || argv[1][0] == '-') {
        die(kExitUsage, "usage: %s <bench> [--key value]...", prog_.c_str());
      }
      bench_ = argv[1];
      first_flag = 2;
    }
    for (int i = first_flag; i < argc; ++i) {
      std::string_view arg = argv[i];
      if (arg.size() < 3 || arg.substr(0, 2) != "--") {
        die(kExitUsage, "%s: expected a flag like --n, got '%s'", where().c_str(), argv[i]);
      }
      arg.remove_prefix(2);
      std::string key, value;
      if (const auto eq = arg.find('='); eq != std::string_view::npos) {
        key = arg.substr(0, eq);
        value = arg.substr(eq + 1);
      } else {
        if (i + 1 >= argc) {
          die(kExitUsage, "%s: flag --%s needs a value", where().c_str(), std::string(arg).c_str());
        }
        key = arg;
        value = argv[++i];
      }
      if (!flags_.emplace(key, Flag{value, false}).second) {
        die(kExitUsage, "%s: flag --%s given twice", where().c_str(), key.c_str());
      }
    }
  }

  const std::string& bench() const { return bench_; }
  const std::string& prog() const { return prog_; }

  // "prog bench" (or "prog"), the prefix of every command-line error.
  std::string where() const { return bench_.empty() ? prog_ : prog_ + " " + bench_; }

  // The integer value of --key, or `def` when absent; below `min` is an error.
  std::int64_t integer(const std::string& key, std::int64_t def, std::int64_t min = 0) {
    known_.push_back(key);
    auto it = flags_.find(key);
    if (it == flags_.end()) return def;
    it->second.used = true;
    const std::string& text = it->second.value;
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE) {
      die(kExitUsage, "%s: --%s expects an integer, got '%s'", where().c_str(), key.c_str(),
          text.c_str());
    }
    if (v < min) {
      die(kExitUsage, "%s: --%s must be >= %" PRId64 ", got %lld", where().c_str(), key.c_str(),
          min, v);
    }
    return v;
  }

  // The string value of --key, or `def` when absent.
  std::string string(const std::string& key, std::string def) {
    known_.push_back(key);
    auto it = flags_.find(key);
    if (it == flags_.end()) return def;
    it->second.used = true;
    return it->second.value;
  }

  // Call once every flag of the chosen workload has been looked up.
  void reject_unknown() const {
    for (const auto& [key, flag] : flags_) {
      if (flag.used) continue;
      std::string known;
      for (const auto& k : known_) known += " --" + k;
      die(kExitUsage, "%s: unknown flag --%s (accepted:%s)", where().c_str(), key.c_str(),
          known.empty() ? " none" : known.c_str());
    }
  }

 private:
  struct Flag {
    std::string value;
    bool used;
  };
  std::string prog_;
  std::string bench_;
  std::map<std::string, Flag> flags_;
  std::vector<std::string> known_;  // looked-up keys, for the error message
};

// The common flags of §1.1: warm-up repetitions (discarded) and measured ones.
struct Reps {
  int warmup = 1;
  int reps = 5;
};

inline Reps reps_from(Args& args) {
  Reps r;
  r.warmup = static_cast<int>(args.integer("warmup", 1, 0));
  r.reps = static_cast<int>(args.integer("reps", 5, 1));
  return r;
}

// --------------------------------------------------------------------------
// Time and memory.

// CLOCK_MONOTONIC in nanoseconds, named explicitly because the spec names it
// (steady_clock is the same clock on Linux, but this leaves no doubt).
inline std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// Median of the samples (mean of the middle two for an even count); NaN when
// empty so that emit() prints null rather than an invented number.
inline double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2.0;
}

// Resident set size of this process in bytes, from /proc/self/status (the
// source the spec fixes for idle_memory, so peers agree on what is counted).
inline std::uint64_t vm_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) die(kExitFailed, "cannot open /proc/self/status: %s", std::strerror(errno));
  char line[256];
  std::uint64_t kib = 0;
  bool found = false;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "VmRSS: %" SCNu64 " kB", &kib) == 1) {
      found = true;
      break;
    }
  }
  std::fclose(f);
  if (!found) die(kExitFailed, "no VmRSS line in /proc/self/status");
  return kib * 1024;
}

// Runs `reps.warmup` repetitions whose values are dropped, then `reps.reps`
// measured ones. `fn()` performs one whole repetition and returns its value
// (already per operation, e.g. ns/task).
template <class Fn>
std::vector<double> run_reps(const Reps& reps, Fn&& fn) {
  for (int i = 0; i < reps.warmup; ++i) (void)fn();
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(reps.reps));
  for (int i = 0; i < reps.reps; ++i) samples.push_back(fn());
  return samples;
}

template <class Fn>
std::vector<double> run_reps(int warmup, int reps, Fn&& fn) {
  return run_reps(Reps{warmup, reps}, std::forward<Fn>(fn));
}

// --------------------------------------------------------------------------
// Output: one JSON object per line on stdout (§1.2).

// One measurement. `metric` is only set when one workload reports several
// values (echo: echo_rps, echo_p50_us, ...); it is printed right after
// "bench" but declared last, so designated initializers may leave it out.
// Every member has a default initializer: g++ 12 -Wextra warns about members
// that a designated initializer leaves out, unless they have one.
struct Measurement {
  std::string peer{};
  std::string bench{};
  std::uint64_t n = 0;
  double median = std::nan("");  // NaN is printed as null
  std::string unit{};
  std::vector<double> samples{};
  std::string note{};    // empty: not printed
  std::string metric{};  // empty: not printed
};

// Shortest plain rendering that keeps three decimals of the value; JSON has
// no NaN/Inf, so those become null.
inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  if (v != 0 && std::fabs(v) < 0.001) {
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%.3f", v);
  std::string s = buf;
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s;
}

inline std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

inline std::string to_json(const Measurement& m) {
  std::string out = "{\"peer\":" + json_string(m.peer) + ",\"bench\":" + json_string(m.bench);
  if (!m.metric.empty()) out += ",\"metric\":" + json_string(m.metric);
  out += ",\"n\":" + std::to_string(m.n);
  out += ",\"median\":" + json_number(m.median);
  out += ",\"unit\":" + json_string(m.unit);
  out += ",\"samples\":[";
  for (std::size_t i = 0; i < m.samples.size(); ++i) {
    if (i) out += ',';
    out += json_number(m.samples[i]);
  }
  out += ']';
  if (!m.note.empty()) out += ",\"note\":" + json_string(m.note);
  return out + '}';
}

// Prints the line and flushes at once: the driver may kill a peer that hangs
// at shutdown, and a measurement already taken should not die in a buffer.
inline void emit(const Measurement& m) {
  const std::string line = to_json(m);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

}  // namespace bench
