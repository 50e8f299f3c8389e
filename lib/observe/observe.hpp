// The switches and hooks of weft's optional instrumentation: per-fiber timing and the trace
// recorder. Below the scheduler (it includes nothing of it), so every layer may call the hooks.
//
// Cost when off: the scheduler reads g_observe once per run and once per wake-up/spawn (a relaxed
// load of a global and a predictable branch). Clock reads happen only when a flag is set: on the
// VMs weft is measured on a steady_clock read costs 20-60 ns, more than a whole yield_now.
#pragma once

#include "platform/mono_clock.hpp"  // mono_ns, coarse_ns: the clock the hooks stamp with

#include <weft/detail/fiber.hpp>

#include <atomic>
#include <cstdint>

namespace weft::detail {

inline constexpr unsigned kObserveTiming = 1;  // per-fiber run time, slices, scheduling delay
inline constexpr unsigned kObserveTrace = 2;   // the trace recorder is recording

extern std::atomic<unsigned> g_observe;
inline unsigned observe_flags() noexcept { return g_observe.load(std::memory_order_relaxed); }


// ---- trace recorder (lib/observe/recorder.cpp)
enum class TraceEv : std::uint8_t {
  Spawn,     // fiber = child, arg = parent fiber (0: a plain thread), text = child's name
  RunStart,  // fiber starts a slice on this thread
  RunStop,   // arg = 0 yield, 1 park, 2 finish; text = what it waits on (park)
  Wake,      // fiber = wakee, arg = waker fiber (0: a plain thread or a timer/fd)
  Steal,     // arg = fibers taken, fiber = victim worker index
  Park,      // the worker goes idle in its event loop
  Unpark,
  Cancel,    // fiber = target, arg = reason
};
// Records one event on the calling thread's ring (only call when kObserveTrace is set). `ts` 0 =
// read the clock now.
void trace_emit(TraceEv ev, std::uint64_t fiber, std::uint64_t arg, const char* text = nullptr,
                std::uint64_t ts = 0) noexcept;
// A fiber's name for the trace (copied; called at spawn while recording).
void trace_name(std::uint64_t fiber, const std::string& name) noexcept;

}  // namespace weft::detail

namespace weft::detail {
// Asks the live weft::FlightRecorder, if any and if it wants to, to write its file: the stall
// detector calls it after each report (lib/introspect/flight_recorder.cpp). Never blocks.
void flight_recorder_on_stall() noexcept;
}  // namespace weft::detail

namespace weft::detail {
// WEFT_TRACE=file.json: the first runtime started records the trace, and writes it when it shuts
// down (lib/observe/recorder.cpp).
void trace_env_attach(const void* runtime);
void trace_env_detach(const void* runtime) noexcept;
}  // namespace weft::detail

namespace weft::detail {
// Chains a std::terminate handler that explains a weft::Cancelled escaping a noexcept frame (a
// destructor waiting in a cancelled fiber) before aborting. Idempotent; called by each new runtime.
void install_cancel_escape_report() noexcept;
}  // namespace weft::detail
