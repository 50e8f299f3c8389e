#!/usr/bin/env python3
"""Runs tools/examples/graceful_shutdown: a client is echoed, SIGINT stops the server, the open
connection is closed by the server, and the process exits 0. Usage: graceful_shutdown_test.py <exe>"""
import re
import signal
import socket
import subprocess
import sys

proc = subprocess.Popen([sys.argv[1], "0"], stdout=subprocess.PIPE, text=True)
try:
    line = proc.stdout.readline()
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        sys.exit(f"unexpected first line: {line!r}")
    with socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=10) as s:
        s.sendall(b"hello\n")
        got = b""
        while len(got) < 6:
            got += s.recv(64)
        if got != b"hello\n":
            sys.exit(f"echo: got {got!r}")
        proc.send_signal(signal.SIGINT)
        if s.recv(64) != b"":  # the server cancels this connection: EOF
            sys.exit("the connection was not closed by the shutdown")
    rc = proc.wait(timeout=10)
    rest = proc.stdout.read()
    if rc != 0 or "exiting 0" not in rest:
        sys.exit(f"exit {rc}, output {rest!r}")
    print("graceful shutdown ok")
finally:
    if proc.poll() is None:
        proc.kill()
