/// @file
/// weft/fiber_local.hpp — a value per fiber that follows it across workers (thread_local does not:
/// a fiber that moved to another worker would read that thread's value).
///
/// @verbatim
///   weft::FiberLocal<std::string> request_id;          // usually a global or a static
///   weft::spawn([] {
///     *request_id = "req-17";                         // this fiber's own string
///     weft::yield_now();                              // may resume on another worker...
///     log(*request_id);                               // ...and still reads "req-17"
///   });                                               // destroyed when the fiber ends
///
/// get() (or * and ->) returns the calling fiber's value, constructing it on first use in that
/// fiber (T{} or the init function given to the constructor). The value is destroyed when the fiber
/// ends, however it ends (returned, panicked, cancelled), on the fiber, after its function; a
/// destructor there must not suspend or throw. From a plain thread (including a spawn_blocking
/// task, which runs on a pool thread) the value is per thread and lives until the thread exits.
///
/// Reading costs one lookup among the locals the fiber has touched (a short vector scan: ~1.8 ns
/// measured with two locals; tests/unit/fiber_local_test.cpp prints it). A FiberLocal must
/// outlive every fiber that touched it (make it static, like a thread_local); its key is never
/// reused.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>

#include <weft/error.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <utility>

WEFT_API_BEGIN

namespace weft {

namespace detail {
using LocalDtor = void (*)(void*) noexcept;
std::size_t fiber_local_new_key() noexcept;
// The calling fiber's (or plain thread's) value for `key`, or null.
void* fiber_local_find(std::size_t key) noexcept;
// Adds `p` under `key` for the calling fiber (or thread); it is destroyed with `d` at fiber end.
void fiber_local_insert(std::size_t key, void* p, LocalDtor d);
// Destroys and removes the calling fiber's value for `key`, if any.
void fiber_local_erase(std::size_t key) noexcept;
}  // namespace detail

/// A variable with one value per fiber (and per plain thread), like thread_local for fibers: each
/// fiber's value is made on its first use and destroyed when the fiber ends (see
/// weft/fiber_local.hpp).
template <class T>
class FiberLocal {
 public:
  FiberLocal() : FiberLocal([] { return T{}; }) {}
  /// `init` makes each fiber's first value (called in that fiber, on first use).
  template <class Init>
    requires std::is_invocable_r_v<T, Init&>
  explicit FiberLocal(Init init) : key_(detail::fiber_local_new_key()), init_(std::move(init)) {}
  FiberLocal(const FiberLocal&) = delete;
  FiberLocal& operator=(const FiberLocal&) = delete;

  /// The calling fiber's value, made by the initializer on first use.
  T& get() {
    if (void* p = detail::fiber_local_find(key_)) return *static_cast<T*>(p);
    return make();
  }
  /// get().
  T& operator*() { return get(); }
  /// &get().
  T* operator->() { return &get(); }
  /// Whether the calling fiber (thread) has a value yet; never constructs one.
  bool has_value() const noexcept { return detail::fiber_local_find(key_) != nullptr; }
  /// Destroys the calling fiber's value now; the next get() makes a fresh one.
  void reset() noexcept { detail::fiber_local_erase(key_); }

 private:
  T& make() {
    auto p = std::make_unique<T>(init_());
    detail::fiber_local_insert(key_, p.get(), [](void* q) noexcept { delete static_cast<T*>(q); });
    return *p.release();
  }
  std::size_t key_;
  std::function<T()> init_;
};

}  // namespace weft

WEFT_API_END
