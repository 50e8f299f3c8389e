#!/usr/bin/env python3
"""Counts the flows of a weft trace with a real trace parser: Chrome's own trace engine (npm
@paulirish/trace_engine, the DevTools Performance panel's model), run by
tests/tools/trace_engine/count_flows.mjs under Node.js. tests/tools/trace_check.py re-implements
the importers' binding rules; this test asks the engine itself.

  trace_engine_check.py <trace_program> <engine dir>              runs trace_program with
      WEFT_TRACE and fails unless the engine binds every flow of the trace (and there are some)
  trace_engine_check.py --self-test <trace_program> <engine dir>  the same trace, then copies of
      it with one flow broken as a viewer would not draw it: the check must see fewer flows bound
  trace_engine_check.py --file <trace.json> <engine dir>          only counts an existing trace

The engine is installed by `npm ci --prefix tests/tools/trace_engine` (package.json pins its
version; README, .ci/run). Without Node.js or the engine the test fails and says so."""
import copy, json, os, shutil, subprocess, sys, tempfile

INSTALL = ("npm ci --prefix tests/tools/trace_engine  (Node.js >= 18 and npm: on Debian, "
           "apt-get install nodejs npm)")


def fail(msg):
    print("FAIL:", msg)
    print("trace_engine_check: FAILED")
    sys.exit(1)


def engine_count(engine_dir, path):
    """The engine's counts for the trace at path: the dict count_flows.mjs prints."""
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        fail(f"Node.js is not installed; this test needs it and the trace engine: {INSTALL}")
    script = os.path.join(engine_dir, "count_flows.mjs")
    if not os.path.isdir(os.path.join(engine_dir, "node_modules", "@paulirish", "trace_engine")):
        fail(f"the trace engine is not installed in {engine_dir}/node_modules; install it with: {INSTALL}")
    r = subprocess.run([node, script, path], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        fail(f"count_flows.mjs exit {r.returncode}: {r.stderr.strip()}")
    try:
        c = json.loads(r.stdout)
    except ValueError:
        fail(f"count_flows.mjs printed no JSON: {r.stdout!r} {r.stderr!r}")
    with open(os.path.join(engine_dir, "package.json")) as f:
        pinned = json.load(f)["dependencies"]["@paulirish/trace_engine"]
    if c["engine"] != pinned:
        fail(f"{engine_dir}/node_modules holds trace engine {c['engine']}, package.json pins {pinned}: {INSTALL}")
    return c


def report(what, c):
    print(f"{what}: engine {c['engine']}: {c['events']} events, {c['flows']} flows, "
          f"{c['bound']} bound at both ends, {c['flows'] - c['bound']} not")
    for u in c["unbound"]:
        print("  not bound:", json.dumps(u))


def traced_run(prog, d):
    path = os.path.join(d, "trace.json")
    r = subprocess.run([prog], env=dict(os.environ, WEFT_TRACE=path), capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        fail(f"trace_program exit {r.returncode}: {r.stderr}")
    return path


def all_bound(c):
    return c["flows"] > 0 and c["bound"] == c["flows"]


def self_test(path, engine_dir, d):
    """Breaks one bound flow per way a viewer would drop it, in a copy of the trace each, and
    checks that the engine then binds exactly one flow fewer, and names that one."""
    with open(path) as f:
        trace = json.load(f)
    ev = trace["traceEvents"]
    base = engine_count(engine_dir, path)
    if not all_bound(base):
        fail("the self-test needs a trace whose flows are all bound")
    ends = [i for i, e in enumerate(ev) if e.get("ph") == "f"]
    starts = {e["id"]: i for i, e in enumerate(ev) if e.get("ph") == "s"}
    victim = ends[len(ends) // 2]
    fid = ev[victim]["id"]

    taken = {(x.get("ts"), x.get("tid"), x.get("cat")) for x in ev if x.get("ph") not in ("s", "t", "f")}

    def moved_end(e):  # 1 µs after the slice it was written for (or a ns later, till no event is there)
        ts = round(e["ts"] + 1.0, 3)
        while (ts, e["tid"], e["cat"]) in taken:
            ts = round(ts + 0.001, 3)
        e["ts"] = ts

    def other_cat(e):  # a category no slice has
        e["cat"] = "fiber.moved"

    def other_track(e):  # the same time on a track with no slice then
        e["tid"] = max(x.get("tid", 0) for x in ev) + 1

    cases = [("flow end 1 us off its slice", victim, moved_end),
             ("flow end in another category", victim, other_cat),
             ("flow start on a track with no slice", starts[fid], other_track)]
    failures = 0
    for what, idx, breaks in cases:
        broken = copy.deepcopy(trace)
        target = broken["traceEvents"][idx]
        breaks(target)
        if what == "flow end in another category":  # the start goes along: they pair by category
            broken["traceEvents"][starts[fid]]["cat"] = target["cat"]
        p = os.path.join(d, "broken.json")
        with open(p, "w") as f:
            json.dump(broken, f)
        c = engine_count(engine_dir, p)
        report(f"self-test, {what} (flow {fid})", c)
        named = any(u["id"] == fid for u in c["unbound"])
        if c["flows"] != base["flows"] or c["bound"] != base["bound"] - 1 or not named:
            print(f"FAIL: {what}: expected {base['bound'] - 1} of {base['flows']} bound, flow {fid} named unbound")
            failures += 1
    return failures


def main(argv):
    if len(argv) == 3 and argv[0] == "--file":
        c = engine_count(argv[2], argv[1])
        report(argv[1], c)
        return 0 if all_bound(c) else 1
    self = len(argv) == 3 and argv[0] == "--self-test"
    if self:
        argv = argv[1:]
    if len(argv) != 2:
        print(__doc__)
        return 2
    prog, engine_dir = argv
    with tempfile.TemporaryDirectory() as d:
        path = traced_run(prog, d)
        if self:
            failures = self_test(path, engine_dir, d)
        else:
            c = engine_count(engine_dir, path)
            report("trace_program", c)
            failures = 0
            if c["flows"] < 50:
                print(f"FAIL: only {c['flows']} flows in the trace")
                failures += 1
            if c["bound"] != c["flows"]:
                print(f"FAIL: the engine binds {c['bound']} of {c['flows']} flows")
                failures += 1
    print("trace_engine_check:", "FAILED" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
