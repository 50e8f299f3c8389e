// weft/detail/fiber.hpp — the fiber control block. Internal: users never name these types.
//
// The control block is a small heap object (one allocation per spawn from the control-block pool,
// lib/fiber/block_pool.cpp, holding the closure and the result slot). The fiber's *stack* is taken from the running worker's cache when the fiber first
// runs and is returned the moment it finishes, so a finished-but-unjoined fiber costs ~200 bytes,
// not a stack (doc/design.md §3 prefers the block on the stack; spawn_join showed why not: keeping
// 100k finished stacks alive until join means 100k cold stacks and page faults).
#pragma once

#include <weft/detail/config.hpp>
#include <weft/clock.hpp>
#include <weft/detail/cpu_relax.hpp>
#include <weft/error.hpp>
#include <weft/result.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <source_location>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>

WEFT_API_BEGIN

namespace weft::detail {

class FiberBase;
WEFT_INTERNAL_BEGIN  // defined in lib/: keep hidden (see weft/detail/config.hpp)
class Worker;
class Scheduler;
class LocalSetCore;
WEFT_INTERNAL_END

// Who waits for a fiber to finish (JoinHandle::join, a JoinSet). At most one per fiber, stored in
// its joiner_. notify() is called once, on the worker where the fiber finished, under the fiber's
// join_lock_ — so a waiter that takes that lock afterwards knows the notifier is done with it.
struct JoinWaiter {
  virtual void notify(FiberBase* finished) noexcept = 0;

 protected:
  ~JoinWaiter() = default;
};

// A cancellation scope on a fiber's stack (timeout, run_until_cancelled). Scopes nest; the fiber
// keeps a list of the active ones, innermost first. A scope is cancelled when its deadline passes
// or when `cancelled` is set from another thread (a CancellationToken); the fiber then throws
// Cancelled tagged with the scope's id, and only that scope catches it.
//
// Which scopes may interrupt a wait (Trio's rule, lib/sched/cancel_delivery.cpp): a scope entered
// inside a shield still cancels the code inside it; a shield holds off only the scopes outside
// it (and the fiber's own abort/shutdown). Likewise a scope entered while unwinding or inside a
// catch block (a bounded cleanup in a destructor) fires for the code inside it, while the scopes
// being unwound through do not. So each scope records the shield depth and the exception state it
// was entered in, and is deliverable only while both are unchanged.
struct CancelScope {
  CancelScope* parent = nullptr;
  std::uint64_t id = 0;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::atomic<bool> cancelled{false};
  Cancelled::Reason reason = Cancelled::Reason::Timeout;
  // Entry state (fiber only; set by enter_scope).
  std::uint32_t shield_depth = 0;
  unsigned eh_uncaught = 0;
  void* eh_caught = nullptr;
  // The epoch of the fiber's current wait if this scope may cancel that wait, else older. Written
  // by the fiber in begin_wait before it publishes the wait; read by a token cancelling the scope.
  std::atomic<std::uint64_t> armed_epoch{0};
};

// now + d, saturating: a huge `d` ("forever") must not overflow into the past.
template <class Rep, class Period>
std::chrono::steady_clock::time_point deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
  using Clock = weft::Clock;  // virtual in a simulation
  const Clock::time_point now = Clock::now();
  if (d <= d.zero()) return now;
  using Dur = std::chrono::duration<long double>;
  if (Dur(d) >= Dur(Clock::time_point::max() - now)) return Clock::time_point::max();
  return now + std::chrono::ceil<Clock::duration>(d);
}

// A tiny test-and-test-and-set lock for short critical sections that never suspend.
class SpinLock {
 public:
  void lock() noexcept {
    while (flag_.exchange(true, std::memory_order_acquire)) {
      while (flag_.load(std::memory_order_relaxed)) cpu_relax();
    }
  }
  bool try_lock() noexcept { return !flag_.exchange(true, std::memory_order_acquire); }
  void unlock() noexcept { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

// Why a parked fiber was woken (stored in its wait word by the waker that won).
// ScopeCancel is only ever *passed* to wake(): a cancel scope (deadline or token) interrupting the
// wait; the waiter reads it as Cancel. The wait word says which of the two a wait accepts.
enum class WakeReason : std::uint8_t { None = 0, Notify = 1, Timeout = 2, Cancel = 3, Ready = 4, ScopeCancel = 5 };

struct Stack {
  char* lo = nullptr;        // lowest usable byte (the guard page, if any, is just below)
  std::size_t size = 0;      // usable bytes
  bool guarded = false;      // a PROT_NONE page sits below lo
  void* tsan_fiber = nullptr;  // TSan builds: this stack's TSan context, created once, kept
  char* hi() const noexcept { return lo + size; }
};

enum class FiberState : std::uint8_t { Created, Runnable, Running, Suspended, Finished };

// Memory for control blocks (lib/fiber/block_pool.cpp): per-thread free lists of size classes that
// are never handed back to the kernel, so bursts of spawns reuse warm memory.
void* fiber_block_alloc(std::size_t size);
void fiber_block_free(void* p, std::size_t size) noexcept;

// A standard allocator over the same pool, for small shared objects that come and go with fibers
// (a oneshot channel's state: std::allocate_shared<T>(BlockAllocator<T>{})).
template <class T>
struct BlockAllocator {
  using value_type = T;
  BlockAllocator() = default;
  template <class U>
  BlockAllocator(const BlockAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if constexpr (alignof(T) > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
      return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(alignof(T))));
    } else {
      return static_cast<T*>(fiber_block_alloc(n * sizeof(T)));
    }
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if constexpr (alignof(T) > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
      ::operator delete(p, std::align_val_t(alignof(T)));  // unsized: see FiberBase's delete
    } else {
      fiber_block_free(p, n * sizeof(T));
    }
  }
  template <class U>
  bool operator==(const BlockAllocator<U>&) const noexcept { return true; }
};

// What a suspended fiber waits on, for dumps and tools: a static description plus how to read the
// one argument the suspension point stores next to it (FiberBase::wait_arg_). Setting it costs two
// stores at the suspension point; the constants below have one address program-wide.
struct WaitDesc {
  enum Arg : std::uint8_t { None, Deadline, Fiber, Address, Fd, Count };
  const char* what;
  Arg arg;
};
inline constexpr WaitDesc kWaitSleep{"sleep", WaitDesc::Deadline};        // steady_clock ns
inline constexpr WaitDesc kWaitFdReadable{"fd readable", WaitDesc::Fd};
inline constexpr WaitDesc kWaitFdWritable{"fd writable", WaitDesc::Fd};
inline constexpr WaitDesc kWaitJoin{"joining fiber", WaitDesc::Fiber};
inline constexpr WaitDesc kWaitJoinSet{"JoinSet::join_next", WaitDesc::Address};
inline constexpr WaitDesc kWaitLocalSet{"LocalSet close", WaitDesc::Address};
inline constexpr WaitDesc kWaitToken{"CancellationToken::cancelled", WaitDesc::Address};
inline constexpr WaitDesc kWaitMutex{"mutex", WaitDesc::Address};
inline constexpr WaitDesc kWaitRwLock{"rwlock", WaitDesc::Address};
inline constexpr WaitDesc kWaitCondVar{"condvar", WaitDesc::Address};
inline constexpr WaitDesc kWaitSemaphore{"semaphore", WaitDesc::Address};
inline constexpr WaitDesc kWaitBarrier{"barrier", WaitDesc::Address};
inline constexpr WaitDesc kWaitWaitGroup{"wait group", WaitDesc::Address};
inline constexpr WaitDesc kWaitOnceCell{"once cell", WaitDesc::Address};
inline constexpr WaitDesc kWaitChannelRecv{"channel recv", WaitDesc::Address};
inline constexpr WaitDesc kWaitChannelSend{"channel send", WaitDesc::Address};
inline constexpr WaitDesc kWaitOneshotRecv{"oneshot recv", WaitDesc::Address};
inline constexpr WaitDesc kWaitBroadcastRecv{"broadcast recv", WaitDesc::Address};
inline constexpr WaitDesc kWaitWatchChanged{"watch changed", WaitDesc::Address};
inline constexpr WaitDesc kWaitNotify{"notify", WaitDesc::Address};
inline constexpr WaitDesc kWaitSelect{"select over", WaitDesc::Count};           // number of operations
inline constexpr WaitDesc kWaitSignal{"SignalStream::recv", WaitDesc::Address};

class FiberBase {
 public:
  FiberBase() = default;
  FiberBase(const FiberBase&) = delete;
  FiberBase& operator=(const FiberBase&) = delete;

  // Runs the user's function, stores the result or the panic. Called once, on the fiber's stack.
  virtual void invoke() noexcept = 0;
  // Called by request_cancel (any thread, possibly many times, possibly after the fiber finished)
  // after the request is recorded. A fiber whose function takes a std::stop_token requests stop
  // here. A virtual rather than a field: every byte of the control block counts for idle fibers,
  // and on_cancel_ below is already spawn_blocking's.
  virtual void cancel_hook() noexcept {}
  virtual ~FiberBase() = default;

  // Every Task<T, F> is allocated here (the sized delete gets the most-derived size through the
  // virtual destructor). Over-aligned closures bypass the pool.
  static void* operator new(std::size_t size) { return fiber_block_alloc(size); }
  static void operator delete(void* p, std::size_t size) noexcept { fiber_block_free(p, size); }
  static void* operator new(std::size_t size, std::align_val_t a) { return ::operator new(size, a); }
  // The unsized global delete: the sized one needs -fsized-deallocation under clang, and headers
  // must compile with the user's flags.
  static void operator delete(void* p, std::size_t, std::align_val_t a) noexcept {
    ::operator delete(p, a);
  }

  // Records what the fiber is about to wait on (call on the running fiber, before it parks).
  void note_wait(const WaitDesc& d, std::uint64_t arg) noexcept {
    wait_what_ = &d;
    wait_arg_ = arg;
  }

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }
  bool finished() const noexcept { return done_.load(std::memory_order_acquire); }
  bool cancel_requested() const noexcept { return cancel_.load(std::memory_order_acquire) != 0; }

  // ---- identity (immutable after spawn)
  std::uint64_t id_ = 0;
  std::string name_;
  std::source_location spawn_site_;
  std::size_t stack_size_ = 0;       // requested; 0 = runtime default
  Scheduler* sched_ = nullptr;

  // ---- scheduling. wait_word_ = epoch << 8 | reason << 4 | cancellable << 3 | state (see
  // lib/sched/wait.cpp). Wakers on any thread race on it with CAS; exactly one wins per wait.
  std::atomic<std::uint64_t> wait_word_{0};
  FiberBase* next_ = nullptr;        // intrusive link: owned by whichever queue holds the fiber
  FiberBase* reg_prev_ = nullptr;    // registry links (guarded by the registry shard lock)
  FiberBase* reg_next_ = nullptr;
  FiberBase* set_prev_ = nullptr;    // JoinSet membership links (owner of the set only)
  FiberBase* set_next_ = nullptr;
  void* ctx_ = nullptr;              // saved fcontext while not running
  Worker* worker_ = nullptr;         // the worker running it now (set on every resume)
  Worker* pinned_ = nullptr;         // must next run on this worker (it owns our watchers)
  Worker* home_ = nullptr;           // spawn_local: never leaves this worker
  Stack stack_{};
  std::uint8_t reg_shard_ = 0;
  std::atomic<FiberState> state_{FiberState::Created};

  // ---- cancellation and panics
  // (Fields here and below are ordered so that the small ones fill alignment holes: every byte of
  // the control block counts for idle fibers, doc/bench.md idle_memory.)
  // 0 = not requested, else 1 + Cancelled::Reason of the first request (first cause kept).
  std::atomic<std::uint8_t> cancel_{0};
  bool panic_observed_ = false;      // take_result() handed the panic to someone
  std::uint32_t shield_depth_ = 0;   // only touched by the fiber itself
  CancelScope* scopes_ = nullptr;    // innermost active scope (fiber only)
  std::uint64_t scope_seq_ = 0;      // ids of this fiber's scopes (fiber only)
  // The earliest deadline among the scopes that may cancel the current wait (set by begin_wait,
  // fiber only); max when none. A wait's timer serves it (lib/sched/timed_wait.cpp).
  std::chrono::steady_clock::time_point wait_deadline_ = std::chrono::steady_clock::time_point::max();
  // Number of active scopes cancelled from outside (tokens): makes the fast check one load.
  std::atomic<std::uint32_t> scope_cancels_{0};
  bool cancel_delivered_ = false;    // a fiber-level Cancelled was thrown in it (fiber only)
  bool cleanup_child_ = false;       // spawned during shutdown by a fiber cleaning up (see spawn)
  bool local_ = false;               // spawned by spawn_local (member of local_set_ for life)
  bool abort_on_panic_ = false;      // the runtime's PanicPolicy::Abort, copied at spawn
  std::uint8_t coop_off_ = 0;        // CoopUnconstrained depth (weft/coop.hpp; fiber only)
  LocalSetCore* local_set_ = nullptr; // the LocalSet this fiber belongs to (spawn_local)
  // weft::FiberLocal values (lib/sched/fiber_local.cpp), created on first use; only the fiber
  // itself touches them. Destroyed right after invoke() returns, on the fiber (fiber_entry.cpp).
  void* locals_ = nullptr;
  // Called by request_cancel (any thread) after the request is recorded; set before the task is
  // published, never changed. spawn_blocking uses it to take a queued task out of the pool's queue.
  void (*on_cancel_)(FiberBase*) noexcept = nullptr;
  // The runtime's "shutting down" flag: once set, every suspension point of a fiber that is not a
  // cleanup child throws, even before the shutdown sweep reached this fiber.
  const std::atomic<bool>* shutdown_flag_ = nullptr;

  // ---- sanitizer bookkeeping (lib/fiber/switch.cpp)
  void* asan_fake_stack_ = nullptr;

  // ---- per-fiber C++ exception state (libstdc++ __cxa_eh_globals), swapped on every switch so
  // std::uncaught_exceptions() and catch blocks stay correct when the fiber migrates.
  void* eh_caught_ = nullptr;
  unsigned eh_uncaught_ = 0;

  // ---- observability (lib/introspect/; read by dumps and tools while the fiber runs elsewhere)
  // What the fiber waits on while Suspended: a static string ("sleep until", "mutex", ...) and one
  // argument (a deadline in ns, a fiber id, an address, an fd). Written by the fiber itself just
  // before it parks, cleared by the worker when it resumes it; readers only trust it while the
  // state is Suspended.
  const WaitDesc* wait_what_ = nullptr;
  std::uint64_t wait_arg_ = 0;
  // Times resumed. Written by the worker that resumes it (one at a time, a plain increment: this
  // is on the yield path), read by others with __atomic_load_n; also the sequence number that
  // tells a dump walking this fiber's saved stack that it ran meanwhile.
  std::uint64_t runs_ = 0;
  // Spawn time, ms resolution: the spawning worker's cached coarse clock (refreshed every few
  // dozen runs and at every park), so it may read early by the spawning fiber's current slice.
  std::uint64_t created_ns_ = 0;
  // Only maintained while fiber timing or tracing is on (weft::set_fiber_timing): they cost two
  // clock reads per run, which is more than a whole yield on some VMs.
  // When it last became runnable. Atomic (relaxed): a waker may stamp it while the fiber, woken
  // before it finished switching out, is already being resumed elsewhere.
  std::atomic<std::uint64_t> runnable_since_ns_{0};
  std::uint64_t run_ns_ = 0;             // total time running
  std::uint64_t max_slice_ns_ = 0;       // longest single run
  std::uint64_t delay_ns_ = 0;           // total scheduling delay (runnable -> running)
  std::uint64_t max_delay_ns_ = 0;
  std::uint64_t timed_runs_ = 0;         // runs that were timed (denominator of the above)

  // ---- completion. join_lock_ guards joiner_ and the done_ transition.
  SpinLock join_lock_;
  std::atomic<bool> done_{false};
  bool cancelled_ = false;           // finished by Cancelled
  std::atomic<std::uint32_t> refs_{1};
  JoinWaiter* joiner_ = nullptr;
  std::exception_ptr panic_;         // finished by another exception

 private:
  // Reports a panic nobody observed (the handle was dropped), per the runtime's panic policy.
  void destroy() noexcept;
};

JoinError make_join_error(const FiberBase& f);
// Destroys a finished fiber's FiberLocal values (call only when f->locals_ is set).
void destroy_fiber_locals(FiberBase* f) noexcept;

// The part of a task that knows its result type but not its function (what JoinHandle<T> holds).
template <class T>
class TaskOf : public FiberBase {
 public:
  Result<T> take_result() {
    if (cancelled_ || panic_) {
      panic_observed_ = true;
      return Result<T>(make_join_error(*this));
    }
    return Result<T>(std::move(*value_));
  }

 protected:
  std::optional<T> value_;
};

template <>
class TaskOf<void> : public FiberBase {
 public:
  Result<void> take_result() {
    if (cancelled_ || panic_) {
      panic_observed_ = true;
      return Result<void>(make_join_error(*this));
    }
    return Result<void>();
  }
};

// spawn(f) where f takes a std::stop_token, like std::jthread: f is called as f(token), and the
// token's stop is requested when the fiber is cancelled. Chosen only when f cannot be called
// without arguments, so a callable that could take either (`[](auto...) {}`) is called without,
// as it was before this existed (std::jthread would pass the token there).
template <class F>
inline constexpr bool takes_stop_token_v = !std::is_invocable_v<F&> && std::is_invocable_v<F&, std::stop_token>;

template <class F>
struct fiber_invoke_result {
  using type = std::invoke_result_t<F&>;
};
template <class F>
  requires takes_stop_token_v<F>
struct fiber_invoke_result<F> {
  using type = std::invoke_result_t<F&, std::stop_token>;
};
// What a fiber running the decayed callable F returns.
template <class F>
using fiber_invoke_result_t = typename fiber_invoke_result<F>::type;

// The stop_source of a fiber whose function takes a std::stop_token; nothing for the others (it
// allocates a shared state, which plain fibers must not pay for).
template <bool>
struct FiberStop {
  void request() noexcept {}
  bool requested() const noexcept { return false; }
};
template <>
struct FiberStop<true> {
  std::stop_source src;
  void request() noexcept { src.request_stop(); }
  bool requested() const noexcept { return src.stop_requested(); }
};

template <class T, class F>
class Task final : public TaskOf<T> {
  static constexpr bool kStop = takes_stop_token_v<F>;

 public:
  explicit Task(F&& f) { ::new (static_cast<void*>(&fn_)) F(std::move(f)); }
  explicit Task(const F& f) { ::new (static_cast<void*>(&fn_)) F(f); }
  ~Task() override {
    if (!invoked_) fn_.~F();
  }

  void cancel_hook() noexcept override {
    // std::stop_callbacks registered on the token run here, on the cancelling thread (std's rule).
    if constexpr (kStop) stop_.request();
  }

  void invoke() noexcept override {
    invoked_ = true;
    if (this->cancel_requested()) {
      // Cancelled before it ever ran: the function is not called at all.
      this->cancelled_ = true;
      fn_.~F();
      return;
    }
    try {
      if constexpr (kStop) {
        if constexpr (std::is_void_v<T>) {
          fn_(stop_.src.get_token());
        } else {
          this->value_.emplace(fn_(stop_.src.get_token()));
        }
      } else if constexpr (std::is_void_v<T>) {
        fn_();
      } else {
        this->value_.emplace(fn_());
      }
      // It swallowed a cancellation (catch (...) {}) and returned: it still ends cancelled, as
      // cancellation cannot be defeated, only delayed. A stop-token function that returns after its
      // cancellation was requested ends cancelled too: returning on stop_requested() is how such a
      // function acknowledges the stop (as a std::jthread's does), so join() reports the same
      // outcome whether the token or a suspension point told it first.
      // (The stop is requested just before cancel_ is set: either says the cancellation came.)
      if (this->cancel_delivered_ || (kStop && (this->cancel_requested() || stop_.requested()))) {
        this->cancelled_ = true;
        if constexpr (!std::is_void_v<T>) this->value_.reset();
      }
    } catch (const Cancelled&) {
      this->cancelled_ = true;
    } catch (...) {
      this->panic_ = std::current_exception();
    }
    // The closure dies with the fiber, not with the handle: captured resources are released as
    // soon as the fiber finishes.
    fn_.~F();
  }

 private:
  union {
    F fn_;
  };
  bool invoked_ = false;
  [[no_unique_address]] FiberStop<kStop> stop_;
};

}  // namespace weft::detail

WEFT_API_END
