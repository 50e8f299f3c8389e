// What the stall detectors of each runtime have seen, for tools that look at a runtime later (the
// top snapshot): how many stalls, and the last few. StallDetector::State::deliver records each
// report; a stall's end updates the entry its start made.
#pragma once

#include <weft/stall.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace weft::detail {

struct StallSeen {
  std::uint64_t fiber_id = 0;
  std::string name;
  unsigned worker = 0;
  std::uint64_t running_for_ns = 0;  // so far, or its whole length once `ended`
  bool ended = false;
  std::uint64_t seen_ns = 0;         // coarse_ns() of the latest report about it
};

struct StallLog {
  std::uint64_t total = 0;         // stalls reported (starts; rate-limited ones are not reported)
  std::vector<StallSeen> recent;   // the last kStallLogRecent, oldest first
};

inline constexpr std::size_t kStallLogRecent = 4;

void stall_log_add(std::uint64_t runtime_id, const StallReport& r);
StallLog stall_log_of(std::uint64_t runtime_id);

}  // namespace weft::detail
