#!/usr/bin/env python3
"""Runs tests/trace_program with WEFT_TRACE and checks the Chrome trace it writes:
valid JSON; per fiber, its spawn comes before its first slice; every wake/spawn flow starts no
later than it ends, and ends on a slice of the woken fiber; slices carry fiber names; every flow is
bound to a slice at both ends under the rules of the two importers users open traces with (below);
then runs tools/weft-trace-summary and tools/weft-trace-svg on it.

Flow binding, as the importers do it (Perfetto's Python API downloads its trace processor at run
time, so Perfetto's rules are re-implemented here; Chrome's are too, and the trace_engine test,
tests/tools/trace_engine_check.py, also counts the flows with Chrome's real engine from npm):
- Perfetto (trace_processor, src/trace_processor/importers/json): events are taken in timestamp
  order, ties in file order. A flow start "s" (v1) binds to the slice open on its pid/tid track
  when it is taken, else it is dropped (stat flow_no_enclosing_slice). A flow end "f" with
  "bp":"e" binds the same way; without it, to the next slice that begins on its track. A complete
  event "X" with "bind_id" binds as the flow's start ("flow_out") or end ("flow_in") itself.
- Chrome's trace engine (DevTools; npm @paulirish/trace_engine, FlowsHandler): a flow event binds
  to the non-flow event with the same category, pid, tid and timestamp; start and end pair up by
  category, name and id.
A flow counts as bound when both of its ends are bound under both rules.
Usage: trace_check.py <trace_program> <tools dir>   or   trace_check.py --file <trace.json>
(the latter only counts and checks the flows of an existing trace)."""
import bisect, json, os, subprocess, sys, tempfile

fails = []
def check(cond, what):
    if not cond:
        fails.append(what)
        print("FAIL:", what)

def flow_binding(ev):
    """(flows, bound, problems): how many flows, how many are bound at both ends under both
    importers' rules, and a count per kind of unbound end."""
    slices = {}  # (pid, tid) -> [(ts, end, file index, event)]
    for i, e in enumerate(ev):
        if e.get("ph") == "X":
            slices.setdefault((e.get("pid"), e.get("tid")), []).append((e["ts"], e["ts"] + e.get("dur", 0), i, e))
    for v in slices.values():
        v.sort(key=lambda s: (s[0], s[2]))
    starts_of = {k: [s[0] for s in v] for k, v in slices.items()}

    def perfetto_open(e, i):
        """The slice open on e's track when Perfetto takes e (ts order, ties in file order)."""
        key = (e.get("pid"), e.get("tid"))
        v = slices.get(key, [])
        hi = bisect.bisect_right(starts_of.get(key, []), e["ts"])
        for ts, end, idx, x in reversed(v[:hi]):
            if ts == e["ts"] and idx > i:
                continue  # same timestamp but later in the file: not begun yet
            if ts <= e["ts"] < end or (ts == e["ts"] == end and idx < i):
                return x
        return None

    def perfetto_next(e):
        key = (e.get("pid"), e.get("tid"))
        hi = bisect.bisect_left(starts_of.get(key, []), e["ts"])
        return hi < len(slices.get(key, []))

    chrome_keys = {(e.get("cat"), e.get("pid"), e.get("tid"), e["ts"]) for e in ev if e.get("ph") not in ("s", "t", "f", "M")}
    def chrome_bound(e):
        return (e.get("cat"), e.get("pid"), e.get("tid"), e["ts"]) in chrome_keys

    ends = {}
    problems = {}
    def bad(what):
        problems[what] = problems.get(what, 0) + 1
    for i, e in enumerate(ev):
        ph = e.get("ph")
        if ph == "s":
            ok = True
            if perfetto_open(e, i) is None:
                bad("perfetto: flow start outside any slice"); ok = False
            if not chrome_bound(e):
                bad("chrome: flow start matches no slice's cat/tid/ts"); ok = False
            ends.setdefault((e.get("cat"), e.get("name"), e.get("id")), [None, None])[0] = ok
        elif ph == "f":
            ok = True
            if e.get("bp") == "e":
                if perfetto_open(e, i) is None:
                    bad("perfetto: flow end (bp e) not inside a slice begun before it"); ok = False
            elif not perfetto_next(e):
                bad("perfetto: flow end with no later slice on its track"); ok = False
            if not chrome_bound(e):
                bad("chrome: flow end matches no slice's cat/tid/ts"); ok = False
            ends.setdefault((e.get("cat"), e.get("name"), e.get("id")), [None, None])[1] = ok
        elif ph == "X" and "bind_id" in e:  # v2 flows bind to this very slice
            k = ("v2", None, e["bind_id"])
            if e.get("flow_out"):
                ends.setdefault(k, [None, None])[0] = True
            if e.get("flow_in"):
                ends.setdefault(k, [None, None])[1] = True
    bound = 0
    for (start, end) in ends.values():
        if start is None or end is None:
            bad("flow with only one end")
        elif start and end:
            bound += 1
    return len(ends), bound, problems

def report_binding(ev):
    flows, bound, problems = flow_binding(ev)
    print(f"flows: {flows}, bound at both ends: {bound}, unbound: {flows - bound}")
    for what, n in sorted(problems.items()):
        print(f"  {n} x {what}")
    return flows, bound

if len(sys.argv) == 3 and sys.argv[1] == "--file":
    with open(sys.argv[2]) as f:
        flows, bound = report_binding(json.load(f)["traceEvents"])
    sys.exit(0 if flows > 0 and bound == flows else 1)

prog, tools_dir = sys.argv[1], sys.argv[2]

with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "trace.json")
    env = dict(os.environ, WEFT_TRACE=path)
    r = subprocess.run([prog], env=env, capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"trace_program exit {r.returncode}: {r.stderr}")
    with open(path) as f:
        trace = json.load(f)  # must parse
    ev = trace["traceEvents"]
    # Fiber runs (the "waker" slices flows start from when no fiber woke them carry no fiber).
    slices = [e for e in ev if e["ph"] == "X" and e.get("cat") == "fiber" and "fiber" in e.get("args", {})]
    spawns = [e for e in ev if e["ph"] == "i" and e.get("cat") == "spawn"]
    wakes = [e for e in ev if e["ph"] == "i" and e.get("cat") == "wake"]
    threads = [e for e in ev if e["ph"] == "M" and e["name"] == "thread_name"]
    check(len(slices) > 100, f"{len(slices)} fiber slices")
    check(len(threads) >= 2, "a track per worker")
    check(any(t["args"]["name"].startswith("weft-w") for t in threads), "worker tracks are named")
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
    # Every flow is drawn: bound at both ends in Perfetto and in Chrome's trace engine.
    flows, bound = report_binding(ev)
    check(flows >= 50, f"{flows} flows")
    check(bound == flows, f"{flows - bound} of {flows} flows are not bound to slices at both ends")
    # A flow ends on a slice of the fiber it woke (its id names the flow's end slice).
    slice_at = {(e["tid"], e["ts"]): e for e in slices}
    for i, f in ends.items():
        check((f["tid"], f["ts"]) in slice_at, f"flow {i} ends at no fiber slice")
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
