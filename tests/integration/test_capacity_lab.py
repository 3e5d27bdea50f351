"""Usage history from real resyncs, and the capacity report on it (the tiny lab).

``lab grow`` adds one subscriber to UNITY-T (10 VM seats, 5 used) before each of four
steps 10 days apart and resyncs after each: used 5, 6, 7, 8, 9 on days -40..0. The line
is used(d) = 9 + 0.1 d, so it first exceeds 10 on day 11: exactly today + 11.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from poolsync.capacity.project import project
from poolsync.compliance import Limits
from poolsync.model import SeatClass
from poolsync.store import Store
from tests.support.helpers import lab_config_copy, run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def grown(tiny_lab: Path) -> Path:
    result = run("lab", "grow", "--dir", tiny_lab, "--days", "40", "--steps", "5", "--add", "1")
    assert result.exit_code == 0, result.stderr
    assert "removed the 4 subscribers it added" in result.stderr
    return tiny_lab / "capacity-demo.yaml"


def test_every_resync_stored_a_snapshot(grown: Path) -> None:
    exported = run("-c", grown, "history", "export")
    assert exported.exit_code == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == 5 * 3  # five resyncs, one server, three classes
    vm = [r for r in rows if r["class"] == "vm"]
    assert [int(r["used"]) for r in vm] == [5, 6, 7, 8, 9]
    assert {r["server"] for r in rows} == {"UNITY-T"}
    assert {r["pool"] for r in rows} == {"tiny.example.org"}
    assert all(r["licensed"] == "10" for r in vm)
    days = [datetime.fromisoformat(r["date"]).date() for r in vm]
    assert [(b - a).days for a, b in itertools.pairwise(days)] == [10, 10, 10, 10]


def test_known_linear_growth_gives_the_exact_exhaustion_date(grown: Path, tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    result = run("-c", grown, "report", "capacity", "--format", "json")
    assert result.exit_code == 3, result.stderr  # the pool runs out within the horizon
    doc = json.loads(result.stdout)
    assert doc["meta"]["type"] == "capacity-report"
    (pool,) = doc["pools"]
    vm = pool["classes"]["vm"]
    assert (vm["licensed"], vm["used"], vm["headroom"]) == (10, 9, 1)
    assert vm["growth_per_day"] == pytest.approx(0.1)
    assert vm["exhausted_on"] == (today + timedelta(days=11)).isoformat()
    assert vm["days_left"] == 11
    assert vm["seats_needed"] == 36  # 9 + 0.1 * 365 = 45.5 used on the last day
    assert doc["recommendations"][0]["urgency"] == "high"

    scenario = tmp_path / "more.yaml"
    scenario.write_text("changes:\n  - add_licenses: {server: UNITY-T, vm: 50}\n")
    result = run("-c", grown, "report", "capacity", "--format", "json", "--what-if", scenario)
    after = json.loads(result.stdout)["what_if"]["pools"][0]["classes"]["vm"]
    assert (after["licensed"], after["exhausted_on"], after["seats_needed"]) == (60, None, 0)

    html = tmp_path / "capacity.html"
    result = run("-c", grown, "report", "capacity", "--format", "html", "--out", html)
    assert result.exit_code == 3, result.stderr
    text = html.read_text()
    assert text.count("<svg") >= 1 and "tiny.example.org" in text


def test_the_lab_is_as_built_after_growing(grown: Path, tiny_lab: Path, tmp_path: Path) -> None:
    config = lab_config_copy(tiny_lab, tmp_path / "c.yaml", store=tmp_path / "c.db")
    result = run("-c", config, "resync", "--total", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["subscribers"] == 5


def test_report_needs_history(tiny_lab: Path, tmp_path: Path) -> None:
    config = lab_config_copy(tiny_lab, tmp_path / "c.yaml", store=tmp_path / "c.db")
    assert run("-c", config, "resync", "--total").exit_code == 0
    # One resync is one snapshot: no growth yet, nothing runs out.
    result = run("-c", config, "report", "capacity", "--format", "json")
    assert result.exit_code == 0, result.stderr
    vm = json.loads(result.stdout)["pools"][0]["classes"]["vm"]
    assert (vm["growth_per_day"], vm["exhausted_on"]) == (0, None)
    empty = lab_config_copy(tiny_lab, tmp_path / "e.yaml", store=tmp_path / "e.db")
    assert run("-c", empty, "history", "import", _empty_csv(tmp_path)).exit_code == 0
    result = run("-c", empty, "report", "capacity")
    assert result.exit_code == 1
    assert "holds no usage history" in result.stderr


def _empty_csv(tmp_path: Path) -> Path:
    path = tmp_path / "empty.csv"
    path.write_text("date,pool,server,class,licensed,used\n")
    return path


def test_a_report_replayed_from_an_earlier_day(grown: Path) -> None:
    # Ten days ago the history held 5, 6, 7, 8 on days -30..0 of that day: the same
    # slope, and the line 8 + 0.1 d first exceeds 10 on day 21 after that day.
    then = date.today() - timedelta(days=10)
    result = run("-c", grown, "report", "capacity", "--format", "json", "--today", then.isoformat())
    assert result.exit_code == 3, result.stderr
    doc = json.loads(result.stdout)
    assert doc["today"] == then.isoformat()
    vm = doc["pools"][0]["classes"]["vm"]
    assert (vm["used"], vm["exhausted_on"]) == (8, (then + timedelta(days=21)).isoformat())


def test_the_default_grow_fits_the_default_window_with_every_point(tiny_lab: Path) -> None:
    """The demo's first point used to fall exactly 90 days back, outside the 90-day
    window, and the chart dropped it."""
    result = run("lab", "grow", "--dir", tiny_lab, "--add", "1")
    assert result.exit_code == 0, result.stderr
    with Store.open(tiny_lab / "capacity-demo.db", create=False) as store:
        snapshots = store.snapshots()
    report = project(
        snapshots,
        today=datetime.now(UTC).date(),
        window_days=90,
        horizon_days=365,
        limits=Limits(),
        generated=datetime.now(UTC),
    )
    (pool,) = report.pools
    assert len(pool.classes[SeatClass.VM].history) == 7  # every step of `lab grow`
