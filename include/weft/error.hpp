/// @file
/// weft/error.hpp — the two things weft throws at you.
///
/// @verbatim
///   try {
///     weft::JoinHandle<int> h = weft::spawn([] { return 1; });
///     h.join().value();
///     (void)h.join();                    // misuse
///   } catch (const weft::Error& e) {
///     std::puts(e.what());               // "JoinHandle::join: handle already joined ..."
///   }
///
/// `weft::Error` reports misuse and runtime failures; its message says what was wrong and what to
/// do instead. `weft::Cancelled` is how cancellation unwinds a fiber (doc/design.md §2). It deliberately
/// does not derive from std::exception, so `catch (const std::exception&)` lets it through.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <cstdint>
#include <stdexcept>
#include <string>

WEFT_API_BEGIN

namespace weft {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Thrown at a suspension point of a fiber whose cancellation was requested. Let it propagate: the
/// fiber's stack unwinds, its RAII guards run, and join() reports JoinError::is_cancelled().
class Cancelled {
 public:
  /// Why: abort() (also a lost select and a closing JoinSet/scope), a timeout's deadline, runtime
  /// shutdown, a sibling's failure in a scope, a CancellationToken.
  enum class Reason : std::uint8_t { Aborted, Timeout, Shutdown, Scope, Token };

  /// A cancellation for reason `r`, raised by the cancellation scope `scope` (0: the whole fiber).
  explicit Cancelled(Reason r, std::uint64_t scope = 0) noexcept : reason_(r), scope_(scope) {}
  /// Why the fiber (or scope) was cancelled.
  Reason reason() const noexcept { return reason_; }
  /// The reason as a message ("weft::Cancelled: the fiber was aborted", "...: a deadline expired", ...).
  const char* what() const noexcept;
  /// Which cancellation scope this belongs to: 0 for the whole fiber, else the id of the timeout()
  /// or run_until_cancelled() that raised it (only that call catches it).
  std::uint64_t scope() const noexcept { return scope_; }

 private:
  Reason reason_;
  std::uint64_t scope_;
};

}  // namespace weft

WEFT_API_END
