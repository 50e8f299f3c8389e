/// @file
/// weft/signal.hpp — wait for Unix signals in a fiber.
///
/// @verbatim
///   weft::SignalStream stop({SIGINT, SIGTERM});        // subscribe early: nothing is missed after this
///   auto server = weft::spawn([&] { serve(listener); });
///   int sig = stop.recv();                              // suspends this fiber until Ctrl-C or SIGTERM
///   std::printf("%s: shutting down\n", strsignal(sig));
///   server.abort();                                     // cancel everything...
///   server.join();                                      // ...and wait until it has unwound; exit 0
///
///   weft::wait_for_signal(SIGHUP);                      // one-shot form
///
///   int main() { weft::block_signals({SIGINT, SIGTERM}); weft::Runtime rt; ... }   // see below
///
/// The first SignalStream for a signal installs a process-wide handler for it, which stays
/// installed for the life of the process: from then on that signal no longer has its default
/// effect (Ctrl-C no longer kills the process) — the program decides, as with any signal handler.
/// An existing handler for the signal is replaced. The handler only counts the delivery and writes
/// a byte to a pipe; a small weft thread reads that pipe and wakes the waiting fibers, so signals
/// arrive on no particular worker and no libev loop owns them (libev allows a signal on one loop
/// only). Works from plain threads too (they block).
///
/// Semantics: each SignalStream sees every signal delivered after it was created, coalesced per
/// signal (three SIGINTs before a recv() make one — as the kernel itself does while a signal is
/// pending). recv() is a suspension point: cancelled, it consumed nothing. SIGKILL and SIGSTOP
/// cannot be caught; SIGSEGV, SIGBUS, SIGILL and SIGFPE are refused (returning from their handler
/// would re-run the faulting instruction).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <csignal>  // the SIG* numbers the examples use
#include <initializer_list>
#include <memory>
#include <optional>

WEFT_API_BEGIN

namespace weft {

/// Receives POSIX signals in a fiber: recv() waits for one of the signals it was built with (see
/// weft/signal.hpp).
class SignalStream {
 public:
  /// Throws weft::Error for a signal that cannot be waited for (see above).
  explicit SignalStream(int signum);
  /// As SignalStream(signum), for several signals.
  explicit SignalStream(std::initializer_list<int> signums);
  /// Takes over the other stream's subscription; the moved-from stream's recv() throws weft::Error.
  SignalStream(SignalStream&&) noexcept;
  /// Ends this stream's subscription, then takes over the other's.
  SignalStream& operator=(SignalStream&&) noexcept;
  ~SignalStream();

  /// Waits until one of the signals arrived since construction or the previous recv(), and returns
  /// it (the first in construction order if several did). Suspends a fiber; blocks a plain thread.
  int recv();
  /// As recv(), without waiting.
  std::optional<int> try_recv();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

/// SignalStream(signums).recv(): a signal that arrived before this call is not seen.
int wait_for_signal(int signum);
/// As wait_for_signal(signum), for the first of several signals.
int wait_for_signal(std::initializer_list<int> signums);

/// Blocks `signums` in the calling thread; threads it starts afterwards (a Runtime's workers)
/// inherit that. Call it first thing in main(), then subscribe with SignalStream: those signals are
/// then taken only by weft's signal thread, which keeps them unblocked, and never interrupt the
/// application's threads. Optional in general; needed under ThreadSanitizer, which defers a
/// signal's handler until the receiving thread enters a call it tracks — a main thread waiting in
/// Runtime::block_on may never do.
void block_signals(std::initializer_list<int> signums);

}  // namespace weft

WEFT_API_END
