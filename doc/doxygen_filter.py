#!/usr/bin/env python3
"""Doxygen input filter (doc/Doxyfile.in: INPUT_FILTER): removes C++14 digit separators
(10'000 -> 10000). Doxygen 1.9.4's scanner takes the quote for a character literal and loses track
of the comments that follow, attaching a member's documentation to the one before it."""
import re, sys

with open(sys.argv[1], encoding="utf-8") as f:
    sys.stdout.write(re.sub(r"(?<=[0-9])'(?=[0-9])", "", f.read()))
