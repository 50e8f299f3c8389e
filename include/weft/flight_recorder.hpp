/// @file
/// weft/flight_recorder.hpp — the last moments of scheduling, kept all the time and written out
/// when something goes wrong: on a signal, on Ctrl-C, on a stall report, and when it is destroyed.
///
/// @verbatim
///   int main() {
///     weft::FlightRecorder recorder({.path = "/tmp/app-flight.json"});  // `kill -USR2 <pid>` writes it
///     weft::Runtime rt;
///     weft::StallDetector watchdog(rt.handle());  // each stall report writes it too
///     ...                                          // Ctrl-C writes it, then ends the program
///   }                                              // and so does leaving main
///
/// It is the trace recorder (weft/trace.hpp) kept recording into small per-thread rings (the
/// oldest events are overwritten): a written file holds the last `events_per_thread` events of
/// each thread, in the trace format Perfetto and tools/weft-trace-* read. Recording costs what
/// tracing costs (about two clock reads and a ring append per scheduling event, README "Profiling
/// weft programs"), so it is a choice, not a default. One per process (recording is process-wide);
/// trace_start/trace_stop while it lives restart or end its recording.
///
/// Writing happens on a helper thread (the signal handlers only write a byte to a pipe); the
/// SIGINT handler, once the file is written, restores the previous disposition of SIGINT and
/// raises it again, so Ctrl-C still ends the program the way it would have.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>

#include <csignal>
#include <cstddef>
#include <memory>
#include <string>

WEFT_API_BEGIN

namespace weft {

/// Where and when a FlightRecorder writes its file, and how many events it keeps.
struct FlightRecorderOptions {
  std::string path;                       ///< the file each write replaces (required)
  std::size_t events_per_thread = 8192;   ///< ring size per thread (at least 16)
  int signal = SIGUSR2;                   ///< writes the file on this signal (0: none)
  bool on_sigint = true;                  ///< writes the file on SIGINT, then SIGINT does what it did
  bool on_stall = true;                   ///< writes the file after each StallDetector report
  bool on_destroy = true;                 ///< writes the file when the recorder is destroyed
};

/// Keeps the latest trace events of every thread in memory and writes them to a file when
/// something goes wrong (a signal, SIGINT, a stall) or on request (see weft/flight_recorder.hpp).
class FlightRecorder {
 public:
  /// `FlightRecorder::Options{.path = ...}` reads better at the call site.
  using Options = FlightRecorderOptions;

  /// Starts recording. Throws weft::Error if the options are invalid, another FlightRecorder is
  /// alive, or a signal handler cannot be installed.
  explicit FlightRecorder(FlightRecorderOptions o);
  ~FlightRecorder();
  FlightRecorder(const FlightRecorder&) = delete;
  FlightRecorder& operator=(const FlightRecorder&) = delete;

  /// Writes the file now, from the calling thread (recording goes on). Throws weft::Error if it
  /// cannot be written.
  void write();
  /// Files written so far (by any cause).
  unsigned writes() const noexcept;
  /// The file it writes (FlightRecorderOptions::path).
  const std::string& path() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace weft

WEFT_API_END
