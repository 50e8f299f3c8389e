#!/usr/bin/env python3
"""gdb batch test of tools/gdb/weft.py: `info weft-fibers` lists the blocked fiber, `weft-fiber bt`
shows the function it blocked in, and the program continues normally afterwards (registers
restored). Skipped (exit 77) when gdb is not installed.

    gdb_check.py PROG --source weft.py        the script sourced by hand (the suite: a -g build)
    gdb_check.py PROG --autoload-dir DIR      loaded by gdb itself from DIR, gdb's auto-load
                                              scripts directory (tests/packaging/consumer/run.sh:
                                              installed release library, no debug info)
    --core                                    also: dump a core at the breakpoint and list and
                                              unwind the fiber from the core file
    --attach                                  also: `gdb -p` on the running program"""
import argparse, os, shutil, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("prog")
ap.add_argument("--source")
ap.add_argument("--autoload-dir")
ap.add_argument("--core", action="store_true")
ap.add_argument("--attach", action="store_true")
a = ap.parse_args()
gdb = shutil.which("gdb")
if not gdb:
    print("gdb not installed: skipped")
    sys.exit(77)
base = [gdb, "-batch", "-nx", "-iex", "set debuginfod enabled off"]
if a.autoload_dir:
    base += ["-iex", "set auto-load safe-path /", "-iex", "set auto-load scripts-directory " + a.autoload_dir]
else:
    base += ["-ex", "source " + a.source]
# LeakSanitizer cannot run under ptrace (ASan builds): the leak check is the other tests' job.
env = dict(os.environ)
env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
fails = []


def check(cond, what):
    if not cond:
        fails.append(what)
        print("FAIL:", what)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    out = r.stdout + r.stderr
    print(out)
    # Reading fields by name from a -g build made gdb print polymorphic values: a warning flood.
    check("RTTI symbol not found" not in out, "no RTTI warnings")
    return out


with tempfile.TemporaryDirectory() as tmp:
    core = os.path.join(tmp, "core")
    out = run(base + ["-ex", "break weft_gdb_test_ready", "-ex", "run",
                      "-ex", "info weft-fibers", "-ex", "weft-fiber bt gdb-target", "-ex", "bt 1",
                      "-ex", "weft-fiber bt 999999999"]
              + (["-ex", "generate-core-file " + core] if a.core else []) + ["-ex", "continue", a.prog])
    check("weft gdb support loaded" in out, "the extension is loaded")
    check("'gdb-target' [suspended]" in out, "info weft-fibers lists the suspended fiber")
    check("waiting on: notify" in out, "info weft-fibers shows what it waits on")
    check("spawned at " in out and "gdb_program.cpp:" in out, "info weft-fibers shows the spawn site")
    check("gdb_blocked_here" in out, "weft-fiber bt shows the function it blocked in")
    check("weft_gdb_test_ready" in out.split("saved context", 1)[-1], "registers restored: bt 1 is back in the program")
    check("no live fiber with id or name '999999999'" in out, "a clear error for an unknown fiber")
    check("exited normally" in out, "the program continues and exits normally")
    if a.core:
        check(os.path.exists(core), "gdb wrote a core file")
        out = run(base + ["-ex", "info weft-fibers", "-ex", "weft-fiber bt gdb-target", a.prog, core])
        check("'gdb-target' [suspended]" in out, "core file: info weft-fibers lists the fiber")
        check("gdb_blocked_here" in out, "core file: weft-fiber bt (frame pointers) reaches the function it blocked in")
if a.attach:
    # Yama's ptrace_scope 1 lets a non-root user attach only to descendants; gdb is not the parent.
    try:
        scope = int(open("/proc/sys/kernel/yama/ptrace_scope").read())
    except OSError:
        scope = 0
    if scope > 0 and os.geteuid() != 0:
        print("gdb -p: skipped (kernel.yama.ptrace_scope=%d and not root)" % scope)
    else:
        p = subprocess.Popen([a.prog, "--wait"], stdout=subprocess.PIPE, text=True, env=env)
        try:
            check(p.stdout.readline().strip() == "ready", "the program reaches the point to attach at")
            out = run(base + ["-p", str(p.pid), "-ex", "info weft-fibers", "-ex", "weft-fiber bt gdb-target"])
            check("'gdb-target' [suspended]" in out, "gdb -p: info weft-fibers lists the fiber")
            check("gdb_blocked_here" in out, "gdb -p: weft-fiber bt reaches the function it blocked in")
        finally:
            p.terminate()
            check(p.wait(timeout=60) == 0, "the program exits normally after gdb detached")
print("gdb_check:", "FAILED" if fails else "ok")
sys.exit(1 if fails else 0)
