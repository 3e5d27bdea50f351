#!/usr/bin/env python3
"""snmpd pass_persist handler for the server-client tests: OID -> (type, value) from JSON.

Registered as ``pass_persist .1.3.6.1.4.1.9.9.385 /usr/bin/python3 THIS_FILE DATA.json``.
DATA.json maps dotted OIDs (no leading dot) to ``[type, value]`` with a pass_persist
type (``gauge``, ``integer``, ``string``, ``counter``, ...), so a test can serve any
type, not only the MIB's; an OID not in it answers ``NONE`` (noSuchInstance). Protocol
(snmpd.conf(5)): PING -> PONG; get/getnext + OID -> OID, TYPE, VALUE or NONE; set ->
not-writable. Stdlib only: snmpd runs it with the system's python3.
"""

import json
import sys
from pathlib import Path


def parse(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.strip().strip(".").split(".") if p)


def main() -> None:
    served = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    data = {parse(oid): entry for oid, entry in served.items()}
    order = sorted(data)
    inp, out = sys.stdin, sys.stdout
    while True:
        line = inp.readline()
        if not line:
            return
        cmd = line.strip().lower()
        if cmd == "ping":
            out.write("PONG\n")
        elif cmd in ("get", "getnext"):
            oid = parse(inp.readline())
            if cmd == "get":
                found = oid if oid in data else None
            else:
                found = next((o for o in order if o > oid), None)
            if found is None:
                out.write("NONE\n")
            else:
                kind, value = data[found]
                out.write(".{}\n{}\n{}\n".format(".".join(map(str, found)), kind, value))
        elif cmd == "set":
            inp.readline()
            inp.readline()
            out.write("not-writable\n")
        elif not cmd:
            return
        else:
            out.write("NONE\n")
        out.flush()


if __name__ == "__main__":
    main()
