"""What the doctor reads and what it concludes: plain frozen values, no I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from poolsync.forest import AttributeStamp, ForestConfig
from poolsync.model import Location, Roles, Seats
from poolsync.servers.endpoints import ServerEndpoints
from poolsync.servers.model import ServerReading

Severity = Literal["error", "warning", "info"]
SEVERITIES: Final[tuple[Severity, ...]] = ("error", "warning", "info")

#: Every cause code the doctor reports, in the order docs/doctor.md lists them.
CAUSES: Final = (
    "replication-pending",
    "no-replication-path",
    "stale-mirror",
    "pooling-disabled",
    "version-unsupported",
    "attachment-missing",
    "attachment-too-large",
    "attachment-corrupt",
    "failover-secondary",
    "other-forest",
    "location-missing",
    "published-stale",
    "monitor-dc-unhealthy",
    "orphaned-subscribers",
    "duplicate-name",
    "attachment-not-published",
    "attachment-differs",
    "server-unreachable",
    "inbound-replication-disabled",
    "outbound-replication-disabled",
    "connection-disabled",
    "connection-missing",
)


@dataclass(frozen=True, slots=True)
class LocationCopy:
    """One Location object as one DC holds it.

    ``stamps`` is its parsed replPropertyMetaData (empty when the DC did not send it);
    ``when_changed`` and ``usn_changed`` are the DC's own values.
    """

    dc: str
    location: Location
    when_created: dt.datetime | None = None
    when_changed: dt.datetime | None = None
    usn_changed: int | None = None
    stamps: tuple[AttributeStamp, ...] = ()


@dataclass(frozen=True, slots=True)
class DcProbe:
    """What one DC answered when asked for every Location, or why it did not.

    ``dc`` is the DC's name in the forest configuration; ``url`` the endpoint asked;
    ``gc`` whether that endpoint is the DC's Global Catalog port. ``error`` is set (and
    ``copies`` empty) when the DC could not be read.
    """

    dc: str
    url: str
    gc: bool
    read_at: dt.datetime
    copies: tuple[LocationCopy, ...] = ()
    error: str | None = None
    #: Entries that could not be read as Locations (e.g. no objectGUID), one sentence
    #: each; the rest of the answer counts.
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Monitor:
    """The DC and GC a Unity server's domain and GC monitors use (DC names, or None
    when not configured)."""

    server: str
    dc: str | None = None
    gc: str | None = None


@dataclass(frozen=True, slots=True)
class StoreView:
    """poolsync's own mirror: the Locations its last GC pass stored, the DC that pass
    read from, when, and the seats homed per Location object id (from the store)."""

    gc: str | None
    synced_at: dt.datetime | None
    locations: tuple[Location, ...] = ()
    homed: Mapping[str, Seats] = field(default_factory=dict)
    #: The GC pass's watermark (highestCommittedUSN of ``gc`` before the pass): an
    #: object there with uSNChanged at or below it should be in the store.
    usn: int | None = None
    #: Which optional profile roles the store was read with.
    roles: Roles = field(default_factory=Roles)
    #: Samples of subscribers whose home matches no stored Location: (DN, home key).
    orphans: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ServerReadings:
    """What the Unity servers say about their own licenses: the config's ``servers:``
    section (``servers``, where each one answers) and the latest reading of each
    (server, source) in poolsync's store (``readings``, empty before the first
    ``poolsync servers probe``)."""

    servers: tuple[ServerEndpoints, ...]
    readings: tuple[ServerReading, ...] = ()


@dataclass(frozen=True, slots=True)
class ForeignSighting:
    """A Location found in another forest than the pool's (by ``doctor.other_forests``)."""

    server: str
    forest: str
    dn: str
    dc: str


@dataclass(frozen=True, slots=True)
class DoctorInput:
    """Everything the classifier looks at.

    ``expected`` names servers that should be in the pool even when no Location carries
    their name (``doctor.expected`` in the config); ``foreign`` what the other forests
    hold under those names. ``default_gc`` is the DC whose Global Catalog a viewer
    without a configured GC monitor is assumed to use.
    """

    forest: str
    topology: ForestConfig
    probes: tuple[DcProbe, ...]
    monitors: tuple[Monitor, ...] = ()
    default_gc: str | None = None
    store: StoreView | None = None
    expected: tuple[str, ...] = ()
    foreign: tuple[ForeignSighting, ...] = ()
    #: The other forests that were searched for the expected names (their names).
    other_forests: tuple[str, ...] = ()
    #: The servers' own readings; None when the config has no ``servers:`` section.
    live: ServerReadings | None = None
    now: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Viewers:
    """Which viewers a finding affects, in a size that does not grow with the pool.

    ``names`` lists viewers one by one (``poolsync`` for ``stale-mirror``); ``gcs``
    stands for every pool member whose Global Catalog is one of those DCs (the
    visibility rows name them); ``members`` for every pool member but the server
    itself. ``count`` is how many viewers that makes. A finding about a server that
    every other member misses would otherwise name every member: 10,000 such findings
    named 10,000 members each.
    """

    names: tuple[str, ...] = ()
    gcs: tuple[str, ...] = ()
    members: bool = False
    count: int = 0

    @classmethod
    def named(cls, *names: str) -> Viewers:
        return cls(names=names, count=len(names))


#: A finding about the forest or a DC rather than what some viewer sees.
NO_VIEWERS: Final = Viewers()


@dataclass(frozen=True, slots=True)
class Finding:
    cause: str
    severity: Severity
    affects: Viewers
    evidence: str
    fix: str


@dataclass(frozen=True, slots=True)
class ServerHealth:
    """One server (a Location, or an expected name without one) and its findings,
    worst first. ``healthy`` means no finding of severity error or warning."""

    name: str
    guid: str | None
    findings: tuple[Finding, ...] = ()

    @property
    def healthy(self) -> bool:
        return all(f.severity == "info" for f in self.findings)


@dataclass(frozen=True, slots=True)
class DcHealth:
    """One DC and what is wrong with its replication (inbound or outbound disabled, a
    disabled connection, no connection), whether or not a server is affected now."""

    name: str
    findings: tuple[Finding, ...] = ()

    @property
    def healthy(self) -> bool:
        return all(f.severity == "info" for f in self.findings)


@dataclass(frozen=True, slots=True)
class Visibility:
    """One Global Catalog and the pool members that see the pool through it.

    ``viewers`` are the members monitoring it; ``holds`` is how many servers' current
    Location it holds and ``missing`` names the servers it lacks or holds behind: each
    of its viewers sees every server but those. Per GC and as a difference, so the rows
    grow with the servers, not with their square. ``reachable`` False: the GC could not
    be asked (``gc`` is ``""`` for viewers without one); ``holds`` is then 0 and
    ``missing`` empty.
    """

    gc: str
    viewers: tuple[str, ...]
    holds: int
    missing: tuple[str, ...]
    reachable: bool = True


@dataclass(frozen=True, slots=True)
class DoctorReport:
    forest: str
    generated: dt.datetime
    visibility: tuple[Visibility, ...]
    servers: tuple[ServerHealth, ...]
    notes: tuple[str, ...] = ()
    #: False when a DC or GC could not be read, or a viewer's GC was not checked: the
    #: report may then miss problems (the notes say what was not read).
    complete: bool = True
    #: Findings about the forest as a whole rather than one server
    #: (``orphaned-subscribers``).
    findings: tuple[Finding, ...] = ()
    #: Every DC of the forest and its replication findings.
    dcs: tuple[DcHealth, ...] = ()

    @property
    def healthy(self) -> bool:
        return (
            all(s.healthy for s in self.servers)
            and all(f.severity == "info" for f in self.findings)
            and all(d.healthy for d in self.dcs)
        )

    def viewer_names(self, viewers: Viewers, *, server: str | None = None) -> tuple[str, ...]:
        """The viewers ``viewers`` stands for, by name (the visibility rows resolve its
        groups; ``server``, the finding's own, is left out of ``members``). Costs a
        pass over the rows: for one finding at a time, not for every finding."""
        found = set(viewers.names)
        gcs = {gc.lower() for gc in viewers.gcs}
        for row in self.visibility:
            if viewers.members or row.gc.lower() in gcs:
                found.update(v for v in row.viewers if not viewers.members or v != server)
        return tuple(sorted(found, key=lambda n: (n.lower(), n)))
