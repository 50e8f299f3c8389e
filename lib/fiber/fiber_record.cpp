// A fiber's record as one block: the private FiberRecord, then the task object (fiber_record.hpp).
#include "fiber/fiber_record.hpp"

#include <new>

namespace weft::detail {

// The private part must keep the object behind it aligned however the record grows.
static_assert(kRecordSpace % alignof(std::max_align_t) == 0);

void* fiber_record_alloc(std::size_t size) {
  char* block = static_cast<char*>(fiber_block_alloc(kRecordSpace + size));
  ::new (static_cast<void*>(block)) FiberRecord();
  return block + kRecordSpace;
}

void fiber_record_free(void* task, std::size_t size) noexcept {
  char* block = static_cast<char*>(task) - kRecordSpace;
  std::launder(reinterpret_cast<FiberRecord*>(block))->~FiberRecord();
  fiber_block_free(block, kRecordSpace + size);
}

// Over-aligned closures: the block comes from the global operator new with that alignment; the
// record still ends kRecordSpace before the object (the block starts `lead` bytes before it).
namespace {
std::size_t lead_for(std::size_t align) noexcept { return (kRecordSpace + align - 1) / align * align; }
}  // namespace

void* fiber_record_alloc_aligned(std::size_t size, std::size_t align) {
  const std::size_t lead = lead_for(align);
  char* block = static_cast<char*>(::operator new(lead + size, std::align_val_t(align)));
  char* task = block + lead;
  ::new (static_cast<void*>(task - kRecordSpace)) FiberRecord();
  return task;
}

void fiber_record_free_aligned(void* task, std::size_t align) noexcept {
  char* t = static_cast<char*>(task);
  std::launder(reinterpret_cast<FiberRecord*>(t - kRecordSpace))->~FiberRecord();
  ::operator delete(t - lead_for(align), std::align_val_t(align));
}

}  // namespace weft::detail
