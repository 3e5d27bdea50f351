"""How the capacity report's values read, shared by every shape of the report.

Labels, number and date cells, the recommendations' ranking and the before/after
comparison of a what-if: the Markdown, text and HTML renderers take their cells from
here, so a number reads the same in each.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Final

from poolsync.capacity.model import (
    URGENCIES,
    CapacityReport,
    ClassCapacity,
    PoolCapacity,
    Recommendation,
)
from poolsync.model import SEAT_CLASSES, SeatClass

LABEL: Final = {SeatClass.VM: "VM", SeatClass.UM: "UM", SeatClass.INBOX: "Inbox"}
NOT_WITHIN: Final = "-"  # an exhaustion date or days left beyond the horizon


def ranked(recommendations: Iterable[Recommendation]) -> list[Recommendation]:
    """Most urgent first; the core's order kept within one urgency."""
    return sorted(recommendations, key=lambda r: URGENCIES.index(r.urgency))


def classes_of(classes: Mapping[SeatClass, ClassCapacity]) -> list[tuple[SeatClass, ClassCapacity]]:
    """The classes present, in the usual VM, UM, Inbox order."""
    return [(c, classes[c]) for c in SEAT_CLASSES if c in classes]


def growth(value: float) -> float | None:
    """The slope for machines: 4 places, no ``-0.0``; None if the core gave NaN/inf."""
    if not math.isfinite(value):
        return None
    return round(value, 4) or 0.0


def fmt_int(value: int) -> str:
    return f"{value:,}"


def fmt_growth(value: float) -> str:
    rounded = growth(value)
    if rounded is None:
        return "?"
    return "0" if abs(rounded) < 0.005 else f"{rounded:+,.2f}"


def fmt_date(capacity: ClassCapacity) -> str:
    return capacity.exhausted_on.isoformat() if capacity.exhausted_on else NOT_WITHIN


def fmt_days(capacity: ClassCapacity) -> str:
    return NOT_WITHIN if capacity.days_left is None else fmt_int(capacity.days_left)


#: The rows of a before/after comparison: a label and how to show one class's value.
METRICS: Final[tuple[tuple[str, Callable[[ClassCapacity], str]], ...]] = (
    ("Licensed", lambda c: fmt_int(c.licensed)),
    ("Used", lambda c: fmt_int(c.used)),
    ("Headroom", lambda c: fmt_int(c.headroom)),
    ("Growth/day", lambda c: fmt_growth(c.growth_per_day)),
    ("Runs out", fmt_date),
    ("Days left", fmt_days),
    ("Seats to add", lambda c: fmt_int(c.seats_needed)),
)
#: The server columns of a before/after comparison.
SERVER_METRICS: Final[tuple[tuple[str, Callable[[ClassCapacity], str]], ...]] = (
    ("Licensed", lambda c: fmt_int(c.licensed)),
    ("Used", lambda c: fmt_int(c.used)),
    ("Runs out", fmt_date),
    ("Days left", fmt_days),
    ("To move", lambda c: fmt_int(c.to_move)),
)


def pool_pairs(
    pools: Sequence[PoolCapacity], after: Sequence[PoolCapacity]
) -> list[tuple[str, PoolCapacity | None, PoolCapacity | None]]:
    """Each pool's id with its current and what-if state (None where one side lacks it)."""
    before_by_id = {p.id: p for p in pools}
    after_by_id = {p.id: p for p in after}
    ids = [p.id for p in pools] + [p.id for p in after if p.id not in before_by_id]
    return [(i, before_by_id.get(i), after_by_id.get(i)) for i in ids]


def before_after(
    before: ClassCapacity | None, after: ClassCapacity | None, show: Callable[[ClassCapacity], str]
) -> tuple[str, str]:
    return (show(before) if before else "", show(after) if after else "")


def server_changes(
    before: PoolCapacity | None,
    after: PoolCapacity | None,
) -> list[tuple[str, SeatClass, ClassCapacity | None, ClassCapacity | None]]:
    """The server classes a scenario changes, added (before None) and removed (after
    None) servers included. Names match case-blind, as Unity server names do."""
    old = {s.name.casefold(): s for s in before.servers} if before else {}
    new = {s.name.casefold(): s for s in after.servers} if after else {}
    names = {**{k: s.name for k, s in new.items()}, **{k: s.name for k, s in old.items()}}
    keys = list(old) + [k for k in new if k not in old]
    changes = []
    for key in keys:
        for c in SEAT_CLASSES:
            b = old[key].classes.get(c) if key in old else None
            a = new[key].classes.get(c) if key in new else None
            if (b or a) and _shown(b, SERVER_METRICS) != _shown(a, SERVER_METRICS):
                changes.append((names[key], c, b, a))
    return changes


def _shown(
    capacity: ClassCapacity | None, metrics: Sequence[tuple[str, Callable[[ClassCapacity], str]]]
) -> tuple[str, ...]:
    return tuple(show(capacity) for _, show in metrics) if capacity else ()


COMPARISON_HEADERS: Final = (
    "",
    *(f"{LABEL[c]} {side}" for c in SEAT_CLASSES for side in ("before", "after")),
)
CHANGE_HEADERS: Final = ("Server", "Class", *(label for label, _ in SERVER_METRICS))


def comparison_rows(before: PoolCapacity | None, after: PoolCapacity | None) -> list[list[str]]:
    """A pool before and after, side by side: a row per metric, a before and an after
    column per class (under :data:`COMPARISON_HEADERS`)."""
    return [
        [
            label,
            *(
                cell
                for c in SEAT_CLASSES
                for cell in before_after(
                    before.classes.get(c) if before else None,
                    after.classes.get(c) if after else None,
                    show,
                )
            ),
        ]
        for label, show in METRICS
    ]


def change_rows(
    before: PoolCapacity | None, after: PoolCapacity | None, *, to: str = "->"
) -> list[list[str]]:
    """The servers a scenario changes, ``before -> after`` per cell (under
    :data:`CHANGE_HEADERS`; ``to`` is the arrow). An added or removed server's name says
    so, and its cells hold the one side it has."""
    rows = []
    for name, c, b, a in server_changes(before, after):
        if b is None or a is None:
            label = f"{name} ({'new' if b is None else 'removed'})"
            only = a if b is None else b
            assert only is not None  # server_changes never yields a pair of None
            rows.append([label, LABEL[c], *(show(only) for _, show in SERVER_METRICS)])
        else:
            rows.append(
                [name, LABEL[c], *(arrow(show(b), show(a), to=to) for _, show in SERVER_METRICS)]
            )
    return rows


def arrow(before: str, after: str, *, to: str = "->") -> str:
    """One cell of a server change: ``400 -> 450``; a single value when unchanged."""
    return before if before == after else f"{before} {to} {after}"


def horizon_end(report: CapacityReport) -> str:
    return (report.today + timedelta(days=report.horizon_days)).isoformat()
