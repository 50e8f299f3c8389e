// CancellationToken: a shared cancel flag with children, callbacks, token scopes and waiters,
// plus the std::stop_token bridges (weft/cancellation_token.hpp, weft/stop_token.hpp).
#include <weft/cancellation_token.hpp>
#include <weft/detail/cancel_scope.hpp>
#include <weft/stop_token.hpp>

#include "sched/worker.hpp"
#include "sched/wait.hpp"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

namespace weft {
namespace detail {

// What a fiber waiting here shows in dumps (weft/detail/waiter.hpp).
constexpr WaitDesc kWaitToken{"CancellationToken::cancelled", WaitDesc::Address, WaitDesc::NoEdge, true};

// ------------------------------------------------------------------------- CancellationToken

struct TokenScopeReg {
  FiberBase* fiber;
  CancelScope* scope;
};

struct TokenWaiter {
  FiberBase* fiber = nullptr;  // null: a plain thread, woken through `done`
  std::uint64_t epoch = 0;
  std::atomic<bool> done{false};
};

struct TokenState {
  std::mutex mu;
  std::atomic<bool> cancelled{false};
  // Strong: a child token's registrations must fire on the parent's cancel even if nobody holds
  // the child token any more. Children that can no longer matter are pruned in child_token().
  std::vector<std::shared_ptr<TokenState>> children;
  std::vector<TokenScopeReg*> scopes;
  std::vector<TokenWaiter*> waiters;
  std::vector<AbortHandle> aborts;
  // weft/stop_token.hpp: CancelCallbacks (run after the lock is released, see run_callbacks), the
  // std::stop_source of to_stop_token (created on first use), and what cancel_on_stop attached
  // (its std::stop_callback: destroyed with the token, which unregisters it).
  std::vector<TokenCallbackNode*> callbacks;
  std::condition_variable callback_done;  // a destructor waits here for its callback (under mu)
  std::optional<std::stop_source> stop;
  std::vector<std::shared_ptr<void>> attachments;

  void cancel() noexcept {
    std::vector<std::shared_ptr<TokenState>> kids;
    std::vector<TokenCallbackNode*> cbs;
    std::optional<std::stop_source> src;
    {
      std::lock_guard lk(mu);
      if (cancelled.exchange(true)) return;
      for (TokenCallbackNode* c : callbacks) {
        c->taken = true;
        c->runner = std::this_thread::get_id();
      }
      cbs.swap(callbacks);
      src = stop;
      // Everything below is non-blocking, done under mu so registrations on fiber stacks cannot
      // go away meanwhile (they unregister under mu).
      for (TokenScopeReg* r : scopes) {
        r->scope->cancelled.store(true, std::memory_order_seq_cst);
        rec(r->fiber)->scope_cancels_.fetch_add(1, std::memory_order_seq_cst);
        // Interrupt the fiber's current wait only if that wait admitted this scope (begin_wait
        // armed it: not behind a shield, not being unwound through). Otherwise the fiber's next
        // wait, or park_switch's re-check, sees the flag.
        const std::uint64_t e = epoch_of(rec(r->fiber)->wait_word_.load(std::memory_order_seq_cst));
        if (r->scope->armed_epoch.load(std::memory_order_relaxed) == e) wake(r->fiber, e, WakeReason::ScopeCancel);
      }
      for (TokenWaiter* w : waiters) {
        if (w->fiber) {
          wake(w->fiber, w->epoch, WakeReason::Notify);
        } else {
          w->done.store(true, std::memory_order_release);
          w->done.notify_all();
        }
      }
      waiters.clear();
      for (AbortHandle& a : aborts) a.abort();
      aborts.clear();
      kids.swap(children);
    }
    // User code runs without mu held: a callback may use this token (or others) freely.
    run_callbacks(cbs);
    if (src) src->request_stop();
    for (auto& k : kids) k->cancel();
  }

  void run_callbacks(const std::vector<TokenCallbackNode*>& cbs) noexcept {
    for (TokenCallbackNode* c : cbs) {
      bool destroyed = false;
      {
        std::lock_guard lk(mu);
        c->destroyed = &destroyed;
      }
      c->invoke();
      {
        std::lock_guard lk(mu);
        if (destroyed) continue;  // its own invoke() destroyed it: `c` is gone
        c->destroyed = nullptr;
        c->done = true;
      }
      callback_done.notify_all();
    }
  }
};

bool token_add_callback(TokenState& t, TokenCallbackNode* n) {
  std::lock_guard lk(t.mu);
  if (t.cancelled.load()) return false;
  t.callbacks.push_back(n);
  return true;
}

void token_remove_callback(TokenState& t, TokenCallbackNode* n) noexcept {
  std::unique_lock lk(t.mu);
  if (!n->taken) {
    std::erase(t.callbacks, n);
    return;
  }
  if (n->done) return;
  if (n->runner == std::this_thread::get_id()) {
    // Destroyed from inside its own callback (a callback may not suspend, so nothing else on this
    // thread can be in the middle of running it): tell cancel() not to touch it again.
    if (n->destroyed) *n->destroyed = true;
    return;
  }
  // Running (or about to run) on another thread: the callback may use what our owner is about to
  // destroy, so wait until it returned. Callbacks are short and never suspend.
  t.callback_done.wait(lk, [n] { return n->done; });
}

bool token_register_scope(TokenState& t, FiberBase* f, CancelScope& s, TokenScopeReg*& reg) {
  std::lock_guard lk(t.mu);
  if (t.cancelled.load()) return false;
  reg = new TokenScopeReg{f, &s};
  t.scopes.push_back(reg);
  return true;
}

void token_unregister_scope(TokenState& t, FiberBase* f, CancelScope& s, TokenScopeReg* reg) noexcept {
  if (!reg) return;
  std::lock_guard lk(t.mu);
  std::erase(t.scopes, reg);
  delete reg;
  if (s.cancelled.load(std::memory_order_acquire)) rec(f)->scope_cancels_.fetch_sub(1, std::memory_order_acq_rel);
}

}  // namespace detail

CancellationToken::CancellationToken() : s_(std::make_shared<detail::TokenState>()) {}

CancellationToken CancellationToken::child_token() const {
  auto child = std::make_shared<detail::TokenState>();
  {
    std::lock_guard lk(s_->mu);
    if (!s_->cancelled.load()) {
      // Prune children nobody else holds that have nothing registered: cancelling them is a no-op.
      std::erase_if(s_->children, [](const std::shared_ptr<detail::TokenState>& c) {
        if (c.use_count() != 1) return false;
        std::lock_guard ck(c->mu);
        return c->scopes.empty() && c->waiters.empty() && c->aborts.empty() && c->children.empty() &&
               c->callbacks.empty() && !c->stop;  // a stop_token handed out must still see the stop
      });
      s_->children.push_back(child);
      return CancellationToken(child);
    }
  }
  child->cancel();
  return CancellationToken(child);
}

void CancellationToken::cancel() const noexcept { s_->cancel(); }

std::stop_token to_stop_token(const CancellationToken& token) {
  detail::TokenState& t = *detail::TokenAccess::state(token);
  std::stop_source src;
  bool already = false;
  {
    std::lock_guard lk(t.mu);
    if (!t.stop) t.stop.emplace();
    src = *t.stop;
    already = t.cancelled.load();
  }
  // cancel() requests stop after it published `cancelled`; a source made after that is caught
  // here. request_stop is idempotent, so both paths firing is harmless.
  if (already) src.request_stop();
  return src.get_token();
}

namespace {
// The std::stop_callback's function: weak, so the token's state (which owns the stop_callback)
// is not kept alive by it — a strong reference would be a cycle that never frees.
struct CancelWeak {
  std::weak_ptr<detail::TokenState> w;
  void operator()() const noexcept {
    if (auto s = w.lock()) s->cancel();
  }
};
}  // namespace

CancellationToken cancel_on_stop(std::stop_token st) {
  auto s = std::make_shared<detail::TokenState>();
  // May run CancelWeak at once (stop already requested): then the token is cancelled on return.
  auto cb = std::make_shared<std::stop_callback<CancelWeak>>(std::move(st), CancelWeak{s});
  {
    std::lock_guard lk(s->mu);
    s->attachments.push_back(std::move(cb));
  }
  return detail::TokenAccess::make(std::move(s));
}

bool CancellationToken::is_cancelled() const noexcept { return s_->cancelled.load(std::memory_order_acquire); }

void CancellationToken::abort_on_cancel(AbortHandle h) const {
  {
    std::lock_guard lk(s_->mu);
    if (!s_->cancelled.load()) {
      s_->aborts.push_back(std::move(h));
      return;
    }
  }
  h.abort();
}

void CancellationToken::cancelled() const {
  detail::FiberBase* self = detail::current_fiber();
  detail::TokenWaiter w;
  w.fiber = self;
  if (self) detail::check_cancel_point(self);
  for (;;) {
    if (self) {
      w.epoch = detail::begin_wait(self);
      note_wait(self, detail::kWaitToken, reinterpret_cast<std::uintptr_t>(s_.get()));
    }
    {
      std::lock_guard lk(s_->mu);
      if (s_->cancelled.load()) return;
      s_->waiters.push_back(&w);
    }
    if (!self) {
      w.done.wait(false, std::memory_order_acquire);
      std::lock_guard lk(s_->mu);  // cancel() is done with `w`
      return;
    }
    const detail::WakeReason r = detail::park(self, w.epoch);
    {
      std::lock_guard lk(s_->mu);
      std::erase(s_->waiters, &w);
    }
    if (r == detail::WakeReason::Cancel) detail::throw_cancelled(self);  // the caller's own cancellation wins
    if (s_->cancelled.load()) return;
  }
}

}  // namespace weft
