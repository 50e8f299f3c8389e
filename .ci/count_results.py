#!/usr/bin/env python3
"""Counts test results from a meson testlog.json: doctest test cases where the program reported
them, else the program itself as one test. Prints "<passed> <failed>"."""
import json
import re
import sys

passed = failed = 0
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    print("0 1")
    sys.exit(0)
for line in lines:
    if not line.strip():
        continue
    t = json.loads(line)
    ok = t.get("result") in ("OK", "EXPECTEDFAIL")
    m = re.search(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed", t.get("stdout", "") or "")
    if m:
        passed += int(m.group(2))
        failed += int(m.group(3))
        if not ok and int(m.group(3)) == 0:
            failed += 1  # reported success but the program failed (crash at exit, sanitizer, ...)
    elif ok:
        passed += 1
    else:
        failed += 1
print(passed, failed)
