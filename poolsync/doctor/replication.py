"""What each viewer's Global Catalog lacks: ``replication-pending`` and
``no-replication-path`` (pure).

A viewer's GC lacks a server when it holds no copy of the server's Location, or an
older copy than the reference one (by replPropertyMetaData when both copies carry it,
else by the Location's fields and whenChanged). The change should come from the home
DC when that holds it, else from a holder with a path to the GC. When a usable chain of
connections leads from there to the GC the change is ``replication-pending`` (a
warning; the fix replicates hop by hop); when none does it is ``no-replication-path``
(an error; the evidence names the broken pieces). GCs sharing a gap share one finding
per server and cause, and the same pass yields each GC's visibility row: what it lacks
and which viewers look through it.

Internal to :mod:`poolsync.doctor`; the entry point is
:func:`poolsync.doctor.causes.diagnose`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from poolsync.dn import rdns
from poolsync.doctor.model import (
    DcProbe,
    DoctorInput,
    Finding,
    Severity,
    Viewers,
    Visibility,
)
from poolsync.doctor.paths import PARTIAL_FIX, path_problems, pending_fix
from poolsync.doctor.servers import (
    Copy,
    Server,
    Viewer,
    canon,
    iso,
    lacks,
    names,
    sorted_names,
    stale_fields,
    when,
    where,
)
from poolsync.forest import ForestConfig

__all__ = ["replication"]

_SEVERITY: Final[dict[str, Severity]] = {
    "replication-pending": "warning",
    "no-replication-path": "error",
}


@dataclass(frozen=True, slots=True)
class _Gap:
    """What one GC lacks of one server: its cause, evidence sentence and fix (for a
    pending change, the hops to replicate along, so that GCs sharing a hop share it)."""

    cause: str
    sentence: str
    fix: tuple[str, ...] = ()
    hops: tuple[tuple[str, str], ...] = ()
    nc: str = ""


def _naming_context(dn: str) -> str:
    """The DC=... components of ``dn``: the domain naming context it lives in."""
    return ",".join(f"DC={value}" for attr, value in rdns(dn) if attr == "dc")


class _Paths:
    """Replication paths and why none leads, each pair of DCs worked out once: every
    server a GC lacks asks the same few questions of the topology."""

    def __init__(self, topology: ForestConfig) -> None:
        self.topology = topology
        self._paths: dict[tuple[str, str], tuple[str, ...] | None] = {}
        self._problems: dict[tuple[str, str], tuple[list[str], list[str]]] = {}

    def path(self, source: str, target: str) -> tuple[str, ...] | None:
        key = (source, target)
        if key not in self._paths:
            self._paths[key] = self.topology.replication_path(source, target)
        return self._paths[key]

    def problems(self, source: str, gc: str) -> tuple[list[str], list[str]]:
        key = (source, gc)
        if key not in self._problems:
            self._problems[key] = path_problems(self.topology, source, gc)
        return self._problems[key]


def _source(paths: _Paths, server: Server, holders: Sequence[str], gc: str) -> str:
    """Where the change should come from: of the DCs holding the current copy, the home
    DC when a path leads from it to ``gc``, else the first other one with a path, else
    (no path from anywhere) the home DC when it holds the copy, else the first holder.
    """
    home = [h for h in holders if h.lower() == server.home.lower()]
    others = [h for h in holders if h.lower() != server.home.lower()]
    reach = [h for h in (*home, *others) if paths.path(h, gc)]
    return (reach or home or list(holders))[0]


def _lag(copy: Copy, ref: Copy, pas: frozenset[int]) -> tuple[str, dt.datetime | None] | None:
    """How ``copy`` is behind ``ref`` (words, and since when), or None when current."""
    if copy is ref:
        return None
    if copy.copy.stamps and ref.copy.stamps:
        lacking = lacks(copy, ref, pas)
        if not lacking:
            return None
        latest = max(s.changed for s in ref.copy.stamps if s.attid in lacking)
        attids = ", ".join(str(a) for a in sorted(lacking))
        count = f"{len(lacking)} attribute{'' if len(lacking) == 1 else 's'}"
        return f"{count} behind {ref.dc}'s copy (attid {attids})", latest
    differ = stale_fields(copy.copy.location, ref.copy.location)
    if not differ or when(copy) >= when(ref):
        return None
    since = ref.copy.when_changed or ref.copy.when_created
    return f"it differs from {ref.dc}'s copy in {', '.join(differ)}", since


def _changed(copy: Copy) -> dt.datetime | None:
    """The copy's latest change: by its stamps when it has them, else whenChanged."""
    stamps = copy.copy.stamps
    if stamps:
        return max(s.changed for s in stamps)
    return copy.copy.when_changed or copy.copy.when_created


def _gap(paths: _Paths, server: Server, probe: DcProbe, pas: frozenset[int]) -> _Gap | None:
    gc = canon(paths.topology, probe.dc)
    held = next((c for c in server.copies if c.probe is probe), None)
    dn = server.location.dn
    if held is None:
        current = {c.dc for c in server.copies if _lag(c, server.ref, pas) is None}
        holders = [h for h in server.holders() if h in current] or server.holders()
        what = f"Location {dn} is on {names(holders)} but not on {where(probe)}"
        since = _changed(server.ref)
    else:
        lag = _lag(held, server.ref, pas)
        if lag is None:
            return None
        holders = sorted(
            {c.dc for c in server.copies if _lag(c, server.ref, pas) is None}, key=str.lower
        )
        what = f"{where(probe)} holds an older copy of {dn}: {lag[0]}"
        since = lag[1]
    source = _source(paths, server, holders, gc)
    path = paths.path(source, gc)
    nc = _naming_context(dn)
    if path is not None:
        how = (
            f"it replicates {' -> '.join(path)}"
            if len(path) > 1
            else f"{gc} holds it, but its Global Catalog does not return it"
        )
        return _Gap(
            "replication-pending",
            f"{what}; {how}, pending since {iso(since)}.",
            fix=() if len(path) > 1 else (PARTIAL_FIX,),
            hops=tuple(pairwise(path)),
            nc=nc,
        )
    problems, fixes = paths.problems(source, gc)
    return _Gap(
        "no-replication-path",
        f"{what}, and no replication path leads from {source} to {gc}: {'; '.join(problems)}.",
        fix=tuple(fixes),
    )


def replication(
    inp: DoctorInput, servers: Sequence[Server], viewers: Sequence[Viewer], pas: frozenset[int]
) -> tuple[dict[str, list[Finding]], list[Visibility]]:
    """Findings per server guid, and one visibility row per Global Catalog, by GC name.

    Viewers sharing a GC see the same servers, so each GC is compared with every
    server once, and its row names what it lacks (not what it holds) and who looks
    through it; a finding names the GCs lacking its server rather than their viewers.
    Both grow with the servers and the GCs, never with viewers times servers.
    """
    paths = _Paths(inp.topology)
    # GC name -> its probe (None: not read) and its viewers; "" for viewers without one.
    looking: dict[str, tuple[DcProbe | None, list[str]]] = {}
    for viewer in viewers:
        gc = viewer.gc or (viewer.probe.dc if viewer.probe is not None else "")
        looking.setdefault(gc, (viewer.probe, []))[1].append(viewer.server.name)
    # (guid, cause) -> gc -> (gap, how many viewers look through that GC)
    grouped: dict[tuple[str, str], dict[str, tuple[_Gap, int]]] = defaultdict(dict)
    rows: list[Visibility] = []
    for gc, (probe, who) in looking.items():
        if probe is None:
            rows.append(Visibility(gc, sorted_names(who), 0, (), reachable=False))
            continue
        missing: list[str] = []
        for server in servers:
            gap = _gap(paths, server, probe, pas)
            if gap is not None:
                missing.append(server.name)
                grouped[(server.guid, gap.cause)][gc] = (gap, len(who))
        rows.append(
            Visibility(gc, sorted_names(who), len(servers) - len(missing), sorted_names(missing))
        )
    found: dict[str, list[Finding]] = defaultdict(list)
    for (guid, cause), per_gc in grouped.items():
        gcs = sorted(per_gc, key=str.lower)
        entries = [per_gc[gc] for gc in gcs]
        found[guid].append(
            Finding(
                cause=cause,
                severity=_SEVERITY[cause],
                affects=Viewers(gcs=tuple(gcs), count=sum(count for _, count in entries)),
                evidence=" ".join(gap.sentence for gap, _ in entries),
                fix=_fix([gap for gap, _ in entries]),
            )
        )
    return found, sorted(rows, key=lambda r: (r.gc.lower(), r.gc))


def _fix(gaps: Sequence[_Gap]) -> str:
    hops = list(dict.fromkeys(h for gap in gaps for h in gap.hops))
    lines = [*pending_fix(hops, gaps[0].nc), *(f for gap in gaps for f in gap.fix)]
    return "\n".join(dict.fromkeys(lines))
