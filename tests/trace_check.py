#!/usr/bin/env python3
"""Runs tests/trace_program with WEFT_TRACE and checks the Chrome trace it writes:
valid JSON; per fiber, its spawn comes before its first slice; every wake/spawn flow starts no
later than it ends, and ends on a slice of the woken fiber; slices carry fiber names; then runs
tools/weft-trace-summary and tools/weft-trace-svg on it."""
import json, os, subprocess, sys, tempfile

prog, tools_dir = sys.argv[1], sys.argv[2]
fails = []
def check(cond, what):
    if not cond:
        fails.append(what)
        print("FAIL:", what)

with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "trace.json")
    env = dict(os.environ, WEFT_TRACE=path)
    r = subprocess.run([prog], env=env, capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"trace_program exit {r.returncode}: {r.stderr}")
    with open(path) as f:
        trace = json.load(f)  # must parse
    ev = trace["traceEvents"]
    slices = [e for e in ev if e["ph"] == "X" and e.get("cat") == "fiber"]
    spawns = [e for e in ev if e["ph"] == "i" and e.get("cat") == "spawn"]
    wakes = [e for e in ev if e["ph"] == "i" and e.get("cat") == "wake"]
    threads = [e for e in ev if e["ph"] == "M" and e["name"] == "thread_name"]
    check(len(slices) > 100, f"{len(slices)} fiber slices")
    check(len(threads) >= 2, "a track per worker")
    check(any(t["args"]["name"].startswith("weft-work") for t in threads), "worker tracks are named")
    names = {e["name"].split(" #")[0] for e in slices}
    for n in ("producer", "consumer", "sleeper", "victim", "block_on"):
        check(n in names, f"a slice named {n}")
    first_slice = {}
    for s in slices:
        fid = s["args"]["fiber"]
        first_slice[fid] = min(first_slice.get(fid, s["ts"]), s["ts"])
    spawn_ts = {e["args"]["fiber"]: e["ts"] for e in spawns}
    check(len(spawn_ts) >= 24, f"{len(spawn_ts)} spawns recorded")
    for fid, ts in first_slice.items():
        if fid in spawn_ts:
            check(spawn_ts[fid] <= ts, f"fiber {fid}: spawn at {spawn_ts[fid]} after its first run at {ts}")
    # Wake-ups: each is followed by a slice of the wakee that starts no earlier.
    check(len(wakes) >= 50, f"{len(wakes)} wake-ups recorded")
    by_fiber = {}
    for s in slices:
        by_fiber.setdefault(s["args"]["fiber"], []).append(s["ts"])
    for w in wakes:
        later = [t for t in by_fiber.get(w["args"]["fiber"], []) if t >= w["ts"]]
        check(later, f"wake of fiber {w['args']['fiber']} at {w['ts']} is followed by a run")
    # Flows pair up, start before they end.
    starts = {e["id"]: e for e in ev if e["ph"] == "s"}
    ends = {e["id"]: e for e in ev if e["ph"] == "f"}
    check(len(starts) > 0 and starts.keys() == ends.keys(), "every flow has both ends")
    for i, s in starts.items():
        if i in ends:
            check(s["ts"] <= ends[i]["ts"], f"flow {i} ends before it starts")
    # Per fiber the slices' reasons: the victim was cancelled.
    check(any(e["ph"] == "i" and e.get("cat") == "cancel" for e in ev), "a cancel event")
    check(any(s["args"].get("waits on") == "channel recv" for s in slices), "a slice ended waiting on a channel")

    r = subprocess.run([sys.executable, os.path.join(tools_dir, "weft-trace-summary"), path, "--top", "100"],
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0 and "producer" in r.stdout and "busy" in r.stdout, "weft-trace-summary: " + r.stdout + r.stderr)
    svg = os.path.join(d, "trace.svg")
    r = subprocess.run([sys.executable, os.path.join(tools_dir, "weft-trace-svg"), path, "-o", svg],
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0 and os.path.getsize(svg) > 1000, "weft-trace-svg: " + r.stderr)

print("trace_check:", "FAILED" if fails else "ok", f"({len(fails)} failures)")
sys.exit(1 if fails else 0)
