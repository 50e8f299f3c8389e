// Fiber control blocks (Task<T, F>: the FiberBase, the closure and the result slot) come from here
// instead of straight from malloc.
//
// Why: spawn-heavy code allocates and frees these blocks in bursts (doc/bench.md's spawn_join and
// spawn_many: 100k per repetition). glibc trims the freed top of a heap back to the kernel after
// such a burst, so the next burst page-faults its memory in again (perf: ~40 % of spawn_join was
// kernel page-fault time on this VM, where a first touch costs microseconds); and because the
// spawning fiber migrates between workers, it allocates from a different per-thread arena each
// time while the other arena's free memory sits unused (idle_memory grew by ~470 bytes/task from
// its first to its second repetition). Here, as for stacks, freed blocks stay mapped and are reused
// warm, by any thread: a process keeps its high-water mark of control blocks.
//
// Shape: size classes of kGranule bytes up to kMaxBlock (bigger blocks go to operator new). Each
// thread keeps a LIFO free list per class (the warmest block is handed out next), capped at
// kCacheMax; beyond that, kBatch blocks move to a central list under a mutex, and an empty thread
// list refills kBatch blocks from it, or carves a fresh slab. A thread that exits hands its lists
// to the central one. ASan builds use operator new directly, so use-after-free stays detectable.
#include <weft/detail/block_allocator.hpp>

#include "fiber/switch.hpp"  // WEFT_ASAN

#include <cstddef>
#include <mutex>
#include <new>

namespace weft::detail {

namespace {

constexpr std::size_t kGranule = 32;
constexpr std::size_t kMaxBlock = 1024;
constexpr std::size_t kClasses = kMaxBlock / kGranule;
constexpr std::size_t kCacheMax = 256;
constexpr std::size_t kBatch = 64;
constexpr std::size_t kSlabBytes = 256 * 1024;

struct FreeBlock {
  FreeBlock* next;
};

std::size_t class_of(std::size_t size) noexcept { return (size - 1) / kGranule; }
std::size_t block_size(std::size_t c) noexcept { return (c + 1) * kGranule; }

// Blocks no thread caches. Never destroyed: blocks may be freed during static destruction.
struct Central {
  std::mutex mu;
  FreeBlock* head[kClasses] = {};

  static Central& get() {
    static Central* c = new Central();
    return *c;
  }
  // Links the chain first..last in front (O(1) under the lock).
  void push_chain(std::size_t c, FreeBlock* first, FreeBlock* last) {
    std::lock_guard lk(mu);
    last->next = head[c];
    head[c] = first;
  }
  // Detaches up to `n` blocks; returns the chain (null-terminated) and how many.
  FreeBlock* pop_chain(std::size_t c, std::size_t n, std::size_t& got) {
    std::lock_guard lk(mu);
    FreeBlock* first = head[c];
    FreeBlock* last = nullptr;
    got = 0;
    for (FreeBlock* b = first; b && got < n; b = b->next) {
      last = b;
      ++got;
    }
    if (!last) return nullptr;
    head[c] = last->next;
    last->next = nullptr;
    return first;
  }
};

struct ThreadCache {
  FreeBlock* head[kClasses] = {};
  std::size_t count[kClasses] = {};
  ~ThreadCache();
};

thread_local ThreadCache tls_cache;
// Set once tls_cache is destroyed (thread exit): later frees on this thread go to Central.
thread_local bool tls_cache_gone = false;

ThreadCache::~ThreadCache() {
  tls_cache_gone = true;
  for (std::size_t c = 0; c < kClasses; ++c) {
    FreeBlock* first = head[c];
    if (!first) continue;
    FreeBlock* last = first;
    while (last->next) last = last->next;
    Central::get().push_chain(c, first, last);
    head[c] = nullptr;
    count[c] = 0;
  }
}

// Fills an empty thread list: from Central, else from a new slab.
void refill(ThreadCache& tc, std::size_t c) {
  std::size_t got = 0;
  if (FreeBlock* chain = Central::get().pop_chain(c, kBatch, got)) {
    tc.head[c] = chain;
    tc.count[c] = got;
    return;
  }
  const std::size_t bs = block_size(c);
  const std::size_t n = kSlabBytes / bs;
  char* slab = static_cast<char*>(::operator new(n * bs));  // never freed (see the header comment)
  // Lowest address first out, so a burst of spawns walks the slab upwards.
  FreeBlock* list = nullptr;
  for (std::size_t i = n; i-- > 0;) {
    auto* b = reinterpret_cast<FreeBlock*>(slab + i * bs);
    b->next = list;
    list = b;
  }
  tc.head[c] = list;
  tc.count[c] = n;
}

}  // namespace

void* fiber_block_alloc(std::size_t size) {
#if WEFT_ASAN
  return ::operator new(size);
#else
  if (size == 0 || size > kMaxBlock) return ::operator new(size);
  const std::size_t c = class_of(size);
  if (tls_cache_gone) {
    std::size_t got = 0;
    if (FreeBlock* b = Central::get().pop_chain(c, 1, got)) return b;
    return ::operator new(block_size(c));
  }
  ThreadCache& tc = tls_cache;
  if (!tc.head[c]) refill(tc, c);
  FreeBlock* b = tc.head[c];
  tc.head[c] = b->next;
  --tc.count[c];
  return b;
#endif
}

void fiber_block_free(void* p, std::size_t size) noexcept {
#if WEFT_ASAN
  ::operator delete(p);  // unsized: clang needs -fsized-deallocation for the sized one
#else
  if (size == 0 || size > kMaxBlock) {
    ::operator delete(p);  // unsized: clang needs -fsized-deallocation for the sized one
    return;
  }
  const std::size_t c = class_of(size);
  auto* b = static_cast<FreeBlock*>(p);
  if (tls_cache_gone) {
    Central::get().push_chain(c, b, b);
    return;
  }
  ThreadCache& tc = tls_cache;
  b->next = tc.head[c];
  tc.head[c] = b;
  if (++tc.count[c] > kCacheMax) {
    // Hand kBatch blocks to Central. They are taken from below the kCacheMax - kBatch warmest ones.
    FreeBlock* keep_last = tc.head[c];
    for (std::size_t i = 1; i < kCacheMax - kBatch; ++i) keep_last = keep_last->next;
    FreeBlock* first = keep_last->next;
    FreeBlock* last = first;
    for (std::size_t i = 1; i < kBatch; ++i) last = last->next;
    keep_last->next = last->next;
    tc.count[c] -= kBatch;
    Central::get().push_chain(c, first, last);
  }
#endif
}

}  // namespace weft::detail
