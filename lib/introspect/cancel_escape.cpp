// The fatal report for a weft::Cancelled that escapes a noexcept frame (doc/design.md §2.1).
//
// A destructor is noexcept. If it reaches a suspension point while its fiber has a deliverable
// cancellation (the fiber was aborted while running, the scope then exited normally, and the
// destructor waits), the Cancelled cannot leave the destructor and the C++ runtime calls
// std::terminate. weft cannot know that a frame is a destructor, so it cannot make that wait
// non-throwing; what it can do is say exactly what happened and what to do. This handler, chained in
// front of the previous one when the first runtime is created, prints the fiber, its spawn site, the
// cancellation's cause, the stack (GCC and clang call terminate during the search phase, so the
// throwing suspension point and the destructor are still on it) and the fix; then it hands over to
// the previous handler, which aborts. Anything else that reaches terminate goes straight through.
#include "sched/worker.hpp"
#include "observe/observe.hpp"
#include "introspect/symbolize.hpp"

#include <weft/dump.hpp>
#include <weft/error.hpp>

#include <execinfo.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <mutex>
#include <string>

namespace weft::detail {

namespace {
std::terminate_handler g_previous = nullptr;

const char* reason_name(Cancelled::Reason r) noexcept {
  switch (r) {
    case Cancelled::Reason::Aborted: return "abort()";
    case Cancelled::Reason::Timeout: return "a timeout";
    case Cancelled::Reason::Shutdown: return "runtime shutdown";
    case Cancelled::Reason::Scope: return "a cancelled scope";
    case Cancelled::Reason::Token: return "a CancellationToken";
  }
  return "?";
}

void report_escaped_cancelled() noexcept {
  const std::exception_ptr e = std::current_exception();
  const FiberBase* f = current_fiber();
  if (!e || !f) return;
  Cancelled::Reason why;
  try {
    std::rethrow_exception(e);
  } catch (const Cancelled& c) {
    why = c.reason();
  } catch (...) {
    return;
  }
  std::string msg = "weft: fatal: weft::Cancelled (cause: " + std::string(reason_name(why)) +
                    ") escaped a noexcept frame in fiber " + std::to_string(f->id_);
  if (!rec(f)->name_.empty()) msg += " '" + rec(f)->name_ + "'";
  msg += " (spawned at " + std::string(rec(f)->spawn_site_.file_name()) + ":" + std::to_string(rec(f)->spawn_site_.line()) + ").\n";
  msg +=
      "  A suspension point (sleep, lock, join, recv, ...) threw it inside a destructor or another noexcept\n"
      "  function: the fiber was cancelled while it was not unwinding, so waits there throw.\n"
      "  Fix: wrap the waits of cleanup code in weft::shield([&] { ... }) (bound them with weft::timeout\n"
      "  inside the shield, which still fires there), or use a wait that cannot throw Cancelled.\n"
      "  The stack at the throw (innermost first):\n";
  void* pcs[48];
  const int n = ::backtrace(pcs, 48);
  for (int i = 0; i < n; ++i) {
    for (auto& frame : symbolize_frames(i == 0 ? pcs[i] : static_cast<char*>(pcs[i]) - 1)) {
      msg += "    #" + std::to_string(i) + " " + frame + "\n";
    }
  }
  (void)!::write(2, msg.data(), msg.size());
}

[[noreturn]] void on_terminate() noexcept {
  report_escaped_cancelled();
  if (g_previous) g_previous();
  std::abort();
}
}  // namespace

void install_cancel_escape_report() noexcept {
  static std::once_flag once;
  std::call_once(once, [] { g_previous = std::set_terminate(on_terminate); });
}

}  // namespace weft::detail
