#include "fiber/stack_pool.hpp"

#include "fiber/switch.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace weft::detail {

namespace {
// Slab sizing: fewer, larger mmaps amortise the syscall; bounded so a burst doesn't map gigabytes.
constexpr std::size_t kSlabBytes = 4u << 20;
constexpr std::size_t kMinPerSlab = 1;
constexpr std::size_t kMaxPerSlab = 64;

std::size_t read_max_map_count() {
  std::ifstream in("/proc/sys/vm/max_map_count");
  std::size_t n = 0;
  if (in >> n && n > 0) return n;
  return 65530;
}

[[noreturn]] void die_oom(std::size_t bytes) {
  char msg[256];
  std::snprintf(msg, sizeof msg,
                "weft: cannot map %zu bytes for fiber stacks: %s. Lower the stack size "
                "(Runtime::Builder::stack_size / Options::stack_size) or the number of live fibers.\n",
                bytes, std::strerror(errno));
  throw Error(msg);
}
}  // namespace

StackPool& StackPool::instance() {
  static StackPool* pool = new StackPool();  // never destroyed: stacks may outlive statics
  return *pool;
}

StackPool::StackPool() {
  std::size_t maps = read_max_map_count();
  // Two mappings per guarded stack; keep a quarter of the budget (min 4096) for everything else.
  std::size_t reserve = std::max<std::size_t>(4096, maps / 4);
  guard_budget_ = maps > reserve ? (maps - reserve) / 2 : 0;
}

std::size_t StackPool::page_size() noexcept {
  static const std::size_t p = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return p;
}

std::size_t StackPool::round_size(std::size_t size) noexcept {
  const std::size_t p = page_size();
  size = std::max<std::size_t>(size, 4 * p);
  return (size + p - 1) / p * p;
}

void StackPool::map_slab(std::size_t size, std::vector<Stack>& out) {
  const std::size_t p = page_size();
  const std::size_t stride = size + p;  // guard (or gap) page + usable stack
  const std::size_t n = std::clamp(kSlabBytes / stride, kMinPerSlab, kMaxPerSlab);
  void* base = ::mmap(nullptr, stride * n, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (base == MAP_FAILED) die_oom(stride * n);
  char* b = static_cast<char*>(base);
  for (std::size_t i = 0; i < n; ++i) {
    Stack s;
    s.lo = b + i * stride + p;
    s.size = size;
    // Claim a guard slot from the budget; mprotect failing (ENOMEM: out of mappings) just means
    // this stack goes unguarded.
    if (guarded_.fetch_add(1, std::memory_order_relaxed) < guard_budget_ &&
        ::mprotect(s.lo - p, p, PROT_NONE) == 0) {
      s.guarded = true;
    } else {
      guarded_.fetch_sub(1, std::memory_order_relaxed);
    }
    register_stack_with_valgrind(s);
    out.push_back(s);
  }
  mapped_.fetch_add(n, std::memory_order_relaxed);
}

Stack StackPool::allocate(std::size_t size) {
  size = round_size(size);
  std::vector<Stack> fresh;
  {
    std::lock_guard lk(mu_);
    for (auto& c : classes_) {
      if (c.size == size && !c.free.empty()) {
        Stack s = c.free.back();
        c.free.pop_back();
        return s;
      }
    }
  }
  map_slab(size, fresh);
  Stack s = fresh.back();
  fresh.pop_back();
  deallocate_batch(fresh);
  return s;
}

void StackPool::deallocate(Stack s) {
  std::vector<Stack> v{s};
  deallocate_batch(v);
}

void StackPool::deallocate_batch(std::vector<Stack>& v) {
  if (v.empty()) return;
  std::lock_guard lk(mu_);
  for (Stack s : v) {
    auto it = std::find_if(classes_.begin(), classes_.end(), [&](const SizeClass& c) { return c.size == s.size; });
    if (it == classes_.end()) {
      classes_.push_back(SizeClass{s.size, {}});
      it = classes_.end() - 1;
    }
    it->free.push_back(s);
  }
  v.clear();
}

StackCache::~StackCache() { StackPool::instance().deallocate_batch(cache_); }

Stack StackCache::get(std::size_t size) {
  handed_out_.store(handed_out_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  size = size == 0 ? default_size_ : StackPool::round_size(size);
  if (size != default_size_) return StackPool::instance().allocate(size);
  if (cache_.empty()) {
    // Refill a batch under one lock acquisition rather than one per spawn.
    StackPool& pool = StackPool::instance();
    for (std::size_t i = 0; i < kBatch / 2; ++i) cache_.push_back(pool.allocate(size));
    std::reverse(cache_.begin(), cache_.end());
  }
  Stack s = cache_.back();
  cache_.pop_back();
  return s;
}

void StackCache::put(Stack s) {
  handed_out_.store(handed_out_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  if (s.size != default_size_) {
    StackPool::instance().deallocate(s);
    return;
  }
  cache_.push_back(s);  // the warmest stack is handed out next
  if (cache_.size() > kMax) {
    // Hand the coldest half to the shared pool so other workers can use them.
    std::vector<Stack> cold(cache_.begin(), cache_.begin() + static_cast<long>(kMax / 2));
    cache_.erase(cache_.begin(), cache_.begin() + static_cast<long>(kMax / 2));
    StackPool::instance().deallocate_batch(cold);
  }
}

}  // namespace weft::detail
