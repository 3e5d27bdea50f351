"""Projection: from usage snapshots to where each pool and server is heading, when it
runs out of seats and what it needs (pure; docs/capacity.md, "Method").

Entry point: :func:`project`, which returns a :class:`~poolsync.capacity.model.
CapacityReport` with its recommendations (:mod:`poolsync.capacity.recommend`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from poolsync.capacity.growth import GrowthRate, theil_sen
from poolsync.capacity.model import (
    CapacityReport,
    ClassCapacity,
    LicenseChange,
    Point,
    PoolCapacity,
    ServerCapacity,
    Snapshot,
)
from poolsync.capacity.recommend import LimitBreak, recommend
from poolsync.compliance import Limits
from poolsync.model import SEAT_CLASSES, SeatClass

#: Projected use must exceed the licensed seats by more than this to count as over:
#: a line through exact integers must not run out a day early on a rounding error.
EPSILON = 1e-9
#: Projection points for charts: one a week, plus the days that matter.
CHART_STEP_DAYS = 7

#: One series: day -> (used, licensed) on that day (the day's last snapshot).
Daily = dict[date, tuple[int, int]]
#: A growth override: seats a day for the pool, or a rate relative to its use today.
Growth = float | GrowthRate


def snapshot_day(snapshot: Snapshot) -> date:
    """The UTC day a snapshot was taken (a naive ``taken_at`` counts as UTC)."""
    taken = snapshot.taken_at
    return (taken.astimezone(UTC) if taken.tzinfo is not None else taken).date()


@dataclass(frozen=True, slots=True)
class Line:
    """Projected use: ``intercept + slope * x``, x the days from ``today``."""

    slope: float
    intercept: float

    def at(self, today: date, day: date) -> float:
        return self.intercept + self.slope * (day - today).days


def fit(daily: Daily, today: date) -> Line:
    """The Theil-Sen line through a series' used seats (x: days from ``today``)."""
    slope, intercept = theil_sen(
        [(float((day - today).days), float(used)) for day, (used, _) in sorted(daily.items())]
    )
    return Line(slope, intercept)


def licensed_on(
    daily: Daily, seat_class: SeatClass, changes: Sequence[LicenseChange]
) -> Callable[[date], int]:
    """A server's licensed seats of a class on any day from its latest snapshot on.

    Changes dated on or before the latest snapshot's day are in that snapshot already
    and ignored; later ones set the seats from their day on (of several on one day,
    the last given wins).
    """
    latest = max(daily)
    base = daily[latest][1]
    steps = sorted(
        ((c.on, c.seats.get(seat_class)) for c in changes if c.on > latest),
        key=lambda step: step[0],
    )

    def seats(day: date) -> int:
        current = base
        for on, value in steps:
            if on > day:
                break
            current = value
        return current

    return seats


def _ceil(value: float) -> int:
    return math.ceil(value - EPSILON)


def _days(today: date, end: date) -> list[date]:
    return [today + timedelta(days=i) for i in range((end - today).days + 1)]


def evaluate(
    daily: Daily,
    line: Line,
    licensed: Callable[[date], int],
    *,
    today: date,
    end: date,
    change_days: Iterable[date] = (),
) -> ClassCapacity:
    """One series' capacity: today's numbers, exhaustion, seats needed, chart points."""
    used_now, licensed_now = daily[max(daily)]
    gaps = [(day, line.at(today, day) - licensed(day)) for day in _days(today, end)]
    if used_now > licensed_now:
        exhausted: date | None = today
    else:
        exhausted = next((day for day, gap in gaps if gap > EPSILON), None)
    needed = max(0, _ceil(max(gap for _, gap in gaps)), used_now - licensed_now)
    chart_days = {
        today + timedelta(days=i) for i in range(0, (end - today).days + 1, CHART_STEP_DAYS)
    }
    chart_days |= {end, *(d for d in change_days if today <= d <= end)}
    if exhausted is not None:
        chart_days.add(exhausted)
    return ClassCapacity(
        licensed=licensed_now,
        used=used_now,
        headroom=licensed_now - used_now,
        growth_per_day=line.slope,
        exhausted_on=exhausted,
        days_left=None if exhausted is None else (exhausted - today).days,
        seats_needed=needed,
        history=tuple(Point(day, float(used), lic) for day, (used, lic) in sorted(daily.items())),
        projection=tuple(
            Point(day, round(line.at(today, day), 2), licensed(day)) for day in sorted(chart_days)
        ),
    )


def subscriber_limit(
    name: str, daily: Daily, line: Line, *, maximum: int, today: date, end: date
) -> tuple[int, LimitBreak | None]:
    """Subscribers to move off a server to stay within ``maximum`` through ``end``, and
    the first day it is over (today when its latest snapshot is over already)."""
    used_now = daily[max(daily)][0]
    peak = max(line.at(today, today), line.at(today, end))  # a line peaks at an end
    to_move = max(0, _ceil(peak - maximum), used_now - maximum)
    if to_move == 0:
        return 0, None
    if used_now > maximum:
        text = (
            f"{name} exceeds the per-server maximum of {maximum} subscribers now "
            f"({used_now} on {max(daily)}): move {to_move} subscribers to another server"
        )
        return to_move, LimitBreak(today, text)
    over = next(day for day in _days(today, end) if line.at(today, day) - maximum > EPSILON)
    text = (
        f"{name} exceeds the per-server maximum of {maximum} subscribers on {over}: "
        f"move {to_move} subscribers to another server"
    )
    return to_move, LimitBreak(over, text)


@dataclass
class _Pool:
    """One pool's series while it is being projected."""

    id: str
    # server -> class -> series
    servers: dict[str, dict[SeatClass, Daily]]


def _collect(snapshots: Iterable[Snapshot], first: date, today: date) -> dict[str, _Pool]:
    """The window's series: per pool, server and class, each day's last snapshot."""
    # Server names are compared case-insensitively (as AD and the pool rules do): an
    # imported spreadsheet's "unity-a" is the resyncs' "UNITY-A". The spelling of the
    # latest snapshot names the server.
    last: dict[tuple[str, str, SeatClass, date], Snapshot] = {}
    spelling: dict[str, Snapshot] = {}
    for snapshot in snapshots:
        day = snapshot_day(snapshot)
        if not first < day <= today:
            continue
        server = snapshot.server.casefold()
        key = (snapshot.pool.casefold(), server, snapshot.seat_class, day)
        kept = last.get(key)
        if kept is None or snapshot.taken_at >= kept.taken_at:
            last[key] = snapshot
        named = spelling.get(server)
        if named is None or snapshot.taken_at >= named.taken_at:
            spelling[server] = snapshot
    pools: dict[str, _Pool] = {}
    for (pool_id, server, seat_class, day), snapshot in last.items():
        pool = pools.setdefault(pool_id, _Pool(pool_id, {}))
        name = spelling[server].server
        series = pool.servers.setdefault(name, {}).setdefault(seat_class, {})
        series[day] = (snapshot.used, snapshot.licensed)
    return pools


def _sum(series: Iterable[Daily]) -> Daily:
    total: dict[date, tuple[int, int]] = {}
    for daily in series:
        for day, (used, lic) in daily.items():
            before = total.get(day, (0, 0))
            total[day] = (before[0] + used, before[1] + lic)
    return total


def _override(rate: Growth, used_today: int) -> float:
    return rate.per_day(used_today) if isinstance(rate, GrowthRate) else float(rate)


def _project_pool(
    pool: _Pool,
    *,
    today: date,
    end: date,
    limits: Limits,
    changes: Mapping[str, Sequence[LicenseChange]],
    growth: Mapping[SeatClass, Growth],
    notes: list[str],
    breaks: list[LimitBreak],
) -> PoolCapacity:
    pool_classes: dict[SeatClass, ClassCapacity] = {}
    server_classes: dict[str, dict[SeatClass, ClassCapacity]] = {}
    server_limits: dict[str, list[str]] = {}
    for seat_class in SEAT_CLASSES:
        series = {
            name: by_class[seat_class]
            for name, by_class in pool.servers.items()
            if seat_class in by_class
        }
        if not series:
            continue
        total = _sum(series.values())
        latest = max(total)
        # The pool today is the servers of its latest day; earlier ones have left it.
        members = sorted(
            (name for name, daily in series.items() if latest in daily), key=str.casefold
        )
        seats = {
            name: licensed_on(series[name], seat_class, changes.get(name.casefold(), ()))
            for name in members
        }

        def pool_licensed(day: date, seats: Mapping[str, Callable[[date], int]] = seats) -> int:
            return sum(f(day) for f in seats.values())

        change_days = {c.on for name in members for c in changes.get(name.casefold(), ())}
        used_today = total[latest][0]
        line = fit(total, today)
        rate = growth.get(seat_class)
        pool_slope = None if rate is None else _override(rate, used_today)
        if pool_slope is not None:
            # An override keeps the fitted level today and replaces the growth.
            line = Line(pool_slope, line.intercept)
        pool_classes[seat_class] = evaluate(
            total, line, pool_licensed, today=today, end=end, change_days=change_days
        )
        for name in members:
            daily = series[name]
            server_line = fit(daily, today)
            if pool_slope is not None:
                share = daily[latest][0] / used_today if used_today else 1 / len(members)
                server_line = Line(pool_slope * share, server_line.intercept)
            capacity = evaluate(
                daily,
                server_line,
                seats[name],
                today=today,
                end=end,
                change_days={c.on for c in changes.get(name.casefold(), ())},
            )
            if seat_class is SeatClass.VM and limits.max_subscribers is not None:
                to_move, broken = subscriber_limit(
                    name, daily, server_line, maximum=limits.max_subscribers, today=today, end=end
                )
                if broken is not None:
                    capacity = replace(capacity, to_move=to_move)
                    server_limits.setdefault(name, []).append(broken.text)
                    breaks.append(broken)
            server_classes.setdefault(name, {})[seat_class] = capacity
    for name in sorted(set(pool.servers) - set(server_classes), key=str.casefold):
        seen = max(day for daily in pool.servers[name].values() for day in daily)
        notes.append(
            f"{name}: no snapshot since {seen}; left out of pool {pool.id} "
            "(its history still counts in the pool's)"
        )
    servers = tuple(
        ServerCapacity(name, classes, tuple(server_limits.get(name, ())))
        for name, classes in sorted(server_classes.items(), key=lambda item: item[0].casefold())
    )
    return PoolCapacity(pool.id, pool_classes, servers)


def project(
    snapshots: Iterable[Snapshot],
    *,
    today: date,
    window_days: int,
    horizon_days: int,
    limits: Limits,
    generated: datetime,
    license_changes: Sequence[LicenseChange] = (),
    growth: Mapping[SeatClass, Growth] | None = None,
) -> CapacityReport:
    """Project every pool and server of ``snapshots`` from ``today`` to ``today +
    horizon_days``, fitting the snapshots of the last ``window_days`` days.

    ``license_changes`` set a server's seats from a day on (expiries, add-ons);
    ``growth`` replaces the fitted growth of a seat class with seats a day for each
    pool (a float) or a :class:`GrowthRate`; servers get the pool's growth in
    proportion to their share of its use today. Raises ValueError for a window under
    one day or a negative horizon.
    """
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    if horizon_days < 0:
        raise ValueError(f"horizon_days must not be negative, got {horizon_days}")
    end = today + timedelta(days=horizon_days)
    pools = _collect(snapshots, today - timedelta(days=window_days), today)
    changes: dict[str, list[LicenseChange]] = {}
    for change in license_changes:
        changes.setdefault(change.server.casefold(), []).append(change)
    notes: list[str] = []
    breaks: list[LimitBreak] = []
    projected = tuple(
        _project_pool(
            pools[pool_id],
            today=today,
            end=end,
            limits=limits,
            changes=changes,
            growth=growth or {},
            notes=notes,
            breaks=breaks,
        )
        for pool_id in sorted(pools)
    )
    known = {server.name.casefold() for pool in projected for server in pool.servers}
    for change in license_changes:
        if change.server.casefold() not in known:
            notes.append(
                f"license change for {change.server} on {change.on} ignored: "
                "no such server in the window's snapshots"
            )
    if not projected:
        notes.append(f"no snapshots in the {window_days} days up to {today}")
    return CapacityReport(
        generated=generated,
        today=today,
        window_days=window_days,
        horizon_days=horizon_days,
        pools=projected,
        recommendations=recommend(projected, breaks, today=today, end=end),
        notes=tuple(notes),
    )
