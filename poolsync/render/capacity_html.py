"""The capacity report as one self-contained HTML page, its charts inline SVG.

The page loads nothing (no network, no stylesheet, font or script files; no
JavaScript at all), so it can be mailed, attached to a ticket or opened offline. It is
the jinja2 template ``templates/capacity.html.j2`` with autoescaping on: server names
and scenario files are other people's input. Only the charts (our own SVG) and the
``prose`` filter's output are marked safe.

The page: the recommendations (most urgent first), then per pool its classes, a chart
per seat class that has seats (:mod:`poolsync.render.capacity_svg`) and its servers;
then the what-if before and after, then the notes. Like every renderer it only shows
what the capacity core computed; this module only hands the template its cells.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Final

import jinja2
from markupsafe import Markup, escape

from poolsync.capacity.model import (
    CapacityReport,
    ClassCapacity,
    PoolCapacity,
    Recommendation,
    ServerCapacity,
    WhatIf,
)
from poolsync.model import SEAT_CLASSES
from poolsync.render.capacity_format import (
    CHANGE_HEADERS,
    LABEL,
    METRICS,
    NOT_WITHIN,
    change_rows,
    classes_of,
    comparison_rows,
    fmt_int,
    horizon_end,
    pool_pairs,
    ranked,
)

__all__ = ["capacity_html"]

_ISO_DAY: Final = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def _prose(text: str) -> Markup:
    """Escaped text whose ISO dates do not break at their hyphens."""
    parts, last = [], 0
    for day in _ISO_DAY.finditer(text):
        parts += [
            escape(text[last : day.start()]),
            Markup('<span class="day">{}</span>').format(day.group(0)),
        ]
        last = day.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("poolsync.render", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["prose"] = _prose
    return env.get_template("capacity.html.j2")


# --- what the template shows --------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Cell:
    text: str
    out: bool  # red: the class runs out, or is over already


@dataclasses.dataclass(frozen=True, slots=True)
class _ClassRow:
    label: str
    cells: list[_Cell]
    to_move: str = ""
    move: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class _Server:
    name: str
    rows: list[_ClassRow]


@dataclasses.dataclass(frozen=True, slots=True)
class _Chart:
    label: str
    svg: Markup | None  # None: the class has seats but no history to chart


@dataclasses.dataclass(frozen=True, slots=True)
class _Pool:
    id: str
    classes: list[_ClassRow]
    charts: list[_Chart]
    servers: list[_Server]
    limits: list[tuple[str, str]]  # (server, what it says)


@dataclasses.dataclass(frozen=True, slots=True)
class _Comparison:
    id: str
    comparison: list[list[str]]
    changes: list[list[str]]


@dataclasses.dataclass(frozen=True, slots=True)
class _WhatIf:
    scenario: str
    applied: Sequence[str]
    pools: list[_Comparison]
    recommendations: list[Recommendation]


def _cells(capacity: ClassCapacity) -> list[_Cell]:
    """The METRICS cells; red where the class runs out, or is over already."""
    flagged = {
        "Headroom": capacity.headroom < 0,
        "Runs out": capacity.exhausted_on is not None,
        "Days left": capacity.exhausted_on is not None,
    }
    return [_Cell(show(capacity), flagged.get(label, False)) for label, show in METRICS]


def _server(server: ServerCapacity) -> _Server:
    return _Server(
        server.name,
        [
            _ClassRow(LABEL[c], _cells(v), fmt_int(v.to_move), bool(v.to_move))
            for c, v in classes_of(server.classes)
        ],
    )


def _charts(report: CapacityReport, index: int, pool: PoolCapacity) -> list[_Chart]:
    # Imported here: matplotlib takes most of a second to import, which only a page
    # with charts should pay, not every start of the CLI (which imports this module).
    from poolsync.render.capacity_svg import chartable, class_chart

    after_pool = None
    if report.what_if is not None:
        after_pool = next((p for p in report.what_if.pools if p.id == pool.id), None)
    end = report.today + timedelta(days=report.horizon_days)
    charts = []
    for c, capacity in classes_of(pool.classes):
        if not chartable(capacity):
            continue
        svg = None
        if capacity.history or capacity.projection:
            # Our own SVG: matplotlib escapes the text it writes, class_chart the rest.
            svg = Markup(  # noqa: S704
                class_chart(
                    title=f"{LABEL[c]} seats, pool {pool.id}",
                    capacity=capacity,
                    after=after_pool.classes.get(c) if after_pool else None,
                    today=report.today,
                    horizon_end=end,
                    data_class=c.value,
                    ident=f"chart-{index}-{c.value}",
                )
            )
        charts.append(_Chart(LABEL[c], svg))
    return charts


def _pool(report: CapacityReport, index: int, pool: PoolCapacity) -> _Pool:
    return _Pool(
        id=pool.id,
        classes=[_ClassRow(LABEL[c], _cells(v)) for c, v in classes_of(pool.classes)],
        charts=_charts(report, index, pool),
        servers=[_server(s) for s in pool.servers],
        limits=[(s.name, limit) for s in pool.servers for limit in s.limits],
    )


def _what_if(report: CapacityReport, what_if: WhatIf) -> _WhatIf:
    return _WhatIf(
        scenario=what_if.scenario,
        applied=what_if.applied,
        pools=[
            _Comparison(pool_id, comparison_rows(before, after), change_rows(before, after, to="→"))
            for pool_id, before, after in pool_pairs(report.pools, what_if.pools)
        ],
        recommendations=list(ranked(what_if.recommendations)),
    )


def capacity_html(report: CapacityReport) -> str:
    """The report as one self-contained HTML page: recommendations, then each pool's
    classes, charts and servers, then the what-if before and after, then the notes."""
    return _template().render(
        title=f"Capacity report, {report.today.isoformat()}",
        window_days=report.window_days,
        horizon_days=report.horizon_days,
        end=horizon_end(report),
        not_within=NOT_WITHIN,
        generated=report.generated.isoformat(timespec="seconds"),
        metrics=[label for label, _ in METRICS],
        class_labels=[LABEL[c] for c in SEAT_CLASSES],
        change_headers=CHANGE_HEADERS,
        change_numeric=[False, False] + [True] * (len(CHANGE_HEADERS) - 2),
        recommendations=ranked(report.recommendations),
        pools=[_pool(report, i, p) for i, p in enumerate(report.pools)],
        what_if=_what_if(report, report.what_if) if report.what_if is not None else None,
        notes=report.notes,
    )
