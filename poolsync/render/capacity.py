"""The capacity report in five shapes: JSON and CSV for machines, Markdown for tickets,
plain text for a terminal, and one HTML page with charts.

Every function takes a finished :class:`~poolsync.capacity.model.CapacityReport` and
only formats it: growth, exhaustion dates, seats needed and recommendations come from
:mod:`poolsync.capacity`, so every shape of one report agrees. :func:`capacity_html`
lives in :mod:`poolsync.render.capacity_html` (its charts in
:mod:`~poolsync.render.capacity_svg`) and is imported here so all five come from one
place.

The JSON shape is a contract (``meta.type`` is ``capacity-report``, ``meta.version`` is
1): keys may be added, never renamed or removed without a version bump. The CSV has one
row per pool or server and seat class, the what-if's rows after the current ones.
"""

from __future__ import annotations

import csv
import io
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from poolsync.capacity.model import (
    URGENCIES,
    CapacityReport,
    ClassCapacity,
    PoolCapacity,
    Recommendation,
    ServerCapacity,
    WhatIf,
)
from poolsync.model import SEAT_CLASSES, SeatClass
from poolsync.render.capacity_format import (
    CHANGE_HEADERS,
    COMPARISON_HEADERS,
    LABEL,
    METRICS,
    NOT_WITHIN,
    SERVER_METRICS,
    change_rows,
    classes_of,
    comparison_rows,
    fmt_int,
    growth,
    horizon_end,
    pool_pairs,
    ranked,
)
from poolsync.render.capacity_html import capacity_html
from poolsync.spreadsheet import neutralize, visible

__all__ = [
    "CSV_COLUMNS",
    "JSON_TYPE",
    "JSON_VERSION",
    "capacity_csv",
    "capacity_html",
    "capacity_json",
    "capacity_md",
    "capacity_table",
]

JSON_TYPE: Final = "capacity-report"
JSON_VERSION: Final = 1

CSV_COLUMNS: Final = (
    "pool",
    "server",
    "class",
    "licensed",
    "used",
    "headroom",
    "growth_per_day",
    "exhausted_on",
    "days_left",
    "seats_needed",
    "to_move",
    "scenario",
)

# --- JSON -------------------------------------------------------------------------


#: A seat class without any snapshot: nothing licensed, nothing used, nothing projected.
_NOTHING = ClassCapacity(
    licensed=0,
    used=0,
    headroom=0,
    growth_per_day=0.0,
    exhausted_on=None,
    days_left=None,
    seats_needed=0,
)


def _classes_json(classes: Mapping[SeatClass, ClassCapacity], *, server: bool) -> dict[str, Any]:
    """Every seat class, in the contract's order (one with no history: zeros)."""
    return {c.value: _class_json(classes.get(c, _NOTHING), server=server) for c in SEAT_CLASSES}


def _class_json(capacity: ClassCapacity, *, server: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "licensed": capacity.licensed,
        "used": capacity.used,
        "headroom": capacity.headroom,
        "growth_per_day": growth(capacity.growth_per_day),
        "exhausted_on": capacity.exhausted_on.isoformat() if capacity.exhausted_on else None,
        "days_left": capacity.days_left,
        "seats_needed": capacity.seats_needed,
    }
    if server:
        out["to_move"] = capacity.to_move
    return out


def _server_json(server: ServerCapacity) -> dict[str, Any]:
    return {
        "name": server.name,
        "classes": _classes_json(server.classes, server=True),
        "limits": list(server.limits),
    }


def _pool_json(pool: PoolCapacity) -> dict[str, Any]:
    return {
        "id": pool.id,
        "classes": _classes_json(pool.classes, server=False),
        "servers": [_server_json(s) for s in pool.servers],
    }


def _recommendations_json(recommendations: Iterable[Recommendation]) -> list[dict[str, str]]:
    return [{"urgency": r.urgency, "text": r.text} for r in ranked(recommendations)]


def _what_if_json(what_if: WhatIf | None) -> dict[str, Any] | None:
    if what_if is None:
        return None
    return {
        "scenario": what_if.scenario,
        "applied": list(what_if.applied),
        "pools": [_pool_json(p) for p in what_if.pools],
        "recommendations": _recommendations_json(what_if.recommendations),
    }


def capacity_json(report: CapacityReport) -> dict[str, Any]:
    """The report as a JSON-ready dict (``json.dumps`` it as is).

    Dates are ISO 8601; ``exhausted_on`` and ``days_left`` are null when a class does
    not run out within the horizon. Recommendations are most urgent first.
    """
    return {
        "meta": {
            "type": JSON_TYPE,
            "version": JSON_VERSION,
            "generated": report.generated.isoformat(),
        },
        "today": report.today.isoformat(),
        "window_days": report.window_days,
        "horizon_days": report.horizon_days,
        "pools": [_pool_json(p) for p in report.pools],
        "recommendations": _recommendations_json(report.recommendations),
        "what_if": _what_if_json(report.what_if),
        "notes": list(report.notes),
    }


# --- CSV --------------------------------------------------------------------------


def _csv_row(
    pool: str, server: str, seat_class: SeatClass, capacity: ClassCapacity, scenario: str
) -> dict[str, object]:
    slope = growth(capacity.growth_per_day)
    return {
        "pool": pool,
        "server": server,
        "class": seat_class.value,
        "licensed": capacity.licensed,
        "used": capacity.used,
        "headroom": capacity.headroom,
        "growth_per_day": "" if slope is None else slope,
        "exhausted_on": capacity.exhausted_on.isoformat() if capacity.exhausted_on else "",
        "days_left": "" if capacity.days_left is None else capacity.days_left,
        "seats_needed": capacity.seats_needed,
        "to_move": capacity.to_move if server else "",
        "scenario": scenario,
    }


def _safe(rows: Iterable[dict[str, object]]) -> Iterator[dict[str, object]]:
    """Every text cell a spreadsheet would run as a formula, neutralized."""
    for row in rows:
        yield {key: neutralize(value) for key, value in row.items()}


def _csv_rows(pools: Iterable[PoolCapacity], scenario: str) -> Iterator[dict[str, object]]:
    for pool in pools:
        for c, capacity in classes_of(pool.classes):
            yield _csv_row(pool.id, "", c, capacity, scenario)
        for server in pool.servers:
            for c, capacity in classes_of(server.classes):
                yield _csv_row(pool.id, server.name, c, capacity, scenario)


def capacity_csv(report: CapacityReport) -> str:
    """The report as CSV text: a header row, then one row per pool or server and class.

    A pool's rows have an empty ``server`` (and ``to_move``); ``exhausted_on`` and
    ``days_left`` are empty beyond the horizon. ``scenario`` is empty for today's
    projection and names the scenario file on the what-if's rows, which follow.
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_safe(_csv_rows(report.pools, "")))
    if report.what_if is not None:
        writer.writerows(_safe(_csv_rows(report.what_if.pools, report.what_if.scenario)))
    return out.getvalue()


# --- Markdown ---------------------------------------------------------------------

_MD_SPECIAL: Final = frozenset("\\`*_[]<>|&#")


def _md(text: str) -> str:
    """Plain text made inert in Markdown (a server name cannot open a tag or a cell)
    and on a terminal (control characters are written ``\\xNN``)."""
    flat = " ".join(text.split())
    return visible("".join(f"\\{ch}" if ch in _MD_SPECIAL else ch for ch in flat))


def _md_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[bool]
) -> list[str]:
    """A pipe table; cells are escaped here, so pass plain text."""
    lines = [
        "| " + " | ".join(_md(h) for h in headers) + " |",
        "|" + "|".join("---:" if r else ":---" for r in right) + "|",
    ]
    lines += ["| " + " | ".join(_md(cell) or " " for cell in row) + " |" for row in rows]
    return lines


_POOL_HEADERS: Final = ("Class", *(label for label, _ in METRICS))
_SERVER_HEADERS: Final = ("Server", "Class", *(label for label, _ in METRICS), "To move")


def _class_cells(seat_class: SeatClass, capacity: ClassCapacity) -> list[str]:
    return [LABEL[seat_class], *(show(capacity) for _, show in METRICS)]


def _server_rows(server: ServerCapacity) -> list[list[str]]:
    return [
        [server.name, *_class_cells(c, v), fmt_int(v.to_move)]
        for c, v in classes_of(server.classes)
    ]


def _md_pool(pool: PoolCapacity) -> list[str]:
    count = len(pool.servers)
    lines = ["", f"## Pool {_md(pool.id)} ({count} server{'' if count == 1 else 's'})", ""]
    lines += _md_table(
        _POOL_HEADERS,
        (_class_cells(c, v) for c, v in classes_of(pool.classes)),
        [False] + [True] * len(METRICS),
    )
    if pool.servers:
        lines += ["", "### Servers", ""]
        lines += _md_table(
            _SERVER_HEADERS,
            (row for s in pool.servers for row in _server_rows(s)),
            [False, False] + [True] * (len(METRICS) + 1),
        )
    limits = [(s.name, limit) for s in pool.servers for limit in s.limits]
    if limits:
        lines += ["", "Per-server limits:", ""]
        lines += [f"- {_md(name)}: {_md(limit)}" for name, limit in limits]
    return lines


def _md_recommendations(recommendations: Sequence[Recommendation]) -> list[str]:
    if not recommendations:
        return ["No recommendations."]
    return [
        f"{i}. **{r.urgency.upper()}** {_md(r.text)}"
        for i, r in enumerate(ranked(recommendations), start=1)
    ]


def _md_what_if(report: CapacityReport, what_if: WhatIf) -> list[str]:
    lines = ["", f"## What if: {_md(what_if.scenario)}", ""]
    if what_if.applied:
        lines += ["Changes applied, in file order:", ""]
        lines += [f"- {_md(change)}" for change in what_if.applied]
        lines.append("")
    for pool_id, before, after in pool_pairs(report.pools, what_if.pools):
        lines += [f"### Pool {_md(pool_id)}: before and after", ""]
        lines += _md_table(COMPARISON_HEADERS, comparison_rows(before, after), [False] + [True] * 6)
        changes = change_rows(before, after, to="→")
        if changes:
            lines += ["", "Servers the scenario changes (before → after):", ""]
            lines += _md_table(
                CHANGE_HEADERS, changes, [False, False] + [True] * len(SERVER_METRICS)
            )
        lines.append("")
    lines += ["Recommendations after the scenario:", ""]
    lines += _md_recommendations(what_if.recommendations)
    return lines


def capacity_md(report: CapacityReport) -> str:
    """The report as Markdown to paste into a ticket: recommendations first (ranked),
    then a table per pool and its servers, then the what-if side by side."""
    lines = [
        f"# Capacity report, {report.today.isoformat()}",
        "",
        f"Growth fitted over the last {report.window_days} days, projected "
        f"{report.horizon_days} days ahead (to {horizon_end(report)}). Generated "
        f"{report.generated.isoformat(timespec='seconds')}.",
        "",
        "## Recommendations",
        "",
    ]
    lines += _md_recommendations(report.recommendations)
    for pool in report.pools:
        lines += _md_pool(pool)
    if not report.pools:
        lines += ["", "No pools."]
    lines += [
        "",
        f"Runs out: the first day projected use exceeds the licensed seats; "
        f"{NOT_WITHIN} = not within the horizon. Seats to add: to stay compliant "
        f"through {horizon_end(report)}.",
    ]
    if report.what_if is not None:
        lines += _md_what_if(report, report.what_if)
    if report.notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {_md(note)}" for note in report.notes]
    return "\n".join(lines) + "\n"


# --- plain text -------------------------------------------------------------------


def _grid(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool], indent: str = "  "
) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(w) if r else cell.ljust(w)
            for cell, w, r in zip(cells, widths, right, strict=True)
        ]
        return (indent + "  ".join(parts)).rstrip()

    return [line([h.upper() for h in headers]), *(line(r) for r in rows)]


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        " ".join(text.split()),
        width=width,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
        break_long_words=False,
    ) or [first.rstrip()]


_URGENCY_W: Final = max(len(u) for u in URGENCIES) + 2


def _text_recommendations(
    recommendations: Sequence[Recommendation], width: int, indent: str = "  "
) -> list[str]:
    if not recommendations:
        return [f"{indent}none"]
    pad = indent + " " * _URGENCY_W
    return [
        line
        for r in ranked(recommendations)
        for line in _wrap(r.text, width, f"{indent}{r.urgency.upper():<{_URGENCY_W}}", pad)
    ]


def _text_pool(pool: PoolCapacity, width: int) -> list[str]:
    count = len(pool.servers)
    lines = ["", f"Pool {pool.id} ({count} server{'' if count == 1 else 's'})"]
    lines += _grid(
        _POOL_HEADERS,
        [_class_cells(c, v) for c, v in classes_of(pool.classes)],
        [False] + [True] * len(METRICS),
    )
    if pool.servers:
        lines.append("")
        lines += _grid(
            _SERVER_HEADERS,
            [row for s in pool.servers for row in _server_rows(s)],
            [False, False] + [True] * (len(METRICS) + 1),
        )
    for server in pool.servers:
        for limit in server.limits:
            lines += _wrap(limit, width, f"  limit  {server.name}: ", "         ")
    return lines


def _text_what_if(report: CapacityReport, what_if: WhatIf, width: int) -> list[str]:
    lines = ["", f"What if {what_if.scenario}:"]
    lines += [
        line
        for change in what_if.applied
        for line in _wrap(change, width, "  applied  ", "           ")
    ]
    for pool_id, before, after in pool_pairs(report.pools, what_if.pools):
        lines += ["", f"  Pool {pool_id}, before and after"]
        lines += _grid(
            COMPARISON_HEADERS, comparison_rows(before, after), [False] + [True] * 6, indent="    "
        )
        changes = change_rows(before, after)
        if changes:
            lines += ["", "    Servers the scenario changes (before -> after):"]
            lines += _grid(
                CHANGE_HEADERS,
                changes,
                [False, False] + [True] * len(SERVER_METRICS),
                indent="    ",
            )
    lines += ["", "  Recommendations after the scenario:"]
    lines += _text_recommendations(what_if.recommendations, width, indent="    ")
    return lines


def capacity_table(report: CapacityReport, *, width: int = 100) -> str:
    """The report as plain text for a terminal: recommendations (most urgent first),
    each pool and its servers, then the what-if before and after. Prose is wrapped at
    ``width``; tables are as wide as their cells."""
    width = max(width, 40)
    lines = [
        f"Capacity: {report.today.isoformat()}, growth over the last "
        f"{report.window_days} days, projected {report.horizon_days} days ahead "
        f"(to {horizon_end(report)})",
        "",
        "Recommendations (most urgent first):",
        *_text_recommendations(report.recommendations, width),
    ]
    for pool in report.pools:
        lines += _text_pool(pool, width)
    if not report.pools:
        lines += ["", "No pools."]
    lines += [
        "",
        *_wrap(
            f"Runs out: the first day projected use exceeds the licensed seats "
            f"({NOT_WITHIN}: not within {report.horizon_days} days). Seats to "
            f"add: to stay compliant through {horizon_end(report)}.",
            width,
            "",
            "",
        ),
    ]
    if report.what_if is not None:
        lines += _text_what_if(report, report.what_if, width)
    if report.notes:
        lines += ["", "Notes:"]
        lines += [line for note in report.notes for line in _wrap(note, width, "  - ", "    ")]
    return "\n".join(lines) + "\n"
