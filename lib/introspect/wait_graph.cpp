// The deadlock detector: the wait-for graph of parked fibers, its stuck part, its cycles, and the
// global "every fiber asleep" check (rules and guarantees: weft/deadlock.hpp).
//
// Three passes over the live-fiber registry, each under the shard locks (a fiber cannot be freed
// while its shard is locked, so the records read are alive):
//   1. each fiber's wait word and run count;
//   2. for fibers parked in pass 1, their wait's edge (mutex holder, joined fiber, JoinSet) and
//      whether a timer or fd watcher can end it; for every fiber, the JoinSet it belongs to;
//   3. the wait words and run counts again.
// A fiber whose word and run count did not change was parked in the same wait (epoch) from pass 1
// to pass 3, so every edge read in pass 2 held at the end of pass 1 as well: a parked fiber cannot
// release a lock or finish. The stuck set is then the largest set of such fibers whose every edge
// leads into the set (computed by removing, from all candidates, every fiber with an edge out).
#include "introspect/fiber_json.hpp"
#include "introspect/wait_graph.hpp"
#include "introspect/write_all.hpp"

#include "sched/scheduler.hpp"
#include "sched/wait.hpp"

#include <weft/detail/join_set_core.hpp>
#include <weft/error.hpp>
#include <weft/mutex.hpp>
#include <weft/rwlock.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>
#include <utility>

namespace weft {

namespace detail {

WaitEdge read_wait_edge(const WaitDesc* what, std::uint64_t arg) noexcept {
  WaitEdge e;
  if (!what || arg == 0) return e;
  const auto addr = static_cast<std::uintptr_t>(arg);
  switch (what->edge) {
    case WaitDesc::NoEdge: break;
    case WaitDesc::MutexHolder:
      e.kind = WaitEdge::Lock;
      e.holder = reinterpret_cast<const Mutex*>(addr)->holder();
      break;
    case WaitDesc::RwLockHolders: {
      const auto* rw = reinterpret_cast<const RwLock*>(addr);
      e.kind = WaitEdge::Lock;
      e.holder = rw->writer();
      if (!e.holder) {  // held shared (or free: its waiter is being woken)
        e.nreaders = rw->readers(e.readers, &e.unrecorded);
        if (e.nreaders || e.unrecorded) e.kind = WaitEdge::Readers;
      }
      break;
    }
    case WaitDesc::JoinFiber:
      e.kind = WaitEdge::Join;
      e.target = arg;
      break;
    case WaitDesc::JoinSetChild:
      e.kind = WaitEdge::Set;
      // Children record the set as their JoinWaiter: compare against that base's address.
      e.set = static_cast<const JoinWaiter*>(reinterpret_cast<const JoinSetCore*>(addr));
      break;
  }
  return e;
}

__attribute__((no_sanitize("thread"))) const void* joiner_address(const FiberBase* f) noexcept {
  return rec(f)->joiner_;
}

namespace {

struct Node {
  FiberBase* rec = nullptr;
  std::uint64_t id = 0;
  std::uint64_t word = 0;
  std::uint64_t runs = 0;
  bool parked = false;      // parked in pass 1
  bool stable = false;      // ... and still in the same wait in pass 3
  bool timed = false;       // a timer or fd watcher of its worker's loop can end the wait
  bool scoped = false;      // inside a timeout/token scope
  const WaitDesc* what = nullptr;
  WaitEdge edge;
  const void* joiner = nullptr;
  bool unknown_target = false;   // an edge leads outside this runtime's live fibers (or to a thread)
  std::vector<std::uint32_t> targets;
};

// runs_ is a plain increment by the worker (it is on the yield path); readers use an atomic load
// of it, which TSan would report against that increment, as the dump's snapshot explains.
__attribute__((no_sanitize("thread"))) std::uint64_t runs_of(const FiberBase* f) noexcept {
  return __atomic_load_n(&rec(f)->runs_, __ATOMIC_ACQUIRE);
}

bool parked_word(std::uint64_t w) noexcept { return (w & kStateMask) == kParked; }

__attribute__((no_sanitize("thread"))) void read_wait(Node& n, FiberBase* f) noexcept {
  n.what = rec(f)->wait_what_;
  const std::uint64_t arg = rec(f)->wait_arg_;
  n.timed = rec(f)->pinned_ != nullptr;
  n.scoped = rec(f)->scopes_ != nullptr;
  n.edge = read_wait_edge(n.what, arg);
}

// Waits that only a fiber holding/owning what they wait for can end (weft/deadlock.hpp).
bool graph_wait(const Node& n) noexcept { return n.edge.kind != WaitEdge::None; }

std::string describe_edge(const Node& n, const std::vector<Node>& nodes,
                          const std::unordered_map<std::uint64_t, const FiberMetrics*>& by_id) {
  auto name_of = [&](std::uint32_t t) {
    std::string s = "fiber " + std::to_string(nodes[t].id);
    auto it = by_id.find(nodes[t].id);
    if (it != by_id.end() && !it->second->name.empty()) s += " '" + it->second->name + "'";
    return s;
  };
  if (n.targets.empty()) return {};
  switch (n.edge.kind) {
    case WaitEdge::Lock: return "held by " + name_of(n.targets[0]);
    case WaitEdge::Readers: {
      std::string s = n.targets.size() == 1 ? "held shared by " : "held shared by readers ";
      for (std::size_t i = 0; i < n.targets.size(); ++i) s += (i ? ", " : "") + name_of(n.targets[i]);
      return s;
    }
    case WaitEdge::Join: {  // the wait already says "joining fiber N": add the name
      auto it = by_id.find(nodes[n.targets[0]].id);
      return it != by_id.end() && !it->second->name.empty() ? "'" + it->second->name + "'" : std::string();
    }
    case WaitEdge::Set: {
      std::string s = "joining any of ";
      for (std::size_t i = 0; i < n.targets.size() && i < 8; ++i) s += (i ? ", " : "") + name_of(n.targets[i]);
      if (n.targets.size() > 8) s += ", ... (" + std::to_string(n.targets.size()) + " in all)";
      return s;
    }
    case WaitEdge::None: break;
  }
  return {};
}

// Tarjan's strongly connected components over the stuck nodes, iteratively (chains may be long).
std::vector<std::vector<std::uint32_t>> cyclic_components(const std::vector<Node>& nodes, const std::vector<char>& stuck) {
  const std::uint32_t n = static_cast<std::uint32_t>(nodes.size());
  constexpr std::uint32_t kUnset = ~0u;
  std::vector<std::uint32_t> index(n, kUnset), low(n, 0);
  std::vector<char> on_stack(n, 0);
  std::vector<std::uint32_t> stack;
  std::vector<std::pair<std::uint32_t, std::size_t>> call;  // (node, next target to visit)
  std::vector<std::vector<std::uint32_t>> out;
  std::uint32_t next = 0;
  for (std::uint32_t root = 0; root < n; ++root) {
    if (!stuck[root] || index[root] != kUnset) continue;
    call.emplace_back(root, 0);
    index[root] = low[root] = next++;
    stack.push_back(root);
    on_stack[root] = 1;
    while (!call.empty()) {
      auto& [v, i] = call.back();
      if (i < nodes[v].targets.size()) {
        const std::uint32_t w = nodes[v].targets[i++];
        if (!stuck[w]) continue;
        if (index[w] == kUnset) {
          index[w] = low[w] = next++;
          stack.push_back(w);
          on_stack[w] = 1;
          call.emplace_back(w, 0);
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      const std::uint32_t done = v;
      call.pop_back();
      if (!call.empty()) low[call.back().first] = std::min(low[call.back().first], low[done]);
      if (low[done] != index[done]) continue;
      std::vector<std::uint32_t> comp;
      std::uint32_t w;
      do {
        w = stack.back();
        stack.pop_back();
        on_stack[w] = 0;
        comp.push_back(w);
      } while (w != done);
      const bool self_loop = comp.size() == 1 &&
                             std::find(nodes[done].targets.begin(), nodes[done].targets.end(), done) != nodes[done].targets.end();
      if (comp.size() > 1 || self_loop) out.push_back(std::move(comp));
    }
  }
  return out;
}

// The members of a component in wait-for order: from the lowest id, follow edges inside it.
std::vector<std::uint32_t> wait_for_order(const std::vector<Node>& nodes, std::vector<std::uint32_t> comp) {
  std::sort(comp.begin(), comp.end(), [&](std::uint32_t a, std::uint32_t b) { return nodes[a].id < nodes[b].id; });
  std::set<std::uint32_t> left(comp.begin(), comp.end());
  std::vector<std::uint32_t> order;
  std::uint32_t cur = comp[0];
  while (!left.empty()) {
    order.push_back(cur);
    left.erase(cur);
    bool moved = false;
    for (std::uint32_t t : nodes[cur].targets) {
      if (left.count(t)) {
        cur = t;
        moved = true;
        break;
      }
    }
    if (!moved && !left.empty()) cur = *left.begin();  // a knot, not a simple cycle
  }
  return order;
}

}  // namespace

void find_deadlocks_in(Scheduler& s, const DeadlockQuery& q, std::vector<Deadlock>& out) {
  std::vector<Node> nodes;
  std::unordered_map<const FiberBase*, std::uint32_t> index_of;
  // Pass 1: wait words.
  s.for_each_live([&](FiberBase* f) {
    Node n;
    n.rec = f;
    n.id = f->id_;
    n.runs = runs_of(f);
    n.word = rec(f)->wait_word_.load(std::memory_order_seq_cst);
    n.parked = parked_word(n.word) && rec(f)->state_.load(std::memory_order_acquire) == FiberState::Suspended;
    index_of.emplace(f, static_cast<std::uint32_t>(nodes.size()));
    nodes.push_back(std::move(n));
  });
  if (nodes.empty()) return;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // Pass 2: edges, and every fiber's JoinSet. A fiber spawned since pass 1 may belong to a set.
  bool registry_changed = false;
  std::vector<const void*> new_fibers_sets;
  s.for_each_live([&](FiberBase* f) {
    auto it = index_of.find(f);
    if (it == index_of.end() || nodes[it->second].id != f->id_) {
      registry_changed = true;
      new_fibers_sets.push_back(joiner_address(f));
      return;
    }
    Node& n = nodes[it->second];
    n.joiner = joiner_address(f);
    // Still in the pass-1 wait right before the edge is read (it names a Mutex/RwLock that is
    // dereferenced): narrows the window in which the object could be gone to the read itself.
    if (n.parked && rec(f)->wait_word_.load(std::memory_order_seq_cst) == n.word) read_wait(n, f);
    else n.parked = false;
  });
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // Pass 3: who stayed in the same wait.
  std::size_t seen = 0;
  s.for_each_live([&](FiberBase* f) {
    auto it = index_of.find(f);
    if (it == index_of.end() || nodes[it->second].id != f->id_) {
      registry_changed = true;
      return;
    }
    ++seen;
    Node& n = nodes[it->second];
    const std::uint64_t w = rec(f)->wait_word_.load(std::memory_order_seq_cst);
    n.stable = n.parked && w == n.word && runs_of(f) == n.runs;
  });
  if (seen != nodes.size()) registry_changed = true;

  // Edges between nodes.
  std::unordered_map<std::uint64_t, std::uint32_t> by_fiber_id;
  by_fiber_id.reserve(nodes.size());
  for (std::uint32_t i = 0; i < nodes.size(); ++i) by_fiber_id.emplace(nodes[i].id, i);
  std::unordered_map<const void*, std::vector<std::uint32_t>> set_members;
  for (std::uint32_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].joiner) set_members[nodes[i].joiner].push_back(i);
  }
  for (Node& n : nodes) {
    if (!n.stable) continue;
    switch (n.edge.kind) {
      case WaitEdge::None: break;
      case WaitEdge::Lock: {
        auto it = n.edge.holder ? index_of.find(static_cast<const FiberBase*>(n.edge.holder)) : index_of.end();
        if (it == index_of.end()) n.unknown_target = true;  // free, a thread, or not our fiber
        else n.targets.push_back(it->second);
        break;
      }
      case WaitEdge::Readers: {
        if (n.edge.unrecorded) n.unknown_target = true;  // someone unnamed may release it
        for (std::size_t k = 0; k < n.edge.nreaders; ++k) {
          auto it = index_of.find(static_cast<const FiberBase*>(n.edge.readers[k]));
          if (it == index_of.end()) n.unknown_target = true;  // a thread, or not our fiber
          else n.targets.push_back(it->second);
        }
        break;
      }
      case WaitEdge::Join: {
        auto it = by_fiber_id.find(n.edge.target);
        if (it == by_fiber_id.end()) n.unknown_target = true;  // a blocking task, or finished
        else n.targets.push_back(it->second);
        break;
      }
      case WaitEdge::Set: {
        auto it = set_members.find(n.edge.set);
        if (it == set_members.end()) n.unknown_target = true;
        else n.targets = it->second;
        if (std::find(new_fibers_sets.begin(), new_fibers_sets.end(), n.edge.set) != new_fibers_sets.end()) {
          n.unknown_target = true;  // a child spawned meanwhile
        }
        break;
      }
    }
  }

  // The stuck set: candidates minus (repeatedly) every node with an edge out of the set.
  const std::uint32_t count = static_cast<std::uint32_t>(nodes.size());
  std::vector<char> stuck(count, 0);
  std::vector<std::vector<std::uint32_t>> waiters_on(count);
  std::vector<std::uint32_t> removed;
  for (std::uint32_t i = 0; i < count; ++i) {
    const Node& n = nodes[i];
    stuck[i] = n.stable && graph_wait(n) && !n.timed && !n.scoped && !n.unknown_target && !n.targets.empty();
    if (!stuck[i]) removed.push_back(i);
    for (std::uint32_t t : n.targets) waiters_on[t].push_back(i);
  }
  while (!removed.empty()) {
    const std::uint32_t t = removed.back();
    removed.pop_back();
    for (std::uint32_t w : waiters_on[t]) {
      if (stuck[w]) {
        stuck[w] = 0;
        removed.push_back(w);
      }
    }
  }

  std::vector<std::vector<std::uint32_t>> cycles;
  for (auto& comp : cyclic_components(nodes, stuck)) cycles.push_back(wait_for_order(nodes, std::move(comp)));
  // Each other stuck fiber waits (through others) on some cycle: attach it to the first one its
  // first edge leads to.
  std::vector<int> owner(count, -1);
  for (std::size_t c = 0; c < cycles.size(); ++c) {
    for (std::uint32_t m : cycles[c]) owner[m] = static_cast<int>(c);
  }
  std::vector<std::vector<std::uint32_t>> behind(cycles.size());
  for (std::uint32_t i = 0; i < count; ++i) {
    if (!stuck[i] || owner[i] >= 0) continue;
    std::vector<std::uint32_t> path;
    std::uint32_t cur = i;
    while (owner[cur] < 0 && path.size() <= count) {
      path.push_back(cur);
      cur = nodes[cur].targets[0];
    }
    const int c = owner[cur];
    if (c < 0) continue;  // cannot happen: every stuck path ends in a cycle
    for (std::uint32_t p : path) {
      owner[p] = c;
      behind[static_cast<std::size_t>(c)].push_back(p);
    }
  }

  // The global check (weft/deadlock.hpp): every fiber in the same wait throughout, none wakeable.
  bool all_asleep = !registry_changed;
  for (std::uint32_t i = 0; all_asleep && i < count; ++i) {
    const Node& n = nodes[i];
    if (stuck[i]) continue;
    const bool fiber_only_wait = q.only_fibers_wake && n.stable && !n.timed && !n.scoped && n.what && !n.what->external &&
                                 (!graph_wait(n) || !n.unknown_target);
    if (!fiber_only_wait) all_asleep = false;
  }
  if (cycles.empty() && !all_asleep) return;

  // Describe the fibers involved (with backtraces if asked), then build the reports.
  std::vector<char> involved(count, 0);
  for (std::uint32_t i = 0; i < count; ++i) involved[i] = all_asleep || owner[i] >= 0;
  std::unordered_map<std::uint64_t, FiberMetrics> described;
  const FiberQuery fq{.backtraces = q.backtraces, .stack_usage = false};
  s.for_each_live([&](FiberBase* f) {
    auto it = index_of.find(f);
    if (it == index_of.end() || nodes[it->second].id != f->id_ || !involved[it->second]) return;
    described.emplace(f->id_, describe_fiber(s, f, fq));
  });
  std::unordered_map<std::uint64_t, const FiberMetrics*> by_id;
  for (auto& [id, m] : described) by_id.emplace(id, &m);
  auto metrics_of_node = [&](std::uint32_t i) {
    FiberMetrics m;
    auto it = described.find(nodes[i].id);
    if (it != described.end()) m = it->second;  // else it finished after pass 3: keep the id
    m.id = nodes[i].id;
    m.waits_for.clear();
    for (std::uint32_t t : nodes[i].targets) m.waits_for.push_back(nodes[t].id);
    const std::string edge = describe_edge(nodes[i], nodes, by_id);
    if (!edge.empty()) m.wait += nodes[i].edge.kind == detail::WaitEdge::Join ? " " + edge : " (" + edge + ")";
    return m;
  };
  for (std::size_t c = 0; c < cycles.size(); ++c) {
    Deadlock d;
    d.kind = Deadlock::Kind::Cycle;
    d.runtime = s.runtime_id_;
    for (std::uint32_t m : cycles[c]) d.fibers.push_back(metrics_of_node(m));
    d.members = d.fibers.size();
    std::sort(behind[c].begin(), behind[c].end(), [&](std::uint32_t a, std::uint32_t b) { return nodes[a].id < nodes[b].id; });
    for (std::uint32_t m : behind[c]) d.fibers.push_back(metrics_of_node(m));
    out.push_back(std::move(d));
  }
  if (all_asleep) {
    Deadlock d;
    d.kind = Deadlock::Kind::AllAsleep;
    d.runtime = s.runtime_id_;
    for (std::uint32_t i = 0; i < count; ++i) d.fibers.push_back(metrics_of_node(i));
    std::sort(d.fibers.begin(), d.fibers.end(), [](const FiberMetrics& a, const FiberMetrics& b) { return a.id < b.id; });
    d.members = d.fibers.size();
    out.push_back(std::move(d));
  }
}

}  // namespace detail

// ---------------------------------------------------------------- reports

namespace {
std::string fiber_label(const FiberMetrics& f) {
  std::string s = "fiber " + std::to_string(f.id);
  if (!f.name.empty()) s += " '" + f.name + "'";
  return s;
}

using Shown = std::set<std::pair<std::uint64_t, std::uint64_t>>;  // (runtime, fiber) already printed

void describe_member(std::ostringstream& os, std::uint64_t runtime, const FiberMetrics& f, Shown* shown) {
  os << "  " << fiber_label(f) << " waiting on: " << (f.wait.empty() ? "(finished meanwhile)" : f.wait) << "\n";
  if (shown && !shown->insert({runtime, f.id}).second) return;  // its stack is printed above
  if (!f.spawn_file.empty()) {
    os << "    spawned at " << f.spawn_file << ":" << f.spawn_line << " (" << detail::shorten_names(f.spawn_function) << ")\n";
  }
  for (std::size_t i = 0; i < f.backtrace.size(); ++i) os << "      #" << i << " " << detail::shorten_names(f.backtrace[i]) << "\n";
}

std::string render(const Deadlock& d, Shown* shown) {
  std::ostringstream os;
  if (d.kind == Deadlock::Kind::AllAsleep) {
    os << "weft: all fibers of runtime " << d.runtime << " are asleep - deadlock! (" << d.fibers.size()
       << " fibers parked; no timer, fd, or waker outside the runtime can wake any of them)\n";
    for (const auto& f : d.fibers) describe_member(os, d.runtime, f, shown);
    return os.str();
  }
  os << "weft: deadlock in runtime " << d.runtime << ": " << d.members << " fibers wait for each other: ";
  for (std::size_t i = 0; i < d.members; ++i) os << fiber_label(d.fibers[i]) << " -> ";
  if (d.members) os << fiber_label(d.fibers[0]);
  os << "\n";
  for (std::size_t i = 0; i < d.members; ++i) describe_member(os, d.runtime, d.fibers[i], shown);
  if (d.fibers.size() > d.members) {
    os << "  stuck behind it: " << d.fibers.size() - d.members << " fibers\n";
    for (std::size_t i = d.members; i < d.fibers.size(); ++i) describe_member(os, d.runtime, d.fibers[i], shown);
  }
  return os.str();
}
}  // namespace

std::string Deadlock::key() const {
  std::vector<std::uint64_t> ids;
  for (std::size_t i = 0; i < members && i < fibers.size(); ++i) ids.push_back(fibers[i].id);
  std::sort(ids.begin(), ids.end());
  std::string k = std::to_string(runtime) + (kind == Kind::AllAsleep ? ":all" : ":cycle");
  for (auto id : ids) k += " " + std::to_string(id);
  return k;
}

std::string Deadlock::to_string() const { return render(*this, nullptr); }

std::string Deadlock::to_json() const {
  std::ostringstream os;
  os << "{\"kind\":\"" << (kind == Kind::AllAsleep ? "all_asleep" : "cycle") << "\",\"runtime\":" << runtime
     << ",\"members\":" << members << ",\"fibers\":[";
  for (std::size_t i = 0; i < fibers.size(); ++i) {
    if (i) os << ",";
    detail::write_fiber_json(os, fibers[i]);
  }
  os << "]}";
  return os.str();
}

namespace detail {
void write_deadlocks_json(std::ostream& os, Scheduler& s) {
  std::vector<Deadlock> dl;
  find_deadlocks_in(s, DeadlockQuery{.backtraces = false}, dl);
  os << "[";
  for (std::size_t i = 0; i < dl.size(); ++i) os << (i ? "," : "") << dl[i].to_json();
  os << "]";
}
}  // namespace detail

std::string DeadlockReport::to_json() const {
  std::string s = "{\"deadlocks\":[";
  for (std::size_t i = 0; i < deadlocks.size(); ++i) s += (i ? "," : "") + deadlocks[i].to_json();
  return s + "]}";
}

std::string DeadlockReport::to_string() const {
  // A fiber in several deadlocks (a cycle, and its runtime all asleep) gets its stack printed once.
  Shown shown;
  std::string s;
  for (const auto& d : deadlocks) s += render(d, &shown);
  return s;
}

DeadlockReport find_deadlocks(const DeadlockQuery& q) {
  struct Ctx {
    const DeadlockQuery* q;
    DeadlockReport r;
  } ctx{&q, {}};
  detail::Scheduler::for_each_runtime(
      [](detail::Scheduler& s, void* p) {
        auto* c = static_cast<Ctx*>(p);
        detail::find_deadlocks_in(s, *c->q, c->r.deadlocks);
      },
      &ctx);
  return std::move(ctx.r);
}

// ---------------------------------------------------------------- watchdog

struct DeadlockWatchdog::State {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::atomic<unsigned> reports{0};
  std::atomic<unsigned> checks{0};
};

namespace {

std::function<void(const Deadlock&)> fd_reporter(int fd) {
  if (fd < 0) throw Error("weft::DeadlockWatchdog: invalid file descriptor " + std::to_string(fd));
  return [fd](const Deadlock& d) { detail::write_all(fd, d.to_string()); };
}
}  // namespace

DeadlockWatchdog::DeadlockWatchdog(std::chrono::milliseconds period, int fd, DeadlockQuery q)
    : DeadlockWatchdog(period, fd_reporter(fd), q) {}

DeadlockWatchdog::DeadlockWatchdog(std::chrono::milliseconds period, std::function<void(const Deadlock&)> on_report,
                                   DeadlockQuery q)
    : s_(std::make_shared<State>()) {
  if (period <= std::chrono::milliseconds::zero()) {
    throw Error("weft::DeadlockWatchdog: the period must be positive (got " + std::to_string(period.count()) + " ms)");
  }
  if (!on_report) throw Error("weft::DeadlockWatchdog: on_report is empty; pass a function or use the fd form");
  thread_ = std::thread([s = s_, period, on_report = std::move(on_report), q] {
    std::set<std::string> reported;
    std::unique_lock lk(s->mu);
    while (!s->stop) {
      lk.unlock();
      DeadlockReport r = find_deadlocks(q);
      std::set<std::string> now;
      for (const auto& d : r.deadlocks) {
        std::string k = d.key();
        now.insert(k);
        if (reported.count(k)) continue;
        try {
          on_report(d);
        } catch (...) {  // a reporter that throws must not take the process down
        }
        s->reports.fetch_add(1, std::memory_order_release);
      }
      reported = std::move(now);  // a deadlock that ended (its fibers cancelled) may be reported again
      s->checks.fetch_add(1, std::memory_order_release);
      lk.lock();
      s->cv.wait_for(lk, period, [&] { return s->stop; });
    }
  });
}

DeadlockWatchdog::~DeadlockWatchdog() {
  {
    std::lock_guard lk(s_->mu);
    s_->stop = true;
  }
  s_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

unsigned DeadlockWatchdog::reports() const noexcept { return s_->reports.load(std::memory_order_acquire); }
unsigned DeadlockWatchdog::checks() const noexcept { return s_->checks.load(std::memory_order_acquire); }

}  // namespace weft
