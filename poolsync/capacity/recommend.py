"""Recommendations: what to buy or move, and by when, in plain words (pure;
docs/capacity.md, "Recommendations").

Urgency: ``high`` when a pool runs out within :data:`URGENT_DAYS` days (or is over
already), ``medium`` when it runs out later within the horizon, ``low`` for per-server
limits and for pools with little headroom left that do not run out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import NamedTuple

from poolsync.capacity.model import (
    URGENCIES,
    ClassCapacity,
    PoolCapacity,
    Recommendation,
    Urgency,
)
from poolsync.model import SeatClass

URGENT_DAYS = 90
#: Below this share of its licensed seats left (and not running out), a pool gets a
#: low-urgency note.
LOW_HEADROOM = 0.10
LABEL = {SeatClass.VM: "VM", SeatClass.UM: "UM", SeatClass.INBOX: "Inbox"}


class LimitBreak(NamedTuple):
    """A per-server limit broken on ``day``, as a sentence."""

    day: date
    text: str


def _days(n: int) -> str:
    return "today" if n == 0 else "1 day" if n == 1 else f"{n} days"


def _exhaustion(pool_id: str, label: str, cap: ClassCapacity, end: date) -> str:
    assert cap.exhausted_on is not None and cap.days_left is not None
    need = cap.seats_needed
    remedy = (
        f"buy {need} {label} seats to last through {end}, "
        f"or move {need} {label} subscribers out of the pool"
    )
    if cap.used > cap.licensed:
        return (
            f"Pool {pool_id} is over its {label} seats now ({cap.used} used of "
            f"{cap.licensed} licensed): {remedy}"
        )
    then = next((p.licensed for p in cap.projection if p.day == cap.exhausted_on), cap.licensed)
    drop = (
        f", when its licensed {label} seats drop from {cap.licensed} to {then}"
        if then < cap.licensed
        else ""
    )
    return (
        f"Pool {pool_id} runs out of {label} seats on {cap.exhausted_on} "
        f"({_days(cap.days_left)}){drop}: {remedy}"
    )


def recommend(
    pools: Sequence[PoolCapacity], limit_breaks: Sequence[LimitBreak], *, today: date, end: date
) -> tuple[Recommendation, ...]:
    """The recommendations for projected pools and broken per-server limits, ranked by
    urgency, then by date (the day a pool runs out or a limit breaks), then by text."""
    ranked: list[tuple[int, date, str]] = []

    def add(urgency: Urgency, day: date, text: str) -> None:
        ranked.append((URGENCIES.index(urgency), day, text))

    for pool in pools:
        for seat_class, cap in pool.classes.items():
            label = LABEL[seat_class]
            if cap.exhausted_on is not None and cap.days_left is not None:
                urgency: Urgency = "high" if cap.days_left <= URGENT_DAYS else "medium"
                add(urgency, cap.exhausted_on, _exhaustion(pool.id, label, cap, end))
            elif cap.licensed > 0 and cap.headroom < LOW_HEADROOM * cap.licensed:
                share = 100 * cap.headroom / cap.licensed
                add(
                    "low",
                    date.max,
                    f"Pool {pool.id} has only {cap.headroom} {label} seats left of "
                    f"{cap.licensed} ({share:.1f}%); at the current growth "
                    f"({cap.growth_per_day:.2f} seats a day) they last through {end}",
                )
    for broken in limit_breaks:
        add("low", broken.day, broken.text)
    return tuple(Recommendation(URGENCIES[rank], text) for rank, _, text in sorted(ranked))
