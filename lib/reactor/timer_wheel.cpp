#include "reactor/timer_wheel.hpp"

#include <new>

namespace weft::detail {

bool TimerWheel::add(WheelTimer* t) noexcept {
  // Rounded up: the tick's start is at or after the deadline, so firing at it is never early.
  std::int64_t tick = t->deadline_ns <= 0 ? 0 : (t->deadline_ns - 1) / kTickNs + 1;
  if (tick < cur_tick_) tick = cur_tick_;  // already due: the next advance fires it
  if (tick - cur_tick_ >= static_cast<std::int64_t>(kSlots)) return false;
  const std::size_t s = slot_of(tick);
  std::vector<WheelTimer*>& v = slots_[s];
  try {
    v.push_back(t);
  } catch (const std::bad_alloc&) {
    return false;
  }
  t->tick = tick;
  t->index = static_cast<std::uint32_t>(v.size() - 1);
  bits_[s / 64] |= std::uint64_t{1} << (s % 64);
  return true;
}

void TimerWheel::remove(WheelTimer* t) noexcept {
  if (!t->added()) return;
  slots_[slot_of(t->tick)][t->index] = nullptr;
  t->index = WheelTimer::kNotAdded;
}

void TimerWheel::advance(std::int64_t now_ns) noexcept {
  const std::int64_t now_tick = now_ns / kTickNs;  // ticks up to here have begun
  for (;;) {
    const std::int64_t tick = first_tick();
    if (tick > now_tick) break;  // also when empty (kNone)
    const std::size_t s = slot_of(tick);
    // Served from firing_, so that a callback re-adding its timer kSlots ticks later (the same
    // slot) cannot grow the array being walked; cur_tick_ moves first, so a re-add never lands on
    // a tick already served.
    firing_.swap(slots_[s]);
    bits_[s / 64] &= ~(std::uint64_t{1} << (s % 64));
    cur_tick_ = tick + 1;
    // Each timer sits on its own cold fiber stack: fetch a few ahead of the one being fired.
    constexpr std::size_t kAhead = 8;
    const std::size_t n = firing_.size();
    for (std::size_t i = 0; i < n && i < kAhead; ++i) {
      if (firing_[i]) __builtin_prefetch(firing_[i]);
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kAhead < n && firing_[i + kAhead]) __builtin_prefetch(firing_[i + kAhead]);
      WheelTimer* t = firing_[i];
      if (!t) continue;  // removed
      t->index = WheelTimer::kNotAdded;
      t->fire(t, now_ns);
    }
    firing_.clear();
    // A burst's array would otherwise stay at its peak size for good, in every slot it passed
    // through (1,024 slots x a burst's share each); regrowing it costs a few copies of pointers.
    if (firing_.capacity() > kKeepCapacity) std::vector<WheelTimer*>().swap(firing_);
    // The slot now holds what a callback re-added (usually nothing) with firing_'s old array;
    // keep the larger of the two arrays for the next burst on this slot.
    if (slots_[s].empty() && slots_[s].capacity() < firing_.capacity()) slots_[s].swap(firing_);
  }
  if (now_tick + 1 > cur_tick_) cur_tick_ = now_tick + 1;
}

bool TimerWheel::empty() const noexcept {
  for (const std::uint64_t w : bits_) {
    if (w) return false;
  }
  return true;
}

std::int64_t TimerWheel::first_tick() const noexcept {
  // Scan the bitmap circularly from cur_tick_'s slot: the first set bit is the earliest tick,
  // since every added tick is within kSlots of cur_tick_.
  const std::size_t start = slot_of(cur_tick_);
  for (std::size_t i = 0; i <= kWords; ++i) {
    const std::size_t w = (start / 64 + i) % kWords;
    std::uint64_t word = bits_[w];
    if (i == 0) word &= ~std::uint64_t{0} << (start % 64);  // slots before start hold later ticks
    if (i == kWords) word &= (start % 64) ? ~(~std::uint64_t{0} << (start % 64)) : 0;  // wrapped round
    if (word) {
      const std::size_t s = w * 64 + static_cast<std::size_t>(__builtin_ctzll(word));
      return cur_tick_ + static_cast<std::int64_t>((s + kSlots - start) % kSlots);
    }
  }
  return kNone;
}

std::int64_t TimerWheel::next_expiry_ns() const noexcept {
  const std::int64_t t = first_tick();
  return t == kNone ? kNone : t * kTickNs;
}

}  // namespace weft::detail
