// weft/detail/join_set_core.hpp — the type-independent part of JoinSet, scope() and race().
// Internal.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/fiber.hpp>
#include <weft/detail/spin_lock.hpp>
#include <weft/task.hpp>

#include <atomic>
#include <cstddef>
#include <deque>
#include <source_location>

WEFT_API_BEGIN

namespace weft::detail {

// Owns a group of child fibers and learns about their completions (it is each child's joiner).
// spawn() and abort_all() may be called from any fiber or thread (a scope's children spawn
// siblings); next(), shutdown() and detach_all() by one owner at a time. Children finishing on
// any worker call notify().
class JoinSetCore final : public JoinWaiter {
 public:
  JoinSetCore() = default;
  // `owner` names the API that owns the children ("JoinSet", "weft::scope", "weft::race"), for
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
  // Requests cancellation of every child. `sticky`: children spawned later start cancelled too.
  void abort_all(Cancelled::Reason why = Cancelled::Reason::Aborted, bool sticky = false) noexcept;
  // Aborts every child and waits until all finished; results are dropped. Not interruptible.
  void shutdown() noexcept;
  // Forgets every child: running ones go on, detached.
  void detach_all() noexcept;
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }

  void notify(FiberBase* finished) noexcept override;

 private:
  void link(FiberBase* f) noexcept;    // under lock_
  void forget(FiberBase* f) noexcept;  // under lock_
  const char* owner_ = "JoinSet";
  SpinLock lock_;                      // guards children_, size_ changes, done_, waiter_*, sticky_cancel_
  FiberBase* children_ = nullptr;      // every child not yet taken (set_* links)
  std::atomic<std::size_t> size_{0};   // children not yet taken (changed under lock_)
  std::uint8_t sticky_cancel_ = 0;     // 0, or 1 + the Cancelled::Reason new children start with
  std::deque<FiberBase*> done_;        // finished, not yet taken (completion order)
  FiberBase* waiter_ = nullptr;        // the owner fiber waiting in next(), if any
  std::uint64_t waiter_epoch_ = 0;
  std::atomic<std::uint32_t> seq_{0};  // bumped per completion: a plain-thread owner waits on it
};

}  // namespace weft::detail

WEFT_API_END
