/// @file
/// weft/semaphore.hpp — a counting semaphore with RAII permits; FIFO; closable.
///
/// @verbatim
///   // Bounded spawn: at most 100 items in flight. The owned permit moves into the fiber and is
///   // released when that fiber finishes (or unwinds).
///   auto sem = std::make_shared<weft::Semaphore>(100);
///   for (int item = 0; item < 10'000; ++item) {
///     weft::OwnedPermit permit = sem->acquire_owned();     // suspends while 100 are in flight
///     weft::spawn([permit = std::move(permit), item] { process(item); }).detach();
///   }
///
///   weft::Semaphore pool(4);
///   {
///     weft::Permit p = pool.acquire();                     // released at the end of the scope
///     use_connection();
///   }
///   if (std::optional<weft::Permit> p = pool.try_acquire()) { /* got one without waiting */ }
///
/// Fairness: strict FIFO. A waiter for n permits at the head of the queue blocks those behind it
/// even if fewer would do, so acquire_many(n) is never starved by a stream of small acquires.
/// Cancel-safety: an acquire that throws weft::Cancelled (or times out) holds no permit and passes
/// permits it was about to be granted on to the waiters behind it. close() makes every waiting and
/// future acquire throw weft::SemaphoreClosed. Works from plain threads too (they block).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/chrono.hpp>
#include <weft/detail/waiter.hpp>
#include <weft/error.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

WEFT_API_BEGIN

namespace weft {

/// Thrown by acquire on a closed semaphore.
class SemaphoreClosed : public Error {
 public:
  using Error::Error;
};

class Semaphore;

/// Holds `count()` permits of a Semaphore and gives them back when destroyed. Move-only. The
/// semaphore must outlive it (use OwnedPermit to hand permits to other fibers).
class Permit {
 public:
  Permit() = default;
  /// Takes over `o`'s permits; `o` holds none.
  Permit(Permit&& o) noexcept : sem_(std::exchange(o.sem_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  /// Gives back the permits held, then takes over `o`'s.
  Permit& operator=(Permit&& o) noexcept {
    if (this != &o) {
      release();
      sem_ = std::exchange(o.sem_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  ~Permit() { release(); }
  /// The permits held.
  std::size_t count() const noexcept { return n_; }
  /// Gives the permits back now.
  void release() noexcept;
  /// Drops the permits without giving them back (the semaphore shrinks by count()).
  void forget() noexcept {
    sem_ = nullptr;
    n_ = 0;
  }

 private:
  friend class Semaphore;
  Permit(Semaphore* s, std::size_t n) noexcept : sem_(s), n_(n) {}
  Semaphore* sem_ = nullptr;
  std::size_t n_ = 0;
};

/// A Permit that also keeps its semaphore alive: move it into a spawned fiber.
class OwnedPermit {
 public:
  OwnedPermit() = default;
  /// Takes over the other's permits; the other holds none.
  OwnedPermit(OwnedPermit&&) noexcept = default;
  /// Gives back the permits held, then takes over `o`'s.
  OwnedPermit& operator=(OwnedPermit&& o) noexcept {
    if (this != &o) {
      release();
      sem_ = std::move(o.sem_);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  ~OwnedPermit() { release(); }
  /// The permits held.
  std::size_t count() const noexcept { return n_; }
  /// Gives the permits back now.
  void release() noexcept;
  /// Drops the permits without giving them back (the semaphore shrinks by count()).
  void forget() noexcept {
    sem_.reset();
    n_ = 0;
  }
  /// The semaphore the permits came from (null when none are held).
  const std::shared_ptr<Semaphore>& semaphore() const noexcept { return sem_; }

 private:
  friend class Semaphore;
  OwnedPermit(std::shared_ptr<Semaphore> s, std::size_t n) noexcept : sem_(std::move(s)), n_(n) {}
  std::shared_ptr<Semaphore> sem_;
  std::size_t n_ = 0;
};

/// A counting semaphore that suspends fibers; FIFO, so a large request is not starved by small
/// ones (see weft/semaphore.hpp).
class Semaphore : public std::enable_shared_from_this<Semaphore> {
 public:
  /// More than this many permits (in total, or in one request) is a weft::Error.
  static constexpr std::size_t kMaxPermits = ~std::size_t{0} >> 2;

  /// Starts with `permits` free permits (at most kMaxPermits).
  explicit Semaphore(std::size_t permits);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  /// Destroying a semaphore that still has waiters, or outstanding (non-owned) Permits, is
  /// undefined.
  ~Semaphore() = default;

  /// Suspends until a permit (n permits) is granted. Throws weft::Cancelled (then holds nothing) or
  /// weft::SemaphoreClosed.
  Permit acquire() { return acquire_many(1); }
  /// As acquire(), for `n` permits at once (granted together, in FIFO order).
  Permit acquire_many(std::size_t n);
  /// As above, giving up at the deadline (std::nullopt).
  std::optional<Permit> try_acquire_for(std::chrono::nanoseconds timeout, std::size_t n = 1);
  /// As acquire_many(n), giving up at `deadline` (std::nullopt).
  std::optional<Permit> try_acquire_until(std::chrono::steady_clock::time_point deadline, std::size_t n = 1);
  /// Any duration (rounded up) and a time point of any clock (weft/detail/chrono.hpp).
  template <class Rep, class Period>
  std::optional<Permit> try_acquire_for(std::chrono::duration<Rep, Period> timeout, std::size_t n = 1) {
    return try_acquire_for(detail::ceil_nanos(timeout), n);
  }
  /// As above, for a time point of any clock.
  template <class Clock, class Duration>
  std::optional<Permit> try_acquire_until(std::chrono::time_point<Clock, Duration> deadline, std::size_t n = 1) {
    return try_acquire_until(detail::to_steady_deadline(deadline), n);
  }
  /// Takes permits only if they are available now and nobody is queued ahead (never suspends,
  /// never throws; std::nullopt also when closed — check is_closed()).
  std::optional<Permit> try_acquire(std::size_t n = 1) noexcept;

  /// Owned forms: the semaphore must be owned by a std::shared_ptr (std::make_shared), which each
  /// OwnedPermit keeps alive.
  OwnedPermit acquire_owned(std::size_t n = 1);
  /// As try_acquire(), giving an OwnedPermit.
  std::optional<OwnedPermit> try_acquire_owned(std::size_t n = 1);

  /// Adds permits (wakes waiters that can now be served, in FIFO order).
  void add_permits(std::size_t n) noexcept;
  /// Permits free right now.
  std::size_t available() const noexcept;
  /// Acquire requests queued right now (a snapshot, for diagnostics and tests).
  std::size_t waiting() const noexcept;
  /// Every waiting acquire and every later one throws weft::SemaphoreClosed; permits still held
  /// can be released as usual. Idempotent.
  void close() noexcept;
  /// Whether close() was called.
  bool is_closed() const noexcept;

 private:
  friend class Permit;
  friend class OwnedPermit;
  // Waits for n permits; false on timeout.
  bool acquire_impl(std::size_t n, const detail::SyncClock::time_point* deadline, const char* op);
  bool try_take(std::size_t n) noexcept;
  void dispatch(detail::WakeQueue& wq) noexcept;  // under lock_
  std::shared_ptr<Semaphore> owner(const char* op);

  mutable detail::SpinLock lock_;
  std::size_t permits_;
  bool closed_ = false;
  detail::WaitList waiters_;  // FIFO of requests
};

}  // namespace weft

WEFT_API_END
