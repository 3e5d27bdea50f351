"""snmpd ``pass_persist`` handler: a lab Unity server's CISCO-UNITY-MIB license scalars.

snmpd runs it (``pass_persist .1.3.6.1.4.1.9.9.385 PYTHON -I -S THIS_FILE DATA.json``)
on the first request under ``ciscoUnityMIB`` and keeps it running. DATA.json holds the
server's ``AvXmlLicData`` parameters by element name (``{"server": NAME, "version":
VERSION, "licenses": {...}, "utilization": {...}}``), the same values as the server's
effective-license page; it is read again when it changes, so a running lab's values
can be changed without restarting snmpd.

Standard library only, and no poolsync import: snmpd starts it with ``-I -S`` (no
site-packages, no environment), as whatever user snmpd runs as.

Protocol (snmpd.conf(5), "pass_persist"): ``PING`` -> ``PONG``; ``get`` or ``getnext``
then an OID line -> three lines OID, TYPE, VALUE, or ``NONE`` (snmpd answers
noSuchInstance); ``set`` then OID and value lines -> ``not-writable``. One answer per
request, flushed; EOF ends it.

Served: ``ciscoUnityServerState.0`` (running), the license scalars
``ciscoUnityGlobalInfo.8.0`` to ``.23.0`` for each parameter DATA.json has (absent ones
are noSuchInstance), and row 1 of ``ciscoUnityTable`` (the server's name and version).
Unsigned32 objects go out as ``gauge`` (Gauge32 shares Unsigned32's tag); TruthValue as
``integer`` 1 (true) or 2 (false), never 0.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any, Final

Oid = tuple[int, ...]
Entry = tuple[str, str]  # (pass_persist type, value)

BASE: Final = (1, 3, 6, 1, 4, 1, 9, 9, 385)  # ciscoUnityMIB
GLOBAL_INFO: Final = (*BASE, 1, 2)  # ciscoUnityGlobalInfo: scalars of the local server
UNITY_ENTRY: Final = (*BASE, 1, 1, 1, 1)  # ciscoUnityEntry, INDEX ciscoUnityIndex
SERVER_STATE_RUNNING: Final = 3  # CiscoUnityServerStatus running(3)

#: ciscoUnityGlobalInfo column -> (AvXmlLicData section, element, MIB syntax).
LICENSE_OBJECTS: Final[dict[int, tuple[str, str, str]]] = {
    8: ("licenses", "LicLanguagesMax", "unsigned"),  # ciscoUnityLicLanguagesMax
    9: ("licenses", "LicTTSSessionsMax", "unsigned"),  # ciscoUnityLicTTSSessionsMax
    10: ("licenses", "LicSubscribersMax", "unsigned"),  # ciscoUnityLicSubscribersMax
    11: ("licenses", "LicUMSubscribersMax", "unsigned"),  # ciscoUnityLicUMSubscribersMax
    12: ("licenses", "LicVMISubscribersMax", "unsigned"),  # ciscoUnityLicVMISubscribersMax
    13: ("licenses", "LicVoicePortsMax", "unsigned"),  # ciscoUnityLicVoicePortsMax
    14: ("licenses", "LicBridgeSessionsMax", "unsigned"),  # ciscoUnityLicBridgeSessionsMax
    15: ("licenses", "LicAMISIsLicensed", "truth"),  # ciscoUnityLicAMISIsLicensed
    16: ("licenses", "LicMaxMsgRecLenIsLicensed", "truth"),  # ciscoUnityLicMaxMsgRecLenIsLic
    17: ("licenses", "LicPoolingIsEnabled", "truth"),  # ciscoUnityLicPoolingIsEnabled
    18: ("licenses", "LicVPIMIsLicensed", "truth"),  # ciscoUnityLicVPIMIsLicensed
    # No XML name is known for this one; the lab uses this guess for it.
    19: ("licenses", "LicPrimaryServerIsLicensed", "truth"),  # ciscoUnityLicPrimaryServerIsLic
    20: ("licenses", "LicSecondaryServerIsLicensed", "truth"),  # ciscoUnityLicSecondServerIsLic
    21: ("utilization", "AvLicUtilizationSecondaryServer", "unsigned"),  # ...UtilSecondServer
    22: ("utilization", "AvLicUtilizationSubscribers", "unsigned"),  # ciscoUnityLicUtilSubs
    23: ("utilization", "AvLicUtilizationVMISubscribers", "unsigned"),  # ...UtilVMISubs
}
_UNSIGNED32_MAX: Final = 2**32 - 1


def build(data: dict[str, Any]) -> dict[Oid, Entry]:
    """Every instance the agent serves, from DATA.json's document."""
    tree: dict[Oid, Entry] = {(*GLOBAL_INFO, 1, 0): ("integer", str(SERVER_STATE_RUNNING))}
    for column, (section, name, syntax) in LICENSE_OBJECTS.items():
        value = data.get(section, {}).get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            continue  # not published: noSuchInstance
        if syntax == "truth":
            tree[(*GLOBAL_INFO, column, 0)] = ("integer", "1" if value else "2")
        elif 0 <= value <= _UNSIGNED32_MAX:
            tree[(*GLOBAL_INFO, column, 0)] = ("gauge", str(value))
    tree[(*UNITY_ENTRY, 2, 1)] = ("string", _one_line(data.get("server")))
    tree[(*UNITY_ENTRY, 3, 1)] = ("string", _one_line(data.get("version")))
    return tree


def _one_line(value: object) -> str:
    """A string value on one line: the protocol is line-based."""
    return " ".join(str(value or "").split())


def parse_oid(text: str) -> Oid | None:
    try:
        return tuple(int(part) for part in text.strip().strip(".").split(".") if part)
    except ValueError:
        return None


def dotted(oid: Oid) -> str:
    return "." + ".".join(str(n) for n in oid)


class Source:
    """DATA.json's tree, read again whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stamp: tuple[int, int] | None = None
        self.tree: dict[Oid, Entry] = {}
        self.order: list[Oid] = []

    def current(self) -> tuple[dict[Oid, Entry], list[Oid]]:
        try:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
            if stamp != self.stamp:
                self.tree = build(json.loads(self.path.read_text(encoding="utf-8")))
                self.order = sorted(self.tree)
                self.stamp = stamp
        except (OSError, ValueError, AttributeError):
            pass  # keep answering from the last good read
        return self.tree, self.order


def answer(command: str, oid: Oid | None, source: Source) -> str:
    """The reply to one get or getnext."""
    if oid is None:
        return "NONE\n"
    tree, order = source.current()
    if command == "get":
        found = oid if oid in tree else None
    else:
        found = next((o for o in order if o > oid), None)
    if found is None:
        return "NONE\n"
    kind, value = tree[found]
    return f"{dotted(found)}\n{kind}\n{value}\n"


def serve(source: Source, inp: IO[str], out: IO[str]) -> None:
    """Answer snmpd's requests until it closes the pipe."""
    while True:
        line = inp.readline()
        if not line:
            return
        command = line.strip().lower()
        if command == "ping":
            out.write("PONG\n")
        elif command in ("get", "getnext"):
            out.write(answer(command, parse_oid(inp.readline()), source))
        elif command == "set":
            inp.readline()
            inp.readline()
            out.write("not-writable\n")
        elif not command:
            return
        else:
            out.write("NONE\n")
        out.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: pass_persist.py DATA.json\n")
        return 2
    serve(Source(Path(argv[1])), sys.stdin, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
