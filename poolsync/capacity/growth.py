"""Robust growth: the Theil-Sen line through a usage series, and the growth rates a
what-if scenario sets (pure; docs/capacity.md, "Growth").

Theil-Sen takes the median of the slopes between every pair of points, so a single bad
snapshot (an import with a typo, a resync that read half the directory) moves the
line by nothing or next to nothing, where least squares would tilt it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: The days a rate's unit stands for: a "month" is 30 days and a "year" 365, so that
#: "30/month" is exactly 1 seat a day.
UNIT_DAYS: dict[str, int] = {"day": 1, "month": 30, "year": 365}


def theil_sen(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The Theil-Sen line ``(slope, intercept)`` through ``(x, y)`` points.

    The slope is the median of the slopes of all pairs with different x; the intercept
    the median of ``y - slope * x``. One point gives ``(0, y)``, none ``(0, 0)``; points
    that all share one x give slope 0. The result does not depend on the points'
    order. O(n²) pairs: a year of daily points is about 66,000.
    """
    if not points:
        return 0.0, 0.0
    if len(points) == 1:
        return 0.0, float(points[0][1])
    slopes = [
        (y2 - y1) / (x2 - x1)
        for i, (x1, y1) in enumerate(points)
        for x2, y2 in points[i + 1 :]
        if x2 != x1
    ]
    slope = float(statistics.median(slopes)) if slopes else 0.0
    return slope, intercept_for(points, slope)


def intercept_for(points: Sequence[tuple[float, float]], slope: float) -> float:
    """Theil-Sen's intercept for a given slope: the median of ``y - slope * x``."""
    if not points:
        return 0.0
    return float(statistics.median(y - slope * x for x, y in points))


@dataclass(frozen=True, slots=True)
class GrowthRate:
    """A growth rate set by hand (a what-if's ``growth``), linear in time.

    ``amount`` seats (or, with ``percent``, percent of the pool's use today) every
    ``days`` days: "3/day" is ``GrowthRate(3, 1)``, "2%/month" ``GrowthRate(2, 30,
    percent=True)``. May be negative (a pool that shrinks).
    """

    amount: float
    days: int = 1
    percent: bool = False

    def per_day(self, used_today: float) -> float:
        """Seats a day for a pool that uses ``used_today`` seats today."""
        seats = self.amount * used_today / 100 if self.percent else self.amount
        return seats / self.days

    @property
    def text(self) -> str:
        """The rate as a scenario file writes it, e.g. ``2%/month``."""
        unit = next(
            (name for name, days in UNIT_DAYS.items() if days == self.days), f"{self.days} days"
        )
        return f"{self.amount:g}{'%' if self.percent else ''}/{unit}"
