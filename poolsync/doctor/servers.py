"""What the doctor read, arranged per server: the rules' shared ground (pure).

Every DC's Location copies are grouped per objectGUID into a :class:`Server` with its
reference (freshest) copy and its home DC; every pool member becomes a :class:`Viewer`
with the Global Catalog it monitors. How one copy compares with another
(:func:`lacks`, :func:`stale_fields`) and the wording the rules share live here too, so
that :mod:`~poolsync.doctor.replication`, :mod:`~poolsync.doctor.mirror` and
:mod:`~poolsync.doctor.pool` read the same facts the same way.

Internal to :mod:`poolsync.doctor`; the entry point is
:func:`poolsync.doctor.causes.diagnose`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from poolsync.doctor.model import DcProbe, DoctorInput, LocationCopy
from poolsync.forest import ForestConfig, behind
from poolsync.model import Location

__all__ = [
    "Copy",
    "Server",
    "Viewer",
    "canon",
    "group_copies",
    "iso",
    "lacks",
    "names",
    "partial_attributes",
    "probe_for",
    "read_servers",
    "sorted_names",
    "stale_fields",
    "viewers",
    "when",
    "where",
]

_EPOCH: Final = dt.datetime.min.replace(tzinfo=dt.UTC)
#: replPropertyMetaData attid of objectClass: its originating DC created the object.
_OBJECT_CLASS_ATTID: Final = 0


@dataclass(frozen=True, slots=True)
class Copy:
    """A Location copy with the probe it came from (GC port or not matters)."""

    copy: LocationCopy
    probe: DcProbe
    dc: str  # the copy's DC, as the forest configuration names it


@dataclass(frozen=True, slots=True)
class Server:
    """One Location (by objectGUID): every copy read, the freshest (``ref``, which
    names it) and the DC its changes come from (``home``)."""

    guid: str
    ref: Copy
    copies: tuple[Copy, ...]
    home: str

    @property
    def name(self) -> str:
        return self.ref.copy.location.name

    @property
    def location(self) -> Location:
        return self.ref.copy.location

    def holders(self) -> list[str]:
        return sorted({c.dc for c in self.copies}, key=str.lower)


@dataclass(frozen=True, slots=True)
class Viewer:
    """A pool member and the Global Catalog it monitors (``probe`` None: not read)."""

    server: Server
    gc: str | None
    probe: DcProbe | None


# --- wording the rules share -------------------------------------------------------


def iso(moment: dt.datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "an unknown time"


def names(items: Iterable[str]) -> str:
    return ", ".join(items)


def sorted_names(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(items, key=lambda n: (n.lower(), n)))


def where(probe: DcProbe) -> str:
    return f"{probe.dc}'s Global Catalog" if probe.gc else probe.dc


# --- comparing copies --------------------------------------------------------------


def canon(topology: ForestConfig, name: str) -> str:
    """``name`` as the forest configuration spells the DC (unchanged when unknown)."""
    dc = topology.dc(name)
    return dc.name if dc is not None else name


def when(copy: Copy) -> dt.datetime:
    return copy.copy.when_changed or copy.copy.when_created or _EPOCH


def lacks(copy: Copy, newer: Copy, pas: frozenset[int]) -> list[int]:
    """The attids on which ``copy`` lacks a change ``newer`` holds. A copy read through
    a GC port is not blamed for attributes no GC copy holds at all (outside the partial
    attribute set, a GC never receives them)."""
    if not copy.copy.stamps or not newer.copy.stamps:
        return []
    missing = behind(copy.copy.stamps, newer.copy.stamps)
    if copy.probe.gc:
        have = {s.attid for s in copy.copy.stamps}
        missing = [a for a in missing if a in have or a in pas]
    return missing


def _older(copy: Copy, newer: Copy, pas: frozenset[int]) -> bool:
    if copy.copy.stamps and newer.copy.stamps:
        return bool(lacks(copy, newer, pas))
    return when(copy) < when(newer)


def stale_fields(copy: Location, ref: Location) -> list[str]:
    """The fields in which ``copy`` differs from ``ref`` (the attachment compared as
    bytes, so text and bytes of the same XML are equal)."""
    fields = ("dn", "name", "object_id", "version", "failover_of")
    differ = [f for f in fields if getattr(copy, f) != getattr(ref, f)]
    if _attachment_bytes(copy.attachment) != _attachment_bytes(ref.attachment):
        differ.append("attachment")
    return differ


def _attachment_bytes(value: str | bytes | None) -> bytes | None:
    return value.encode("utf-8") if isinstance(value, str) else value


# --- servers -----------------------------------------------------------------------


def group_copies(inp: DoctorInput) -> dict[str, list[Copy]]:
    """Every copy the readable probes returned, per objectGUID."""
    by_guid: dict[str, list[Copy]] = defaultdict(list)
    for probe in inp.probes:
        if probe.error is None:
            for copy in probe.copies:
                by_guid[copy.location.guid].append(Copy(copy, probe, canon(inp.topology, copy.dc)))
    return by_guid


def partial_attributes(copies: Mapping[str, Sequence[Copy]]) -> frozenset[int]:
    """The attids some copy read through a GC port holds: the partial attribute set."""
    return frozenset(
        s.attid for cs in copies.values() for c in cs if c.probe.gc for s in c.copy.stamps
    )


def _monitored_dcs(inp: DoctorInput) -> dict[str, str]:
    """Server name (lower-case) -> the DC its domain monitor uses: the first monitor of
    the server naming a DC of the forest. One pass, looked up per server (a scan of
    every monitor per server was quadratic when the config lists every server)."""
    found: dict[str, str] = {}
    for monitor in inp.monitors:
        key = monitor.server.lower()
        if key not in found and monitor.dc is not None:
            dc = inp.topology.dc(monitor.dc)
            if dc is not None:
                found[key] = dc.name
    return found


def _creator(inp: DoctorInput, copies: Sequence[Copy]) -> str | None:
    """The DC whose invocation id originated objectClass (the DC that created it)."""
    stamps = [s for c in copies for s in c.copy.stamps if s.attid == _OBJECT_CLASS_ATTID]
    if not stamps:
        return None
    stamp = max(stamps, key=lambda s: (s.version, s.changed, s.origin))
    dc = inp.topology.dc_by_invocation(stamp.origin)
    return dc.name if dc is not None else None


def _reference(copies: Sequence[Copy], hint: str | None, pas: frozenset[int]) -> Copy:
    """The freshest copy: the fewest other copies ahead of it (none, unless copies
    diverge), then the home DC's copy, then by DC name."""

    def key(c: Copy) -> tuple[int, bool, str, bool, str]:
        ahead = sum(1 for o in copies if o is not c and _older(c, o, pas))
        home = hint is not None and c.dc.lower() == hint.lower()
        return ahead, not home, c.dc.lower(), c.probe.gc, c.probe.url

    return min(copies, key=key)


def read_servers(
    inp: DoctorInput, copies: Mapping[str, Sequence[Copy]], pas: frozenset[int]
) -> list[Server]:
    """One :class:`Server` per objectGUID, in name order. The home DC is the one the
    server's domain monitor uses, else the DC that created the Location, else the
    reference copy's DC."""
    monitored = _monitored_dcs(inp)
    servers: list[Server] = []
    for guid, held in copies.items():
        seen_as = sorted({c.copy.location.name for c in held})
        hint = next((monitored[n.lower()] for n in seen_as if n.lower() in monitored), None)
        ref = _reference(held, hint or _creator(inp, held), pas)
        home = monitored.get(ref.copy.location.name.lower()) or _creator(inp, held) or ref.dc
        servers.append(Server(guid, ref, tuple(held), home))
    return sorted(servers, key=lambda s: (s.name.lower(), s.guid))


def probe_for(inp: DoctorInput, dc: str) -> DcProbe | None:
    """The successful probe of ``dc``, its GC port preferred."""
    ok = [
        p for p in inp.probes if p.error is None and canon(inp.topology, p.dc).lower() == dc.lower()
    ]
    ok.sort(key=lambda p: (not p.gc, p.url))
    return ok[0] if ok else None


def viewers(inp: DoctorInput, members: Sequence[Server]) -> tuple[list[Viewer], list[str]]:
    """Each member with the GC it monitors (its GC monitor, else the default GC), and a
    note for each member whose GC is unknown or could not be read."""
    found: list[Viewer] = []
    notes: list[str] = []
    configured: dict[str, str] = {}  # server name (lower-case) -> its first GC monitor's
    for monitor in inp.monitors:
        if monitor.gc:
            configured.setdefault(monitor.server.lower(), monitor.gc)
    probes: dict[str, DcProbe | None] = {}  # per GC, asked once for all its viewers
    for server in members:
        gc = configured.get(server.name.lower()) or inp.default_gc
        gc = canon(inp.topology, gc) if gc else None
        if gc is not None and gc not in probes:
            probes[gc] = probe_for(inp, gc)
        probe = probes[gc] if gc is not None else None
        found.append(Viewer(server, gc, probe))
        if gc is None:
            notes.append(
                f"{server.name} has no Global Catalog to check: no GC monitor is "
                "configured for it and there is no default GC."
            )
        elif probe is None:
            asked = any(canon(inp.topology, p.dc).lower() == gc.lower() for p in inp.probes)
            # A failed endpoint is known by its host only: it may have been this GC.
            unnamed = any(p.error is not None and inp.topology.dc(p.dc) is None for p in inp.probes)
            why = (
                "could not be read"
                if asked
                else "could not be read (or is not among the endpoints of the config)"
                if unnamed
                else "was not asked"
            )
            notes.append(
                f"{server.name}'s Global Catalog {gc} {why}, so what {server.name} "
                "sees was not checked."
            )
        elif not probe.gc:
            notes.append(
                f"{server.name}'s Global Catalog {gc} was read through its LDAP "
                f"port ({probe.url}), not its Global Catalog port: what the GC "
                "holds of other domains, and its partial attribute set, were not "
                "checked."
            )
    return found, notes
