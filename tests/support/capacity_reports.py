"""Capacity reports to render: a sample one, and one whose names and notes are hostile
(markup, control characters), for the text, HTML and browser tests."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime, timedelta

from poolsync.capacity.model import (
    CapacityReport,
    ClassCapacity,
    Point,
    PoolCapacity,
    Recommendation,
    ServerCapacity,
    WhatIf,
)
from poolsync.model import SeatClass

TODAY = date(2024, 5, 1)
GENERATED = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
WINDOW = 90
HORIZON = 180
POOL = "lab.example.com"
SCENARIO = "scenarios/buy-vm-new-site.yaml"
HOSTILE = "<script>alert(1)</script>"
VM, UM, INBOX = SeatClass.VM, SeatClass.UM, SeatClass.INBOX
ADD_ON = date(2024, 3, 1)  # UNITY-B's VM add-on (300 -> 400) started in the window
BOUGHT = date(2024, 6, 1)  # the scenario's 200 VM seats
NEW_SITE = date(2024, 7, 1)  # the scenario's 150 new subscribers


def day_at(offset: int) -> date:
    return TODAY + timedelta(days=offset)


@dataclasses.dataclass(frozen=True)
class _Line:
    """A server class's made-up truth: seats used at day 0 of the window, a slope, and
    its licensed seats (before and from a change day)."""

    start: float
    slope: float
    licensed: int
    changed_to: int | None = None
    changed_on: date | None = None

    def licensed_on(self, day: date) -> int:
        if self.changed_to is not None and self.changed_on and day >= self.changed_on:
            return self.changed_to
        return self.licensed


#: server -> class -> truth; the pool is their sum.
_SERVERS: dict[str, dict[SeatClass, _Line]] = {
    "UNITY-A": {VM: _Line(330, 0.6, 400), UM: _Line(60, 0.1, 100), INBOX: _Line(20, 0.05, 50)},
    "UNITY-B": {
        VM: _Line(250, 0.4, 300, 400, ADD_ON),
        UM: _Line(100, 0.1, 150),
        INBOX: _Line(30, 0.0, 50),
    },
    "UNITY-C": {VM: _Line(70, 0.25, 100), UM: _Line(50, 0.0, 100), INBOX: _Line(0, 0.0, 0)},
}


def _history(lines: list[_Line], rng: random.Random) -> tuple[Point, ...]:
    points = []
    for i in range(WINDOW):
        day = day_at(i - WINDOW + 1)
        used = sum(round(line.start + line.slope * i + rng.gauss(0, 1.5)) for line in lines)
        points.append(Point(day, float(max(used, 0)), sum(ln.licensed_on(day) for ln in lines)))
    return tuple(points)


def _capacity(
    lines: list[_Line],
    rng: random.Random,
    *,
    extra_licensed: int = 0,
    extra_used: int = 0,
    to_move: int = 0,
) -> ClassCapacity:
    """What the maths would say: today's numbers, the fitted line projected daily to the
    horizon, the first day over, and the seats missing at the horizon's end."""
    history = _history(lines, rng)
    slope = sum(line.slope for line in lines)
    fitted_today = sum(line.start + line.slope * (WINDOW - 1) for line in lines)

    def licensed(day: date) -> int:
        return sum(ln.licensed_on(day) for ln in lines) + (extra_licensed if day >= BOUGHT else 0)

    def used(day: date) -> float:
        return fitted_today + slope * (day - TODAY).days + (extra_used if day >= NEW_SITE else 0)

    projection = tuple(
        Point(day_at(t), used(day_at(t)), licensed(day_at(t))) for t in range(HORIZON + 1)
    )
    over = next((p.day for p in projection if p.used > p.licensed), None)
    end = projection[-1]
    return ClassCapacity(
        licensed=history[-1].licensed,
        used=int(history[-1].used),
        headroom=history[-1].licensed - int(history[-1].used),
        growth_per_day=slope,
        exhausted_on=over,
        days_left=(over - TODAY).days if over else None,
        seats_needed=max(0, round(end.used + 0.4) - end.licensed),
        to_move=to_move,
        history=history,
        projection=projection,
    )


def _pool(*, what_if: bool, names: dict[str, str]) -> PoolCapacity:
    rng = random.Random(7)
    extra = {VM: (200, 150)} if what_if else {}
    classes = {
        c: _capacity(
            [s[c] for s in _SERVERS.values()],
            rng,
            extra_licensed=extra.get(c, (0, 0))[0],
            extra_used=extra.get(c, (0, 0))[1],
        )
        for c in (VM, UM, INBOX)
    }
    servers = []
    for name, lines in _SERVERS.items():
        moves = 41 if name == "UNITY-A" and not what_if else 0
        srv_extra = (
            {VM: (200 if name == "UNITY-B" else 0, 150 if name == "UNITY-C" else 0)}
            if what_if
            else {}
        )
        servers.append(
            ServerCapacity(
                name=names.get(name, name),
                classes={
                    c: dataclasses.replace(
                        _capacity(
                            [lines[c]],
                            rng,
                            extra_licensed=srv_extra.get(c, (0, 0))[0],
                            extra_used=srv_extra.get(c, (0, 0))[1],
                            to_move=moves if c is VM else 0,
                        ),
                        history=(),
                        projection=(),
                    )
                    for c in (VM, UM, INBOX)
                },
                limits=(
                    "UNITY-A will home 450 subscribers, its platform's limit, on 2024-08-20: "
                    "move 41 subscribers off it to stay within the limit through 2024-10-28.",
                )
                if moves
                else (),
            )
        )
    return PoolCapacity(id=names.get(POOL, POOL), classes=classes, servers=tuple(servers))


def sample_report(*, names: dict[str, str] | None = None) -> CapacityReport:
    """A realistic finished report; ``names`` renames servers or the pool (hostile input)."""
    names = names or {}
    pool = _pool(what_if=False, names=names)
    vm = pool.classes[VM]
    assert vm.exhausted_on is not None and pool.classes[UM].exhausted_on is None
    return CapacityReport(
        generated=GENERATED,
        today=TODAY,
        window_days=WINDOW,
        horizon_days=HORIZON,
        pools=(pool,),
        recommendations=(
            Recommendation(
                "low",
                f"Inbox: {pool.classes[INBOX].used} of 100 seats used in "
                f"pool {pool.id}; no action needed within {HORIZON} days.",
            ),
            Recommendation(
                "high",
                f"Pool {pool.id} runs out of VM seats on "
                f"{vm.exhausted_on} (in {vm.days_left} days): add at least "
                f"{vm.seats_needed} VM seats before then to stay compliant "
                f"through 2024-10-28.",
            ),
            Recommendation(
                "medium",
                f"Move 41 subscribers off {names.get('UNITY-A', 'UNITY-A')}"
                f" before 2024-08-20 to keep it under its limit of 450 "
                f"subscribers.",
            ),
        ),
        what_if=WhatIf(
            scenario=SCENARIO,
            pools=(_pool(what_if=True, names=names),),
            recommendations=(
                Recommendation(
                    "medium",
                    "After the scenario, the pool runs out of VM seats on 2024-09-30: "
                    "add 36 more VM seats.",
                ),
            ),
            applied=(
                f"Add 200 VM seats to UNITY-B from {BOUGHT}.",
                f"Onboard 150 VM subscribers on UNITY-C from {NEW_SITE} (new site).",
            ),
        ),
        notes=("UNITY-C has no snapshots from 2024-03-10 to 2024-03-21; the fit skips them.",),
    )


def hostile_report() -> CapacityReport:
    return sample_report(names={"UNITY-C": HOSTILE, POOL: f'"{HOSTILE}&'})
