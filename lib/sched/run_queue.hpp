// A worker's bounded run queue: the owner pushes and pops, any thread may steal half.
//
// Layout (after Tokio's queue, written for fibers): a ring of kCapacity slots, `tail_` written only
// by the owner, and `head_` packing two 32-bit indices: `steal` (first slot a stealer is still
// copying) and `real` (first slot not yet claimed). Normally steal == real. A stealer claims a batch
// by advancing `real`, copies it, then sets steal = real. While a steal is in flight the owner can
// still pop (advancing `real` only) but cannot overwrite slots from `steal` on, so push treats the
// queue as full from `steal`. Only one stealer works at a time (others see steal != real and
// back off).
#pragma once

#include "fiber/fiber_record.hpp"

#include <atomic>
#include <cstdint>

namespace weft::detail {

class RunQueue {
 public:
  static constexpr std::uint32_t kCapacity = 256;

  // Owner only. Returns false if full (caller moves work to the inject queue).
  bool push(FiberBase* f) noexcept {
    const std::uint32_t t = tail_.load(std::memory_order_relaxed);
    const std::uint32_t steal = unpack_steal(head_.load(std::memory_order_acquire));
    if (t - steal >= kCapacity) return false;
    slots_[t & kMask].store(f, std::memory_order_relaxed);
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  // Owner only. FIFO.
  FiberBase* pop() noexcept {
    std::uint64_t h = head_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint32_t steal = unpack_steal(h), real = unpack_real(h);
      const std::uint32_t t = tail_.load(std::memory_order_relaxed);
      if (real == t) return nullptr;
      const std::uint32_t next = real + 1;
      const std::uint64_t nh = steal == real ? pack(next, next) : pack(steal, next);
      if (head_.compare_exchange_weak(h, nh, std::memory_order_acq_rel, std::memory_order_acquire)) {
        // The next one's slot is ours to read (we pushed it); a stealer may take it meanwhile,
        // which makes the prefetch useless, not wrong.
        if (next != t) prefetch_record(slots_[next & kMask].load(std::memory_order_relaxed));
        return slots_[real & kMask].load(std::memory_order_relaxed);
      }
    }
  }

  // Owner only: moves the older half of a full queue into out[0, kCapacity / 2) (for the inject
  // queue), oldest first. Returns the number of fibers taken (0 if a concurrent steal made room;
  // retry push then). Touches no fiber's record.
  std::uint32_t take_half(FiberBase** out) noexcept {
    std::uint64_t h = head_.load(std::memory_order_acquire);
    const std::uint32_t steal = unpack_steal(h), real = unpack_real(h);
    const std::uint32_t t = tail_.load(std::memory_order_relaxed);
    if (steal != real || t - real < kCapacity) return 0;  // a stealer is freeing room
    const std::uint32_t n = kCapacity / 2;
    if (!head_.compare_exchange_strong(h, pack(real + n, real + n), std::memory_order_acq_rel)) return 0;
    for (std::uint32_t i = 0; i < n; ++i) out[i] = slots_[(real + i) & kMask].load(std::memory_order_relaxed);
    return n;
  }

  // Any thread: moves about half of this queue into `dst` (owned by the caller) and returns one
  // fiber to run, or null.
  FiberBase* steal_into(RunQueue& dst) noexcept {
    const std::uint32_t dst_tail = dst.tail_.load(std::memory_order_relaxed);
    const std::uint32_t dst_steal = unpack_steal(dst.head_.load(std::memory_order_acquire));
    if (dst_tail - dst_steal > kCapacity / 2) return nullptr;  // we have plenty already

    std::uint64_t h = head_.load(std::memory_order_acquire);
    std::uint32_t n, first;
    for (;;) {
      const std::uint32_t steal = unpack_steal(h), real = unpack_real(h);
      if (steal != real) return nullptr;  // another stealer is at work
      const std::uint32_t t = tail_.load(std::memory_order_acquire);
      n = t - real;
      n -= n / 2;
      if (n == 0) return nullptr;
      if (n > kCapacity / 2) n = kCapacity / 2;
      if (head_.compare_exchange_weak(h, pack(steal, real + n), std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        first = real;
        break;
      }
    }
    // Copy the claimed batch; the last one is returned to run right away.
    for (std::uint32_t i = 0; i + 1 < n; ++i) {
      FiberBase* f = slots_[(first + i) & kMask].load(std::memory_order_relaxed);
      dst.slots_[(dst_tail + i) & kMask].store(f, std::memory_order_relaxed);
    }
    FiberBase* ret = slots_[(first + n - 1) & kMask].load(std::memory_order_relaxed);
    // Release the claimed slots back to the owner: steal catches up with real.
    h = head_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint32_t real = unpack_real(h);
      if (head_.compare_exchange_weak(h, pack(real, real), std::memory_order_acq_rel, std::memory_order_acquire)) break;
    }
    if (n > 1) dst.tail_.store(dst_tail + n - 1, std::memory_order_release);
    return ret;
  }

  std::uint32_t len() const noexcept {
    const std::uint32_t real = unpack_real(head_.load(std::memory_order_acquire));
    return tail_.load(std::memory_order_acquire) - real;
  }
  bool empty() const noexcept { return len() == 0; }

 private:
  static constexpr std::uint32_t kMask = kCapacity - 1;
  static std::uint32_t unpack_steal(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h >> 32); }
  static std::uint32_t unpack_real(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h); }
  static std::uint64_t pack(std::uint32_t steal, std::uint32_t real) noexcept {
    return (static_cast<std::uint64_t>(steal) << 32) | real;
  }

  alignas(64) std::atomic<std::uint64_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  alignas(64) std::atomic<FiberBase*> slots_[kCapacity] = {};
};

}  // namespace weft::detail
