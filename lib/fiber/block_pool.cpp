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
// Shape: size classes of kGranule bytes up to kMaxBlock (bigger blocks go to operator new). Blocks
// move between a thread and the central store only in batches of kBatch, and a batch moves in
// O(1): its blocks stay chained and its first block carries the batch's header (last block, count,
// the next batch). Why: the first version cut chains by walking them, and a walk over blocks that
// another core freed is one cache miss per block, serially — perf put 17 % of spawn_many in that
// walk (bench/RESULTS.md, twelfth session). Each thread keeps, per class, the chain it is filling or
// draining (`cur`, at most kBatch) and up to kFull full batches; the warmest block is handed out
// next, and when a thread holds too many, its oldest (coldest) full batch goes to the central
// store. A thread that exits hands everything to the central store. ASan builds use operator new
// directly, so use-after-free stays detectable.
#include <weft/detail/block_allocator.hpp>

#include "fiber/switch.hpp"  // WEFT_ASAN

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <new>

namespace weft::detail {

namespace {

constexpr std::size_t kGranule = 32;
constexpr std::size_t kMaxBlock = 1024;
constexpr std::size_t kClasses = kMaxBlock / kGranule;
constexpr std::size_t kBatch = 64;
constexpr std::size_t kFull = 3;  // a thread caches at most (kFull + 1) * kBatch blocks per class
constexpr std::size_t kSlabBytes = 256 * 1024;

struct FreeBlock {
  FreeBlock* next;  // within a chain; null-terminated
};
// Written over a batch's first block while the batch sits in the central store (the smallest
// class is kGranule = 32 bytes, exactly this).
struct BatchHeader : FreeBlock {
  BatchHeader* next_batch;
  FreeBlock* last;
  std::size_t n;
};
static_assert(sizeof(BatchHeader) <= kGranule);

std::size_t class_of(std::size_t size) noexcept { return (size - 1) / kGranule; }
std::size_t block_size(std::size_t c) noexcept { return (c + 1) * kGranule; }

struct Chain {
  FreeBlock* first = nullptr;
  FreeBlock* last = nullptr;
  std::size_t n = 0;
};

// Batches no thread caches, a LIFO stack per class (the last batch handed in is the warmest).
// Never destroyed: blocks may be freed during static destruction.
struct Central {
  std::mutex mu;
  BatchHeader* top[kClasses] = {};

  static Central& get() {
    static Central* c = new Central();
    return *c;
  }
  void push(std::size_t c, const Chain& ch) {
    auto* h = static_cast<BatchHeader*>(ch.first);
    h->last = ch.last;
    h->n = ch.n;
    std::lock_guard lk(mu);
    h->next_batch = top[c];
    top[c] = h;
  }
  // The top batch, or an empty chain.
  Chain pop(std::size_t c) {
    BatchHeader* h;
    {
      std::lock_guard lk(mu);
      h = top[c];
      if (!h) return {};
      top[c] = h->next_batch;
    }
    return Chain{h, h->last, h->n};
  }
};

struct ClassCache {
  Chain cur;                // blocks are handed out from and freed to its front
  Chain full[kFull];        // full[0] oldest ... full[nfull - 1] newest
  std::size_t nfull = 0;
};

struct ThreadCache {
  ClassCache cls[kClasses];
  ~ThreadCache();
};

thread_local ThreadCache tls_cache;
// Set once tls_cache is destroyed (thread exit): later allocations and frees on this thread go to
// the central store one block at a time.
thread_local bool tls_cache_gone = false;

ThreadCache::~ThreadCache() {
  tls_cache_gone = true;
  for (std::size_t c = 0; c < kClasses; ++c) {
    ClassCache& cc = cls[c];
    if (cc.cur.n) Central::get().push(c, cc.cur);
    for (std::size_t i = 0; i < cc.nfull; ++i) Central::get().push(c, cc.full[i]);
    cc = ClassCache{};
  }
}

// A fresh slab carved into batches in address order: the first becomes the thread's, the others go
// to the central store with the lowest addresses on top, so a burst of spawns walks the slab upwards.
Chain carve_slab(std::size_t c) {
  const std::size_t bs = block_size(c);
  const std::size_t n = kSlabBytes / bs;
  char* slab = static_cast<char*>(::operator new(n * bs));  // never freed (see the header comment)
  Chain mine;
  const std::size_t batches = (n + kBatch - 1) / kBatch;
  for (std::size_t k = batches; k-- > 0;) {
    const std::size_t lo = k * kBatch, hi = std::min(n, lo + kBatch);
    Chain ch{reinterpret_cast<FreeBlock*>(slab + lo * bs), reinterpret_cast<FreeBlock*>(slab + (hi - 1) * bs),
             hi - lo};
    for (std::size_t i = lo; i < hi; ++i) {
      reinterpret_cast<FreeBlock*>(slab + i * bs)->next =
          i + 1 < hi ? reinterpret_cast<FreeBlock*>(slab + (i + 1) * bs) : nullptr;
    }
    if (k == 0) {
      mine = ch;
    } else {
      Central::get().push(c, ch);
    }
  }
  return mine;
}

// `cur` is empty: the newest full batch, else one from the central store, else a fresh slab.
void refill(ClassCache& cc, std::size_t c) {
  if (cc.nfull) {
    cc.cur = cc.full[--cc.nfull];
  } else if (Chain ch = Central::get().pop(c); ch.n) {
    cc.cur = ch;
  } else {
    cc.cur = carve_slab(c);
  }
}

// `cur` reached kBatch: it becomes the newest full batch; if that makes too many, the oldest goes.
void spill(ClassCache& cc, std::size_t c) {
  if (cc.nfull == kFull) {
    Central::get().push(c, cc.full[0]);
    for (std::size_t i = 1; i < kFull; ++i) cc.full[i - 1] = cc.full[i];
    --cc.nfull;
  }
  cc.full[cc.nfull++] = cc.cur;
  cc.cur = Chain{};
}

}  // namespace

void* fiber_block_alloc(std::size_t size) {
#if WEFT_ASAN
  return ::operator new(size);
#else
  if (size == 0 || size > kMaxBlock) return ::operator new(size);
  const std::size_t c = class_of(size);
  if (tls_cache_gone) [[unlikely]] {
    Chain ch = Central::get().pop(c);
    if (!ch.n) return ::operator new(block_size(c));
    if (ch.n > 1) Central::get().push(c, Chain{ch.first->next, ch.last, ch.n - 1});
    return ch.first;
  }
  ClassCache& cc = tls_cache.cls[c];
  if (!cc.cur.n) refill(cc, c);
  FreeBlock* b = cc.cur.first;
  cc.cur.first = b->next;
  if (--cc.cur.n == 0) cc.cur.last = nullptr;
  // The next block is likely cold (freed on another core): start fetching it now, while the
  // caller fills this one, instead of when the next allocation needs its link.
  __builtin_prefetch(cc.cur.first, 1);
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
  if (tls_cache_gone) [[unlikely]] {
    b->next = nullptr;
    Central::get().push(c, Chain{b, b, 1});
    return;
  }
  ClassCache& cc = tls_cache.cls[c];
  b->next = cc.cur.first;
  if (!cc.cur.n) cc.cur.last = b;
  cc.cur.first = b;
  if (++cc.cur.n >= kBatch) spill(cc, c);
#endif
}

}  // namespace weft::detail
