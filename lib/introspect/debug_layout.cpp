// What tools/gdb/weft.py needs to walk the live fibers from raw memory: the list head
// (weft_runtime_list) and a table of field offsets (weft_debug_layout).
//
// Why a table: without debug info (the default release build, or a distribution's stripped
// library) gdb knows weft_runtime_list only as an address, not as a Scheduler*, and it has no
// Scheduler or FiberBase type to read fields by name. The table makes `info weft-fibers` work on any
// build, live or on a core file, and without gdb printing polymorphic values (the "RTTI symbol not
// found" warnings). Both symbols are exported (lib/weft.map) for debuggers; programs never use them.
//
// weft_runtime_list is defined here, not in scheduler.cpp, so that a static link that pulls in the
// scheduler (which links the list) also pulls in the table.
#include "platform/fcontext_layout.hpp"
#include "sched/scheduler.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <source_location>
#include <string>

extern "C" {
__attribute__((visibility("default"))) weft::detail::Scheduler* weft_runtime_list = nullptr;
}

namespace weft::detail {

// Index of each entry; tools/gdb/weft.py has the same list (LAYOUT_FIELDS): change both together
// and bump kDebugLayoutVersion when an entry changes meaning.
enum DebugLayoutIndex : std::size_t {
  kMagic,             // kDebugLayoutMagic | version
  kEntries,           // number of entries
  kSchedNextRuntime,  // Scheduler::next_runtime_ (Scheduler*)
  kSchedShards,       // Scheduler::shards_[0]
  kShardStride,       // sizeof(Scheduler::Shard)
  kShardHead,         // Shard::head (FiberBase*)
  kShardCount,        // Scheduler::kShards
  kFiberId,           // FiberBase::id_ (u64), from the FiberBase
  kFiberRecord,       // the private FiberRecord starts this many bytes before the FiberBase
  kFiberName,         // FiberRecord::name_ (std::string); this and the rest of kFiber*: from the record
  kFiberState,        // FiberRecord::state_ (u8: FiberState)
  kFiberCtx,          // FiberRecord::ctx_ (saved fcontext, pointer)
  kFiberWaitWhat,     // FiberRecord::wait_what_ (const WaitDesc*)
  kFiberWaitArg,      // FiberRecord::wait_arg_ (u64)
  kFiberSpawnSite,    // FiberRecord::spawn_site_ (std::source_location)
  kFiberStackLo,      // FiberRecord::stack_.lo (char*)
  kFiberStackSize,    // FiberRecord::stack_.size (u64)
  kFiberRegNext,      // FiberRecord::reg_next_ (FiberBase*)
  kWaitDescWhat,      // WaitDesc::what (const char*)
  kWaitDescArg,       // WaitDesc::arg (u8)
  kStringData,        // std::string: the data pointer
  kStringSize,        // std::string: the length (u64)
  kSiteImplFile,      // std::source_location: its first word points to an impl; file name (char*)
  kSiteImplLine,      // ... and line (u32). ~0 if this standard library's layout was not recognised.
  kCtxKnown,          // 1 if jump_fcontext saves contexts as lib/platform/fcontext_layout.hpp says, else 0
  kCtxFp,             // saved context: the frame pointer's offset (rbp / x29)
  kCtxPc,             // ... the resume pc's offset
  kCtxSize,           // ... its size: the resumed stack pointer is ctx + this
  kDebugLayoutEntries
};
constexpr std::uint64_t kDebugLayoutMagic = 0x5745465400000000;  // "WEFT"
constexpr std::uint64_t kDebugLayoutVersion = 2;
constexpr std::uint64_t kUnknown = ~std::uint64_t{0};

// The widths the script assumes; a change here must change the script.
static_assert(sizeof(FiberBase::id_) == 8 && sizeof(FiberRecord::wait_arg_) == 8);
static_assert(sizeof(FiberRecord::state_) == 1 && sizeof(WaitDesc::arg) == 1);
static_assert(sizeof(Stack::size) == 8 && sizeof(void*) == 8);

// The offset of the 8-byte word of `obj` equal to `value` (standard-library internals: found by
// looking, not by naming private members), or kUnknown.
std::uint64_t find_word(const void* obj, std::size_t size, std::uint64_t value) noexcept {
  for (std::size_t off = 0; off + 8 <= size; off += 4) {
    std::uint64_t w;
    std::memcpy(&w, static_cast<const char*>(obj) + off, 8);
    if (w == value) return off;
  }
  return kUnknown;
}

struct DebugLayout {
  // offsetof on these non-standard-layout classes (no virtual bases) is supported by g++ and clang.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
  static std::array<std::uint64_t, kDebugLayoutEntries> make() noexcept {
    std::array<std::uint64_t, kDebugLayoutEntries> t{};
    t[kMagic] = kDebugLayoutMagic | kDebugLayoutVersion;
    t[kEntries] = kDebugLayoutEntries;
    t[kSchedNextRuntime] = offsetof(Scheduler, next_runtime_);
    t[kSchedShards] = offsetof(Scheduler, shards_);
    t[kShardStride] = sizeof(Scheduler::Shard);
    t[kShardHead] = offsetof(Scheduler::Shard, head);
    t[kShardCount] = Scheduler::kShards;
    t[kFiberId] = offsetof(FiberBase, id_);
    t[kFiberRecord] = kRecordSpace;
    t[kFiberName] = offsetof(FiberRecord, name_);
    t[kFiberState] = offsetof(FiberRecord, state_);
    t[kFiberCtx] = offsetof(FiberRecord, ctx_);
    t[kFiberWaitWhat] = offsetof(FiberRecord, wait_what_);
    t[kFiberWaitArg] = offsetof(FiberRecord, wait_arg_);
    t[kFiberSpawnSite] = offsetof(FiberRecord, spawn_site_);
    t[kFiberStackLo] = offsetof(FiberRecord, stack_) + offsetof(Stack, lo);
    t[kFiberStackSize] = offsetof(FiberRecord, stack_) + offsetof(Stack, size);
    t[kFiberRegNext] = offsetof(FiberRecord, reg_next_);
    t[kWaitDescWhat] = offsetof(WaitDesc, what);
    t[kWaitDescArg] = offsetof(WaitDesc, arg);
#pragma GCC diagnostic pop
    // A string too long for the small-string buffer, so the data pointer is distinct.
    const std::string s(40, 'w');
    t[kStringData] = find_word(&s, sizeof s, reinterpret_cast<std::uintptr_t>(s.data()));
    t[kStringSize] = find_word(&s, sizeof s, s.size());
    const std::source_location loc = std::source_location::current();
    t[kSiteImplFile] = t[kSiteImplLine] = kUnknown;
    if (sizeof loc == sizeof(void*)) {
      const void* impl;
      std::memcpy(&impl, &loc, sizeof impl);
      if (impl != nullptr) {
        t[kSiteImplFile] = find_word(impl, 32, reinterpret_cast<std::uintptr_t>(loc.file_name()));
        for (std::size_t off = 0; off + 4 <= 32; off += 4) {  // the line is a 32-bit field
          std::uint32_t v;
          std::memcpy(&v, static_cast<const char*>(impl) + off, 4);
          if (v == loc.line() && off != t[kSiteImplFile] && off != t[kSiteImplFile] + 4) {
            t[kSiteImplLine] = off;
            break;
          }
        }
      }
    }
    t[kCtxKnown] = platform::fcontext_layout_known() ? 1 : 0;
    t[kCtxFp] = platform::kCtxFp;
    t[kCtxPc] = platform::kCtxPc;
    t[kCtxSize] = platform::kCtxSize;
    return t;
  }
};

}  // namespace weft::detail

extern "C" {
__attribute__((visibility("default"))) std::uint64_t weft_debug_layout[weft::detail::kDebugLayoutEntries];
}

namespace {
// Filled at load (the standard-library entries are found at run time); a core file holds it.
const bool g_layout_filled = [] {
  const auto t = weft::detail::DebugLayout::make();
  std::memcpy(weft_debug_layout, t.data(), sizeof weft_debug_layout);
  return true;
}();
}  // namespace
