// Stack overflow reporting: a SIGSEGV/SIGBUS handler, running on a per-thread alternate signal
// stack, that recognises a fault in the running fiber's guard page and aborts with a message that
// names the fiber and its stack size. Any other fault is passed to the previous handler.
#pragma once

#include <weft/detail/fiber.hpp>

#include <cstddef>

namespace weft::detail {

class Worker;

// Installs the process-wide handler (once) and gives the calling thread an alternate signal stack
// for its lifetime.
class AltStack {
 public:
  AltStack();
  ~AltStack();
  AltStack(const AltStack&) = delete;
  AltStack& operator=(const AltStack&) = delete;

 private:
  void* mem_ = nullptr;
  std::size_t size_ = 0;
};

// Writes "weft: stack overflow in fiber ..." to stderr and aborts. Async-signal-safe.
[[noreturn]] void report_stack_overflow(const FiberBase* f, const char* how) noexcept;

// The worker of the calling thread, read directly (for the signal handler).
Worker* overflow_current_worker() noexcept;

}  // namespace weft::detail
