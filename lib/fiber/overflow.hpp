// Stack overflow reporting: a SIGSEGV/SIGBUS handler, running on a per-thread alternate signal
// stack, that recognises a fault in the running fiber's guard page and aborts with a message that
// names the fiber and its stack size. Any other fault is passed to the previous handler.
#pragma once

#include "fiber/fiber_record.hpp"

#include <cstddef>

namespace weft::detail {

// The fiber running on the calling thread, as the layer above (the scheduler) knows it: the
// fiber layer cannot ask the scheduler itself (layers only look down), so the scheduler passes this
// in. Called from the signal handler: must be async-signal-safe (a thread-local read).
using RunningFiberFn = const FiberBase* (*)() noexcept;

// Installs the process-wide handler (once) and gives the calling thread an alternate signal stack
// for its lifetime. `running` tells the handler which fiber's guard page a fault may be in; every
// caller passes the same function.
class AltStack {
 public:
  explicit AltStack(RunningFiberFn running);
  ~AltStack();
  AltStack(const AltStack&) = delete;
  AltStack& operator=(const AltStack&) = delete;

 private:
  void* mem_ = nullptr;
  std::size_t size_ = 0;
};

// Writes "weft: stack overflow in fiber ..." to stderr and aborts. Async-signal-safe.
[[noreturn]] void report_stack_overflow(const FiberBase* f, const char* how) noexcept;

}  // namespace weft::detail
