/// @file
/// weft/trace.hpp — the trace recorder: what every worker did, exported as Chrome Trace Event JSON
/// (open it in https://ui.perfetto.dev or chrome://tracing; tools/weft-trace-summary and
/// tools/weft-trace-svg read it offline).
///
/// @verbatim
///   weft::trace_start();                       // or run the program with WEFT_TRACE=out.json
///   rt.block_on([] { /* ... */ });
///   weft::trace_stop();
///   weft::trace_write_json("out.json");
///
/// Each thread that runs or wakes fibers records into its own ring buffer (the oldest events are
/// overwritten when it is full): fiber slices (run start/stop, and why it stopped: yield, park on
/// what, finish), spawns and wake-ups (waker -> wakee, drawn as flow arrows), steals, parks and
/// cancellations. One track per thread; slices carry the fiber's name. Every arrow is bound to
/// slices as Perfetto's and Chrome's importers require: it starts at the waker's slice (a 1 ns
/// slice named "event loop" or "thread" stands for a timer, an fd or a plain thread) and ends at
/// the woken fiber's next slice (tests/tools/trace_check.py checks both importers' rules).
/// Recording is process-wide; weft/flight_recorder.hpp keeps it running and writes it when
/// something goes wrong.
/// Off, it costs one predictable branch per scheduling event; on, about two clock reads and a
/// ring append per event (see README, "Profiling weft programs").
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <cstddef>
#include <iosfwd>
#include <string>

WEFT_API_BEGIN

namespace weft {

/// Starts (or restarts, discarding what was recorded) recording, with a ring of
/// `events_per_thread` events per thread. Also turns on fiber timing while it records.
void trace_start(std::size_t events_per_thread = std::size_t{1} << 17);
/// Stops recording; the events stay available to trace_write_json until the next trace_start.
void trace_stop();
/// Whether trace events are being recorded (between trace_start and trace_stop).
bool tracing() noexcept;
/// Writes the recorded events as Chrome Trace Event JSON. Best called after trace_stop (while
/// recording it writes a consistent prefix of each thread's events).
void trace_write_json(std::ostream& os);
/// Same, to a file; throws weft::Error if it cannot be written.
void trace_write_json(const std::string& path);

/// Per-fiber timing (run time, longest slice, scheduling delay in FiberMetrics and dumps). Off by
/// default because it costs two clock reads per fiber run; process-wide. Also on while tracing,
/// and at start-up when the environment has WEFT_FIBER_TIMING=1.
void set_fiber_timing(bool on) noexcept;
/// Whether per-fiber timing is on (set_fiber_timing, tracing, or WEFT_FIBER_TIMING=1).
bool fiber_timing() noexcept;

}  // namespace weft

WEFT_API_END
