// The library's private part of a fiber's record: everything the scheduler, the wait core, the
// sanitizer hooks and the tools keep per fiber. It lives in the same block as the public part
// (weft/detail/FiberBase and the Task<T, F> around it), exactly kRecordSpace bytes before it:
//
//   [ FiberRecord | padding to kRecordSpace ][ Task<T, F>: FiberBase, closure, result ]
//   ^ block from fiber_block_alloc           ^ what operator new returns, the FiberBase*
//
// so rec(f) is one subtraction, and a field added here changes no public header and no user's
// object code. Every FiberBase comes from FiberBase::operator new (Task<T, F>, and the tests'
// stand-ins), which asks fiber_record_alloc (fiber_record.cpp) for the block; FiberBase is the first
// and only base of every record type, so the FiberBase* is the object's address (Itanium C++ ABI).
#pragma once

#include <weft/detail/cancel_scope.hpp>
#include <weft/detail/block_allocator.hpp>
#include <weft/detail/fiber.hpp>
#include <weft/detail/spin_lock.hpp>
#include <weft/detail/waiter.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <source_location>
#include <string>

namespace weft::detail {

// Hidden like every lib/ type (the tests and benchmarks that include this header build without
// -fvisibility=hidden; the public header declared LocalSetCore hidden).
WEFT_INTERNAL_BEGIN

class Worker;
class Scheduler;
class LocalSetCore;

struct Stack {
  char* lo = nullptr;        // lowest usable byte (the guard page, if any, is just below)
  std::size_t size = 0;      // usable bytes
  bool guarded = false;      // a PROT_NONE page sits below lo
  void* tsan_fiber = nullptr;  // TSan builds: this stack's TSan context, created once, kept
  char* hi() const noexcept { return lo + size; }
};

enum class FiberState : std::uint8_t { Created, Runnable, Running, Suspended, Finished };

struct FiberRecord {
  // ---- identity (immutable after spawn; the id is public: FiberBase::id_)
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
  FiberBase* local_prev_ = nullptr;  // LocalSet membership links (the LocalSet's worker only)
  FiberBase* local_next_ = nullptr;
  void* ctx_ = nullptr;              // saved fcontext while not running
  Worker* worker_ = nullptr;         // the worker running it now (set on every resume)
  Worker* pinned_ = nullptr;         // must next run on this worker (it owns our watchers)
  Worker* home_ = nullptr;           // spawn_local: never leaves this worker
  Stack stack_{};
  std::uint8_t reg_shard_ = 0;
  std::atomic<FiberState> state_{FiberState::Created};

  // ---- cancellation (the request itself is public: FiberBase::cancel_)
  // (Fields here and below are ordered so that the small ones fill alignment holes: every byte of
  // the record counts for idle fibers, doc/bench.md idle_memory.)
  bool cleanup_child_ = false;       // spawned during shutdown by a fiber cleaning up (see spawn)
  bool local_ = false;               // spawned by spawn_local (member of local_set_ for life)
  bool abort_on_panic_ = false;      // the runtime's PanicPolicy::Abort, copied at spawn
  std::uint8_t coop_off_ = 0;        // CoopUnconstrained depth (weft/coop.hpp; fiber only)
  std::uint32_t shield_depth_ = 0;   // only touched by the fiber itself
  CancelScope* scopes_ = nullptr;    // innermost active scope (fiber only)
  std::uint64_t scope_seq_ = 0;      // ids of this fiber's scopes (fiber only)
  // The earliest deadline among the scopes that may cancel the current wait (set by begin_wait,
  // fiber only); max when none. A wait's timer serves it (lib/sched/loop_wait.cpp).
  std::chrono::steady_clock::time_point wait_deadline_ = std::chrono::steady_clock::time_point::max();
  // Number of active scopes cancelled from outside (tokens): makes the fast check one load.
  std::atomic<std::uint32_t> scope_cancels_{0};
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
  // What the fiber waits on while Suspended (note_wait below): a static description and one
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

  // ---- completion. join_lock_ guards joiner_ and the done_ transition (FiberBase::done_).
  SpinLock join_lock_;
  JoinWaiter* joiner_ = nullptr;
};

// Bytes from the start of the block to the FiberBase: the record, rounded up so that the task
// object keeps the pool's 16-byte alignment.
inline constexpr std::size_t kRecordSpace = (sizeof(FiberRecord) + 15) & ~std::size_t{15};

inline FiberRecord* rec(FiberBase* f) noexcept {
  return std::launder(reinterpret_cast<FiberRecord*>(reinterpret_cast<char*>(f) - kRecordSpace));
}
inline const FiberRecord* rec(const FiberBase* f) noexcept {
  return std::launder(reinterpret_cast<const FiberRecord*>(reinterpret_cast<const char*>(f) - kRecordSpace));
}

// Starts fetching the record of a fiber that will run soon (the queues call it for the fiber behind
// the one they hand out). A queued fiber's record is usually cold — written on another core, or
// long ago — and a worker otherwise takes that miss on the fiber's first field it reads; fetched
// one run ahead, it is there when needed. Also the task's first line (FiberBase: the cancel word).
inline void prefetch_record(const FiberBase* f) noexcept {
  const char* r = reinterpret_cast<const char*>(rec(f));
  for (std::size_t off = 0; off <= kRecordSpace; off += 64) __builtin_prefetch(r + off, 1);
}

// Records what the running fiber `f` is about to wait on (call on `f`, before it parks).
inline void note_wait(FiberBase* f, const WaitDesc& d, std::uint64_t arg) noexcept {
  FiberRecord* r = rec(f);
  r->wait_what_ = &d;
  r->wait_arg_ = arg;
}

// Destroys a finished fiber's FiberLocal values (call only when its locals_ is set).
void destroy_fiber_locals(FiberBase* f) noexcept;

WEFT_INTERNAL_END

}  // namespace weft::detail
