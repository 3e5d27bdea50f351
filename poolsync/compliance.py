"""Compliance states of pools and servers: what a Unity server would do about a
license violation, since when, and what would end it (pure).

The rules (docs/allocation.md, "Compliance states"):

* A pool violates its license in a seat class when its members together use more
  seats of that class than they have licensed. Every member shares the violation.
* A server violates a per-server limit when its license exceeds a published maximum
  (``max_voice_ports``, 72 on Unity 4.x) or it homes more subscribers than
  ``max_subscribers`` (when configured). A server outside any pool (its license does
  not enable pooling) violates its own license when it uses more than it has.
* What happens then depends on the server's version: Unity 4.x goes into
  ``four-hour-shutdown`` (a reboot every four hours until the violation is resolved,
  the FAQ); Unity 5.x and later log it and run in ``grace`` until ``grace_days`` (28)
  after the violation was first seen, then ``restart-every-48h``.
* A pool's state is the most severe of its members' states.
* A pool with no violation is ``unverified`` (not ``compliant``) while more than 1 % of
  the subscribers read have a home that matches no Location: its counts leave them
  out, so compliance cannot be vouched for (docs/allocation.md, "Orphaned
  subscribers").

"First seen" comes from the store, which records each violation the first time a
committed sync finds it (:meth:`poolsync.store.Store.violations`); a violation not
recorded yet counts as first seen ``now``.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from poolsync.allocation import PoolReport, effective_used, parse_version
from poolsync.homes import match_homes
from poolsync.model import SEAT_CLASSES, Location, SeatClass, Seats
from poolsync.records import ViolationKey

_CLASS_NAMES = {SeatClass.VM: "VM", SeatClass.UM: "UM", SeatClass.INBOX: "Inbox"}


class State(enum.Enum):
    COMPLIANT = "compliant"
    UNVERIFIED = "unverified"
    GRACE = "grace"
    RESTART_EVERY_48H = "restart-every-48h"
    FOUR_HOUR_SHUTDOWN = "four-hour-shutdown"


SEVERITY = {
    State.COMPLIANT: 0,
    State.UNVERIFIED: 1,
    State.GRACE: 2,
    State.RESTART_EVERY_48H: 3,
    State.FOUR_HOUR_SHUTDOWN: 4,
}


@dataclass(frozen=True)
class Limits:
    """Per-server maxima (None: not checked) and the 5.x grace period."""

    max_voice_ports: int | None = 72
    max_subscribers: int | None = None
    grace_days: int = 28


@dataclass(frozen=True)
class Violation:
    key: ViolationKey  # stable from one sync to the next (its first sighting is kept)
    what: str  # what is wrong, in words
    remedy: str  # what would end it
    since: datetime  # first seen


@dataclass(frozen=True)
class Assessment:
    """The state of one pool or server. ``until``: when ``grace`` ends."""

    scope: str  # pool | server
    name: str
    state: State
    since: datetime | None
    until: datetime | None
    violations: tuple[Violation, ...]
    guid: str = ""  # servers: the Location's objectGUID (names may repeat)
    note: str = ""  # what else stands in the way of "compliant" (orphans)


@dataclass(frozen=True)
class ComplianceReport:
    pools: tuple[Assessment, ...]
    servers: tuple[Assessment, ...]

    @property
    def compliant(self) -> bool:
        return all(a.state is State.COMPLIANT for a in (*self.pools, *self.servers))

    def violation_keys(self) -> set[ViolationKey]:
        return {v.key for a in (*self.pools, *self.servers) for v in a.violations}

    def server(self, guid: str) -> Assessment | None:
        """The assessment of the server (Location) with this objectGUID."""
        return next((a for a in self.servers if a.guid == guid), None)

    def assessed_guids(self) -> set[str]:
        return {a.guid for a in self.servers}

    def series(self) -> tuple[tuple[str, str, str], ...]:
        """(scope, name, state) of every pool and server, one per assessment: a server
        whose name another server shares is named ``NAME (objectGUID)``, so that two
        Locations with one name are two series, not one that a collector drops."""
        names = Counter(a.name for a in self.servers)
        return (
            *((a.scope, a.name, a.state.value) for a in self.pools),
            *(
                (a.scope, a.name if names[a.name] == 1 else f"{a.name} ({a.guid})", a.state.value)
                for a in self.servers
            ),
        )


def _state(
    version: str | None, since: datetime, now: datetime, limits: Limits
) -> tuple[State, datetime | None]:
    parsed = parse_version(version)
    if parsed is None or parsed[0] < 5:
        return State.FOUR_HOUR_SHUTDOWN, None
    until = since + timedelta(days=limits.grace_days)
    return (State.GRACE, until) if now < until else (State.RESTART_EVERY_48H, None)


def _seats_over(used: Seats, licensed: Seats) -> list[tuple[SeatClass, int, int]]:
    return [
        (c, used.get(c), licensed.get(c)) for c in SEAT_CLASSES if used.get(c) > licensed.get(c)
    ]


def _assess(
    scope: str,
    name: str,
    version: str | None,
    violations: Sequence[Violation],
    now: datetime,
    limits: Limits,
    guid: str = "",
) -> Assessment:
    if not violations:
        return Assessment(scope, name, State.COMPLIANT, None, None, (), guid)
    since = min(v.since for v in violations)
    state, until = _state(version, since, now, limits)
    return Assessment(scope, name, state, since, until, tuple(violations), guid)


def assess(
    report: PoolReport,
    locations: Iterable[Location],
    homed: Mapping[str, Seats],
    *,
    limits: Limits,
    first_seen: Mapping[ViolationKey, datetime],
    now: datetime,
) -> ComplianceReport:
    """The state of every pool and of every server with a readable license."""
    everything = list(locations)
    by_guid = {location.guid: location for location in everything}

    def violation(key: ViolationKey, what: str, remedy: str) -> Violation:
        return Violation(key, what, remedy, first_seen.get(key, now))

    def server_limits(name: str, guid: str, ports: int, homed_vm: int) -> list[Violation]:
        found = []
        if limits.max_voice_ports is not None and ports > limits.max_voice_ports:
            found.append(
                violation(
                    ViolationKey.server(guid, "voice-ports"),
                    f"licensed for {ports} voice ports; a server may have at most "
                    f"{limits.max_voice_ports}",
                    f"remove the upgrade that takes it above {limits.max_voice_ports} ports",
                )
            )
        if limits.max_subscribers is not None and homed_vm > limits.max_subscribers:
            extra = homed_vm - limits.max_subscribers
            found.append(
                violation(
                    ViolationKey.server(guid, "subscribers"),
                    f"homes {homed_vm} subscribers; a server may have at most "
                    f"{limits.max_subscribers}",
                    f"move {extra} subscribers to another server",
                )
            )
        return found

    pools: list[Assessment] = []
    servers: list[Assessment] = []
    for pool in report.pools:
        pool_violations = [
            violation(
                ViolationKey.pool(pool.id, c.value),
                f"the pool uses {s.used} {_CLASS_NAMES[c]} seats of {s.licensed} licensed",
                f"add {s.used - s.licensed} {_CLASS_NAMES[c]} seats to a member's "
                f"license, or remove {s.used - s.licensed} {_CLASS_NAMES[c]} "
                "subscribers",
            )
            for c in SEAT_CLASSES
            if not (s := pool.seats[c]).compliant
        ]
        member_states = []
        for member in pool.servers:
            loc = by_guid.get(member.guid)
            license_data = report.license(loc)
            ports = license_data.voice_ports if license_data is not None else 0
            own = server_limits(member.name, member.guid, ports, member.used.vm)
            assessment = _assess(
                "server",
                member.name,
                loc.version if loc else None,
                [*pool_violations, *own],
                now,
                limits,
                member.guid,
            )
            servers.append(assessment)
            member_states.append(assessment)
        worst = max(member_states, key=lambda a: SEVERITY[a.state], default=None)
        if not pool_violations and (worst is None or worst.state is State.COMPLIANT):
            pools.append(Assessment("pool", pool.id, State.COMPLIANT, None, None, ()))
        elif worst is None:  # violations but no member to suffer them: cannot happen
            pools.append(_assess("pool", pool.id, None, pool_violations, now, limits))
        else:
            # The pool is in its worst member's state, since that state's start; in
            # grace until the first member's grace ends.
            graces = [
                a.until for a in member_states if a.state is State.GRACE and a.until is not None
            ]
            until = min(graces) if worst.state is State.GRACE and graces else None
            pools.append(
                Assessment("pool", pool.id, worst.state, worst.since, until, tuple(pool_violations))
            )
    if report.orphans_significant:
        pools = [
            _unverified(a, report)
            if a.state is State.COMPLIANT
            else Assessment(
                a.scope,
                a.name,
                a.state,
                a.since,
                a.until,
                a.violations,
                a.guid,
                _orphan_note(report),
            )
            for a in pools
        ]
    members = {s.guid for p in report.pools for s in p.servers}
    homes = match_homes(everything, homed)
    position = {id(loc): i for i, loc in enumerate(everything)}
    secondaries: dict[int, list[int]] = {}
    for i, secondary in enumerate(everything):
        primary = homes.resolve(secondary.failover_of)
        if primary is not None and primary != i:
            secondaries.setdefault(primary, []).append(i)
    for exclusion in report.excluded:
        loc = by_guid.get(exclusion.guid)
        if (
            exclusion.guid in members
            or loc is None
            or loc.attachment is None
            or (report.roles.failover and loc.failover_of is not None)
        ):
            continue
        data = report.license(loc)
        if data is None:
            continue  # nothing to assess: the report already says it is corrupt
        index = position[id(loc)]
        used = homes.seats(index)
        # A failover secondary's subscribers count with its primary.
        for i in secondaries.get(index, ()):
            used = used + homes.seats(i)
        used, _sources = effective_used(used, data, report.roles)
        own = [
            violation(
                ViolationKey.server(loc.guid, c.value),
                f"uses {u} {_CLASS_NAMES[c]} seats of {lic} on its own license "
                "(it is not in a pool)",
                f"add {u - lic} {_CLASS_NAMES[c]} seats to its license or move "
                f"{u - lic} subscribers to another server",
            )
            for c, u, lic in _seats_over(used, data.licensed)
        ]
        own += server_limits(loc.name, loc.guid, data.voice_ports, used.vm)
        servers.append(_assess("server", loc.name, loc.version, own, now, limits, loc.guid))
    servers.sort(key=lambda a: (a.name, a.guid))
    return ComplianceReport(pools=tuple(pools), servers=tuple(servers))


def _orphan_note(report: PoolReport) -> str:
    return (
        f"{report.orphaned.vm:,} of {report.subscribers:,} subscribers "
        f"({report.orphan_share:.1%}) have a home that matches no Location, and no "
        "pool counts them; run `poolsync schema discover` to check the profile"
    )


def _unverified(assessment: Assessment, report: PoolReport) -> Assessment:
    return Assessment(
        assessment.scope,
        assessment.name,
        State.UNVERIFIED,
        None,
        None,
        (),
        assessment.guid,
        _orphan_note(report),
    )
