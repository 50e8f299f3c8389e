// RwLock: holder counts and a FIFO of requests under a spin lock; grants hand ownership over
// directly (the woken waiter already holds the lock when it runs).
//
// Invariants (under lock_): writer_ implies readers_ == 0. A queued request exists only while it
// could not be granted at once. dispatch() serves the queue head while it fits: a writer when
// nobody holds the lock; readers while no writer holds it (stopping at the next queued writer).
//
// Who reads: the first kRecordedReaders readers' tokens sit in reader_owner_ (the rest are
// counted in unrecorded_readers_), so a dump can say which fibers a waiting writer waits for.
// readers_ == recorded slots + unrecorded_readers_. An unlock_shared() whose caller holds no slot
// (a reader beyond the slots, or an unlock by another fiber than the one that locked) takes one
// from unrecorded_readers_ if there is one; otherwise the record no longer says who holds what,
// so it is dropped (every reader becomes unrecorded): a dump then names no reader rather than a
// wrong one. Costs a scan of four slots under the lock already held.
#include <weft/rwlock.hpp>
#include <weft/coop.hpp>

#include <mutex>

namespace weft {

namespace {
// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
constexpr detail::WaitDesc kWaitRwLock{"rwlock", detail::WaitDesc::Address, detail::WaitDesc::RwLockHolders};
}  // namespace

namespace {
// unrecorded_readers_ changes under the lock but is read without it (RwLock::readers): atomic stores.
void bump_unrecorded(std::size_t& n, int by) noexcept {
  __atomic_store_n(&n, by > 0 ? n + 1 : n - 1, __ATOMIC_RELAXED);
}

struct RwNode : detail::WaitNode {
  bool write = false;
  bool granted = false;
};
}  // namespace

bool RwLock::try_acquire_locked(bool write) noexcept {
  if (!queue_.empty() || writer_) return false;
  if (write) {
    if (readers_ != 0) return false;
    writer_ = true;
    __atomic_store_n(&writer_owner_, detail::lock_owner_token(), __ATOMIC_RELAXED);
  } else {
    ++readers_;
    record_reader(detail::lock_owner_token());
  }
  return true;
}

void RwLock::record_reader(const void* token) noexcept {
  for (const void*& slot : reader_owner_) {
    if (!slot) {
      __atomic_store_n(&slot, token, __ATOMIC_RELAXED);
      return;
    }
  }
  bump_unrecorded(unrecorded_readers_, +1);
}

void RwLock::forget_reader(const void* token) noexcept {
  for (const void*& slot : reader_owner_) {
    if (slot == token) {
      __atomic_store_n(&slot, nullptr, __ATOMIC_RELAXED);
      return;
    }
  }
  if (unrecorded_readers_ > 0) {
    bump_unrecorded(unrecorded_readers_, -1);
    return;
  }
  for (const void*& slot : reader_owner_) {  // an unlock by a non-reader: the record is unreliable
    if (slot) {
      __atomic_store_n(&slot, nullptr, __ATOMIC_RELAXED);
      bump_unrecorded(unrecorded_readers_, +1);
    }
  }
  bump_unrecorded(unrecorded_readers_, -1);  // the reader that left (readers_ > 0, so the slots held at least one)
}

std::size_t RwLock::readers(const void* (&out)[kRecordedReaders], std::size_t* unrecorded) const noexcept {
  std::size_t n = 0;
  for (const void* const& slot : reader_owner_) {
    if (const void* t = __atomic_load_n(&slot, __ATOMIC_RELAXED)) out[n++] = t;
  }
  if (unrecorded) *unrecorded = __atomic_load_n(&unrecorded_readers_, __ATOMIC_RELAXED);
  return n;
}

void RwLock::dispatch(detail::WakeQueue& wq) noexcept {
  while (!queue_.empty()) {
    auto* n = static_cast<RwNode*>(queue_.front());
    if (writer_ || (n->write && readers_ != 0)) return;
    queue_.pop_front();
    if (!n->waiter->wake(detail::WakeReason::Notify, &wq)) continue;  // it left; serve the next
    n->fired = true;
    n->granted = true;
    if (n->write) {
      writer_ = true;
      __atomic_store_n(&writer_owner_, n->waiter->identity(), __ATOMIC_RELAXED);
      return;
    }
    ++readers_;
    record_reader(n->waiter->identity());
  }
}

bool RwLock::try_lock() noexcept {
  std::lock_guard lk(lock_);
  return try_acquire_locked(true);
}

bool RwLock::try_lock_shared() noexcept {
  std::lock_guard lk(lock_);
  return try_acquire_locked(false);
}

bool RwLock::acquire(bool write, const detail::SyncClock::time_point* deadline) {
  detail::coop_proceed();
  detail::Waiter w;
  w.note(kWaitRwLock, this);
  w.cancel_point();
  RwNode node;
  node.waiter = &w;
  node.write = write;
  {
    std::lock_guard lk(lock_);
    if (try_acquire_locked(write)) return true;
    if (deadline && detail::SyncClock::now() >= *deadline) return false;
    w.arm();
    queue_.push_back(&node);
  }
  const detail::WakeReason r = w.block(deadline);
  {
    detail::WakeQueue wq;
    std::lock_guard lk(lock_);
    if (node.linked) {
      queue_.remove(&node);
      dispatch(wq);  // we may have been what blocked the requests behind us
    }
  }
  if (node.granted) return true;
  if (r == detail::WakeReason::Timeout) return false;
  w.throw_cancelled();  // Cancel (a wake without a grant does not happen here)
}

void RwLock::unlock() noexcept {
  detail::WakeQueue wq;
  std::lock_guard lk(lock_);
  writer_ = false;
  __atomic_store_n(&writer_owner_, nullptr, __ATOMIC_RELAXED);
  dispatch(wq);
}

void RwLock::unlock_shared() noexcept {
  detail::WakeQueue wq;
  const void* me = detail::lock_owner_token();
  std::lock_guard lk(lock_);
  forget_reader(me);
  if (--readers_ == 0) dispatch(wq);
}

}  // namespace weft
