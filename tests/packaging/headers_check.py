#!/usr/bin/env python3
"""Every public header compiles on its own (Seastar's check): a user may include any one of them
first, so each must include what it uses.

Args: <include dir> <compiler command...>   (the build's C++ compiler, from meson)
Each header is compiled alone with -fsyntax-only as C++20, two at a time."""
import concurrent.futures, glob, os, subprocess, sys

include_dir = sys.argv[1]
cxx = sys.argv[2:]
headers = sorted(glob.glob(os.path.join(include_dir, "weft", "**", "*.hpp"), recursive=True))


def check(h):
    rel = os.path.relpath(h, include_dir)
    src = f"#include <{rel}>\n"
    r = subprocess.run(cxx + ["-std=c++20", "-fsyntax-only", "-Wall", "-Wextra", "-I", include_dir, "-x", "c++", "-"],
                       input=src, capture_output=True, text=True)
    return rel, r.returncode, r.stderr


failed = 0
with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    for rel, rc, err in pool.map(check, headers):
        if rc != 0:
            failed += 1
            print(f"== {rel} does not compile on its own:\n{err[:3000]}")
print(f"headers_check: {len(headers)} public headers, {failed} do not compile alone")
sys.exit(1 if failed or not headers else 0)
