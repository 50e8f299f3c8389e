#!/usr/bin/env python3
"""What libweft.so exports: only the public API. Fails when an internal symbol appears.

Args: <libweft.so> <include dir> <lib source dir> <expected SONAME>

Allowed: C++ symbols in namespace weft (functions, variables, typeinfo/vtables, guard variables,
thunks) whose first name below weft:: / weft::detail:: appears in the public headers and is not a
class that lib/ defines (Worker, Scheduler, StackPool, Reactor...: internals a program never
names); plus the two C symbols for debuggers. Not allowed: std:: instantiations, other C names
(a bare `on_signal` once took over programs' own), anything only lib/ declares.

Also: every public header includes weft/detail/config.hpp first and wraps its declarations in
WEFT_API_BEGIN/WEFT_API_END. A new header without them would have its functions hidden in
libweft.so, and programs using it would fail to link (nm -D cannot show what is missing)."""
import glob, re, subprocess, sys

lib, include_dir, lib_dir, want_soname = sys.argv[1:5]
C_ALLOWED = {"weft_runtime_list", "weft_debug_layout"}
# Mangled prefixes of C++ names in namespace weft: plain/const/volatile members, typeinfo (TI),
# typeinfo name (TS), vtable (TV), guard variable (GV), thunks (Th/Tv), function-local statics (Z).
WEFT_MANGLED = re.compile(r"^_Z(?:TI|TS|TV|GV|Thn\d+_|Tv[^_]*_[^_]*_)?Z?N[KVRO]*4weft")

out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
mangled = [line.split()[-1] for line in out.splitlines() if line.strip()]
demangled = subprocess.run(["c++filt"], input="\n".join(mangled), capture_output=True, text=True,
                           check=True).stdout.splitlines()

headers = "\n".join(open(p).read() for p in glob.glob(include_dir + "/weft/**/*.hpp", recursive=True))
public_words = set(re.findall(r"\b\w+\b", headers))
lib_classes = set()
for p in glob.glob(lib_dir + "/**/*.[ch]pp", recursive=True):
    lib_classes |= set(re.findall(r"^(?:class|struct)\s+(?:alignas\(\w+\)\s+)?(\w+)\s*(?:final\s*)?[:{]",
                                  open(p).read(), re.M))

bad = []
for m, d in zip(mangled, demangled):
    if not m.startswith("_Z"):
        if m not in C_ALLOWED:
            bad.append((d, "a C symbol that is not weft's debugger interface"))
        continue
    if not WEFT_MANGLED.match(m):
        bad.append((d, "not in namespace weft (a std:: instantiation?)"))
        continue
    # The first name below weft:: or weft::detail:: (skipping "typeinfo for " etc. and a return type).
    k = re.search(r"weft::(?:detail::)?(\w+)", d)
    name = k.group(1) if k else ""
    if name in lib_classes and not re.search(r"\b(?:class|struct)\s+" + name + r"\b[^;]*\{", headers):
        bad.append((d, "member of %s, a class lib/ defines" % name))
    elif name not in public_words:
        bad.append((d, "%s is not declared in the public headers" % name))

for p in sorted(glob.glob(include_dir + "/weft/**/*.hpp", recursive=True)):
    if p.endswith("/config.hpp"):
        continue
    text = open(p).read()
    includes = re.findall(r"^#include\s*(\S+)", text, re.M)
    if not includes or includes[0] != "<weft/detail/config.hpp>":
        bad.append((p, "does not include <weft/detail/config.hpp> first"))
    if "\nWEFT_API_BEGIN\n" not in text or not text.rstrip().endswith("WEFT_API_END"):
        bad.append((p, "declarations not wrapped in WEFT_API_BEGIN ... WEFT_API_END (at the end)"))

soname = re.search(r"SONAME\)\s+Library soname: \[(.*)\]",
                   subprocess.run(["readelf", "-d", lib], capture_output=True, text=True, check=True).stdout)
print("%d exported symbols; %d problems; SONAME %s" % (len(mangled), len(bad), soname and soname.group(1)))
for d, why in bad[:60]:
    print("  PROBLEM: %s  (%s)" % (d, why))
if len(bad) > 60:
    print("  ... and %d more" % (len(bad) - 60))
ok = not bad
if not soname or soname.group(1) != want_soname:
    print("FAIL: SONAME is %s, expected %s" % (soname and soname.group(1), want_soname))
    ok = False
print("symbols_check:", "ok" if ok else "FAILED")
sys.exit(0 if ok else 1)
