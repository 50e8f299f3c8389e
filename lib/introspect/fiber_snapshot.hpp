// What the dump (dump.cpp) reads from the fiber snapshots (fiber_snapshot.cpp) besides fibers_of
// and describe_fiber (wait_graph.hpp).
#pragma once

#include "fiber/fiber_record.hpp"

#include <weft/blocking.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace weft::detail {

// How much of `f`'s stack has ever been used (its deepest non-zero word). Reads racily.
std::size_t stack_use_of(const FiberBase* f) noexcept;
// "blocking task 12 'fetch' (running on a pool thread for 1.2s)": what a join of a spawn_blocking
// task waits for. Empty if the pool no longer holds that task (it just finished).
std::string describe_blocking(const std::vector<BlockingTaskInfo>& tasks, std::uint64_t id);

}  // namespace weft::detail
