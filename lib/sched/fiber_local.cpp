// FiberLocal storage: a small vector of (key, value, destructor) per fiber, hung off
// FiberBase::locals_ on first use, and one per plain thread. Only the fiber itself touches its
// vector (it runs on one worker at a time), so no lock is needed; migration is harmless because
// the vector belongs to the fiber, not to the thread.
#include <weft/fiber_local.hpp>

#include "sched/worker.hpp"

#include <atomic>
#include <vector>

namespace weft::detail {

namespace {
struct LocalSlots {
  struct Entry {
    std::size_t key;
    void* p;
    LocalDtor d;
  };
  std::vector<Entry> v;

  Entry* find(std::size_t key) noexcept {
    for (Entry& e : v) {
      if (e.key == key) return &e;
    }
    return nullptr;
  }
  // Newest first; a destructor that touches a FiberLocal again adds an entry, which the loop then
  // destroys too.
  void destroy_all() noexcept {
    while (!v.empty()) {
      const Entry e = v.back();
      v.pop_back();
      e.d(e.p);
    }
  }
  ~LocalSlots() { destroy_all(); }
};

thread_local LocalSlots thread_slots;  // plain threads (never a fiber: those use their own)

LocalSlots* slots(bool create) {
  if (FiberBase* f = current_fiber()) {
    if (!rec(f)->locals_ && create) rec(f)->locals_ = new LocalSlots;
    return static_cast<LocalSlots*>(rec(f)->locals_);
  }
  return &thread_slots;
}
}  // namespace

std::size_t fiber_local_new_key() noexcept {
  static std::atomic<std::size_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

void* fiber_local_find(std::size_t key) noexcept {
  LocalSlots* s = slots(false);
  if (!s) return nullptr;
  LocalSlots::Entry* e = s->find(key);
  return e ? e->p : nullptr;
}

void fiber_local_insert(std::size_t key, void* p, LocalDtor d) { slots(true)->v.push_back({key, p, d}); }

void fiber_local_erase(std::size_t key) noexcept {
  LocalSlots* s = slots(false);
  if (!s) return;
  if (LocalSlots::Entry* e = s->find(key)) {
    const LocalSlots::Entry copy = *e;
    *e = s->v.back();
    s->v.pop_back();
    copy.d(copy.p);
  }
}

void destroy_fiber_locals(FiberBase* f) noexcept {
  auto* s = static_cast<LocalSlots*>(rec(f)->locals_);
  s->destroy_all();
  rec(f)->locals_ = nullptr;
  delete s;
}

}  // namespace weft::detail
