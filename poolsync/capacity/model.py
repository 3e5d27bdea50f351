"""Capacity planning's plain values: usage snapshots in, projections out. No I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from poolsync.model import SeatClass, Seats
from poolsync.records import Snapshot as Snapshot  # re-exported: capacity's input rows

Urgency = Literal["high", "medium", "low"]
URGENCIES: tuple[Urgency, ...] = ("high", "medium", "low")


@dataclass(frozen=True, slots=True)
class LicenseChange:
    """From ``on`` (inclusive), ``server`` is licensed for ``seats`` (e.g. a license
    file expiring, or an add-on starting)."""

    server: str
    on: dt.date
    seats: Seats


@dataclass(frozen=True, slots=True)
class Point:
    """A point of a chart: a day, seats used (fitted or observed) and licensed."""

    day: dt.date
    used: float
    licensed: int


@dataclass(frozen=True, slots=True)
class ClassCapacity:
    """One seat class of a pool or a server.

    ``licensed``/``used``/``headroom`` are today's (the latest snapshot);
    ``growth_per_day`` the robust fitted slope over the window; ``exhausted_on`` the
    first day within the horizon on which projected use exceeds the licensed seats of
    that day (None: not within the horizon); ``days_left`` the days from today to it;
    ``seats_needed`` the seats to add to stay compliant through the horizon;
    ``to_move`` (servers only) the subscribers to move off the server to keep it within
    a per-server limit through the horizon. ``history`` and ``projection`` are for
    charts.
    """

    licensed: int
    used: int
    headroom: int
    growth_per_day: float
    exhausted_on: dt.date | None
    days_left: int | None
    seats_needed: int
    to_move: int = 0
    history: tuple[Point, ...] = ()
    projection: tuple[Point, ...] = ()


@dataclass(frozen=True, slots=True)
class ServerCapacity:
    name: str
    classes: Mapping[SeatClass, ClassCapacity]
    #: Per-server limits broken now or within the horizon, one sentence each.
    limits: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PoolCapacity:
    id: str
    classes: Mapping[SeatClass, ClassCapacity]
    servers: tuple[ServerCapacity, ...]


@dataclass(frozen=True, slots=True)
class Recommendation:
    urgency: Urgency
    text: str


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The pools after a scenario file's changes, and its recommendations."""

    scenario: str
    pools: tuple[PoolCapacity, ...]
    recommendations: tuple[Recommendation, ...] = ()
    applied: tuple[str, ...] = ()  # one sentence per change, in file order


@dataclass(frozen=True, slots=True)
class CapacityReport:
    generated: dt.datetime
    today: dt.date
    window_days: int
    horizon_days: int
    pools: tuple[PoolCapacity, ...]
    recommendations: tuple[Recommendation, ...] = ()
    what_if: WhatIf | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
