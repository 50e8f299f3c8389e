// Semaphore: a FIFO queue of requests under a spin lock; grants happen in dispatch().
//
// Invariants (under lock_): a request is granted only at the head of the queue, only if enough
// permits are free, and only to a waiter whose wake we won (so a cancelled or timed-out waiter is
// never charged). A waiter that leaves the queue while at its head re-runs dispatch(), because the
// requests behind it may be servable now (e.g. it wanted 5 of 3 free permits, the next wants 2).
#include <weft/semaphore.hpp>
#include <weft/coop.hpp>

#include <mutex>
#include <string>

namespace weft {

namespace {
// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
constexpr detail::WaitDesc kWaitSemaphore{"semaphore", detail::WaitDesc::Address};
}  // namespace

namespace {
struct SemNode : detail::WaitNode {
  std::size_t want = 0;
  bool granted = false;
};

[[noreturn]] void throw_closed(const char* op) {
  throw SemaphoreClosed(std::string("Semaphore::") + op +
                        ": the semaphore is closed (close() was called), so no permit will be granted; stop "
                        "acquiring, or check is_closed() before waiting");
}

void check_request(const char* op, std::size_t n) {
  if (n > Semaphore::kMaxPermits) {
    throw Error(std::string("Semaphore::") + op + ": asked for " + std::to_string(n) +
                " permits, more than Semaphore::kMaxPermits; no semaphore can ever grant that");
  }
}
}  // namespace

void Permit::release() noexcept {
  if (sem_ && n_) sem_->add_permits(n_);
  sem_ = nullptr;
  n_ = 0;
}

void OwnedPermit::release() noexcept {
  if (sem_ && n_) sem_->add_permits(n_);
  sem_.reset();
  n_ = 0;
}

Semaphore::Semaphore(std::size_t permits) : permits_(permits) {
  if (permits > kMaxPermits) {
    throw Error("Semaphore: " + std::to_string(permits) + " initial permits is more than Semaphore::kMaxPermits");
  }
}

void Semaphore::dispatch(detail::WakeQueue& wq) noexcept {
  while (!waiters_.empty()) {
    auto* n = static_cast<SemNode*>(waiters_.front());
    if (n->want > permits_) return;  // strict FIFO: nobody overtakes the head
    waiters_.pop_front();
    if (n->waiter->wake(detail::WakeReason::Notify, &wq)) {
      n->fired = true;
      n->granted = true;
      permits_ -= n->want;
    }
  }
}

bool Semaphore::try_take(std::size_t n) noexcept {
  std::lock_guard lk(lock_);
  if (closed_ || !waiters_.empty() || permits_ < n) return false;
  permits_ -= n;
  return true;
}

bool Semaphore::acquire_impl(std::size_t n, const detail::SyncClock::time_point* deadline, const char* op) {
  check_request(op, n);
  detail::coop_proceed();
  detail::Waiter w;
  w.note(kWaitSemaphore, this);
  w.cancel_point();
  SemNode node;
  node.waiter = &w;
  node.want = n;
  {
    std::lock_guard lk(lock_);
    if (closed_) throw_closed(op);
    if (waiters_.empty() && permits_ >= n) {
      permits_ -= n;
      return true;
    }
    if (deadline && detail::SyncClock::now() >= *deadline) return false;
    w.arm();
    waiters_.push_back(&node);
  }
  const detail::WakeReason r = w.block(deadline);
  {
    detail::WakeQueue wq;
    std::lock_guard lk(lock_);
    if (node.linked) {
      const bool was_head = waiters_.front() == &node;
      waiters_.remove(&node);
      if (was_head) dispatch(wq);
    }
  }
  if (node.granted) return true;
  if (r == detail::WakeReason::Notify) throw_closed(op);  // close() woke us without a grant
  if (r == detail::WakeReason::Timeout) return false;
  w.throw_cancelled();
}

Permit Semaphore::acquire_many(std::size_t n) {
  acquire_impl(n, nullptr, "acquire");
  return Permit(this, n);
}

std::optional<Permit> Semaphore::try_acquire_for(std::chrono::nanoseconds timeout, std::size_t n) {
  return try_acquire_until(detail::deadline_after(timeout), n);
}

std::optional<Permit> Semaphore::try_acquire_until(std::chrono::steady_clock::time_point deadline, std::size_t n) {
  if (!acquire_impl(n, &deadline, "try_acquire_until")) return std::nullopt;
  return Permit(this, n);
}

std::optional<Permit> Semaphore::try_acquire(std::size_t n) noexcept {
  if (!try_take(n)) return std::nullopt;
  return Permit(this, n);
}

std::shared_ptr<Semaphore> Semaphore::owner(const char* op) {
  std::shared_ptr<Semaphore> self = weak_from_this().lock();
  if (!self) {
    throw Error(std::string("Semaphore::") + op +
                ": this Semaphore is not owned by a std::shared_ptr; create it with "
                "std::make_shared<weft::Semaphore>(n) (an OwnedPermit keeps its semaphore alive), or use acquire()");
  }
  return self;
}

OwnedPermit Semaphore::acquire_owned(std::size_t n) {
  std::shared_ptr<Semaphore> self = owner("acquire_owned");
  acquire_impl(n, nullptr, "acquire_owned");
  return OwnedPermit(std::move(self), n);
}

std::optional<OwnedPermit> Semaphore::try_acquire_owned(std::size_t n) {
  std::shared_ptr<Semaphore> self = owner("try_acquire_owned");
  if (!try_take(n)) return std::nullopt;
  return OwnedPermit(std::move(self), n);
}

void Semaphore::add_permits(std::size_t n) noexcept {
  detail::WakeQueue wq;
  std::lock_guard lk(lock_);
  if (n > kMaxPermits - permits_) {
    // Only reachable by misuse (adding far more than was ever taken); keep the count saturated
    // rather than throw from a Permit destructor.
    permits_ = kMaxPermits;
  } else {
    permits_ += n;
  }
  dispatch(wq);
}

std::size_t Semaphore::available() const noexcept {
  std::lock_guard lk(lock_);
  return permits_;
}

std::size_t Semaphore::waiting() const noexcept {
  std::lock_guard lk(lock_);
  return waiters_.size();
}

void Semaphore::close() noexcept {
  detail::WakeQueue wq;
  std::lock_guard lk(lock_);
  closed_ = true;
  waiters_.wake_all(detail::WakeReason::Notify, wq);
}

bool Semaphore::is_closed() const noexcept {
  std::lock_guard lk(lock_);
  return closed_;
}

}  // namespace weft
