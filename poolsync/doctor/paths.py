"""Replication paths in words: how to push a change along one, why none leads (pure).

:func:`pending_fix` turns the hops of a usable path into the commands that replicate
along it (Windows, Samba, the poolsync lab); :func:`path_problems` says why no usable
chain of connections leads from the DC holding a change to a Global Catalog, with the
fixes for each broken piece. The topology itself (connections, which DCs refuse to send
or receive) comes from :class:`~poolsync.forest.ForestConfig`.

Internal to :mod:`poolsync.doctor`; used by :mod:`poolsync.doctor.replication`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from poolsync.doctor.fixes import connection_fix, missing_connection_fix, options_fix
from poolsync.doctor.servers import names
from poolsync.forest import ForestConfig

__all__ = ["PARTIAL_FIX", "path_problems", "pending_fix"]

#: The fix when the GC's own DC holds the change but its GC port does not return it.
PARTIAL_FIX: Final = (
    "Check that the Location's attributes are in the partial attribute set "
    "(replicated to the Global Catalog), or wait for the Global Catalog to "
    "finish building its partial replica."
)


def pending_fix(hops: Sequence[tuple[str, str]], nc: str) -> tuple[str, ...]:
    """Replicate hop by hop: each hop has a usable connection, so the DCs know it."""
    if not hops:
        return ()
    windows = " then ".join(f"`repadmin /replicate {b} {a} {nc}`" for a, b in hops)
    samba = " then ".join(f"`samba-tool drs replicate {b} {a} {nc}`" for a, b in hops)
    lab = " then ".join(f"`poolsync lab replicate --from {a} --to {b}`" for a, b in hops)
    return (
        f"Replicate now: {windows} (Windows) or {samba} (Samba), or wait for the next "
        "scheduled replication.",
        f"In a poolsync lab: {lab}.",
    )


def _kcc(dc: str) -> str:
    return f"`repadmin /kcc {dc}` / `samba-tool drs kcc {dc}`"


def path_problems(topology: ForestConfig, source: str, gc: str) -> tuple[list[str], list[str]]:
    """Sentences and fixes for why nothing from ``source`` reaches ``gc``: the GC's own
    inbound problems, else those of the DCs that can still reach it."""
    if topology.dc(source) is None:
        return (
            [f"{source} is not a domain controller in the forest configuration read"],
            [
                f"Check the forest configuration: {source} holds the Location but is not "
                "listed as a domain controller."
            ],
        )
    problems = topology.inbound_problems(gc)
    examined = [gc]
    if not problems:
        reachers = [
            d.name for d in topology.dcs if d.name != gc and topology.replication_path(d.name, gc)
        ]
        if reachers:
            problems.append(
                f"only {names(reachers)} can send changes to {gc}, and none "
                f"of them is reachable from {source}"
            )
        else:
            problems.append(f"no other DC can send changes to {gc}")
        for dc in reachers:
            problems += topology.inbound_problems(dc)
        examined += reachers
    src = topology.dc(source)
    if (
        src is not None
        and src.outbound_disabled
        and not any(p.startswith(f"{src.name} has outbound") for p in problems)
    ):
        problems.append(
            f"{src.name} has outbound replication disabled "
            "(DISABLE_OUTBOUND_REPL), so nothing leaves it"
        )
    return problems, _path_fixes(topology, source, gc, examined)


def _path_fixes(topology: ForestConfig, source: str, gc: str, examined: Sequence[str]) -> list[str]:
    fixes: list[str] = []
    for name in examined:
        for piece in topology.inbound_breaks(name) or ():
            if piece.kind == "inbound-disabled":
                fixes.append(options_fix(piece.dc, "inbound"))
            elif piece.kind == "no-connections":
                fixes.append(missing_connection_fix(piece.dc))
            elif piece.kind == "connection-disabled" and piece.connection is not None:
                fixes.append(connection_fix(piece.connection))
            elif piece.kind == "sender-outbound-disabled":
                fixes.append(options_fix(piece.dc, "outbound"))
    src = topology.dc(source)
    if src is not None and src.outbound_disabled:
        fixes.append(options_fix(src, "outbound"))
    if not fixes:
        fixes.append(
            f"Make sure a chain of enabled replication connections leads from "
            f"{source} to {gc} (Active Directory Sites and Services), or run the "
            f"KCC: {_kcc(gc)}."
        )
    return list(dict.fromkeys(fixes))
