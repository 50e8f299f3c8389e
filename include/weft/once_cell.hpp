/// @file
/// weft/once_cell.hpp — a value initialised exactly once, by whichever fiber gets there first.
///
/// @verbatim
///   weft::OnceCell<Config> config;
///   // In any number of fibers at once: one runs load_config(), the others suspend until it is done.
///   const Config& c = config.get_or_init([] { return load_config(); });
///
///   weft::OnceFlag flag;
///   weft::call_once(flag, [] { std::puts("printed once"); });
///
/// get_or_init(f) returns the value, running f() to produce it if the cell is empty. While one
/// fiber runs f(), the others wait (suspending, not blocking their worker) — f() itself may suspend.
/// If f() throws (including weft::Cancelled), the cell stays empty, the exception propagates to that
/// caller, and one of the waiters runs its own f() instead. Waiting is a suspension point (throws
/// weft::Cancelled; the cell is unaffected). Calling get_or_init on the same cell from inside its own
/// initializer is a weft::Error (it would wait for itself forever). Works from plain threads too.
/// call_once/OnceFlag: the same for a function without a value (std::call_once for fibers).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/waiter.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <new>
#include <type_traits>
#include <utility>

WEFT_API_BEGIN

namespace weft {

namespace detail {
// The once-state machine shared by OnceCell and OnceFlag: Empty -> Running (one initializer) ->
// Done, or back to Empty if the initializer throws.
class OnceCore {
 public:
  bool is_done() const noexcept { return state_.load(std::memory_order_acquire) == kDone; }
  // True if the caller must now run the initializer (and then call complete() or abandon());
  // false if the value is ready. Waits while another caller initialises.
  bool begin(const char* op);
  void complete() noexcept;
  void abandon() noexcept;

 private:
  static constexpr std::uint8_t kEmpty = 0, kRunning = 1, kDone = 2;
  std::atomic<std::uint8_t> state_{kEmpty};
  SpinLock lock_;
  const void* runner_ = nullptr;  // who runs the initializer (fiber or thread identity)
  WaitList waiters_;
};
}  // namespace detail

/// A value set at most once, by whichever fiber or thread gets there first; the others wait for it
/// (see weft/once_cell.hpp).
template <class T>
class OnceCell {
 public:
  OnceCell() = default;
  OnceCell(const OnceCell&) = delete;
  OnceCell& operator=(const OnceCell&) = delete;
  ~OnceCell() {
    if (core_.is_done()) ptr()->~T();
  }

  /// The value, or null if not (yet) initialised. Never waits.
  T* get() noexcept { return core_.is_done() ? ptr() : nullptr; }
  /// The value, or null if not (yet) initialised. Never waits.
  const T* get() const noexcept { return core_.is_done() ? ptr() : nullptr; }
  /// Whether the value is set. Never waits.
  bool is_initialized() const noexcept { return core_.is_done(); }

  /// The value; runs f() (returning something T is constructible from) if the cell is empty.
  template <class F>
  T& get_or_init(F&& f) {
    if (core_.begin("OnceCell::get_or_init")) {
      try {
        ::new (static_cast<void*>(storage_)) T(std::invoke(std::forward<F>(f)));
      } catch (...) {
        core_.abandon();
        throw;
      }
      core_.complete();
    }
    return *ptr();
  }
  /// Sets the value if the cell is empty (waiting if another fiber is initialising it). Returns
  /// whether this call set it; if not, `v` is dropped.
  bool set(T v) {
    if (!core_.begin("OnceCell::set")) return false;
    ::new (static_cast<void*>(storage_)) T(std::move(v));  // a throwing move leaves nothing to undo
    core_.complete();
    return true;
  }

 private:
  T* ptr() noexcept { return std::launder(reinterpret_cast<T*>(storage_)); }
  const T* ptr() const noexcept { return std::launder(reinterpret_cast<const T*>(storage_)); }

  detail::OnceCore core_;
  alignas(T) unsigned char storage_[sizeof(T)];
};

/// weft::call_once's flag: the first call runs, concurrent ones wait for it, later ones return.
class OnceFlag {
 public:
  OnceFlag() = default;
  OnceFlag(const OnceFlag&) = delete;
  OnceFlag& operator=(const OnceFlag&) = delete;
  /// Whether a call_once with this flag has completed.
  bool is_done() const noexcept { return core_.is_done(); }

 private:
  template <class F, class... A>
  friend void call_once(OnceFlag& flag, F&& f, A&&... args);
  detail::OnceCore core_;
};

/// Runs f(args...) once per flag; concurrent callers wait until it has finished. If it throws, the
/// exception reaches that caller and the next caller tries again.
template <class F, class... A>
void call_once(OnceFlag& flag, F&& f, A&&... args) {
  if (!flag.core_.begin("call_once")) return;
  try {
    std::invoke(std::forward<F>(f), std::forward<A>(args)...);
  } catch (...) {
    flag.core_.abandon();
    throw;
  }
  flag.core_.complete();
}

}  // namespace weft

WEFT_API_END
