#include "sched/idle.hpp"

#include <algorithm>

namespace weft::detail {

// Both ways of becoming a searcher are one CAS on state_, so the cap holds exactly: a checked load
// then an add let a notifier and a would-be searcher both see "nobody searches" and make two
// searchers of 2 workers (idle_test found it).
bool Idle::worker_to_searching() noexcept {
  std::uint32_t s = state_.load(std::memory_order_seq_cst);
  do {
    if (2 * (s & 0xffff) >= num_workers_) return false;
  } while (!state_.compare_exchange_weak(s, s + 1, std::memory_order_seq_cst));
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
  if (sleepers_.empty()) return -1;
  std::uint32_t s = state_.load(std::memory_order_seq_cst);
  do {
    if ((s & 0xffff) != 0) return -1;  // a searcher will find the work (or wake someone when it stops)
  } while (!state_.compare_exchange_weak(s, s + pack(1, 1), std::memory_order_seq_cst));
  unsigned idx = sleepers_.back();
  sleepers_.pop_back();
  return static_cast<int>(idx);
}

}  // namespace weft::detail
