// The wait-for graph between parked fibers (weft/deadlock.hpp): which fiber can end another's
// wait. Shared by the dump (lib/introspect/dump.cpp, fiber_snapshot.cpp) and the deadlock detector
// (lib/introspect/wait_graph.cpp).
#pragma once

#include <weft/deadlock.hpp>
#include <weft/detail/fiber.hpp>
#include <weft/metrics.hpp>
#include <weft/rwlock.hpp>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace weft::detail {

class Scheduler;

// The raw edge of a parked fiber's wait, read without stopping it. Only addresses and ids: the
// holder token and the set are compared, never dereferenced.
struct WaitEdge {
  enum Kind : std::uint8_t { None, Lock, Join, Set, Readers };
  Kind kind = None;
  const void* holder = nullptr;  // Lock: the Mutex's / RwLock writer's lock_owner_token() (null: free)
  std::uint64_t target = 0;      // Join: the joined fiber's id
  const void* set = nullptr;     // Set: the JoinSetCore (its children have joiner_ == set)
  // Readers (an RwLock held shared): the recorded readers' tokens, and how many others hold it
  // unrecorded (then nobody can say the wait is stuck).
  const void* readers[RwLock::kRecordedReaders] = {};
  std::size_t nreaders = 0;
  std::size_t unrecorded = 0;
};
// Reads the edge of a wait described by (what, arg). Dereferences the Mutex/RwLock named by arg:
// call only while the waiter is parked in that wait (the object outlives the wait), and re-check
// afterwards that it did not run meanwhile.
WaitEdge read_wait_edge(const WaitDesc* what, std::uint64_t arg) noexcept;
// Who can end f's JoinSet wait: the set a fiber belongs to is its joiner_ (read racily; compared
// as an address only).
const void* joiner_address(const FiberBase* f) noexcept;

// One fiber as the registry and the dump see it (lib/introspect/fiber_snapshot.cpp). Call under f's
// registry shard lock (inside Scheduler::for_each_live).
FiberMetrics describe_fiber(Scheduler& s, FiberBase* f, const FiberQuery& q);

// A symbol with the standard library's long template names shortened (std::string,
// std::chrono::nanoseconds, ...; what is still long loses its doubly nested template arguments).
std::string shorten_names(std::string s);

// The detector over one runtime: appends what it finds.
void find_deadlocks_in(Scheduler& s, const DeadlockQuery& q, std::vector<Deadlock>& out);
// The runtime's deadlocks as a JSON array of Deadlock::to_json(), without stacks (the JSON dump
// and the top snapshot).
void write_deadlocks_json(std::ostream& os, Scheduler& s);

}  // namespace weft::detail
