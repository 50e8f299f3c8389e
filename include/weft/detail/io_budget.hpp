// weft/detail/io_budget.hpp — how many socket operations may complete without waiting before
// the fiber yields (fairness: a connection whose peer is always ready must not starve the
// worker). Internal. A relaxed atomic so that one fiber reading and another writing the same
// socket (each with its own budget) stay race-free. Copying or moving starts a full budget.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::detail {

struct IoBudget {
  static constexpr std::uint8_t kFull = 64;
  std::atomic<std::uint8_t> left{kFull};

  IoBudget() noexcept = default;
  IoBudget(const IoBudget&) noexcept {}
  IoBudget& operator=(const IoBudget&) noexcept { return *this; }
};

}  // namespace weft::detail
