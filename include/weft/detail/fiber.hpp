// weft/detail/fiber.hpp — the public part of a fiber's record and the task templates. Internal:
// users never name these types.
//
// A fiber's record is one small heap block from the control-block pool (lib/fiber/block_pool.cpp):
// the library's private part (lib/fiber/fiber_record.hpp), then the Task<T, F> below with the
// closure and the result slot. The fiber's *stack* is taken from the running worker's cache when
// the fiber first runs and is returned the moment it finishes, so a finished-but-unjoined fiber
// costs ~300 bytes, not a stack (doc/design.md §3 prefers the record on the stack; spawn_join
// showed why not: keeping 100k finished stacks alive until join means 100k cold stacks and page
// faults).
#pragma once

#include <weft/detail/config.hpp>
#include <weft/error.hpp>
#include <weft/result.hpp>

#include <atomic>
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


// Memory for fiber records (lib/fiber/fiber_record.cpp): `size` bytes for the task object, with
// the library's private part of the record in the same block just before it (see FiberBase).
void* fiber_record_alloc(std::size_t size);
void fiber_record_free(void* task, std::size_t size) noexcept;
void* fiber_record_alloc_aligned(std::size_t size, std::size_t align);
void fiber_record_free_aligned(void* task, std::size_t align) noexcept;

// The public part of a fiber's record: what the inline templates (spawn, JoinHandle, Task::invoke)
// touch. Everything the scheduler, the tools and the sanitizer hooks keep per fiber (queue links,
// worker, stack, wait state, cancel scopes, timing, name) is in lib/fiber/fiber_record.hpp, in the
// same allocation, just before this object: operator new below asks the library for the block, so
// the private part can change without touching a header a user compiles or the ABI.
class FiberBase {
 public:
  FiberBase() = default;
  FiberBase(const FiberBase&) = delete;
  FiberBase& operator=(const FiberBase&) = delete;

  // Runs the user's function, stores the result or the panic. Called once, on the fiber's stack.
  virtual void invoke() noexcept = 0;
  // Called by request_cancel (any thread, possibly many times, possibly after the fiber finished)
  // after the request is recorded. A fiber whose function takes a std::stop_token requests stop
  // here. A virtual rather than a field: every byte of the record counts for idle fibers.
  virtual void cancel_hook() noexcept {}
  virtual ~FiberBase() = default;

  // Every Task<T, F> is allocated here, together with its private record (the sized delete gets
  // the most-derived size through the virtual destructor).
  static void* operator new(std::size_t size) { return fiber_record_alloc(size); }
  static void operator delete(void* p, std::size_t size) noexcept { fiber_record_free(p, size); }
  static void* operator new(std::size_t size, std::align_val_t a) {
    return fiber_record_alloc_aligned(size, static_cast<std::size_t>(a));
  }
  static void operator delete(void* p, std::size_t, std::align_val_t a) noexcept {
    fiber_record_free_aligned(p, static_cast<std::size_t>(a));
  }

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }
  bool finished() const noexcept { return done_.load(std::memory_order_acquire); }
  bool cancel_requested() const noexcept { return cancel_.load(std::memory_order_acquire) != 0; }

  // Immutable after spawn (JoinHandle::id reads it).
  std::uint64_t id_ = 0;
  std::atomic<std::uint32_t> refs_{1};
  // 0 = not requested, else 1 + Cancelled::Reason of the first request (first cause kept).
  std::atomic<std::uint8_t> cancel_{0};
  // Set (release) once the result or panic is stored; the joiner reads them after an acquire.
  std::atomic<bool> done_{false};
  bool cancelled_ = false;           // finished by Cancelled
  bool cancel_delivered_ = false;    // a fiber-level Cancelled was thrown in it (fiber only)
  bool panic_observed_ = false;      // take_result() handed the panic to someone
  std::exception_ptr panic_;         // finished by another exception

 private:
  // Reports a panic nobody observed (the handle was dropped), per the runtime's panic policy.
  void destroy() noexcept;
};

JoinError make_join_error(const FiberBase& f);

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
