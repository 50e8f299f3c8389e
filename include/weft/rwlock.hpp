/// @file
/// weft/rwlock.hpp — a reader/writer lock that suspends fibers; FIFO, so writers are not starved.
///
/// @verbatim
///   weft::RwLock lock;
///   std::map<std::string, int> table;
///   auto reader = weft::spawn([&] {
///     std::shared_lock lk(lock);                 // many readers at once
///     return table.count("a");
///   });
///   {
///     std::unique_lock lk(lock);                 // one writer, no readers
///     table["a"] = 1;
///   }
///   reader.join();
///
/// Meets Lockable/TimedLockable (lock, try_lock, try_lock_for/until, unlock) for writers and
/// SharedLockable/SharedTimedLockable (lock_shared, ...) for readers, so std::unique_lock,
/// std::shared_lock and std::scoped_lock work.
///
/// Fairness: requests are served in arrival order. A reader gets in at once only if no writer
/// holds the lock and nobody is queued; once a writer waits, later readers queue behind it (so a
/// stream of readers cannot starve writers), and when the writer is done every reader queued
/// behind it up to the next writer gets in together (so writers cannot starve readers either).
/// lock()/lock_shared() and the timed forms are suspension points (throw weft::Cancelled); one that
/// throws or times out holds nothing, and a waiter that leaves lets the requests behind it proceed.
/// Works from plain threads too (they block).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/chrono.hpp>
#include <weft/detail/waiter.hpp>

#include <chrono>
#include <cstddef>

WEFT_API_BEGIN

namespace weft {

/// A reader/writer lock that suspends fibers; FIFO, so neither writers nor readers starve (see
/// weft/rwlock.hpp).
class RwLock {
 public:
  RwLock() = default;
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;
  /// Destroying a held RwLock, or one with waiters, is undefined.
  ~RwLock() = default;

  // ---- exclusive (writer)
  /// Suspends until held exclusively (no reader, no other writer). Throws weft::Cancelled (then
  /// holds nothing).
  void lock() { acquire(true, nullptr); }
  /// Takes the lock exclusively if that is possible now without waiting.
  bool try_lock() noexcept;
  /// As lock(), giving up after `d`; returns whether the lock is held.
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return try_lock_until(detail::steady_deadline_after(d));
  }
  /// As lock(), giving up at `t`; returns whether the lock is held.
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& t) {
    const auto d = detail::to_steady_deadline(t);
    return acquire(true, &d);
  }
  /// Releases exclusive ownership; wakes whoever is queued next.
  void unlock() noexcept;

  // ---- shared (reader)
  /// Suspends until held shared (with other readers). Throws weft::Cancelled (then holds nothing).
  void lock_shared() { acquire(false, nullptr); }
  /// Takes the lock shared if that is possible now without waiting.
  bool try_lock_shared() noexcept;
  /// As lock_shared(), giving up after `d`; returns whether the lock is held.
  template <class Rep, class Period>
  bool try_lock_shared_for(const std::chrono::duration<Rep, Period>& d) {
    return try_lock_shared_until(detail::steady_deadline_after(d));
  }
  /// As lock_shared(), giving up at `t`; returns whether the lock is held.
  template <class Clock, class Duration>
  bool try_lock_shared_until(const std::chrono::time_point<Clock, Duration>& t) {
    const auto d = detail::to_steady_deadline(t);
    return acquire(false, &d);
  }
  /// Releases one shared ownership; the last reader out lets a queued writer in.
  void unlock_shared() noexcept;

  /// Who holds it for writing: the fiber's (detail) record, a plain thread's token, or null. A
  /// snapshot for diagnostics; it may change at once.
  const void* writer() const noexcept { return __atomic_load_n(&writer_owner_, __ATOMIC_RELAXED); }
  /// How many readers hold it, and who the first ones are: copies up to kRecordedReaders reader
  /// tokens (as writer() gives them) into `out` and returns that count; `*unrecorded` gets the
  /// number of readers not among them (beyond the slots, or unknown after an unlock_shared() by a
  /// fiber or thread that was not recorded as a reader). A snapshot for diagnostics (dumps and the
  /// deadlock detector name the readers a writer waits for); it may change at once.
  static constexpr std::size_t kRecordedReaders = 4;
  /// See kRecordedReaders.
  std::size_t readers(const void* (&out)[kRecordedReaders], std::size_t* unrecorded) const noexcept;

 private:
  bool acquire(bool write, const detail::SyncClock::time_point* deadline);
  bool try_acquire_locked(bool write) noexcept;  // under lock_
  void dispatch(detail::WakeQueue& wq) noexcept;  // under lock_
  void record_reader(const void* token) noexcept;  // under lock_, after ++readers_
  void forget_reader(const void* token) noexcept;  // under lock_, before --readers_

  detail::SpinLock lock_;
  std::size_t readers_ = 0;  // readers holding the lock
  bool writer_ = false;      // a writer holds it
  // The writer's lock_owner_token() while writer_ (dumps and the deadlock detector name it).
  const void* writer_owner_ = nullptr;
  // Readers' tokens, for the same purpose. Invariant (under lock_): readers_ == the non-null
  // slots + unrecorded_readers_. Written under lock_, read racily by readers() (atomics, relaxed).
  const void* reader_owner_[kRecordedReaders] = {};
  std::size_t unrecorded_readers_ = 0;
  detail::WaitList queue_;   // FIFO of waiting readers and writers
};

}  // namespace weft

WEFT_API_END
