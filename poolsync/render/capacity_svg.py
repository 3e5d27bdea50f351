"""One seat class's capacity chart as inline SVG, drawn here (no chart library needed).

The chart shows observed use (a line with a dot per snapshot), the licensed seats (a
step line: licenses start and expire), the fitted projection to the horizon (dashed,
over a shaded "future"), the day it runs out (a red marker, the overage shaded) and,
with a what-if, the scenario's projection and licensed seats in orange. It only draws
what the capacity core computed; nothing is fitted or decided here.

Text is escaped with :func:`html.escape`; the SVG is meant to sit inside an HTML page
(:mod:`poolsync.render.capacity_html`) and declares its namespace so it also stands
alone.
"""

from __future__ import annotations

import bisect
import dataclasses
import html
import itertools
import math
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Final

from poolsync.capacity.model import ClassCapacity, Point
from poolsync.render.capacity_format import fmt_growth, fmt_int

__all__ = ["chartable", "class_chart", "day_label"]

_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                  "Nov", "Dec")

# Blue for what happened and the fit, dark grey for licenses, red for running out,
# orange for the what-if: they stay apart for the common colour blindnesses too.
USED: Final = "#2563eb"
LICENSED: Final = "#374151"
OUT: Final = "#dc2626"
AFTER: Final = "#ea580c"
MUTED: Final = "#6b7280"
_GRID: Final = "#e5e7eb"
_AXIS: Final = "#9ca3af"
_INK: Final = "#111827"

_W: Final = 600  # the viewBox width; the page scales the chart to its column
_LEFT: Final = 58  # room for seat tick labels
_RIGHT: Final = 20
_EDGE: Final = 12  # title, subtitle and legend start here
_PLOT_H: Final = 230
_BOTTOM: Final = 34  # room for date tick labels
_FONT: Final = 12
_TITLE_FONT: Final = 16
_SUB_FONT: Final = 12.5
_ROW: Final = 17  # a legend or marker-label row
_GAP: Final = 6  # between marker labels, and between a label and another marker's line
_SAME: Final = 0.05  # seats: projections closer than this are the same line


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _f(value: float) -> str:
    return f"{value:.1f}"


def day_label(day: date) -> str:
    """``21 Aug 2024``: unambiguous in every locale, unlike 08/21."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _text_width(text: str, size: float = _FONT, *, bold: bool = False) -> float:
    """A generous estimate of the rendered width (there are no font metrics here), so
    that labels placed apart by it never touch."""
    width = sum(size * (0.36 if ch in " .,:;'il1|()" else 0.62) for ch in text)
    return width * 1.1 if bold else width


def _fit(text: str, width: float, size: float, *, bold: bool = False) -> str:
    """``text`` cut with an ellipsis to fit ``width`` (SVG text does not wrap)."""
    if _text_width(text, size, bold=bold) <= width:
        return text
    while text and _text_width(text + "…", size, bold=bold) > width:
        text = text[:-1]
    return text.rstrip() + "…"


# --- scales and ticks -------------------------------------------------------------


def _nice_step(top: float, ticks: int = 5) -> int:
    """A whole, round seat step (1, 2, 2.5, 5 times a power of ten) giving about
    ``ticks`` ticks up to ``top``."""
    raw = max(top / ticks, 1.0)
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5):
        if m * magnitude >= raw and float(m * magnitude).is_integer():
            return int(m * magnitude)
    return int(10 * magnitude)


def _month_firsts(start: date, end: date, every: int) -> list[date]:
    firsts = []
    year, month = start.year, start.month
    while date(year, month, 1) <= end:
        if date(year, month, 1) >= start and (month - 1) % every == 0:
            firsts.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return firsts


def _date_ticks(start: date, end: date, most: int) -> list[tuple[date, str]]:
    """Ticks on round days: every day, 2 days, week or fortnight (on Mondays), else on
    the first of every 1, 2, 3, 6 or 12 months; the finest that gives at most ``most``."""
    span = (end - start).days
    for step in (1, 2, 7, 14):
        if span // step + 1 <= most:
            first = start if step < 7 else start + timedelta(days=-start.weekday() % 7)
            days = [first + timedelta(days=i) for i in range(0, (end - first).days + 1, step)]
            return [(d, f"{d.day} {_MONTHS[d.month - 1]}") for d in days]
    for every in (1, 2, 3, 6, 12):
        firsts = _month_firsts(start, end, every)
        if len(firsts) <= most or every == 12:
            # The year on the first tick and on every January.
            return [(d, _MONTHS[d.month - 1] + (f" {d.year}" if i == 0 or d.month == 1
                                                 else ""))
                    for i, d in enumerate(firsts)]
    return []  # pragma: no cover (the yearly ticks always return)


@dataclasses.dataclass(frozen=True, slots=True)
class _Scale:
    start: date
    end: date
    top: int  # seats at the top of the y axis
    plot_top: float = 0.0

    @property
    def plot_bottom(self) -> float:
        return self.plot_top + _PLOT_H

    def x(self, day: date) -> float:
        span = max((self.end - self.start).days, 1)
        return _LEFT + (day - self.start).days / span * (_W - _LEFT - _RIGHT)

    def y(self, seats: float) -> float:
        return self.plot_bottom - seats / self.top * _PLOT_H


# --- what one chart draws ---------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Lines:
    history: Sequence[Point]
    projection: Sequence[Point]
    licensed: Sequence[tuple[date, int]]
    after_projection: Sequence[Point]  # empty when the scenario changes nothing here
    after_licensed: Sequence[tuple[date, int]]  # only from where it leaves `licensed`

    @property
    def points(self) -> tuple[Point, ...]:
        return (*self.history, *self.projection, *self.after_projection)


def _licensed_steps(points: Sequence[Point]) -> list[tuple[date, int]]:
    """(day, licensed) from the history and projection, one per day, history first."""
    seen: dict[date, int] = {}
    for p in points:
        seen.setdefault(p.day, p.licensed)
    return sorted(seen.items())


def _licensed_at(steps: Sequence[tuple[date, int]], day: date) -> int | None:
    """The licensed seats of a step line on ``day`` (None before it starts)."""
    i = bisect.bisect_right(steps, day, key=lambda step: step[0])
    return steps[i - 1][1] if i else None


def _used_at(points: Sequence[Point], day: date) -> float | None:
    """A projection's use on ``day``, straight between its points (the fit is a line
    between the chart's days); None outside it."""
    i = bisect.bisect_left(points, day, key=lambda p: p.day)
    if i < len(points) and points[i].day == day:
        return points[i].used
    if i == 0 or i == len(points):
        return None
    a, b = points[i - 1], points[i]
    return a.used + (b.used - a.used) * (day - a.day).days / (b.day - a.day).days


def _lines(capacity: ClassCapacity, after: ClassCapacity | None) -> _Lines:
    licensed = _licensed_steps((*capacity.history, *capacity.projection))
    if after is None:
        return _Lines(capacity.history, capacity.projection, licensed, (), ())
    # The scenario's lines only where they tell something: on top of the current ones
    # they would only hide them. The two projections may sample different days.
    steps = _licensed_steps(after.projection)
    leaves = next((i for i, (d, n) in enumerate(steps) if _licensed_at(licensed, d) != n),
                  None)
    # From the day before it leaves the current licenses, so the step itself shows.
    after_licensed = steps[max(leaves - 1, 0):] if leaves is not None else []
    moved = any(abs(p.used - now) > _SAME for p in after.projection
                if (now := _used_at(capacity.projection, p.day)) is not None)
    after_projection = after.projection if moved else ()
    return _Lines(capacity.history, capacity.projection, licensed, after_projection,
                  after_licensed)


def _scale(lines: _Lines, capacity: ClassCapacity, today: date) -> tuple[_Scale, int]:
    """The date span of every point and a round seat axis above the highest; the step."""
    points = lines.points
    days = [p.day for p in points] or [today]
    start, end = min(days), max(days)
    if end <= start:
        end = start + timedelta(days=1)
    highest = max([capacity.licensed, capacity.used,
                   *(max(p.used, p.licensed) for p in points)]) * 1.08
    step = _nice_step(highest or 1)
    return _Scale(start, end, max(step, math.ceil(highest / step) * step)), step


# --- paths ------------------------------------------------------------------------


def _step_path(s: _Scale, steps: Sequence[tuple[date, int]]) -> str:
    if not steps:
        return ""
    day, seats = steps[0]
    parts = [f"M{_f(s.x(day))},{_f(s.y(seats))}"]
    for day, licensed in steps[1:]:
        if licensed != seats:
            parts.append(f"H{_f(s.x(day))}V{_f(s.y(licensed))}")
            seats = licensed
    parts.append(f"H{_f(s.x(steps[-1][0]))}")
    return "".join(parts)


def _line_path(s: _Scale, points: Sequence[Point]) -> str:
    return "".join(f"{'M' if i == 0 else 'L'}{_f(s.x(p.day))},{_f(s.y(p.used))}"
                   for i, p in enumerate(points))


def _over_areas(s: _Scale, points: Sequence[Point]) -> list[str]:
    """Polygons between a projection and the licensed seats wherever use is above."""
    areas, run = [], []
    for p in [*points, None]:
        if p is not None and p.used > p.licensed:
            run.append(p)
            continue
        if run:
            top = " ".join(f"{_f(s.x(q.day))},{_f(s.y(q.used))}" for q in run)
            base = " ".join(f"{_f(s.x(q.day))},{_f(s.y(q.licensed))}" for q in reversed(run))
            areas.append(f"{top} {base}")
            run = []
    return areas


# --- marker labels ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Label:
    x: float  # where the marker's line is
    text: str
    colour: str
    cls: str
    prefer_left: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class _Placed:
    label: _Label
    row: int  # 0 is the row nearest the plot; a marker's line rises through rows below it
    anchor: str  # text-anchor: "start" (right of the line) or "end" (left of it)
    lo: float
    hi: float

    @property
    def text_x(self) -> float:
        return self.lo if self.anchor == "start" else self.hi


def _fits(candidate: _Placed, placed: Sequence[_Placed], left: float, right: float,
          gap: float) -> bool:
    if candidate.lo < left or candidate.hi > right:
        return False
    for other in placed:
        if other.row == candidate.row and not (candidate.hi + gap <= other.lo
                                               or candidate.lo >= other.hi + gap):
            return False
        # A marker's line crosses every row between the plot and its own label.
        below, above = (other, candidate) if other.row < candidate.row else (candidate, other)
        if below.row != above.row and below.lo - gap <= above.label.x <= below.hi + gap:
            return False
    return True


def _place_in_order(labels: Sequence[_Label], sides: Sequence[str], left: float,
                    right: float, gap: float) -> list[_Placed] | None:
    placed: list[_Placed] = []
    for label, side in zip(labels, sides, strict=True):
        width = _text_width(label.text, bold=True)
        lo = label.x + 4 if side == "start" else label.x - 4 - width
        spot = next((c for row in range(len(labels))
                     if _fits(c := _Placed(label, row, side, lo, lo + width), placed, left,
                              right, gap)), None)
        if spot is None:
            return None
        placed.append(spot)
    return placed


def _place(labels: Sequence[_Label], left: float, right: float) -> list[_Placed]:
    """Marker labels in rows above the plot, beside their lines, touching neither each
    other nor another marker's line: the fewest rows, then the most labels on their
    preferred side. There are at most three markers, so every order and every choice of
    sides is tried (48 layouts); markers a few pixels apart (dates a day or two apart)
    get no breathing space."""
    for gap in (_GAP, 0.0):
        best: tuple[tuple[int, int], list[_Placed]] | None = None
        for order in itertools.permutations(labels):
            for sides in itertools.product(("start", "end"), repeat=len(order)):
                placed = _place_in_order(order, sides, left, right, gap)
                if placed is None:
                    continue
                odd = sum((p.anchor == "start") == p.label.prefer_left for p in placed)
                score = (max((p.row for p in placed), default=0), odd)
                if best is None or score < best[0]:
                    best = (score, placed)
        if best is not None:
            return best[1]
    # Wider than the chart allows: a row each, kept inside it, whatever they cross.
    out = []
    for row, label in enumerate(labels):
        width = _text_width(label.text, bold=True)
        lo = max(min(label.x + 4, right - width), left)
        out.append(_Placed(label, row, "start", lo, lo + width))
    return out


def _markers(s: _Scale, capacity: ClassCapacity, after: ClassCapacity | None,
             today: date) -> list[_Label]:
    labels = [_Label(s.x(today), "today", MUTED, "today", prefer_left=True)]
    if capacity.exhausted_on is not None:
        labels.append(_Label(s.x(capacity.exhausted_on),
                             f"runs out {day_label(capacity.exhausted_on)}", OUT,
                             "exhaustion"))
    if after is not None and after.exhausted_on is not None \
            and after.exhausted_on != capacity.exhausted_on:
        labels.append(_Label(s.x(after.exhausted_on),
                             f"after: runs out {day_label(after.exhausted_on)}", AFTER,
                             "exhaustion after"))
    return labels


# --- the parts of a chart ---------------------------------------------------------


def _swatch(colour: str, *, dash: str = "", dot: bool = False, step: bool = False,
            width: float = 2) -> str:
    dasharray = f' stroke-dasharray="{dash}"' if dash else ""
    shape = "M0,4H10V-4H22" if step else "M0,0H22"
    mark = f'<circle cx="11" cy="0" r="2.6" fill="{colour}"/>' if dot else ""
    return (f'<path d="{shape}" fill="none" stroke="{colour}" stroke-width="{width}"'
            f'{dasharray}/>{mark}')


def _legend(lines: _Lines, marked: bool, top: float) -> tuple[list[str], float]:
    """The legend's entries in rows from ``top``; the SVG and the y below it."""
    items = [(_swatch(USED, dot=True, width=1.6), "used (observed)"),
             (_swatch(LICENSED, step=True), "licensed"),
             (_swatch(USED, dash="6 4"), "projected")]
    if lines.after_projection:
        items.append((_swatch(AFTER, dash="6 4"), "after: projected"))
    if lines.after_licensed:
        items.append((_swatch(AFTER, step=True, dash="3 3"), "after: licensed"))
    if marked:
        items.append((f'<path d="M11,-7V7" stroke="{OUT}" stroke-width="2"/>', "runs out"))
    out, x, y = ['<g class="legend">'], float(_EDGE), top
    for swatch, caption in items:
        width = 28 + _text_width(caption)
        if x + width > _W - _RIGHT and x > _EDGE:
            x, y = float(_EDGE), y + _ROW
        out.append(f'<g transform="translate({_f(x)},{_f(y)})">{swatch}'
                   f'<text x="28" y="4" fill="{_INK}">{_e(caption)}</text></g>')
        x += width + 18
    out.append("</g>")
    return out, y + 8


def _axes(s: _Scale, step: int) -> list[str]:
    """Seat ticks with grid lines, date ticks below the plot."""
    out = ['<g class="y-axis">']
    for seats in range(0, s.top + 1, step):
        y = s.y(seats)
        out.append(f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{_f(y)}" y2="{_f(y)}" '
                   f'stroke="{_GRID if seats else _AXIS}"/>'
                   f'<text x="{_LEFT - 6}" y="{_f(y + 4)}" text-anchor="end" '
                   f'fill="{MUTED}">{fmt_int(seats)}</text>')
    out += ["</g>", '<g class="x-axis">']
    for day, text in _date_ticks(s.start, s.end, max(2, (_W - _LEFT - _RIGHT) // 64)):
        x = s.x(day)
        out.append(f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(s.plot_bottom)}" '
                   f'y2="{_f(s.plot_bottom + 5)}" stroke="{_AXIS}"/>'
                   f'<text x="{_f(x)}" y="{_f(s.plot_bottom + 18)}" text-anchor="middle" '
                   f'fill="{MUTED}">{_e(text)}</text>')
    out.append("</g>")
    return out


def _marker_lines(s: _Scale, placed: Sequence[_Placed]) -> list[str]:
    out = []
    for p in placed:
        label_y = s.plot_top - 6 - p.row * _ROW
        today = p.label.cls == "today"
        dash = ' stroke-dasharray="2 3"' if today else ""
        out.append(f'<g class="{p.label.cls}"><line x1="{_f(p.label.x)}" '
                   f'x2="{_f(p.label.x)}" y1="{_f(label_y - 10)}" y2="{_f(s.plot_bottom)}" '
                   f'stroke="{p.label.colour}" stroke-width="{1 if today else 1.5}"{dash}/>'
                   f'<text x="{_f(p.text_x)}" y="{_f(label_y)}" text-anchor="{p.anchor}" '
                   f'fill="{p.label.colour}" font-weight="600">{_e(p.label.text)}</text></g>')
    return out


def _data(s: _Scale, lines: _Lines, capacity: ClassCapacity,
          after: ClassCapacity | None) -> list[str]:
    out = [f'<polygon class="over" points="{area}" fill="{OUT}" fill-opacity="0.12"/>'
           for area in _over_areas(s, lines.projection)]
    out.append(f'<path class="licensed" d="{_step_path(s, lines.licensed)}" fill="none" '
               f'stroke="{LICENSED}" stroke-width="2"/>')
    if lines.after_licensed:
        out.append(f'<path class="licensed after" d="{_step_path(s, lines.after_licensed)}" '
                   f'fill="none" stroke="{AFTER}" stroke-width="2" stroke-dasharray="3 3"/>')
    if lines.after_projection:
        out.append(f'<path class="projection after" '
                   f'd="{_line_path(s, lines.after_projection)}" fill="none" '
                   f'stroke="{AFTER}" stroke-width="2" stroke-dasharray="6 4"/>')
    if lines.projection:
        out.append(f'<path class="projection" d="{_line_path(s, lines.projection)}" '
                   f'fill="none" stroke="{USED}" stroke-width="2" stroke-dasharray="6 4"/>')
    history = lines.history
    if history:
        # Dots as big as the snapshots' spacing allows: beads on a line, not a smear.
        spacing = (s.x(history[-1].day) - s.x(history[0].day)) / max(len(history) - 1, 1)
        radius = min(2.6, max(1.0, spacing * 0.9))
        out.append(f'<g class="used"><path d="{_line_path(s, history)}" fill="none" '
                   f'stroke="{USED}" stroke-width="1.6" stroke-linejoin="round"/>')
        out += [f'<circle cx="{_f(s.x(p.day))}" cy="{_f(s.y(p.used))}" r="{radius:.1f}" '
                f'fill="{USED}"/>' for p in history]
        out.append("</g>")
    crossings = [(capacity, OUT)]
    if after is not None and after.exhausted_on != capacity.exhausted_on:
        crossings.append((after, AFTER))
    for marked, colour in crossings:
        where = next((p for p in marked.projection if p.day == marked.exhausted_on), None)
        if where is not None:
            out.append(f'<circle class="crossing" cx="{_f(s.x(where.day))}" '
                       f'cy="{_f(s.y(where.licensed))}" r="4.5" fill="#fff" '
                       f'stroke="{colour}" stroke-width="2"/>')
    return out


# --- the chart --------------------------------------------------------------------


def chartable(capacity: ClassCapacity) -> bool:
    """False for a class with nothing licensed and nothing used, ever: no chart."""
    points = (*capacity.history, *capacity.projection)
    return bool(capacity.licensed or capacity.used
                or any(p.licensed or p.used for p in points))


def _subtitle(capacity: ClassCapacity, after: ClassCapacity | None, lines: _Lines,
              horizon_end: date) -> str:
    """One line: today's use, the growth, the day it runs out (and the what-if's)."""

    def fate(c: ClassCapacity) -> str:
        if c.exhausted_on is None:
            return f"enough to {day_label(horizon_end)}"
        return f"runs out {day_label(c.exhausted_on)}"

    growth = fmt_growth(capacity.growth_per_day)
    text = (f"{fmt_int(capacity.used)} of {fmt_int(capacity.licensed)} used, "
            f"{'no growth' if growth == '0' else growth + ' a day'}, {fate(capacity)}")
    if after is not None and after.exhausted_on != capacity.exhausted_on:
        text += f" (after: {fate(after)})"
    elif after is not None and not (lines.after_projection or lines.after_licensed):
        text += " (after: no change)"
    return text


def class_chart(*, title: str, capacity: ClassCapacity, after: ClassCapacity | None,
                today: date, horizon_end: date, data_class: str, ident: str) -> str:
    """The chart of one pool's seat class as an ``<svg>`` element.

    ``after`` is the same class after a what-if (None without one); ``ident`` must be
    unique in the page (the chart's accessible title refers to it); ``data_class`` is
    written as ``data-class`` for whoever looks the charts up.
    """
    lines = _lines(capacity, after)
    s, step = _scale(lines, capacity, today)
    marked = capacity.exhausted_on is not None or (after is not None
                                                   and after.exhausted_on is not None)
    legend, legend_bottom = _legend(lines, marked, 64)
    # Not left of the seat labels' column: "today" at the left edge goes to the right.
    placed = _place(_markers(s, capacity, after, today), _LEFT - 10, _W - 4)
    rows = max(p.row for p in placed) + 1
    s = dataclasses.replace(s, plot_top=legend_bottom + rows * _ROW + 6)
    height = s.plot_bottom + _BOTTOM
    sub = _subtitle(capacity, after, lines, horizon_end)
    # The projected stretch is shaded, so observed and projected read apart at a glance.
    x_today = min(max(s.x(today), _LEFT), _W - _RIGHT)
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-class="{_e(data_class)}"'
        f' viewBox="0 0 {_W} {_f(height)}" width="{_W}" height="{_f(height)}" role="img"'
        f' aria-labelledby="{_e(ident)}-t" font-size="{_FONT}"'
        f' font-family="system-ui, -apple-system, \'Segoe UI\', Roboto, Arial, sans-serif">',
        f'<title id="{_e(ident)}-t">{_e(title)}: {_e(sub)}</title>',
        f'<text x="{_EDGE}" y="22" font-size="{_TITLE_FONT}" font-weight="600" '
        f'fill="{_INK}">{_e(_fit(title, _W - 2 * _EDGE, _TITLE_FONT, bold=True))}</text>',
        f'<text x="{_EDGE}" y="42" font-size="{_SUB_FONT}" fill="{MUTED}">'
        f"{_e(_fit(sub, _W - 2 * _EDGE, _SUB_FONT))}</text>",
        *legend,
        f'<rect class="future" x="{_f(x_today)}" y="{_f(s.plot_top)}" '
        f'width="{_f(_W - _RIGHT - x_today)}" height="{_PLOT_H}" fill="#f3f4f6"/>',
        *_axes(s, step),
        *_marker_lines(s, placed),
        *_data(s, lines, capacity, after),
        "</svg>",
    ])
