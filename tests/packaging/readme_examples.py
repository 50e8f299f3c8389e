#!/usr/bin/env python3
"""Compiles and runs every ```cpp block of README.md, so the guide cannot rot.

Each block is a complete program. Usage: readme_examples.py <README.md> <include dir>
<libweft.so or .a> <extra flags...>. Exits non-zero if any block fails to compile or run. The
suite passes the shared library: the examples then also check that what they use is exported."""
import os
import re
import subprocess
import sys
import tempfile

readme, include, lib = sys.argv[1:4]
extra = [f for f in sys.argv[4:] if f]
# GCC 12's -Wmaybe-uninitialized reports false positives inside std::optional<std::string> once
# sanitizer instrumentation is on (seen with ASan+UBSan at -O1); the plain build keeps the warning.
if any(f.startswith("-fsanitize") for f in extra):
    extra.append("-Wno-maybe-uninitialized")
blocks = re.findall(r"```cpp\n(.*?)```", open(readme).read(), re.S)
if not blocks:
    print("no ```cpp blocks found in", readme)
    sys.exit(1)
failed = 0
with tempfile.TemporaryDirectory() as tmp:
    for i, code in enumerate(blocks, 1):
        first = code.strip().splitlines()[0]
        src = os.path.join(tmp, f"example{i}.cpp")
        exe = os.path.join(tmp, f"example{i}")
        open(src, "w").write(code)
        cmd = ["c++", "-std=c++20", "-O1", "-Wall", "-Wextra", "-Werror", "-I", include, *extra, src, lib,
               "-Wl,-rpath," + os.path.dirname(os.path.abspath(lib)),
               "-lboost_context", "-lev", "-pthread", "-o", exe]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"example {i} ({first}) does not compile:\n{r.stderr[-3000:]}")
            failed += 1
            continue
        try:
            r = subprocess.run([exe], capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            print(f"example {i} ({first}) timed out")
            failed += 1
            continue
        if r.returncode != 0:
            print(f"example {i} ({first}) exited {r.returncode}:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
            failed += 1
        else:
            print(f"example {i} ok: {first}")
print(f"{len(blocks) - failed} of {len(blocks)} README examples compiled and ran")
sys.exit(1 if failed else 0)
