// Reads .symtab/.strtab of the module holding an address (lib/introspect/elf_symtab.hpp).
#include "introspect/elf_symtab.hpp"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace weft::detail {

namespace {

struct Symbol {
  std::uintptr_t start;  // link-time address (st_value)
  std::size_t size;
  std::uint32_t name;  // offset into names
};

struct Table {
  std::vector<Symbol> functions;  // sorted by start
  std::string names;              // the whole .strtab
};

bool read_at(int fd, void* buf, std::size_t len, off_t off) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    const ssize_t n = ::pread(fd, p, len, off);
    if (n <= 0) return false;
    p += n;
    len -= static_cast<std::size_t>(n);
    off += n;
  }
  return true;
}

// The function symbols of an ELF64 file; empty if it has no .symtab or cannot be read.
Table load(const char* path) {
  Table t;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return t;
  Elf64_Ehdr eh;
  std::vector<Elf64_Shdr> sh;
  if (read_at(fd, &eh, sizeof eh, 0) && std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
      eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_shentsize == sizeof(Elf64_Shdr) && eh.e_shnum > 0) {
    sh.resize(eh.e_shnum);
    if (!read_at(fd, sh.data(), sh.size() * sizeof(Elf64_Shdr), static_cast<off_t>(eh.e_shoff))) sh.clear();
  }
  for (const Elf64_Shdr& s : sh) {
    if (s.sh_type != SHT_SYMTAB || s.sh_link >= sh.size() || s.sh_entsize != sizeof(Elf64_Sym)) continue;
    const Elf64_Shdr& str = sh[s.sh_link];
    std::vector<Elf64_Sym> syms(s.sh_size / sizeof(Elf64_Sym));
    t.names.resize(str.sh_size);
    if (!read_at(fd, syms.data(), syms.size() * sizeof(Elf64_Sym), static_cast<off_t>(s.sh_offset)) ||
        !read_at(fd, t.names.data(), t.names.size(), static_cast<off_t>(str.sh_offset))) {
      t = Table{};
      break;
    }
    for (const Elf64_Sym& y : syms) {
      if (ELF64_ST_TYPE(y.st_info) == STT_FUNC && y.st_value != 0 && y.st_name < t.names.size()) {
        t.functions.push_back({static_cast<std::uintptr_t>(y.st_value), static_cast<std::size_t>(y.st_size), y.st_name});
      }
    }
    std::sort(t.functions.begin(), t.functions.end(), [](const Symbol& a, const Symbol& b) { return a.start < b.start; });
    break;
  }
  ::close(fd);
  return t;
}

struct Module {
  std::string path;         // "" until found
  std::uintptr_t bias = 0;  // load address minus link address
};

// The loaded module whose PT_LOAD segments contain `pc`.
Module module_of(std::uintptr_t pc) {
  Module m;
  struct Arg {
    std::uintptr_t pc;
    Module* m;
  } arg{pc, &m};
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) -> int {
        auto* a = static_cast<Arg*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD) continue;
          const std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
          if (a->pc >= lo && a->pc < lo + ph.p_memsz) {
            // The main program has an empty name here: read it through /proc.
            a->m->path = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : "/proc/self/exe";
            a->m->bias = info->dlpi_addr;
            return 1;
          }
        }
        return 0;
      },
      &arg);
  return m;
}

std::string base_name(const std::string& path) {
  if (path == "/proc/self/exe") {
    char buf[4096];
    const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    if (n > 0) return base_name(std::string(buf, static_cast<std::size_t>(n)));
  }
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::optional<ElfFunction> elf_function_at(const void* pc) {
  static std::mutex mu;
  static auto* tables = new std::map<std::string, Table>();  // never freed: used during exit
  const auto addr = reinterpret_cast<std::uintptr_t>(pc);
  const Module m = module_of(addr);
  if (m.path.empty()) return std::nullopt;
  std::lock_guard lk(mu);
  auto it = tables->find(m.path);
  if (it == tables->end()) it = tables->emplace(m.path, load(m.path.c_str())).first;
  const Table& t = it->second;
  const std::uintptr_t link = addr - m.bias;
  auto after = std::upper_bound(t.functions.begin(), t.functions.end(), link,
                                [](std::uintptr_t a, const Symbol& s) { return a < s.start; });
  if (after == t.functions.begin()) return std::nullopt;
  const Symbol& s = *std::prev(after);
  // A symbol of size 0 (hand-written assembly) covers up to the next one.
  if (s.size != 0 && link >= s.start + s.size) return std::nullopt;
  return ElfFunction{t.names.c_str() + s.name, static_cast<std::size_t>(link - s.start), base_name(m.path)};
}

}  // namespace weft::detail
