#include "sched/idle.hpp"

#include <algorithm>

namespace weft::detail {

bool Idle::worker_to_searching() noexcept {
  std::uint32_t s = state_.load(std::memory_order_seq_cst);
  if (2 * (s & 0xffff) >= num_workers_) return false;
  state_.fetch_add(1, std::memory_order_seq_cst);
  return true;
}

bool Idle::worker_from_searching() noexcept {
  return (state_.fetch_sub(1, std::memory_order_seq_cst) & 0xffff) == 1;
}

bool Idle::worker_to_parked(unsigned index, bool searching) noexcept {
  std::lock_guard lk(mu_);
  const std::uint32_t dec = pack(searching ? 1 : 0, 1);
  const std::uint32_t prev = state_.fetch_sub(dec, std::memory_order_seq_cst);
  sleepers_.push_back(index);
  return searching && (prev & 0xffff) == 1;
}

bool Idle::worker_from_parked(unsigned index) noexcept {
  std::lock_guard lk(mu_);
  auto it = std::find(sleepers_.begin(), sleepers_.end(), index);
  if (it == sleepers_.end()) return true;  // a notifier took us off the list and counted us
  sleepers_.erase(it);
  state_.fetch_add(pack(0, 1), std::memory_order_seq_cst);
  return false;
}

int Idle::worker_to_notify() noexcept {
  if (!should_notify()) return -1;
  std::lock_guard lk(mu_);
  if (!should_notify() || sleepers_.empty()) return -1;
  state_.fetch_add(pack(1, 1), std::memory_order_seq_cst);
  unsigned idx = sleepers_.back();
  sleepers_.pop_back();
  return static_cast<int>(idx);
}

}  // namespace weft::detail
