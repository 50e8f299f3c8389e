// Function names from the ELF symbol table (.symtab) of the module that holds a code address.
//
//   if (auto s = elf_function_at(pc)) name = demangle(s->name), offset = s->offset;
//
// Why: dladdr sees only the dynamic symbol table, so it cannot name a function of a statically
// linked program (the arm64 CI binaries, under qemu), nor a function a shared program does not
// export (hidden, static, or an executable linked without -rdynamic). The full .symtab is still in
// the file unless it was stripped; reading it makes dumps and stall reports name those frames
// without libdw. A stripped module, or an address in no mapped module, gives nullopt.
//
// Each module's table is read once (on first use) and kept for the life of the process, under a
// mutex: not for signal handlers.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace weft::detail {

struct ElfFunction {
  std::string name;    // as in the table (mangled)
  std::size_t offset;  // of the address from the function's start
  std::string module;  // file name of the module, without its directory
};

std::optional<ElfFunction> elf_function_at(const void* pc);

}  // namespace weft::detail
