#!/usr/bin/env python3
"""The API reference builds from the public headers with no Doxygen warning: every public name is
documented and no doc comment is malformed (doc/Doxyfile.in: WARN_AS_ERROR). Prints the warnings.
Skipped (exit 77) when doxygen is not installed: .ci/run installs it, and counts a skip as a failure.

Args: <configured Doxyfile (build/doc/Doxyfile)>

The HTML goes to a temporary directory, not to the `docs` target's build/doc/html."""
import os, shutil, subprocess, sys, tempfile

doxygen = shutil.which("doxygen")
if not doxygen:
    print("doxygen not installed: skipped")
    sys.exit(77)
with tempfile.TemporaryDirectory(prefix="weft-reference-") as out:
    cfg = os.path.join(out, "Doxyfile")
    with open(cfg, "w") as f:
        f.write("@INCLUDE = %s\nOUTPUT_DIRECTORY = %s\n" % (sys.argv[1], out))
    p = subprocess.run([doxygen, cfg], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    warnings = [l for l in p.stderr.splitlines() if l.strip()]
    for l in warnings:
        print(l)
    version = subprocess.run([doxygen, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    if p.returncode != 0 or warnings:
        print("FAIL: doxygen %s exited %d with %d warning line(s)" % (version, p.returncode, len(warnings)))
        sys.exit(1)
    if not os.path.exists(os.path.join(out, "html", "index.html")):
        print("FAIL: no html/index.html")
        sys.exit(1)
    print("reference: doxygen %s, no warnings" % version)
