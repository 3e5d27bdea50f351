"""The capacity report's JSON contract, CSV, Markdown, text and self-contained HTML.

:func:`sample_report` builds by hand what the capacity maths would give for a small
forest (the integration test renders it in a real browser): 90 days of history, one pool
of three servers, VM seats running out within the 180-day horizon, a VM add-on that
started during the window, and a what-if that buys seats but onboards a new site.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import re
from datetime import date
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import matplotlib.dates as mdates
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.axes import Axes

from poolsync.capacity.model import (
    ClassCapacity,
    Point,
    ServerCapacity,
)
from poolsync.render.capacity import (
    CSV_COLUMNS,
    capacity_csv,
    capacity_html,
    capacity_json,
    capacity_md,
    capacity_table,
)
from poolsync.render.capacity_svg import (
    _LEFT,
    _W,
    _figure,
    _Label,
    _place,
    _text_width,
    class_chart,
)
from tests.support.capacity_reports import (
    HORIZON,
    HOSTILE,
    INBOX,
    POOL,
    SCENARIO,
    TODAY,
    UM,
    VM,
    day_at,
    hostile_report,
    sample_report,
)

# --- JSON -------------------------------------------------------------------------

CLASS_KEYS = {
    "licensed",
    "used",
    "headroom",
    "growth_per_day",
    "exhausted_on",
    "days_left",
    "seats_needed",
}


def _check_pool_shape(pool: dict[str, object]) -> None:
    assert set(pool) >= {"id", "classes", "servers"}
    classes = pool["classes"]
    assert isinstance(classes, dict) and list(classes) == ["vm", "um", "inbox"]
    for values in classes.values():
        assert set(values) >= CLASS_KEYS
        _check_class_types(values)
    servers = pool["servers"]
    assert isinstance(servers, list) and servers
    for server in servers:
        assert set(server) >= {"name", "classes", "limits"}
        assert isinstance(server["limits"], list)
        for values in server["classes"].values():
            assert set(values) >= CLASS_KEYS | {"to_move"}
            assert isinstance(values["to_move"], int)
            _check_class_types(values)


def _check_class_types(values: dict[str, object]) -> None:
    for key in ("licensed", "used", "headroom", "seats_needed"):
        assert isinstance(values[key], int) and not isinstance(values[key], bool)
    assert isinstance(values["growth_per_day"], float)
    assert values["growth_per_day"] == round(values["growth_per_day"], 4)
    if values["exhausted_on"] is None:
        assert values["days_left"] is None
    else:
        assert isinstance(values["exhausted_on"], str)
        date.fromisoformat(values["exhausted_on"])
        assert isinstance(values["days_left"], int)


def test_json_contract() -> None:
    doc = capacity_json(sample_report())
    assert set(doc) >= {
        "meta",
        "today",
        "window_days",
        "horizon_days",
        "pools",
        "recommendations",
        "what_if",
        "notes",
    }
    assert doc["meta"] == {
        "type": "capacity-report",
        "version": 1,
        "generated": "2024-05-01T06:00:00+00:00",
    }
    assert (doc["today"], doc["window_days"], doc["horizon_days"]) == ("2024-05-01", 90, 180)
    assert len(doc["pools"]) == 1
    _check_pool_shape(doc["pools"][0])
    for rec in doc["recommendations"]:
        assert set(rec) == {"urgency", "text"} and rec["urgency"] in {"high", "medium", "low"}
    what_if = doc["what_if"]
    assert set(what_if) >= {"scenario", "applied", "pools", "recommendations"}
    assert what_if["scenario"] == SCENARIO
    assert len(what_if["applied"]) == 2
    _check_pool_shape(what_if["pools"][0])
    assert doc["notes"] == list(sample_report().notes)
    assert json.loads(json.dumps(doc)) == doc


def test_json_values_exhaustion_and_null() -> None:
    doc = capacity_json(sample_report())
    vm, um = doc["pools"][0]["classes"]["vm"], doc["pools"][0]["classes"]["um"]
    report_vm = sample_report().pools[0].classes[VM]
    assert vm["exhausted_on"] == report_vm.exhausted_on.isoformat()  # type: ignore[union-attr]
    assert vm["days_left"] == report_vm.days_left and vm["days_left"] > 0
    assert vm["seats_needed"] > 0
    assert vm["growth_per_day"] == 1.25
    assert um["exhausted_on"] is None and um["days_left"] is None and um["seats_needed"] == 0
    a = doc["pools"][0]["servers"][0]
    assert a["name"] == "UNITY-A" and a["classes"]["vm"]["to_move"] == 41
    assert len(a["limits"]) == 1
    assert [r["urgency"] for r in doc["recommendations"]] == ["high", "medium", "low"]


def test_json_growth_rounding_and_no_what_if() -> None:
    report = sample_report()
    pool = report.pools[0]
    odd = dataclasses.replace(pool.classes[VM], growth_per_day=1 / 3)
    negative_zero = dataclasses.replace(pool.classes[UM], growth_per_day=-0.00001)
    report = dataclasses.replace(
        report,
        what_if=None,
        pools=(dataclasses.replace(pool, classes={VM: odd, UM: negative_zero}),),
    )
    doc = capacity_json(report)
    assert doc["what_if"] is None
    assert doc["pools"][0]["classes"]["vm"]["growth_per_day"] == 0.3333
    assert json.dumps(doc["pools"][0]["classes"]["um"]["growth_per_day"]) == "0.0"
    # Every class, in order; one without history is all zeros, not missing.
    assert list(doc["pools"][0]["classes"]) == ["vm", "um", "inbox"]
    assert doc["pools"][0]["classes"]["inbox"] == {
        "licensed": 0,
        "used": 0,
        "headroom": 0,
        "growth_per_day": 0.0,
        "exhausted_on": None,
        "days_left": None,
        "seats_needed": 0,
    }


# --- CSV --------------------------------------------------------------------------


def test_csv_header_and_rows() -> None:
    report = sample_report()
    rows = list(csv.reader(io.StringIO(capacity_csv(report))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0] == [
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
    ]
    # (1 pool + 3 servers) x 3 classes, today and after the scenario.
    assert len(rows) == 1 + 2 * 4 * 3
    records = list(csv.DictReader(io.StringIO(capacity_csv(report))))
    current = [r for r in records if r["scenario"] == ""]
    after = [r for r in records if r["scenario"] == SCENARIO]
    assert len(current) == len(after) == 12
    pool_vm = next(r for r in current if r["server"] == "" and r["class"] == "vm")
    assert pool_vm["pool"] == POOL and pool_vm["to_move"] == ""
    assert pool_vm["exhausted_on"] == report.pools[0].classes[VM].exhausted_on.isoformat()  # type: ignore[union-attr]
    pool_um = next(r for r in current if r["server"] == "" and r["class"] == "um")
    assert pool_um["exhausted_on"] == "" and pool_um["days_left"] == ""
    a_vm = next(r for r in current if r["server"] == "UNITY-A" and r["class"] == "vm")
    assert a_vm["to_move"] == "41" and a_vm["growth_per_day"] == "0.6"


def test_csv_without_what_if() -> None:
    report = dataclasses.replace(sample_report(), what_if=None)
    assert len(capacity_csv(report).splitlines()) == 1 + 12


# --- Markdown ---------------------------------------------------------------------


def test_md_tables_ranking_and_what_if() -> None:
    report = sample_report()
    text = capacity_md(report)
    assert text.startswith("# Capacity report, 2024-05-01\n")
    lines = text.splitlines()
    headers = [line for line in lines if line.startswith("| ")]
    assert (
        "| Class | Licensed | Used | Headroom | Growth/day | Runs out | Days left | "
        "Seats to add |" in headers
    )
    assert any(line.startswith("| Server | Class |") for line in headers)
    assert (
        "| | VM before | VM after | UM before | UM after | Inbox before | Inbox after |".replace(
            "| |", "|  |"
        )
        in lines
    )
    vm = report.pools[0].classes[VM]
    runs_out = next(line for line in lines if line.startswith("| Runs out |"))
    assert runs_out.split(" | ")[1:3] == [str(vm.exhausted_on), "2024-09-30"]
    ranked = [line for line in lines if re.match(r"\d+\. \*\*", line)]
    assert [r.split("**")[1] for r in ranked[:3]] == ["HIGH", "MEDIUM", "LOW"]
    assert "## What if: scenarios/buy-vm-new-site.yaml" in lines
    assert "- Add 200 VM seats to UNITY\\-B from 2024-06-01." not in lines  # '-' stays
    assert "- Add 200 VM seats to UNITY-B from 2024-06-01." in lines
    # Every table row has as many cells as its header.
    for line in lines:
        if line.startswith("|"):
            assert line.endswith("|")


def test_md_escapes_names() -> None:
    text = capacity_md(hostile_report())
    assert HOSTILE not in text
    assert "\\<script\\>alert(1)\\</script\\>" in text
    for line in text.splitlines():
        if line.startswith("| " + "\\<script"):
            assert line.count(" | ") == 9  # the name did not open a cell of its own


def test_md_and_csv_carry_no_control_character() -> None:
    """ESC and BEL in a name would reach the terminal of whoever cats the report."""
    controls = "UNITY-\x1b]0;owned\x07C\x1b[2J\x9b"
    report = sample_report(names={"UNITY-C": controls, POOL: f"pool\x1b[31m{POOL}"})
    for text in (capacity_md(report), capacity_csv(report)):
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", text.replace("\r\n", "\n"))
        shown = text.replace("\\[", "[").replace("\\]", "]")  # Markdown's escapes
        assert "UNITY-\\x1b]0;owned\\x07C\\x1b[2J\\x9b" in shown


# --- text -------------------------------------------------------------------------


def test_table_recommendations_first_most_urgent_first() -> None:
    text = capacity_table(sample_report(), width=100)
    lines = text.splitlines()
    assert lines[2] == "Recommendations (most urgent first):"
    heads = [
        line.split()[0]
        for line in lines[3:]
        if line.startswith("  ") and line.split()[0] in {"HIGH", "MEDIUM", "LOW"}
    ]
    assert heads[:3] == ["HIGH", "MEDIUM", "LOW"]
    assert lines.index(next(ln for ln in lines if ln.startswith("Pool "))) > lines.index(
        next(ln for ln in lines if ln.startswith("  LOW"))
    )
    assert all(len(line) <= 100 for line in lines if not line.startswith(("  ", "    ")))


def test_table_pools_servers_and_what_if() -> None:
    report = sample_report()
    text = capacity_table(report)
    vm = report.pools[0].classes[VM]
    assert f"Pool {POOL} (3 servers)" in text
    vm_row = next(line for line in text.splitlines() if line.startswith("  VM "))
    assert str(vm.exhausted_on) in vm_row and f"{vm.days_left:,}" in vm_row
    um_row = next(line for line in text.splitlines() if line.startswith("  UM "))
    assert um_row.split()[5:7] == ["-", "-"]
    assert "What if scenarios/buy-vm-new-site.yaml:" in text
    assert "VM BEFORE" in text and "VM AFTER" in text
    assert "UNITY-A" in text and "41 -> 0" in text
    assert "41 → 0" in capacity_md(report)
    assert "limit  UNITY-A: UNITY-A will home 450" in text


def test_table_wraps_prose_at_width() -> None:
    lines = capacity_table(sample_report(), width=60).splitlines()
    recommendation = [ln for ln in lines[3:8]]
    assert all(len(line) <= 60 for line in recommendation)


# --- HTML -------------------------------------------------------------------------


SVG = "{http://www.w3.org/2000/svg}"


def _charts(page: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)


def _group(chart: str, css: str) -> Element:
    """The element of an inline chart whose class is ``css`` (the chart is XML too)."""
    found: list[Element] = [g for g in SafeET.fromstring(chart).iter() if g.get("class") == css]
    assert len(found) == 1, (css, len(found))
    return found[0]


def _dots(chart: str) -> int:
    """The dots of observed use: matplotlib draws each marker as a <use> of one shape."""
    return sum(1 for e in _group(chart, "used").iter() if e.tag == f"{SVG}use")


def test_html_one_chart_per_pool_class_with_exhaustion() -> None:
    page = capacity_html(sample_report())
    assert page.startswith("<!DOCTYPE html>")
    charts = _charts(page)
    assert len(charts) == 3
    assert [re.search(r'data-class="(\w+)"', c).group(1) for c in charts] == [  # type: ignore[union-attr]
        "vm",
        "um",
        "inbox",
    ]
    vm = sample_report().pools[0].classes[VM]
    assert 'class="exhaustion"' in charts[0]
    assert f"runs out {vm.exhausted_on:%d} Aug 2024" in charts[0]
    assert 'class="exhaustion after"' in charts[0]  # the scenario's own date
    assert 'class="exhaustion"' not in charts[1]
    report = sample_report()
    for chart, c in zip(charts, (VM, UM, INBOX), strict=True):
        for part in (
            'class="used"',
            'class="licensed"',
            'class="projection"',
            'class="legend"',
            'class="x-axis"',
            'class="y-axis"',
            "<title",
        ):
            assert part in chart, part
        assert _dots(chart) == len(report.pools[0].classes[c].history) == 90


def test_html_skips_empty_classes() -> None:
    report = sample_report()
    pool = report.pools[0]
    zero = ClassCapacity(
        0,
        0,
        0,
        0.0,
        None,
        None,
        0,
        history=tuple(Point(p.day, 0.0, 0) for p in pool.classes[INBOX].history),
    )
    report = dataclasses.replace(
        report,
        what_if=None,
        pools=(dataclasses.replace(pool, classes={**pool.classes, INBOX: zero}),),
    )
    charts = _charts(capacity_html(report))
    assert len(charts) == 2
    assert all('class="exhaustion after"' not in c for c in charts)


def test_html_is_self_contained() -> None:
    page = capacity_html(sample_report())
    urls = re.findall(r"https?://[^\s\"'<>)]*", page)
    assert set(urls) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert "<link" not in page.lower()
    assert not re.search(r"\bsrc\s*=", page, flags=re.IGNORECASE)
    assert "<script" not in page.lower()
    assert "@import" not in page and "@font-face" not in page
    # The charts refer to their own clip paths and shapes, and to nothing else.
    refs = re.findall(r"url\(([^)]*)\)", page) + re.findall(r'href="([^"]*)"', page)
    assert refs and all(ref.startswith("#chart-") for ref in refs), set(refs) - {""}
    assert "<style>" in page
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page  # inlined, not documents


def test_html_is_deterministic_and_its_ids_unique() -> None:
    page = capacity_html(sample_report())
    assert capacity_html(sample_report()) == page  # no date, no random id
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)) > 3
    for ref in set(re.findall(r'(?:url\(|href=")#([^)"]+)', page)):
        assert ref in ids, ref  # every reference resolves, to its own chart's element


def test_html_escapes_hostile_names() -> None:
    page = capacity_html(hostile_report())
    assert HOSTILE not in page
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '"<' not in page.replace('="<', "")  # no raw quote-and-tag from the pool id
    assert len(_charts(page)) == 3


def test_html_tables_and_what_if() -> None:
    page = capacity_html(sample_report())
    for part in (
        'class="badge high"',
        'class="badge medium"',
        'class="badge low"',
        "UNITY-A",
        "UNITY-B",
        "UNITY-C",
        '<th colspan="2" class="group">VM</th>',
        '<th class="num">before</th><th class="num after">after</th>',
        "buy-vm-new-site.yaml",
        "Add 200 VM seats to UNITY-B",
        'no snapshots from <span class="day">2024-03-10</span>',
    ):
        assert part in page, part
    assert (
        page.index('class="badge high"')
        < page.index('class="badge medium"')
        < page.index('class="badge low"')
    )


# --- chart geometry ---------------------------------------------------------------

LABEL_TEXTS = ("today", "runs out 21 Aug 2024", "after: runs out 30 Sep 2024")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=_LEFT, max_value=_W - 20), min_size=1, max_size=3))
def test_marker_labels_never_touch_each_other_or_a_line(xs: list[float]) -> None:
    """Today, runs out and after: runs out anywhere on the chart, even on the same day:
    every label inside the chart, none over another or crossed by another's line."""
    labels = [
        _Label(x, text, "#000", "m", _text_width(text, bold=True), prefer_left=i == 0)
        for i, (x, text) in enumerate(zip(xs, LABEL_TEXTS, strict=False))
    ]
    placed = _place(labels, _LEFT - 10, _W - 4)
    assert sorted(p.label.text for p in placed) == sorted(label.text for label in labels)
    for p in placed:
        assert p.lo >= _LEFT - 10 and p.hi <= _W - 4
        assert math.isclose(p.hi - p.lo, p.label.width)
        assert p.label.width >= len(p.label.text) * 4  # measured, not guessed
        for q in placed:
            if q is p:
                continue
            if q.row == p.row:
                assert p.hi <= q.lo or q.hi <= p.lo
            elif q.row < p.row:  # p's line rises through q's row
                assert not q.lo <= p.label.x <= q.hi


def _axes_of(capacity: ClassCapacity) -> Axes:
    fig = _figure(
        title="VM seats", capacity=capacity, after=None, today=TODAY, horizon_end=day_at(HORIZON)
    )
    return fig.axes[0]


def test_ticks_are_round_and_few() -> None:
    vm = sample_report().pools[0].classes[VM]
    ax = _axes_of(vm)
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert [d.date() for d in mdates.num2date(ticks)] == [date(2024, m, 1) for m in range(3, 11)]
    labels = ax.xaxis.get_major_formatter().format_ticks(ticks)
    assert labels[:3] == ["Mar", "Apr", "May"]
    seats = list(ax.get_yticks())
    step = seats[1] - seats[0]
    assert seats[0] == 0 and step in {250, 500} and len(seats) <= 8
    assert all(s % step == 0 for s in seats)
    top = ax.get_ylim()[1]
    assert top == seats[-1] >= max(p.used for p in vm.projection)  # the top is a tick
    # Three weeks of history only: ticks on days, still few.
    short = _axes_of(dataclasses.replace(vm, history=vm.history[-21:], projection=()))
    assert 3 <= len(short.get_xticks()) <= 10


def test_chart_is_one_inline_svg_element() -> None:
    vm = sample_report().pools[0].classes[VM]
    chart = class_chart(
        title='VM <seats> & "$x$"',
        capacity=vm,
        after=None,
        today=TODAY,
        horizon_end=day_at(HORIZON),
        data_class="vm",
        ident="c1",
    )
    root = SafeET.fromstring(chart)  # well-formed, one element, no prolog
    assert root.tag == f"{SVG}svg" and chart.startswith("<svg ")
    assert (root.get("id"), root.get("class"), root.get("data-class")) == ("c1", "chart", "vm")
    title = root.find(f"{SVG}title")
    assert title is not None and title.get("id") == root.get("aria-labelledby") == "c1-t"
    assert title.text is not None and title.text.startswith('VM <seats> & "$x$": 764 of 900')
    assert root.find(f".//{SVG}text") is None  # text as paths: the page needs no font
    assert all(e.get("id", "c1").startswith("c1") for e in root.iter())
    assert 'class="exhaustion after"' not in chart and 'class="projection after"' not in chart


def test_what_if_new_server_and_unchanged_classes() -> None:
    report = sample_report()
    assert report.what_if is not None
    after_pool = report.what_if.pools[0]
    new = ServerCapacity("UNITY-N", {VM: ClassCapacity(300, 0, 300, 0.0, None, None, 0)})
    report = dataclasses.replace(
        report,
        what_if=dataclasses.replace(
            report.what_if,
            pools=(dataclasses.replace(after_pool, servers=(*after_pool.servers, new)),),
        ),
    )
    text = capacity_table(report)
    row = next(line for line in text.splitlines() if "UNITY-N" in line)
    assert row.split() == ["UNITY-N", "(new)", "VM", "300", "0", "-", "-", "0"]
    assert "| UNITY-N (new) | VM | 300 | 0 | - | - | 0 |" in capacity_md(report)
    charts = _charts(capacity_html(report))
    assert 'class="projection after"' in charts[0]
    assert 'class="projection after"' not in charts[1]  # UM: the scenario changes nothing
    assert "(after: no change)" in charts[1]


def test_chart_of_one_snapshot_or_running_out_today() -> None:
    um = sample_report().pools[0].classes[UM]
    vm = sample_report().pools[0].classes[VM]
    for capacity in (
        dataclasses.replace(um, history=um.history[-1:], projection=()),
        dataclasses.replace(vm, exhausted_on=TODAY),
    ):
        chart = class_chart(
            title="t",
            capacity=capacity,
            after=None,
            today=TODAY,
            horizon_end=day_at(HORIZON),
            data_class="x",
            ident="c",
        )
        assert _dots(chart) == len(capacity.history)
        assert len(_group(chart, "licensed")) > 0  # a line even from one snapshot
        assert ('class="exhaustion"' in chart) == (capacity.exhausted_on is not None)
