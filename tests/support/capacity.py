"""Snapshots for the capacity tests: series of daily use, a projection over them, and
docs/capacity.md's worked example (two servers, eight weekly resyncs); and the worked
example's what-if as examples/ ships it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from poolsync.capacity.model import CapacityReport, LicenseChange, PoolCapacity, Snapshot
from poolsync.capacity.project import Growth, project
from poolsync.compliance import Limits
from poolsync.model import SeatClass

TODAY = date(2026, 11, 30)
GENERATED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
POOL = "lab.example.com"
VM, UM, INBOX = SeatClass.VM, SeatClass.UM, SeatClass.INBOX


def at(offset: int, hour: int = 2) -> datetime:
    """``offset`` days from TODAY (negative: the past), at ``hour`` UTC."""
    return datetime.combine(TODAY + timedelta(days=offset), time(hour), tzinfo=UTC)


def series(
    server: str,
    used: Mapping[int, int],
    licensed: int,
    *,
    seat_class: SeatClass = VM,
    pool: str = POOL,
    hour: int = 2,
) -> list[Snapshot]:
    """One snapshot per day offset: ``used[offset]`` used of ``licensed``."""
    return [
        Snapshot(at(offset, hour), pool, server, seat_class, licensed, value)
        for offset, value in used.items()
    ]


def linear(start: int, per_day: int, days: Sequence[int]) -> dict[int, int]:
    """used = start + per_day * offset on each day offset (start: today's use)."""
    return {d: start + per_day * d for d in days}


def run(
    snapshots: Sequence[Snapshot],
    *,
    window: int = 90,
    horizon: int = 365,
    limits: Limits | None = None,
    changes: Sequence[LicenseChange] = (),
    growth: Mapping[SeatClass, Growth] | None = None,
) -> CapacityReport:
    return project(
        snapshots,
        today=TODAY,
        window_days=window,
        horizon_days=horizon,
        limits=limits or Limits(),
        generated=GENERATED,
        license_changes=changes,
        growth=growth,
    )


def only_pool(report: CapacityReport) -> PoolCapacity:
    (pool,) = report.pools
    return pool


WEEKLY = range(-49, 1, 7)  # eight weekly resyncs, the last one today
WORKED_LIMITS = Limits(max_subscribers=600)


def worked_example() -> list[Snapshot]:
    """docs/capacity.md, "A worked example": two servers, eight weekly snapshots."""
    return [
        *series("UNITY-A", linear(540, 1, WEEKLY), 500),
        *series("UNITY-A", dict.fromkeys(WEEKLY, 150), 200, seat_class=UM),
        *series("UNITY-A", dict.fromkeys(WEEKLY, 30), 50, seat_class=INBOX),
        *series("UNITY-B", linear(260, 1, WEEKLY), 400),
        *series("UNITY-B", dict.fromkeys(WEEKLY, 90), 150, seat_class=UM),
        *series("UNITY-B", dict.fromkeys(WEEKLY, 25), 50, seat_class=INBOX),
    ]


#: The worked example's what-if, as examples/ ships it (the docs quote the same lines).
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "what-if" / "spring-2027.yaml"
SPRING = EXAMPLE.read_text()
