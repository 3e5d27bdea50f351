"""The capacity report as one self-contained HTML page, its charts inline SVG.

The page loads nothing (no network, no stylesheet, font or script files; no
JavaScript at all), so it can be mailed, attached to a ticket or opened offline. Every
piece of text from the report goes through :func:`html.escape`: server names and
scenario files are other people's input.

The page: the recommendations (most urgent first), then per pool its classes, a chart
per seat class that has seats (:mod:`poolsync.render.capacity_svg`) and its servers;
then the what-if before and after, then the notes. Like every renderer it only shows
what the capacity core computed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Final

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
from poolsync.render.capacity_svg import chartable, class_chart

__all__ = ["capacity_html"]


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_ISO_DAY: Final = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def _prose(text: str) -> str:
    """Escaped text whose ISO dates do not break at their hyphens."""
    return _ISO_DAY.sub(lambda m: f'<span class="day">{m.group(0)}</span>', _e(text))


# --- tables -----------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]],
           numeric: Sequence[bool]) -> str:
    head = "".join(f'<th{" class=num" if n else ""}>{_e(h)}</th>'
                   for h, n in zip(headers, numeric, strict=True))
    body = "".join("<tr>" + "".join(f'<td{" class=num" if n else ""}>{_e(c)}</td>'
                                    for c, n in zip(row, numeric, strict=True)) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _class_cells(capacity: ClassCapacity) -> str:
    """The METRICS cells; red where the class runs out, or is over already."""
    flagged = {"Headroom": capacity.headroom < 0,
               "Runs out": capacity.exhausted_on is not None,
               "Days left": capacity.exhausted_on is not None}
    return "".join(f'<td class="num{" out" if flagged.get(label) else ""}">'
                   f"{_e(show(capacity))}</td>" for label, show in METRICS)


_CLASS_HEAD: Final = "".join(f"<th class=num>{_e(label)}</th>" for label, _ in METRICS)


def _pool_table(pool: PoolCapacity) -> str:
    rows = "".join(f"<tr><th scope=row>{LABEL[c]}</th>{_class_cells(v)}</tr>"
                   for c, v in classes_of(pool.classes))
    return (f"<table><thead><tr><th>Class</th>{_CLASS_HEAD}</tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _server_rows(server: ServerCapacity) -> str:
    classes = classes_of(server.classes)
    rows = []
    for i, (c, v) in enumerate(classes):
        name = (f'<th scope=row rowspan="{len(classes)}">{_e(server.name)}</th>'
                if i == 0 else "")
        rows.append(f'<tr class="{"first" if i == 0 else ""}">{name}<td>{LABEL[c]}</td>'
                    f'{_class_cells(v)}<td class="num{" move" if v.to_move else ""}">'
                    f"{fmt_int(v.to_move)}</td></tr>")
    return "".join(rows)


def _servers_table(pool: PoolCapacity) -> str:
    if not pool.servers:
        return "<p>No servers.</p>"
    body = "".join(_server_rows(s) for s in pool.servers)
    table = (f'<table class="servers"><thead><tr><th>Server</th><th>Class</th>{_CLASS_HEAD}'
             f"<th class=num>To move</th></tr></thead><tbody>{body}</tbody></table>")
    limits = [(s.name, limit) for s in pool.servers for limit in s.limits]
    if limits:
        table += ('<ul class="limits">' + "".join(
            f"<li><strong>{_e(name)}</strong>: {_prose(limit)}</li>" for name, limit in limits)
                  + "</ul>")
    return table


def _recommendations(recommendations: Sequence[Recommendation]) -> str:
    if not recommendations:
        return '<p class="muted">No recommendations.</p>'
    items = "".join(f'<li class="{r.urgency}"><span class="badge {r.urgency}">'
                    f"{r.urgency}</span> {_prose(r.text)}</li>"
                    for r in ranked(recommendations))
    return f'<ol class="recommendations">{items}</ol>'


def _comparison(before: PoolCapacity | None, after: PoolCapacity | None) -> str:
    group = "".join(f'<th colspan="2" class="group">{LABEL[c]}</th>' for c in SEAT_CLASSES)
    sub = "".join('<th class="num">before</th><th class="num after">after</th>'
                  for _ in SEAT_CLASSES)
    body = "".join(
        f"<tr><th scope=row>{_e(row[0])}</th>" + "".join(
            f'<td class="num{" after" if i % 2 == 0 else ""}'
            f'{" changed" if i % 2 == 0 and cell != row[i - 1] else ""}">{_e(cell)}</td>'
            for i, cell in enumerate(row[1:], start=1)) + "</tr>"
        for row in comparison_rows(before, after))
    return (f'<table class="comparison"><thead><tr><th rowspan="2"></th>{group}</tr>'
            f"<tr>{sub}</tr></thead><tbody>{body}</tbody></table>")


def _what_if(report: CapacityReport, what_if: WhatIf) -> str:
    parts = [f'<section class="card what-if"><h2>What if: <code>{_e(what_if.scenario)}</code>'
             "</h2>"]
    if what_if.applied:
        parts.append("<p>Changes applied, in file order:</p><ul>"
                     + "".join(f"<li>{_prose(change)}</li>" for change in what_if.applied)
                     + "</ul>")
    for pool_id, before, after in pool_pairs(report.pools, what_if.pools):
        parts.append(f"<h3>Pool {_e(pool_id)}: before and after</h3>{_comparison(before, after)}")
        changes = change_rows(before, after, to="→")
        if changes:
            parts.append("<h4>Servers the scenario changes (before → after)</h4>"
                         + _table(CHANGE_HEADERS, changes,
                                  [False, False] + [True] * (len(CHANGE_HEADERS) - 2)))
    parts.append("<h3>Recommendations after the scenario</h3>"
                 + _recommendations(what_if.recommendations) + "</section>")
    return "".join(parts)


def _pool_section(report: CapacityReport, index: int, pool: PoolCapacity) -> str:
    after_pool = None
    if report.what_if is not None:
        after_pool = next((p for p in report.what_if.pools if p.id == pool.id), None)
    charts = []
    end = report.today + timedelta(days=report.horizon_days)
    for c, capacity in classes_of(pool.classes):
        if not chartable(capacity):
            continue
        if not (capacity.history or capacity.projection):
            charts.append(f'<figure class="chart empty"><figcaption>{LABEL[c]} seats: no '
                          f"history to chart</figcaption></figure>")
            continue
        chart = class_chart(title=f"{LABEL[c]} seats, pool {pool.id}", capacity=capacity,
                            after=after_pool.classes.get(c) if after_pool else None,
                            today=report.today, horizon_end=end, data_class=c.value,
                            ident=f"chart-{index}-{c.value}")
        charts.append(f'<figure class="chart">{chart}</figure>')
    count = len(pool.servers)
    return (f'<section class="card pool"><h2>Pool {_e(pool.id)} '
            f'<span class="muted">{count} server{"" if count == 1 else "s"}</span></h2>'
            f"{_pool_table(pool)}"
            f'<div class="charts">{"".join(charts)}</div>'
            f"<h3>Servers</h3>{_servers_table(pool)}</section>")


_CSS: Final = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: #111827;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0 0 12px; }
h3 { font-size: 15px; margin: 20px 0 8px; }
h4 { font-size: 14px; margin: 16px 0 6px; }
.muted, .subtitle { color: #6b7280; font-weight: normal; }
.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px;
  padding: 18px 22px; margin: 18px 0; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 10px; border-bottom: 1px solid #e5e7eb; text-align: left;
  vertical-align: top; }
thead th { background: #f9fafb; font-weight: 600; color: #374151;
  border-bottom: 2px solid #d1d5db; white-space: nowrap; }
.num { text-align: right; white-space: nowrap; }
td.out { color: #b91c1c; font-weight: 600; }
td.move { color: #c2410c; font-weight: 600; }
table.servers tr.first > * { border-top: 2px solid #e5e7eb; }
table.comparison th.group { text-align: center; border-bottom: 1px solid #d1d5db; }
table.comparison .after { background: #fff7ed; }
table.comparison td.changed { color: #c2410c; font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr));
  gap: 16px; margin-top: 16px; }
figure.chart { margin: 0; border: 1px solid #e5e7eb; border-radius: 8px; padding: 6px;
  background: #fff; }
figure.chart svg { display: block; width: 100%; height: auto; }
figure.empty { padding: 24px; color: #6b7280; }
ol.recommendations { margin: 0; padding-left: 1.6em; }
ol.recommendations li { margin: 6px 0; padding-left: 4px; }
.badge { display: inline-block; min-width: 64px; text-align: center; padding: 1px 8px;
  margin-right: 6px; border-radius: 999px; font-size: 11px; font-weight: 700;
  letter-spacing: .04em; text-transform: uppercase; }
.badge.high { background: #fee2e2; color: #991b1b; }
.badge.medium { background: #fef3c7; color: #92400e; }
.badge.low { background: #e0f2fe; color: #075985; }
ul.limits { margin: 8px 0 0; padding-left: 1.2em; color: #374151; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: .95em; }
span.day { white-space: nowrap; }
footer { color: #6b7280; font-size: 12px; margin: 24px 0; }
@media print {
  body { background: #fff; }
  main { padding: 0; }
  .card { box-shadow: none; break-inside: avoid; }
  figure.chart { break-inside: avoid; }
}
"""


def capacity_html(report: CapacityReport) -> str:
    """The report as one self-contained HTML page: recommendations, then each pool's
    classes, charts and servers, then the what-if before and after, then the notes."""
    end = horizon_end(report)
    sections = [
        '<section class="card"><h2>Recommendations <span class="muted">most urgent first'
        f"</span></h2>{_recommendations(report.recommendations)}</section>",
        *(_pool_section(report, i, p) for i, p in enumerate(report.pools)),
    ]
    if not report.pools:
        sections.append('<section class="card"><p>No pools.</p></section>')
    if report.what_if is not None:
        sections.append(_what_if(report, report.what_if))
    if report.notes:
        sections.append('<section class="card"><h2>Notes</h2><ul>'
                        + "".join(f"<li>{_prose(note)}</li>" for note in report.notes)
                        + "</ul></section>")
    title = f"Capacity report, {report.today.isoformat()}"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="poolsync">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body><main>",
        f"<header><h1>{_e(title)}</h1>"
        f'<p class="subtitle">Growth fitted over the last {report.window_days} days, '
        f"projected {report.horizon_days} days ahead (to {_e(end)}). Runs out: the first "
        f"day projected use exceeds the licensed seats ({NOT_WITHIN} when not within the "
        f"horizon). Seats to add: to stay compliant through {_e(end)}.</p></header>",
        *sections,
        f"<footer>Generated by poolsync at {_e(report.generated.isoformat(timespec='seconds'))}"
        ".</footer>",
        "</main></body></html>",
        "",
    ])
