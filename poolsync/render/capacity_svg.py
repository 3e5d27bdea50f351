"""One seat class's capacity chart, drawn with matplotlib and inlined as SVG.

The chart shows observed use (a line with a dot per snapshot), the licensed seats (a
step line: licenses start and expire), the fitted projection to the horizon (dashed,
over a shaded "future"), the day it runs out (a red marker, the overage shaded) and,
with a what-if, the scenario's projection and licensed seats in orange. It only draws
what the capacity core computed; nothing is fitted or decided here.

matplotlib draws on a :class:`~matplotlib.figure.Figure` of its own (no pyplot, no
global figure state) and writes SVG with its text as paths, so the page needs no font
and the same report gives the same bytes. The SVG is meant to sit inside an HTML page
(:mod:`poolsync.render.capacity_html`): its prolog is dropped, its ids are prefixed
with the chart's own id (several charts share a page) and the groups a reader or a
test looks for carry a ``class``.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import html
import io
import itertools
import re
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, Final

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.textpath import text_to_path
from matplotlib.ticker import MaxNLocator, StrMethodFormatter
from matplotlib.transforms import ScaledTranslation, Transform

from poolsync.capacity.model import ClassCapacity, Point
from poolsync.render.capacity_format import fmt_growth, fmt_int

__all__ = ["chartable", "class_chart", "day_label"]

_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)

# Blue for what happened and the fit, dark grey for licenses, red for running out,
# orange for the what-if: they stay apart for the common colour blindnesses too, and
# match the page's tables (red "runs out" cells, orange "after" columns).
USED: Final = "#2563eb"
LICENSED: Final = "#374151"
OUT: Final = "#dc2626"
AFTER: Final = "#ea580c"
MUTED: Final = "#6b7280"
_GRID: Final = "#e5e7eb"
_AXIS: Final = "#9ca3af"
_INK: Final = "#111827"
_FUTURE: Final = "#f3f4f6"

# Lengths in points; the figure is drawn at 72 dpi, so a point is a unit of the SVG's
# viewBox (the page scales the chart to its column).
_DPI: Final = 72
_W: Final = 600
_LEFT: Final = 58  # room for seat tick labels, at least
_RIGHT: Final = 20
_EDGE: Final = 12  # title, subtitle and legend start here
_PLOT_H: Final = 230
_BOTTOM: Final = 64  # room for date tick labels, the year below them, the axis title
_AXIS_TITLE: Final = 16  # room left of the seat labels for the rotated "seats" title
_LEGEND_TOP: Final = 54
_FONT: Final = 11.0  # tick labels
_LEGEND_FONT: Final = 12.0
_LABEL_FONT: Final = 12.0  # marker labels
_TITLE_FONT: Final = 16.0
_SUB_FONT: Final = 12.5
_ROW: Final = 17  # a marker-label row
_GAP: Final = 6  # between marker labels, and between a label and another marker's line
_SAME: Final = 0.05  # seats: projections closer than this are the same line

_FAMILY: Final = "DejaVu Sans"  # bundled with matplotlib: the same on every machine
#: No creator, date or format block: nothing that changes between runs, and no URLs.
_METADATA: Final[dict[str, str | None]] = {
    "Creator": None,
    "Date": None,
    "Format": None,
    "Type": None,
}

#: matplotlib gives an artist an ``id`` (its ``gid``); these also get a ``class``.
_CLASSES: Final = {
    "legend": "legend",
    "x-axis": "x-axis",
    "y-axis": "y-axis",
    "future": "future",
    "over": "over",
    "used": "used",
    "licensed": "licensed",
    "licensed-after": "licensed after",
    "projection": "projection",
    "projection-after": "projection after",
    "today": "today",
    "exhaustion": "exhaustion",
    "exhaustion-after": "exhaustion after",
    "today-label": "label today",
    "exhaustion-label": "label exhaustion",
    "exhaustion-after-label": "label exhaustion after",
    "crossing": "crossing",
    "crossing-after": "crossing after",
    "title": "title",
    "subtitle": "subtitle",
}


def day_label(day: date) -> str:
    """``21 Aug 2024``: unambiguous in every locale, unlike 08/21."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


@functools.cache
def _font(size: float, *, bold: bool = False) -> FontProperties:
    return FontProperties(family=_FAMILY, size=size, weight="bold" if bold else "normal")


def _text_width(text: str, size: float = _LABEL_FONT, *, bold: bool = False) -> float:
    """The width in points of ``text`` as matplotlib lays it out as paths."""
    width, _, _ = text_to_path.get_text_width_height_descent(
        text, _font(size, bold=bold), ismath=False
    )
    return float(width)


def _fit(text: str, width: float, size: float, *, bold: bool = False) -> str:
    """``text`` cut with an ellipsis to fit ``width`` (a figure's text does not wrap)."""
    if _text_width(text, size, bold=bold) <= width:
        return text
    while text and _text_width(text + "…", size, bold=bold) > width:
        text = text[:-1]
    return text.rstrip() + "…"


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
    leaves = next((i for i, (d, n) in enumerate(steps) if _licensed_at(licensed, d) != n), None)
    # From the day before it leaves the current licenses, so the step itself shows.
    after_licensed = steps[max(leaves - 1, 0) :] if leaves is not None else []
    moved = any(
        abs(p.used - now) > _SAME
        for p in after.projection
        if (now := _used_at(capacity.projection, p.day)) is not None
    )
    after_projection = after.projection if moved else ()
    return _Lines(capacity.history, capacity.projection, licensed, after_projection, after_licensed)


# --- marker labels ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Label:
    x: float  # where the marker's line is, in points from the figure's left
    text: str
    colour: str
    gid: str
    width: float  # of the text, in points
    prefer_left: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class _Placed:
    label: _Label
    row: int  # 0 is the row nearest the plot; a marker's line rises through rows below it
    anchor: str  # "start" (right of the line) or "end" (left of it)
    lo: float
    hi: float


def _fits(
    candidate: _Placed, placed: Sequence[_Placed], left: float, right: float, gap: float
) -> bool:
    if candidate.lo < left or candidate.hi > right:
        return False
    for other in placed:
        if other.row == candidate.row and not (
            candidate.hi + gap <= other.lo or candidate.lo >= other.hi + gap
        ):
            return False
        # A marker's line crosses every row between the plot and its own label.
        below, above = (other, candidate) if other.row < candidate.row else (candidate, other)
        if below.row != above.row and below.lo - gap <= above.label.x <= below.hi + gap:
            return False
    return True


def _place_in_order(
    labels: Sequence[_Label], sides: Sequence[str], left: float, right: float, gap: float
) -> list[_Placed] | None:
    placed: list[_Placed] = []
    for label, side in zip(labels, sides, strict=True):
        lo = label.x + 4 if side == "start" else label.x - 4 - label.width
        spot = next(
            (
                c
                for row in range(len(labels))
                if _fits(
                    c := _Placed(label, row, side, lo, lo + label.width), placed, left, right, gap
                )
            ),
            None,
        )
        if spot is None:
            return None
        placed.append(spot)
    return placed


def _place(labels: Sequence[_Label], left: float, right: float) -> list[_Placed]:
    """Marker labels in rows above the plot, beside their lines, touching neither each
    other nor another marker's line: the fewest rows, then the most labels on their
    preferred side. There are at most three markers, so every order and every choice of
    sides is tried (48 layouts); markers a few points apart (dates a day or two apart)
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
        lo = max(min(label.x + 4, right - label.width), left)
        out.append(_Placed(label, row, "start", lo, lo + label.width))
    return out


def _markers(
    ax: Axes, capacity: ClassCapacity, after: ClassCapacity | None, today: date
) -> list[_Label]:
    def label(day: date, text: str, colour: str, gid: str, *, prefer_left: bool = False) -> _Label:
        x = float(ax.transData.transform((date2num(day), 0.0))[0])
        return _Label(x, text, colour, gid, _text_width(text, bold=True), prefer_left)

    labels = [label(today, "today", MUTED, "today", prefer_left=True)]
    if capacity.exhausted_on is not None:
        labels.append(
            label(
                capacity.exhausted_on,
                f"runs out {day_label(capacity.exhausted_on)}",
                OUT,
                "exhaustion",
            )
        )
    if (
        after is not None
        and after.exhausted_on is not None
        and after.exhausted_on != capacity.exhausted_on
    ):
        labels.append(
            label(
                after.exhausted_on,
                f"after: runs out {day_label(after.exhausted_on)}",
                AFTER,
                "exhaustion-after",
            )
        )
    return labels


def _draw_markers(fig: Figure, ax: Axes, placed: Sequence[_Placed]) -> None:
    """Each marker's line from the plot's bottom up to its label's row, and the label."""
    for p in placed:
        above = 6 + p.row * _ROW  # the label's baseline, above the plot
        today = p.label.gid == "today"
        x = float(ax.transData.inverted().transform((p.label.x, 0.0))[0])  # in days
        ax.axvline(
            x,
            ymax=1 + (above + 10) / _PLOT_H,
            color=p.label.colour,
            linewidth=1 if today else 1.5,
            linestyle=(0, (2, 3)) if today else "-",
            clip_on=False,
            zorder=2.5,
            gid=p.label.gid,
        )
        shift = 4 if p.anchor == "start" else -4
        ax.text(
            x,
            1,
            p.label.text,
            color=p.label.colour,
            fontsize=_LABEL_FONT,
            fontweight="bold",
            ha="left" if p.anchor == "start" else "right",
            va="baseline",
            parse_math=False,
            clip_on=False,
            gid=f"{p.label.gid}-label",
            transform=ax.get_xaxis_transform() + _shift(fig, shift, above),
        )


# --- the parts of a chart ---------------------------------------------------------


def _shift(fig: Figure, dx: float, dy: float) -> Transform:
    """Moves by (dx, dy) points, up for a positive dy."""
    return ScaledTranslation(dx / _DPI, dy / _DPI, fig.dpi_scale_trans)


def _from_top(fig: Figure, x: float, y: float) -> Transform:
    """Puts (0, 1) ``x`` points right of the figure's left and ``y`` below its top,
    however tall the figure turns out."""
    return fig.transFigure + _shift(fig, x, -y)


def _legend_entries(lines: _Lines, marked: bool) -> list[tuple[Line2D, str]]:
    def line(colour: str, **style: Any) -> Line2D:
        return Line2D([], [], color=colour, **style)

    dashed = (0, (3, 2))  # dashes scale with the line width: 6 and 4 points
    items = [
        (
            line(USED, linewidth=1.6, marker="o", markersize=4.5, markeredgewidth=0),
            "used (observed)",
        ),
        (line(LICENSED, linewidth=2), "licensed"),
        (line(USED, linewidth=2, linestyle=dashed), "projected"),
    ]
    if lines.after_projection:
        items.append((line(AFTER, linewidth=2, linestyle=dashed), "after: projected"))
    if lines.after_licensed:
        items.append((line(AFTER, linewidth=2, linestyle=(0, (1.5, 1.5))), "after: licensed"))
    if marked:
        items.append(
            (line(OUT, linestyle="none", marker="|", markersize=14, markeredgewidth=2), "runs out")
        )
    return items


def _legend(fig: Figure, entries: Sequence[tuple[Line2D, str]]) -> tuple[Legend, float]:
    """The legend under the subtitle in as few rows as fit the width, read row by row;
    the legend and its height in points."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    for columns in range(len(entries), 0, -1):
        # matplotlib fills a legend column by column: hand it the entries so that
        # its columns read as rows.
        ordered = [e for j in range(columns) for e in entries[j::columns]]
        legend = fig.legend(
            [h for h, _ in ordered],
            [t for _, t in ordered],
            loc="upper left",
            bbox_to_anchor=(0, 1),
            bbox_transform=_from_top(fig, _EDGE, _LEGEND_TOP),
            ncols=columns,
            frameon=False,
            fontsize=_LEGEND_FONT,
            labelcolor=_INK,
            borderpad=0,
            borderaxespad=0,
            handlelength=2.2,
            handletextpad=0.6,
            columnspacing=1.6,
            labelspacing=0.35,
        )
        extent = legend.get_window_extent(renderer)
        if extent.width <= _W - _EDGE - _RIGHT or columns == 1:
            legend.set_gid("legend")
            return legend, float(extent.height)
        legend.remove()
    raise AssertionError("unreachable: one column always returns")  # pragma: no cover


def _seats(highest: float) -> tuple[MaxNLocator, float]:
    """Seat ticks on round numbers (1, 2, 2.5 or 5 times a power of ten), and the top
    of the axis: the first tick at or above ``highest``."""
    seats = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10], integer=True, min_n_ticks=3)
    return seats, float(max(seats.tick_values(0, max(highest, 1.0))[-1], 1))


def _style_axes(ax: Axes, seats: MaxNLocator, top: float, start: date, end: date) -> None:
    """Seat ticks with grid lines, the top on a tick; date ticks on round days or
    months, the year once below them."""
    ax.set_ylim(0, top)
    ax.yaxis.set_major_locator(seats)
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    days = AutoDateLocator(minticks=3, maxticks=10)
    ax.set_xlim(date2num(start), date2num(end))
    ax.xaxis.set_major_locator(days)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(days))
    ax.xaxis.set_gid("x-axis")
    ax.yaxis.set_gid("y-axis")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color(_AXIS)
    ax.grid(axis="y", color=_GRID, linewidth=1)
    ax.set_axisbelow(True)
    ax.tick_params(axis="y", length=0, pad=6, labelcolor=MUTED, labelsize=_FONT)
    ax.tick_params(axis="x", length=5, color=_AXIS, labelcolor=MUTED, labelsize=_FONT)
    ax.xaxis.get_offset_text().set(color=MUTED, fontsize=_FONT)
    ax.set_ylabel("seats", color=MUTED, fontsize=_FONT, labelpad=4)
    ax.set_xlabel("date", color=MUTED, fontsize=_FONT, labelpad=2, loc="right")
    ax.set_facecolor("none")


def _days(points: Sequence[Point]) -> list[float]:
    return [float(date2num(p.day)) for p in points]


def _draw_data(
    ax: Axes, lines: _Lines, capacity: ClassCapacity, after: ClassCapacity | None
) -> None:
    dashed = (0, (3, 2))
    projection = lines.projection
    if projection:
        used = [p.used for p in projection]
        licensed = [float(p.licensed) for p in projection]
        ax.fill_between(
            _days(projection),
            used,
            licensed,
            where=[u > n for u, n in zip(used, licensed, strict=True)],
            interpolate=True,
            color=OUT,
            alpha=0.12,
            linewidth=0,
            gid="over",
        )
    steps = [(float(date2num(d)), n) for d, n in lines.licensed]
    if steps:  # on to the axis' end: a single snapshot's licenses make a line too
        steps.append((max(steps[-1][0], ax.get_xlim()[1]), steps[-1][1]))
    ax.plot(
        [d for d, _ in steps],
        [n for _, n in steps],
        drawstyle="steps-post",
        color=LICENSED,
        linewidth=2,
        gid="licensed",
    )
    if lines.after_licensed:
        ax.plot(
            [float(date2num(d)) for d, _ in lines.after_licensed],
            [n for _, n in lines.after_licensed],
            drawstyle="steps-post",
            color=AFTER,
            linewidth=2,
            linestyle=(0, (1.5, 1.5)),
            gid="licensed-after",
        )
    if lines.after_projection:
        ax.plot(
            _days(lines.after_projection),
            [p.used for p in lines.after_projection],
            color=AFTER,
            linewidth=2,
            linestyle=dashed,
            gid="projection-after",
        )
    if projection:
        ax.plot(
            _days(projection),
            [p.used for p in projection],
            color=USED,
            linewidth=2,
            linestyle=dashed,
            gid="projection",
        )
    history = lines.history
    if history:
        # Dots as big as the snapshots' spacing allows: beads on a line, not a smear.
        left, right = ax.transData.transform(
            [(date2num(history[0].day), 0), (date2num(history[-1].day), 0)]
        )[:, 0]
        spacing = (right - left) / (len(history) - 1) if len(history) > 1 else 5.2
        ax.plot(
            _days(history),
            [p.used for p in history],
            color=USED,
            linewidth=1.6,
            marker="o",
            markersize=min(5.2, max(2.0, spacing * 1.8)),
            markeredgewidth=0,
            solid_joinstyle="round",
            clip_on=False,
            gid="used",
        )
    crossings = [(capacity, OUT, "crossing")]
    if after is not None and after.exhausted_on != capacity.exhausted_on:
        crossings.append((after, AFTER, "crossing-after"))
    for marked, colour, gid in crossings:
        where = next((p for p in marked.projection if p.day == marked.exhausted_on), None)
        if where is not None:
            ax.plot(
                [date2num(where.day)],
                [where.licensed],
                linestyle="none",
                marker="o",
                markersize=9,
                markerfacecolor="#ffffff",
                markeredgecolor=colour,
                markeredgewidth=2,
                clip_on=False,
                zorder=4,
                gid=gid,
            )


def chartable(capacity: ClassCapacity) -> bool:
    """False for a class with nothing licensed and nothing used, ever: no chart."""
    points = (*capacity.history, *capacity.projection)
    return bool(capacity.licensed or capacity.used or any(p.licensed or p.used for p in points))


def _subtitle(
    capacity: ClassCapacity, after: ClassCapacity | None, lines: _Lines, horizon_end: date
) -> str:
    """One line: today's use, the growth, the day it runs out (and the what-if's)."""

    def fate(c: ClassCapacity) -> str:
        if c.exhausted_on is None:
            return f"enough to {day_label(horizon_end)}"
        return f"runs out {day_label(c.exhausted_on)}"

    growth = fmt_growth(capacity.growth_per_day)
    text = (
        f"{fmt_int(capacity.used)} of {fmt_int(capacity.licensed)} used, "
        f"{'no growth' if growth == '0' else growth + ' a day'}, {fate(capacity)}"
    )
    if after is not None and after.exhausted_on != capacity.exhausted_on:
        text += f" (after: {fate(after)})"
    elif after is not None and not (lines.after_projection or lines.after_licensed):
        text += " (after: no change)"
    return text


# --- the chart --------------------------------------------------------------------


def _figure(
    *,
    title: str,
    capacity: ClassCapacity,
    after: ClassCapacity | None,
    today: date,
    horizon_end: date,
) -> Figure:
    """The chart as a matplotlib figure (drawn in :func:`class_chart`'s ``rc_context``)."""
    lines = _lines(capacity, after)
    days = [p.day for p in lines.points] or [today]
    start, end = min(days), max(days)
    end = max(end, start + timedelta(days=7))  # days on the axis, never hours
    seats, top = _seats(
        max([capacity.licensed, capacity.used, *(max(p.used, p.licensed) for p in lines.points)])
        * 1.08
    )
    # Room for the widest seat label (the top one's), never less than usual.
    left = max(_LEFT, _EDGE + _text_width(f"{top:,.0f}", _FONT) + 6) + _AXIS_TITLE

    fig = Figure(figsize=(_W / _DPI, 4), dpi=_DPI, facecolor="#ffffff")
    # Where the plot goes across is known now; how far down only once the legend and
    # the marker labels above it are laid out.
    ax = fig.add_axes((left / _W, 0.1, (_W - left - _RIGHT) / _W, 0.5))
    _style_axes(ax, seats, top, start, end)

    sub = _subtitle(capacity, after, lines, horizon_end)
    fig.text(
        0,
        1,
        _fit(title, _W - 2 * _EDGE, _TITLE_FONT, bold=True),
        transform=_from_top(fig, _EDGE, 22),
        fontsize=_TITLE_FONT,
        fontweight="bold",
        color=_INK,
        parse_math=False,
        gid="title",
    )
    fig.text(
        0,
        1,
        _fit(sub, _W - 2 * _EDGE, _SUB_FONT),
        transform=_from_top(fig, _EDGE, 42),
        fontsize=_SUB_FONT,
        color=MUTED,
        parse_math=False,
        gid="subtitle",
    )
    marked = capacity.exhausted_on is not None or (
        after is not None and after.exhausted_on is not None
    )
    _, legend_height = _legend(fig, _legend_entries(lines, marked))

    # Not left of the seat labels' column: "today" at the left edge goes to the right.
    placed = _place(_markers(ax, capacity, after, today), left - 10, _W - 4)
    rows = max(p.row for p in placed) + 1
    plot_top = _LEGEND_TOP + legend_height + rows * _ROW + 10
    height = plot_top + _PLOT_H + _BOTTOM
    fig.set_size_inches(_W / _DPI, height / _DPI)
    ax.set_position((left / _W, _BOTTOM / height, (_W - left - _RIGHT) / _W, _PLOT_H / height))

    # The projected stretch is shaded, so observed and projected read apart at a glance.
    if start <= today < end:
        ax.axvspan(
            float(date2num(today)),
            float(date2num(end)),
            color=_FUTURE,
            linewidth=0,
            zorder=0,
            gid="future",
        )
    _draw_markers(fig, ax, placed)
    _draw_data(ax, lines, capacity, after)
    return fig


_ROOT: Final = re.compile(r"\A.*?<svg\b([^>]*)>", flags=re.DOTALL)
_STYLE: Final = re.compile(r"\s*<defs>\s*<style\b[^>]*>.*?</style>\s*</defs>", flags=re.DOTALL)
_ID: Final = re.compile(r'\bid="([^"]+)"')
_REF: Final = re.compile(r'(xlink:href="#|url\(#)')


def _inline(svg: str, *, ident: str, data_class: str, title: str) -> str:
    """matplotlib's SVG document as an element for a page: no prolog or DOCTYPE, the
    chart's own id prefixed to every id (and every reference to one), a ``class`` on
    the groups listed in :data:`_CLASSES`, an accessible title, and without its
    ``*`` style rule (inline, it would apply to the whole page; the page's CSS has it
    for the charts)."""
    prefix = html.escape(ident, quote=True)

    def tagged(match: re.Match[str]) -> str:
        gid = match.group(1)
        css = _CLASSES.get(gid)
        return f'id="{prefix}-{gid}"' + (f' class="{css}"' if css else "")

    body = _STYLE.sub("", _ID.sub(tagged, svg), count=1)
    body = _REF.sub(lambda m: f"{m.group(1)}{prefix}-", body)
    return _ROOT.sub(
        lambda m: (
            f'<svg id="{prefix}" class="chart" data-class="{html.escape(data_class)}" '
            f'role="img" aria-labelledby="{prefix}-t"{m.group(1)}>\n'
            f'<title id="{prefix}-t">{html.escape(title, quote=False)}</title>'
        ),
        body,
        count=1,
    ).strip()


def class_chart(
    *,
    title: str,
    capacity: ClassCapacity,
    after: ClassCapacity | None,
    today: date,
    horizon_end: date,
    data_class: str,
    ident: str,
) -> str:
    """The chart of one pool's seat class as an ``<svg>`` element.

    ``after`` is the same class after a what-if (None without one); ``ident`` must be
    unique in the page (the chart's ids and accessible title derive from it);
    ``data_class`` is written as ``data-class`` for whoever looks the charts up.
    """
    # Set for this drawing only. The bundled font as paths: no font in the page. A fixed
    # salt for the ids matplotlib hashes: the same chart gives the same bytes.
    with mpl.rc_context(
        {
            "svg.fonttype": "path",
            "svg.hashsalt": "poolsync",
            "font.family": _FAMILY,
            "font.size": _FONT,
            "axes.unicode_minus": False,
        }
    ):
        fig = _figure(
            title=title, capacity=capacity, after=after, today=today, horizon_end=horizon_end
        )
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata=_METADATA)
    sub = _subtitle(capacity, after, _lines(capacity, after), horizon_end)
    return _inline(out.getvalue(), ident=ident, data_class=data_class, title=f"{title}: {sub}")
