#!/usr/bin/env python3
"""gdb batch test of tools/gdb/weft.py: `info weft-fibers` lists the blocked fiber, `weft-fiber bt`
shows the function it blocked in, and the program continues normally afterwards (registers
restored). Skipped (exit 77) when gdb is not installed."""
import os, shutil, subprocess, sys

prog, script = sys.argv[1], sys.argv[2]
gdb = shutil.which("gdb")
if not gdb:
    print("gdb not installed: skipped")
    sys.exit(77)
cmd = [gdb, "-batch", "-nx", "-ex", "set debuginfod enabled off", "-ex", "source " + script,
       "-ex", "break weft_gdb_test_ready", "-ex", "run",
       "-ex", "info weft-fibers", "-ex", "weft-fiber bt gdb-target", "-ex", "bt 1",
       "-ex", "weft-fiber bt 999999999", "-ex", "continue", prog]
# LeakSanitizer cannot run under ptrace (ASan builds): the leak check is the other tests' job.
env = dict(os.environ)
env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
out = r.stdout + r.stderr
print(out)
fails = []
def check(cond, what):
    if not cond:
        fails.append(what)
        print("FAIL:", what)
check("'gdb-target' [suspended]" in out, "info weft-fibers lists the suspended fiber")
check("waiting on: notify" in out, "info weft-fibers shows what it waits on")
check("gdb_blocked_here" in out, "weft-fiber bt shows the function it blocked in")
bt1 = out.split("weft-fiber bt", 1)[-1]
check("weft_gdb_test_ready" in out.split("saved context", 1)[-1], "registers restored: bt 1 is back in the program")
check("no live fiber with id or name '999999999'" in out, "a clear error for an unknown fiber")
check("exited normally" in out, "the program continues and exits normally")
print("gdb_check:", "FAILED" if fails else "ok")
sys.exit(1 if fails else 0)
