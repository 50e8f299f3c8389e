#!/usr/bin/env python3
"""The layers of lib/ only look down (doc/architecture.md). Fails on an upward or sideways include.

Args: <source root>   (or --self-test: proves the check fails on a reversed include)

Each file of lib/ belongs to a layer, by folder (the table below); a layer may include its own
files and those of the layers listed for it, nothing else. Public headers (include/weft/) are the
interface every layer implements: anyone may include them, and they include no lib/ file.
"""
import os, re, sys

# layer -> the layers it may include (besides itself). Order is bottom-up.
ALLOWED = {
    "platform": set(),                                   # cpu hints, futex: the OS and the CPU
    "fiber": {"platform"},                               # stacks, the context switch, overflow guard
    "reactor": {"platform"},                             # the libev loop and its async wake-up
    "observe": {"platform"},                             # counters and the trace recorder
    "sched": {"platform", "fiber", "reactor", "observe"},  # workers, queues, the wait core, cancellation
    "sync": {"platform", "sched", "observe"},            # primitives and channels
    "net": {"platform", "sched", "observe"},             # sockets, signals
    "blocking": {"platform", "sched", "observe"},        # the blocking pool, files
    "introspect": {"platform", "fiber", "reactor", "observe", "sched", "sync"},  # dump, stall, top
}

FILE_LAYER = {}  # files whose layer is not their folder's (none today)
FOLDER_LAYER = {
    "platform": "platform", "fiber": "fiber", "reactor": "reactor", "sched": "sched",
    "sync": "sync", "net": "net", "blocking": "blocking", "observe": "observe",
    "introspect": "introspect",
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(rel):
    """Layer of a path relative to the source root ("lib/sched/x.cpp"), or None if not in lib/."""
    if rel in FILE_LAYER:
        return FILE_LAYER[rel]
    parts = rel.split("/")
    if len(parts) < 3 or parts[0] != "lib":
        return None
    if parts[1] not in FOLDER_LAYER:
        raise SystemExit(f"layers_check: {rel}: folder lib/{parts[1]}/ has no layer; add it to the table")
    return FOLDER_LAYER[parts[1]]


def violations(files):
    """files: {relative path: text}. Returns a list of messages."""
    bad = []
    for rel, text in sorted(files.items()):
        mine = layer_of(rel)
        for inc in INCLUDE.findall(text):
            target = "lib/" + inc
            if rel.startswith("include/"):
                if os.path.dirname(inc).split("/")[0] in FOLDER_LAYER:
                    bad.append(f'{rel}: public header includes "{inc}" from lib/ (users do not have it)')
                continue
            if mine is None:
                continue
            theirs = layer_of(target) if target.split("/")[1] in FOLDER_LAYER or target in FILE_LAYER else None
            if theirs is None or theirs == mine or theirs in ALLOWED[mine]:
                continue
            bad.append(f'{rel} ({mine}) includes "{inc}" ({theirs}): {mine} may include only '
                       f'{", ".join(sorted(ALLOWED[mine])) or "nothing below it"}')
    return bad


def self_test():
    ok = {"lib/sched/a.cpp": '#include "fiber/switch.hpp"\n', "lib/sync/b.cpp": '#include "sched/wait.hpp"\n'}
    reversed_ = {"lib/fiber/c.cpp": '#include "sched/scheduler.hpp"\n'}
    sideways = {"lib/net/d.cpp": '#include "blocking/x.hpp"\n'}
    public = {"include/weft/e.hpp": '#include "sched/wait.hpp"\n'}
    assert not violations(ok), violations(ok)
    for case in (reversed_, sideways, public):
        assert violations(case), f"not caught: {case}"
    print("layers_check self-test: a reversed, a sideways and a public->lib include are all caught")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    root = sys.argv[1]
    files = {}
    for top in ("lib", "include"):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for n in names:
                if n.endswith((".cpp", ".hpp")):
                    p = os.path.join(dirpath, n)
                    files[os.path.relpath(p, root)] = open(p, encoding="utf-8").read()
    bad = violations(files)
    for b in bad:
        print("layers_check:", b)
    print(f"layers_check: {len(files)} files, {len(bad)} include(s) against the layers")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
