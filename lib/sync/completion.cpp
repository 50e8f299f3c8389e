// Completion: the non-template parts (errors). The handle is a template in weft/completion.hpp.
#include <weft/completion.hpp>

namespace weft::detail {

void completion_throw_never_completed() {
  throw NeverCompleted(
      "weft::CompletionWaiter::wait: every copy of the weft::Completion was destroyed without being called, so "
      "the operation will never complete (did the callback's owner drop it, or fail without calling it?)");
}

void completion_throw_empty() {
  throw Error("weft::Completion: called on an empty handle (default-constructed or moved-from); get a pair from "
              "weft::completion<T>()");
}

}  // namespace weft::detail
