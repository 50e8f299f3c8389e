// The control-block pool (lib/fiber/block_pool.cpp): blocks of every size class are distinct,
// aligned and reused warm; blocks move between threads (freed on one, reused on another, handed
// back when a thread exits); closures too big or too aligned for the pool still spawn.
#include "test_util.hpp"

#include <weft/detail/block_allocator.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace {
using weft::detail::fiber_block_alloc;
using weft::detail::fiber_block_free;

// Fills a block with a pattern derived from its index, so overlapping blocks would be caught.
void fill(void* p, std::size_t size, unsigned i) { std::memset(p, static_cast<int>(i & 0xff), size); }
bool intact(const void* p, std::size_t size, unsigned i) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t k = 0; k < size; ++k) {
    if (b[k] != static_cast<unsigned char>(i & 0xff)) return false;
  }
  return true;
}
}  // namespace

TEST_CASE("every size class hands out distinct, 16-byte aligned blocks, and reuses the last freed one first") {
  for (std::size_t size : {1, 8, 31, 32, 33, 296, 344, 352, 1000, 1024, 1025, 4096}) {
    CAPTURE(size);
    std::vector<void*> blocks;
    for (unsigned i = 0; i < 700; ++i) {  // more than a thread list holds: exercises refill and flush
      void* p = fiber_block_alloc(size);
      REQUIRE(p != nullptr);
      CHECK(reinterpret_cast<std::uintptr_t>(p) % 16 == 0);
      fill(p, size, i);
      blocks.push_back(p);
    }
    for (unsigned i = 0; i < blocks.size(); ++i) CHECK(intact(blocks[i], size, i));
    for (void* p : blocks) fiber_block_free(p, size);
    void* again = fiber_block_alloc(size);
#if !WEFT_ASAN
    if (size <= 1024) CHECK(again == blocks.back());  // warm first
#endif
    fiber_block_free(again, size);
  }
}

TEST_CASE("blocks freed on one thread are reused by others, also after the freeing thread exited") {
  constexpr std::size_t kSize = 352;
  constexpr unsigned kN = 5000;
  std::vector<void*> blocks(kN);
  std::thread([&] {
    for (unsigned i = 0; i < kN; ++i) {
      blocks[i] = fiber_block_alloc(kSize);
      fill(blocks[i], kSize, i);
    }
  }).join();
  std::thread([&] {
    for (unsigned i = 0; i < kN; ++i) {
      CHECK(intact(blocks[i], kSize, i));
      fiber_block_free(blocks[i], kSize);
    }
  }).join();  // its cached blocks go back to the central list as it exits
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < 4; ++t) {
    ts.emplace_back([t] {
      std::vector<void*> mine;
      for (unsigned i = 0; i < kN / 2; ++i) {
        mine.push_back(fiber_block_alloc(kSize));
        fill(mine.back(), kSize, t * 1000 + i);
      }
      for (unsigned i = 0; i < mine.size(); ++i) CHECK(intact(mine[i], kSize, t * 1000 + i));
      for (void* p : mine) fiber_block_free(p, kSize);
    });
  }
  for (auto& t : ts) t.join();
}

TEST_CASE("blocks passed between threads in both directions stay intact and distinct (batches move whole)") {
  // Each thread allocates, fills, and hands its blocks to the next thread, which checks and frees
  // them: every thread frees blocks it did not allocate, so batches flow through the central store
  // in both directions while others pop from it. Sizes: the smallest class (a batch header fills
  // it exactly) and a control block's. A block handed out twice shows as a pattern overwritten.
  for (std::size_t size : {32, 352}) {
    CAPTURE(size);
    constexpr unsigned kThreads = 4;
    const long rounds = weft_test::scaled(200, 10);
    struct Mailbox {
      std::mutex mu;
      std::vector<std::pair<void*, unsigned>> blocks;
    };
    std::array<Mailbox, kThreads> boxes;
    std::atomic<long> corrupt{0};
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < kThreads; ++t) {
      ts.emplace_back([&, t] {
        for (long r = 0; r < rounds; ++r) {
          std::vector<std::pair<void*, unsigned>> mine;
          const unsigned n = 1 + static_cast<unsigned>((r * 37 + t * 11) % 300);  // across batch edges
          for (unsigned i = 0; i < n; ++i) {
            const unsigned tag = t * 100000 + static_cast<unsigned>(r) * 7 + i;
            void* p = fiber_block_alloc(size);
            fill(p, size, tag);
            mine.emplace_back(p, tag);
          }
          {
            std::lock_guard lk(boxes[(t + 1) % kThreads].mu);
            auto& b = boxes[(t + 1) % kThreads].blocks;
            b.insert(b.end(), mine.begin(), mine.end());
          }
          std::vector<std::pair<void*, unsigned>> theirs;
          {
            std::lock_guard lk(boxes[t].mu);
            theirs.swap(boxes[t].blocks);
          }
          for (auto [p, tag] : theirs) {
            if (!intact(p, size, tag)) corrupt.fetch_add(1);
            fiber_block_free(p, size);
          }
        }
      });
    }
    for (auto& t : ts) t.join();
    for (auto& box : boxes) {
      for (auto [p, tag] : box.blocks) {
        if (!intact(p, size, tag)) corrupt.fetch_add(1);
        fiber_block_free(p, size);
      }
    }
    CHECK(corrupt.load() == 0);
  }
}

TEST_CASE("fibers whose closures are large or over-aligned spawn, run and join, their private record intact") {
  // The private part of a fiber's record sits just before the task object in the same block
  // (lib/fiber/fiber_record.hpp); over-aligned closures take another allocation path. The name
  // lives in the private part: reading it back after a yield (queue links, worker, wait word, all
  // private) shows neither part overwrote the other, and ASan builds check the bounds.
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      std::array<std::uint64_t, 300> big{};  // 2.4 KiB closure: bigger than the largest class
      big[299] = 7;
      struct alignas(64) Aligned {
        std::uint64_t v = 5;
      } aligned;
      struct alignas(256) Aligned256 {
        std::uint64_t v = 11;
      } aligned256;
      std::vector<weft::JoinHandle<std::uint64_t>> hs;
      for (int i = 0; i < 200; ++i) {
        hs.push_back(weft::spawn(weft::Options{.name = "big"}, [big] {
          weft::yield_now();
          CHECK(weft::this_fiber::name() == "big");
          return big[299];
        }));
        hs.push_back(weft::spawn(weft::Options{.name = "aligned"}, [aligned] {
          CHECK(reinterpret_cast<std::uintptr_t>(&aligned) % 64 == 0);
          weft::yield_now();
          CHECK(weft::this_fiber::name() == "aligned");
          return aligned.v;
        }));
        hs.push_back(weft::spawn(weft::Options{.name = "aligned256"}, [aligned256] {
          CHECK(reinterpret_cast<std::uintptr_t>(&aligned256) % 256 == 0);
          weft::yield_now();
          CHECK(weft::this_fiber::name() == "aligned256");
          return aligned256.v;
        }));
      }
      std::uint64_t sum = 0;
      for (auto& h : hs) sum += *h.join();
      CHECK(sum == 200 * (7 + 5 + 11));
    });
  });
}
