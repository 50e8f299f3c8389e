// One fiber's FiberMetrics as a JSON object: the shape every tool output shares (the JSON dump,
// Deadlock::to_json, the top snapshot), so a tool reads a fiber the same way from each.
//
//   {"id","name","wait","waits_for":[ids],"spawn_file","spawn_line","spawn_function","status",
//    "wait_kind","held_by","worker","runs","age_ns","run_ns","max_slice_ns","stack_size",
//    "stack_high_water","backtrace":[frames]}
//
// Fields a query did not fill (backtraces, stack use, timing) are 0 or empty, not absent.
#pragma once

#include <weft/metrics.hpp>

#include <ostream>

namespace weft::detail {

void write_fiber_json(std::ostream& os, const FiberMetrics& f);

}  // namespace weft::detail
