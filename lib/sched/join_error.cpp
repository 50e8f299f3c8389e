// What a join reports when there is no value: weft::Cancelled's messages (weft/error.hpp) and
// JoinError (weft/result.hpp), built from a finished fiber's record.
#include <weft/error.hpp>
#include <weft/result.hpp>
#include "fiber/fiber_record.hpp"

#include <exception>
#include <string>

namespace weft {

const char* Cancelled::what() const noexcept {
  switch (reason_) {
    case Reason::Aborted: return "weft::Cancelled: the fiber was aborted";
    case Reason::Timeout: return "weft::Cancelled: a deadline expired";
    case Reason::Shutdown: return "weft::Cancelled: the runtime is shutting down";
    case Reason::Scope: return "weft::Cancelled: a sibling in the enclosing scope failed";
    case Reason::Token: return "weft::Cancelled: its CancellationToken was cancelled";
  }
  return "weft::Cancelled";
}

namespace {
std::string describe(FiberId id, const std::string& name) {
  std::string s = "fiber " + std::to_string(id);
  if (!name.empty()) s += " '" + name + "'";
  return s;
}
}  // namespace

JoinError JoinError::cancelled(FiberId id, std::string fiber_name) {
  return JoinError(id, describe(id, fiber_name) + " was cancelled", nullptr);
}

JoinError JoinError::panicked(FiberId id, std::string fiber_name, std::exception_ptr e) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (const Cancelled& c) {
    what = c.what();
  } catch (...) {
  }
  return JoinError(id, describe(id, fiber_name) + " panicked: " + what, std::move(e));
}

void JoinError::rethrow() const {
  if (panic_) std::rethrow_exception(panic_);
  throw Error(message_ + " (it has no value; check is_cancelled() before using the result)");
}

namespace detail {

JoinError make_join_error(const FiberBase& f) {
  if (f.panic_) return JoinError::panicked(f.id_, rec(&f)->name_, f.panic_);
  return JoinError::cancelled(f.id_, rec(&f)->name_);
}

}  // namespace detail

}  // namespace weft
