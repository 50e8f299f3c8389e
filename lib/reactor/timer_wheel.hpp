// A worker's near timers: a hashed wheel of 1 ms ticks in front of libev's timer heap.
//
// Why: with 100,000 fibers sleeping at once (sleep_many), every sleep was an ev_timer in libev's
// 4-heap: a sift on start, another when it fired, each through a 1.6 MB array that does not fit in
// the cache (ev_timer_stop alone was 15 % of the profile), plus two clock reads to arm it against
// a fresh "now" (bench/RESULTS.md, thirteenth session). Here adding and removing a timer is O(1)
// and reads no clock; the whole wheel is one ev_timer armed for its earliest non-empty tick, and
// one clock read serves every timer that is due when it fires.
//
// A slot holds *pointers* to its timers (the WheelTimer itself lives on the waiting fiber's stack),
// not an intrusive list: when a slot comes due, its timers sit on as many cold stacks, and a list
// would be a chain of cache misses taken one after another; with the addresses in an array the
// walk fetches several ahead (bench/RESULTS.md, thirteenth session: the list version spent 15 % of
// sleep_many in that walk). Removal clears the timer's entry (the slot is drained when it comes
// due), so it touches no other timer.
//
// Precision: a deadline is rounded *up* to its tick (a multiple of kTickNs since the clock's
// epoch), so a timer never fires before its deadline and at most one tick after it, plus the
// loop's own latency (libev's epoll backend rounds its wait up to whole milliseconds: up to ~2 ms
// in all on an idle worker, where libev's own timers were up to ~1 ms late).
// Deadlines kSlots ticks or more ahead do not fit: add() refuses them and the caller uses a libev
// timer (long timeouts are few, and usually cancelled long before they fire).
//
// Invariants: every added timer's tick is in [cur_tick_, cur_tick_ + kSlots), and it is entry
// `index` of slot tick % kSlots; a slot's bit is set iff its array is non-empty (cleared entries
// included). Owner-thread only (the worker's loop thread), like libev itself.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace weft::detail {

struct WheelTimer {
  static constexpr std::uint32_t kNotAdded = ~std::uint32_t{0};
  // Called on the loop's thread once the clock has reached the deadline; `now_ns` is the clock
  // read that says so. The timer is no longer added: the callback may add it again or let it go,
  // but must not add or remove any *other* timer of this wheel (advance is walking them).
  void (*fire)(WheelTimer* t, std::int64_t now_ns) noexcept = nullptr;
  void* data = nullptr;
  std::int64_t deadline_ns = 0;      // steady_clock (weft::Clock) nanoseconds since its epoch
  std::int64_t tick = 0;             // the tick it fires at (deadline rounded up), set by add()
  std::uint32_t index = kNotAdded;   // its entry in its slot
  bool added() const noexcept { return index != kNotAdded; }
};

class TimerWheel {
 public:
  static constexpr std::int64_t kTickNs = 1'000'000;
  static constexpr std::size_t kSlots = 1024;  // ~1 s of 1 ms ticks
  static constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::max();

  // As if advance(now_ns) had just run: the tick now_ns is in counts as served.
  explicit TimerWheel(std::int64_t now_ns) noexcept : cur_tick_(now_ns / kTickNs + 1) {}
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Adds `t` (not added) under its deadline's tick; false, leaving it out, if that tick is kSlots
  // or more ahead (or no memory is left for the slot's array). A deadline at or before the ticks
  // already served fires at the next advance().
  bool add(WheelTimer* t) noexcept;
  // Takes `t` out if it is added (a timer that fired, or was never added, is left alone).
  void remove(WheelTimer* t) noexcept;
  // Fires every timer whose tick the clock has reached at `now_ns`, in tick order.
  void advance(std::int64_t now_ns) noexcept;
  // When the earliest non-empty slot's tick begins (ns), or kNone if every slot is empty. (A slot
  // whose timers were all removed counts until its tick comes: one wake-up for nothing.)
  std::int64_t next_expiry_ns() const noexcept;
  bool empty() const noexcept;

 private:
  static constexpr std::size_t kWords = kSlots / 64;
  // A slot keeps at most this many entries' worth of array between bursts (<= 512 KiB a worker).
  static constexpr std::size_t kKeepCapacity = 64;
  static std::size_t slot_of(std::int64_t tick) noexcept { return static_cast<std::size_t>(tick) % kSlots; }
  // Earliest tick >= cur_tick_ whose slot is non-empty (kNone if none).
  std::int64_t first_tick() const noexcept;

  std::int64_t cur_tick_;  // the first tick not served yet
  std::array<std::uint64_t, kWords> bits_{};
  std::array<std::vector<WheelTimer*>, kSlots> slots_;
  std::vector<WheelTimer*> firing_;  // the slot being served (swapped out of slots_)
};

}  // namespace weft::detail
