"""What-if: a scenario's changes applied to the usage history, then projected (pure;
docs/capacity.md, "What-if scenarios").

Entry points: :func:`load_scenario` (from :mod:`poolsync.capacity.scenario`),
:func:`apply` (snapshots and license changes in, the after state out) and
:func:`what_if` (both, then :func:`~poolsync.capacity.project.project`).

A change rewrites history as if it had always been so: moving 50 subscribers lowers
every snapshot of the source by 50 and raises every snapshot of the target by 50, so
both growth lines shift by exactly 50 and keep their slopes, and the pool's do not
move at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import NamedTuple

from poolsync.capacity.growth import GrowthRate
from poolsync.capacity.model import LicenseChange, Snapshot, WhatIf
from poolsync.capacity.project import project, snapshot_day
from poolsync.capacity.recommend import LABEL
from poolsync.capacity.scenario import (
    AddLicenses,
    AddServer,
    MoveSubscribers,
    RemoveServer,
    Scenario,
    ScenarioError,
    SetGrowth,
    Where,
    load_scenario,
)
from poolsync.compliance import Limits
from poolsync.model import SEAT_CLASSES, SeatClass, Seats

NO_SEATS = Seats()

__all__ = ["Applied", "Scenario", "ScenarioError", "apply", "load_scenario", "what_if"]


class Applied(NamedTuple):
    """A scenario applied: the rewritten snapshots and license changes, the growth
    overrides for :func:`project` and one sentence per change, in file order."""

    snapshots: tuple[Snapshot, ...]
    license_changes: tuple[LicenseChange, ...]
    growth: Mapping[SeatClass, GrowthRate]
    sentences: tuple[str, ...]


def seats_text(seats: Seats) -> str:
    return ", ".join(f"{seats.get(c)} {LABEL[c]}" for c in SEAT_CLASSES)


class _State:
    """The snapshots and license changes while a scenario's changes are applied."""

    def __init__(
        self, snapshots: Iterable[Snapshot], changes: Iterable[LicenseChange], today: date
    ) -> None:
        self.snapshots = list(snapshots)
        self.changes = list(changes)
        self.today = today

    def servers(self) -> dict[str, tuple[str, str]]:
        """casefolded name -> (name, pool), each server's latest snapshot's."""
        found: dict[str, tuple[str, str]] = {}
        for s in sorted(self.snapshots, key=lambda s: s.taken_at):
            found[s.server.casefold()] = (s.server, s.pool)
        return found

    def server(self, name: str, where: Where, key: str) -> tuple[str, str]:
        """A known server's (name, pool); names are case-insensitive."""
        known = self.servers()
        if name.casefold() not in known:
            listing = ", ".join(sorted((n for n, _ in known.values()), key=str.casefold))
            raise where.expected(f"one of the servers {listing or '(none)'}", name, key=key)
        return known[name.casefold()]

    def latest(self, name: str) -> dict[SeatClass, Snapshot]:
        """The server's latest snapshot of each class up to today."""
        found: dict[SeatClass, Snapshot] = {}
        for s in self.snapshots:
            if s.server.casefold() == name.casefold() and snapshot_day(s) <= self.today:
                kept = found.get(s.seat_class)
                if kept is None or s.taken_at >= kept.taken_at:
                    found[s.seat_class] = s
        return found

    def today_seats(self, name: str, *, used: bool) -> Seats:
        latest = self.latest(name)
        return Seats.from_mapping({c: (s.used if used else s.licensed) for c, s in latest.items()})

    def shift(
        self,
        name: str,
        *,
        used: Seats = NO_SEATS,
        licensed: Seats = NO_SEATS,
        since: date = date.min,
    ) -> None:
        """Add ``used`` and ``licensed`` to every snapshot of ``name`` from ``since``."""
        self.snapshots = [
            replace(
                s,
                used=s.used + used.get(s.seat_class),
                licensed=s.licensed + licensed.get(s.seat_class),
            )
            if s.server.casefold() == name.casefold() and snapshot_day(s) >= since
            else s
            for s in self.snapshots
        ]


def _add_server(state: _State, change: AddServer) -> str:
    known = state.servers()
    if change.name.casefold() in known:
        name, pool = known[change.name.casefold()]
        raise change.where.expected(
            f"a new server name ({name} is in pool {pool})", change.name, key="name"
        )
    pools = sorted({s.pool for s in state.snapshots})
    if change.pool is None:
        if len(pools) != 1:
            raise change.where.error(
                f"required key is missing (there are {len(pools)} pools: "
                f"{', '.join(pools) or 'none'})",
                key="pool",
            )
        pool = pools[0]
    elif change.pool not in pools:
        raise change.where.expected(f"one of the pools {', '.join(pools)}", change.pool, key="pool")
    else:
        pool = change.pool
    # A snapshot at every moment the pool has one, so the pool's sums keep their days.
    moments = sorted({s.taken_at for s in state.snapshots if s.pool == pool})
    state.snapshots.extend(
        Snapshot(
            taken_at=moment,
            pool=pool,
            server=change.name,
            seat_class=c,
            licensed=change.licenses.get(c),
            used=0,
        )
        for moment in moments
        for c in SEAT_CLASSES
    )
    return (
        f"Added {change.name} to pool {pool}, licensed for "
        f"{seats_text(change.licenses)} seats, with no subscribers"
    )


def _add_licenses(state: _State, change: AddLicenses) -> str:
    name, _ = state.server(change.server, change.where, "server")
    key = name.casefold()
    on = change.on or state.today
    latest = max((snapshot_day(s) for s in state.latest(name).values()), default=date.min)
    # Changes after the latest snapshot are the ones the projection applies.
    future = sorted(
        (c for c in state.changes if c.server.casefold() == key and c.on > latest),
        key=lambda c: c.on,
    )
    anchor: list[LicenseChange] = []
    if on <= latest:
        # In force already: as if the server had been licensed for them since ``on``.
        state.shift(name, licensed=change.seats, since=on)
    elif not any(c.on == on for c in future):
        before = [c for c in future if c.on < on]
        base = before[-1].seats if before else state.today_seats(name, used=False)
        anchor.append(LicenseChange(name, on, base + change.seats))
    # An add-on stacks on whatever is licensed then: later changes (an expiry) keep it.
    state.changes = [
        replace(c, seats=c.seats + change.seats)
        if c.server.casefold() == key and c.on > latest and c.on >= on
        else c
        for c in state.changes
    ] + anchor
    return f"Added {seats_text(change.seats)} seats to {name} from {on}"


def _remove_server(state: _State, change: RemoveServer) -> str:
    name, pool = state.server(change.name, change.where, "name")
    homed = state.today_seats(name, used=True)
    licensed = state.today_seats(name, used=False)
    sentence = f"Removed {name} and its {seats_text(licensed)} seats"
    if change.move_to is None:
        if homed != NO_SEATS:
            raise change.where.error(
                f"required key is missing ({name} has subscribers today: "
                f"{seats_text(homed)}; name the server they move to)",
                key="move_to",
            )
        sentence += " (it has no subscribers)"
    else:
        target, target_pool = state.server(change.move_to, change.where, "move_to")
        if target == name or target_pool != pool:
            raise change.where.expected(
                f"another server of pool {pool}", change.move_to, key="move_to"
            )
        # The target takes over the removed server's history day by day, growth and
        # all, so the pool's series does not change.
        theirs: dict[tuple[date, SeatClass], Snapshot] = {}
        for s in sorted(
            (s for s in state.snapshots if s.server.casefold() == name.casefold()),
            key=lambda s: s.taken_at,
        ):
            theirs[(snapshot_day(s), s.seat_class)] = s
        state.snapshots = [
            replace(s, used=s.used + moved.used)
            if s.server.casefold() == target.casefold()
            and (moved := theirs.get((snapshot_day(s), s.seat_class)))
            else s
            for s in state.snapshots
        ]
        sentence += f"; its subscribers ({seats_text(homed)}) move to {target}"
    state.snapshots = [s for s in state.snapshots if s.server.casefold() != name.casefold()]
    state.changes = [c for c in state.changes if c.server.casefold() != name.casefold()]
    return sentence


def _move(state: _State, change: MoveSubscribers) -> str:
    source, pool = state.server(change.source, change.where, "from")
    target, target_pool = state.server(change.target, change.where, "to")
    if target_pool != pool:
        raise change.where.expected(
            f"a server of pool {pool}, like {source}", change.target, key="to"
        )
    have = state.today_seats(source, used=True)
    for c in SEAT_CLASSES:
        if change.seats.get(c) > have.get(c):
            raise change.where.error(
                f"expected at most {have.get(c)} ({source}'s {LABEL[c]} subscribers "
                f"today), got {change.seats.get(c)}",
                key=c.value,
            )
    state.shift(source, used=Seats(-change.seats.vm, -change.seats.um, -change.seats.inbox))
    state.shift(target, used=change.seats)
    return (
        f"Moved {change.seats.vm} subscribers from {source} to {target} "
        f"({seats_text(change.seats)} seats)"
    )


def apply(
    scenario: Scenario,
    snapshots: Iterable[Snapshot],
    license_changes: Iterable[LicenseChange] = (),
    *,
    today: date,
) -> Applied:
    """Apply ``scenario``'s changes in order; each sees the state the ones before it
    left. Raises :class:`ScenarioError` (file, key path, what was expected) for a
    change that does not fit: an unknown server, a server name taken, more
    subscribers moved than the server has today."""
    state = _State(snapshots, license_changes, today)
    growth: dict[SeatClass, GrowthRate] = {}
    sentences: list[str] = []
    for change in scenario.changes:
        match change:
            case AddServer():
                sentences.append(_add_server(state, change))
            case AddLicenses():
                sentences.append(_add_licenses(state, change))
            case RemoveServer():
                sentences.append(_remove_server(state, change))
            case MoveSubscribers():
                sentences.append(_move(state, change))
            case SetGrowth():
                growth.update(change.rates)
                rates = ", ".join(f"{LABEL[c]} {r.text}" for c, r in change.rates.items())
                sentences.append(f"Growth set to {rates} per pool, instead of the fitted trend")
    return Applied(tuple(state.snapshots), tuple(state.changes), growth, tuple(sentences))


def what_if(
    scenario: Scenario,
    snapshots: Sequence[Snapshot],
    *,
    today: date,
    window_days: int,
    horizon_days: int,
    limits: Limits,
    generated: datetime,
    license_changes: Sequence[LicenseChange] = (),
) -> WhatIf:
    """The pools after ``scenario``, projected like :func:`project` projects them."""
    after = apply(scenario, snapshots, license_changes, today=today)
    report = project(
        after.snapshots,
        today=today,
        window_days=window_days,
        horizon_days=horizon_days,
        limits=limits,
        generated=generated,
        license_changes=after.license_changes,
        growth=after.growth or None,
    )
    return WhatIf(scenario.name, report.pools, report.recommendations, after.sentences)
