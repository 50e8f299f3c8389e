// weft/detail/join_set_core.hpp — the type-independent part of JoinSet, scope() and select().
// Internal.
#pragma once

#include <weft/detail/fiber.hpp>
#include <weft/task.hpp>

#include <atomic>
#include <cstddef>
#include <deque>
#include <source_location>

namespace weft::detail {

// Owns a group of child fibers and learns about their completions (it is each child's joiner).
// Used by one owner at a time (like any non-thread-safe container); children finishing on any
// worker call notify().
class JoinSetCore final : public JoinWaiter {
 public:
  JoinSetCore() = default;
  // `owner` names the API that owns the children ("JoinSet", "weft::scope", "weft::select"), for
  // the report of a child's panic that nobody observed.
  explicit JoinSetCore(const char* owner) noexcept : owner_(owner) {}
  JoinSetCore(const JoinSetCore&) = delete;
  JoinSetCore& operator=(const JoinSetCore&) = delete;
  ~JoinSetCore();

  // Spawns `f` (one reference for the set) as a child. `local`: pinned like spawn_local.
  void spawn(FiberBase* f, Options&& o, const std::source_location& loc, bool local = false);
  // Takes the next finished child (the caller now owns the set's reference), waiting if `block`.
  // Returns null when no child is left (or none finished and !block). The wait is a suspension
  // point unless `shielded`.
  FiberBase* next(bool block, bool shielded = false);
  void abort_all(Cancelled::Reason why = Cancelled::Reason::Aborted) noexcept;
  // Aborts every child and waits until all finished; results are dropped. Not interruptible.
  void shutdown() noexcept;
  // Forgets every child: running ones go on, detached.
  void detach_all() noexcept;
  std::size_t size() const noexcept { return size_; }

  void notify(FiberBase* finished) noexcept override;

 private:
  void forget(FiberBase* f) noexcept;
  const char* owner_ = "JoinSet";
  SpinLock lock_;                      // guards done_, waiter_*
  FiberBase* children_ = nullptr;      // owner only: every child not yet taken (set_* links)
  std::size_t size_ = 0;
  std::deque<FiberBase*> done_;        // finished, not yet taken (completion order)
  FiberBase* waiter_ = nullptr;        // the owner fiber waiting in next(), if any
  std::uint64_t waiter_epoch_ = 0;
  std::atomic<std::uint32_t> seq_{0};  // bumped per completion: a plain-thread owner waits on it
};

}  // namespace weft::detail
