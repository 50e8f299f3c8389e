// Code addresses to function, file:line and inlined frames (lib/introspect/symbolize.hpp).
//
// libdw path: one Dwfl session for the whole process (the modules mapped when it was made; an
// address outside all of them, e.g. in a library dlopen'ed later, rebuilds it once), guarded by
// g_mu, with resolved addresses cached (a dump of many fibers parked in the same places resolves
// each address once). The session is never freed: a detached thread may symbolize during exit.
#include "introspect/symbolize.hpp"

#include "introspect/elf_symtab.hpp"

#include <weft/detail/cancel_scope.hpp>
#include <weft/dump.hpp>

#include <cxxabi.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>

#if WEFT_HAVE_LIBDW
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#endif

namespace weft::detail {

namespace {

bool full_names() noexcept {
  static const bool full = [] {
    const char* v = std::getenv("WEFT_FULL_NAMES");
    return v && *v && *v != '0';
  }();
  return full;
}

// clang names a lambda's closure type `$_N` where g++ says `{lambda()#N}`: read both as {lambda}.
std::string name_clang_lambdas(std::string name) {
  for (std::size_t at = name.find("::$_"); at != std::string::npos; at = name.find("::$_", at + 2)) {
    std::size_t end = at + 4;
    while (end < name.size() && name[end] >= '0' && name[end] <= '9') ++end;
    if (end > at + 4) name.replace(at + 2, end - at - 2, "{lambda}");
  }
  return name;
}

std::string demangle(const char* sym) {
  int status = 0;
  char* dem = abi::__cxa_demangle(sym, nullptr, nullptr, &status);
  std::string name = status == 0 && dem ? dem : sym;
  std::free(dem);
  return full_names() ? name : shorten_templates(name_clang_lambdas(std::move(name)));
}

std::string hex_offset(std::size_t off) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "+0x%zx", off);
  return buf;
}

// dladdr: dynamic symbols; what it cannot name (a static program, a function not exported) is
// looked up in the module's .symtab (introspect/elf_symtab.hpp).
std::string symbolize_dladdr(const void* pc) {
  Dl_info info{};
  const bool found = dladdr(pc, &info) && info.dli_fname;
  if (!found || !info.dli_sname) {
    if (auto f = elf_function_at(pc)) return demangle(f->name.c_str()) + hex_offset(f->offset) + " (" + f->module + ")";
  }
  if (found) {
    const char* mod = std::strrchr(info.dli_fname, '/');
    mod = mod ? mod + 1 : info.dli_fname;
    const char* at = static_cast<const char*>(pc);
    if (info.dli_sname) {
      return demangle(info.dli_sname) + hex_offset(static_cast<std::size_t>(at - static_cast<const char*>(info.dli_saddr))) +
             " (" + mod + ")";
    }
    return std::string(mod) + hex_offset(static_cast<std::size_t>(at - static_cast<const char*>(info.dli_fbase)));
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", pc);
  return buf;
}

// Appends s[i..] up to the '>' closing the list it is in (not consumed) or the end.
std::string shorten_from(std::string_view s, std::size_t& i, bool inside, std::size_t keep) {
  std::string out;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '>' && inside) return out;
    if (c == '<') {
      if (out.size() >= 8 && out.compare(out.size() - 8, 8, "operator") == 0) {  // operator<, <<, <=, <=>
        while (i < s.size() && (s[i] == '<' || s[i] == '=' || s[i] == '>')) out += s[i++];
        continue;
      }
      ++i;
      const std::string inner = shorten_from(s, i, true, keep);
      if (i < s.size()) ++i;  // its '>'
      out += '<';
      out += inner.size() > keep ? std::string("...") : inner;
      out += '>';
      continue;
    }
    if (c == '-' && i + 1 < s.size() && s[i + 1] == '>') {  // operator->, not a list's end
      out += "->";
      i += 2;
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

#if WEFT_HAVE_LIBDW

std::mutex g_mu;
Dwfl* g_dwfl = nullptr;  // guarded by g_mu; never freed (see the file comment)
bool g_dwfl_failed = false;
std::unordered_map<const void*, std::vector<std::string>>* g_cache = nullptr;  // guarded by g_mu
constexpr std::size_t kCacheMax = 1 << 16;

Dwfl* open_session() {
  static const Dwfl_Callbacks callbacks = {
      .find_elf = dwfl_linux_proc_find_elf,
      .find_debuginfo = dwfl_standard_find_debuginfo,
      .section_address = nullptr,
      .debuginfo_path = nullptr,
  };
  Dwfl* d = dwfl_begin(&callbacks);
  if (!d) return nullptr;
  if (dwfl_linux_proc_report(d, getpid()) != 0 || dwfl_report_end(d, nullptr, nullptr) != 0) {
    dwfl_end(d);
    return nullptr;
  }
  return d;
}

// Lexically removes "/./" and "dir/../" (meson's paths are relative to the build directory).
std::string tidy_path(std::string p) {
  for (std::size_t at; (at = p.find("/./")) != std::string::npos;) p.erase(at, 2);
  for (std::size_t at; (at = p.find("/../")) != std::string::npos && at > 0;) {
    const std::size_t start = p.rfind('/', at - 1);
    const std::size_t from = start == std::string::npos ? 0 : start + 1;
    if (p.compare(from, at - from, "..") == 0) break;
    p.erase(from, at + 4 - from);
  }
  return p;
}

// A DIE's linkage name, demangled (names the function and its parameters).
bool linkage_name(Dwarf_Die* die, std::string& out) {
  Dwarf_Attribute attr;
  for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name}) {
    if (dwarf_attr_integrate(die, at, &attr)) {
      if (const char* s = dwarf_formstring(&attr)) {
        out = demangle(s);
        return true;
      }
    }
  }
  return false;
}

// The name of an inlined function. GCC gives functions with internal linkage (lambdas' call
// operators, functions in anonymous namespaces) no linkage name, so the name is put together from
// the declaration's enclosing scopes: "outer()::{lambda}::operator()", "(anonymous namespace)::f".
std::string die_name(Dwarf_Die* die, int depth = 0) {
  std::string name;
  if (linkage_name(die, name)) return name;
  Dwarf_Die decl = *die, next;
  Dwarf_Attribute attr;
  for (int hops = 0; hops < 8; ++hops) {  // to the declaration the inlined instance came from
    if ((dwarf_attr(&decl, DW_AT_abstract_origin, &attr) || dwarf_attr(&decl, DW_AT_specification, &attr)) &&
        dwarf_formref_die(&attr, &next)) {
      decl = next;
      continue;
    }
    break;
  }
  const char* own = dwarf_diename(&decl);
  name = own ? own : "??";
  Dwarf_Die* scopes = nullptr;
  const int n = dwarf_getscopes_die(&decl, &scopes);
  for (int i = 1; i < n; ++i) {  // scopes[0] is decl itself, then outward to the unit
    Dwarf_Die* s = &scopes[i];
    const int tag = dwarf_tag(s);
    const char* sn = dwarf_diename(s);
    if (tag == DW_TAG_namespace) {
      name = std::string(sn ? sn : "(anonymous namespace)") + "::" + name;
    } else if (tag == DW_TAG_class_type || tag == DW_TAG_structure_type || tag == DW_TAG_union_type) {
      name = std::string(sn ? sn : "{lambda}") + "::" + name;
    } else if (tag == DW_TAG_subprogram) {  // a local class's function: the enclosing function's name
      std::string outer;
      if (!linkage_name(s, outer)) outer = depth < 4 ? die_name(s, depth + 1) + "()" : "??";
      name = outer + "::" + name;
      break;
    }
  }
  std::free(scopes);
  return full_names() ? name : shorten_templates(name);
}

// " at file:line": a relative path is taken from the unit's compilation directory, then shown
// relative to the current directory when it lies below it.
std::string location(const char* file, int line, const char* comp_dir) {
  if (!file || line <= 0) return {};
  std::string path = file;
  if (path[0] != '/' && comp_dir && *comp_dir) path = std::string(comp_dir) + "/" + path;
  path = tidy_path(std::move(path));
  static const std::string cwd = [] {
    char buf[4096];
    return getcwd(buf, sizeof buf) ? std::string(buf) + "/" : std::string();
  }();
  if (cwd.size() > 1 && path.compare(0, cwd.size(), cwd) == 0) path.erase(0, cwd.size());
  return " at " + path + ":" + std::to_string(line);
}

// The compile unit whose code contains addr. libdw finds it through .debug_aranges, which g++
// emits and clang does not (unless -gdwarf-aranges): without them, look through the units' own
// address ranges.
Dwarf_Die* cu_containing(Dwfl_Module* mod, Dwarf_Addr addr, Dwarf_Addr* bias) {
  if (Dwarf_Die* cu = dwfl_module_addrdie(mod, addr, bias)) return cu;
  for (Dwarf_Die* cu = dwfl_module_nextcu(mod, nullptr, bias); cu; cu = dwfl_module_nextcu(mod, cu, bias)) {
    if (dwarf_haspc(cu, addr - *bias) > 0) return cu;
  }
  return nullptr;
}

// Resolves pc with the session; empty if its module is unknown to it.
std::vector<std::string> resolve(Dwfl* d, const void* pc) {
  std::vector<std::string> out;
  const Dwarf_Addr addr = reinterpret_cast<std::uintptr_t>(pc);
  Dwfl_Module* mod = dwfl_addrmodule(d, addr);
  if (!mod) return out;
  Dwarf_Addr mod_lo = 0;
  const char* mod_path = dwfl_module_info(mod, nullptr, &mod_lo, nullptr, nullptr, nullptr, nullptr, nullptr);
  std::string mod_name = mod_path ? mod_path : "?";
  if (const auto slash = mod_name.rfind('/'); slash != std::string::npos) mod_name.erase(0, slash + 1);

  // The innermost source position, from the line table.
  const char* file = nullptr;
  int line = 0;
  if (Dwfl_Line* l = dwfl_module_getsrc(mod, addr)) file = dwfl_lineinfo(l, nullptr, &line, nullptr, nullptr, nullptr);

  // Inlined calls: the scopes at pc, innermost first. Each inlined subroutine is one frame whose
  // position is `file:line`; the frame outside it continues at the inlined call's call site.
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = cu_containing(mod, addr, &bias);
  const char* comp_dir = nullptr;
  if (cu && !file) {  // the module's line lookup needs aranges too: ask the unit's line table
    if (Dwarf_Line* l = dwarf_getsrc_die(cu, addr - bias)) {
      file = dwarf_linesrc(l, nullptr, nullptr);
      if (dwarf_lineno(l, &line) != 0) line = 0;
    }
  }
  if (cu) {
    Dwarf_Attribute attr;
    comp_dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
    // dwarf_getscopes continues from an inlined instance into its abstract definition's scopes
    // (for variable lookup); the chain of calls is the concrete one, from the innermost inlined
    // instance outward (dwarf_getscopes_die).
    Dwarf_Die* scopes = nullptr;
    int n = dwarf_getscopes(cu, addr - bias, &scopes);
    for (int i = 0; i < n; ++i) {
      const int tag = dwarf_tag(&scopes[i]);
      if (tag == DW_TAG_subprogram) break;
      if (tag == DW_TAG_inlined_subroutine) {
        Dwarf_Die inner = scopes[i];
        std::free(scopes);
        scopes = nullptr;
        n = dwarf_getscopes_die(&inner, &scopes);
        break;
      }
    }
    Dwarf_Files* files = nullptr;
    std::size_t nfiles = 0;
    if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0) files = nullptr;
    for (int i = 0; i < n; ++i) {
      Dwarf_Die* s = &scopes[i];
      const int tag = dwarf_tag(s);
      if (tag == DW_TAG_inlined_subroutine) {
        out.push_back(die_name(s) + location(file, line, comp_dir) + " (inlined)");
        Dwarf_Attribute attr;
        Dwarf_Word call_file = 0, call_line = 0;
        file = nullptr;
        line = 0;
        if (dwarf_formudata(dwarf_attr(s, DW_AT_call_file, &attr), &call_file) == 0 && files && call_file < nfiles) {
          file = dwarf_filesrc(files, call_file, nullptr, nullptr);
        }
        if (dwarf_formudata(dwarf_attr(s, DW_AT_call_line, &attr), &call_line) == 0) line = static_cast<int>(call_line);
      } else if (tag == DW_TAG_subprogram) {
        break;  // the containing function: named below from the symbol table
      }
    }
    std::free(scopes);
  }

  // The containing function: the ELF symbol table names static functions and lambdas too.
  GElf_Sym sym;
  GElf_Off off = 0;
  const char* sname = dwfl_module_addrinfo(mod, addr, &off, &sym, nullptr, nullptr, nullptr);
  std::string where = location(file, line, comp_dir);
  if (sname) {
    out.push_back(demangle(sname) + (where.empty() ? hex_offset(off) + " (" + mod_name + ")" : where));
  } else {
    out.push_back(mod_name + hex_offset(static_cast<std::size_t>(addr - mod_lo)) + where);
  }
  return out;
}

std::vector<std::string> symbolize_libdw(const void* pc) {
  std::lock_guard lk(g_mu);
  if (!g_cache) g_cache = new std::unordered_map<const void*, std::vector<std::string>>;
  if (auto it = g_cache->find(pc); it != g_cache->end()) return it->second;
  std::vector<std::string> out;
  if (!g_dwfl && !g_dwfl_failed) g_dwfl_failed = !(g_dwfl = open_session());
  if (g_dwfl) {
    out = resolve(g_dwfl, pc);
    if (out.empty()) {  // mapped after the session was made (dlopen): look again, once per miss
      if (Dwfl* fresh = open_session()) {
        dwfl_end(g_dwfl);
        g_dwfl = fresh;
        out = resolve(g_dwfl, pc);
      }
    }
  }
  if (out.empty()) out.push_back(symbolize_dladdr(pc));
  if (g_cache->size() >= kCacheMax) g_cache->clear();
  g_cache->emplace(pc, out);
  return out;
}

#endif  // WEFT_HAVE_LIBDW

}  // namespace

std::string shorten_templates(std::string_view name, std::size_t keep) {
  std::size_t i = 0;
  return shorten_from(name, i, false, keep);
}

bool symbolize_has_source_lines() noexcept { return WEFT_HAVE_LIBDW != 0; }

std::vector<std::string> symbolize_frames(const void* pc) {
#if WEFT_HAVE_LIBDW
  // libdw reads debug info through deep call chains. On a fiber's stack (a dump taken inside a
  // fiber, the fatal report of a Cancelled escaping a destructor) that can overflow it — it did
  // under ASan, with 64 KiB — so there the lookup runs on a short-lived thread of normal size.
  if (current_fiber_or_null()) {
    std::vector<std::string> out;
    try {
      std::thread([&] {
        try {
          out = symbolize_libdw(pc);
        } catch (const std::bad_alloc&) {
        }
      }).join();
    } catch (const std::system_error&) {  // no thread to be had: names from dladdr only
    }
    if (!out.empty()) return out;
    return {symbolize_dladdr(pc)};
  }
  try {
    return symbolize_libdw(pc);
  } catch (const std::bad_alloc&) {
  }
#endif
  return {symbolize_dladdr(pc)};
}

// weft/dump.hpp: one line per address, the function that contains it (its inlined calls are left
// out here; dumps print them through symbolize_frames).
std::string symbolize(const void* pc) { return symbolize_frames(pc).back(); }

}  // namespace weft::detail
