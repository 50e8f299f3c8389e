// weft::scope's join: wait for every child, and on the first failure cancel the rest (the
// children live in a JoinSetCore, lib/sched/join_set.cpp; the template is weft/scope.hpp).
#include <weft/detail/join_set_core.hpp>
#include <weft/scope.hpp>

#include "sched/worker.hpp"

#include <exception>
#include <string>
#include <vector>

namespace weft::detail {

void scope_join_all(JoinSetCore& core) {
  std::vector<std::exception_ptr> errors;
  std::string first;
  while (FiberBase* f = core.next(true)) {  // Cancelled here: ~JoinSetCore aborts and waits
    if (f->panic_) {
      if (errors.empty()) {
        first = make_join_error(*f).what();
        // The first failure cancels its siblings, and any a child spawns from now on.
        core.abort_all(Cancelled::Reason::Scope, /*sticky=*/true);
      }
      errors.push_back(f->panic_);
      f->panic_observed_ = true;
    }
    f->release();
  }
  if (!errors.empty()) {
    std::string what = "weft::scope: " + first;
    if (errors.size() > 1) what += " (and " + std::to_string(errors.size() - 1) + " more failures; see errors())";
    throw ScopeError(std::move(what), std::move(errors));
  }
}

}  // namespace weft::detail
