"""Writes the order in which the release linker places rectify's own
functions (crates/rectify/link-order.txt): every function of the binary
that callgrind saw run, in the order it first saw them, one symbol a line.
The linker puts them first and side by side, so that the code a command
runs fills few pages (a process maps code 64 KB at a time around each page
it touches). See scripts/link-order.

    python3 bench/link/order.py BINARY CALLGRIND_OUT... > crates/rectify/link-order.txt
"""
import os
import re
import sys

binary = os.path.realpath(sys.argv[1])
order = {}  # insertion-ordered: first seen first
name_re = re.compile(r"^(c?fn|c?ob)=\((\d+)\)(?: (.*))?$")
for path in sys.argv[2:]:
    objects, functions = {}, {}
    current_ob = None
    with open(path, errors="replace") as f:
        for line in f:
            m = name_re.match(line.rstrip("\n"))
            if not m:
                continue
            kind, num, name = m.groups()
            table = objects if kind.endswith("ob") else functions
            if name is not None:
                table[num] = name
            value = table.get(num)
            if kind == "ob":
                current_ob = value
            elif kind == "fn" and value and current_ob and os.path.realpath(current_ob) == binary:
                if not value.startswith("0x"):
                    order.setdefault(value, None)
for name in order:
    print(name)
print(f"{len(order)} functions", file=sys.stderr)
