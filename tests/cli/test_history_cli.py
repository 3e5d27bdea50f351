"""history export / import: the usage history in and out of the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from poolsync.capacity.model import Snapshot
from poolsync.model import SeatClass
from poolsync.store import Store
from tests.support.fakes import write_config
from tests.support.helpers import run

GOOD = """date,pool,server,class,licensed,used,notes
2026-09-01,lab.example.com,UNITY-A,vm,500,400,from the old sheet
2026-09-01,lab.example.com,UNITY-A,um,100,20,
2026-10-01T08:30:00+02:00,lab.example.com,UNITY-A,vm,500,430,
"""


def test_import_then_export_round_trips(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    source = tmp_path / "old.csv"
    source.write_text(GOOD)
    result = run("-c", config, "history", "import", source)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"imported 3 rows from {source}: 3 new, 0 replaced"
    again = run("-c", config, "history", "import", source)
    assert "0 new, 3 replaced" in again.stdout
    exported = run("-c", config, "history", "export")
    assert exported.exit_code == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert lines[0] == "date,pool,server,class,licensed,used,published"
    assert lines[1:] == [
        "2026-09-01T00:00:00+00:00,lab.example.com,UNITY-A,um,100,20,",
        "2026-09-01T00:00:00+00:00,lab.example.com,UNITY-A,vm,500,400,",
        "2026-10-01T06:30:00+00:00,lab.example.com,UNITY-A,vm,500,430,",
    ]
    out = tmp_path / "h.json"
    result = run("-c", config, "history", "export", "--format", "json", "--out", out)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(out.read_text())
    assert doc["meta"]["type"] == "usage-history"
    assert len(doc["snapshots"]) == 3
    # The JSON export imports too (into another store).
    (tmp_path / "b").mkdir()
    other = write_config(tmp_path / "b")
    result = run("-c", other, "history", "import", out)
    assert result.stdout.strip() == f"imported 3 rows from {out}: 3 new, 0 replaced"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("date,pool,server,class,licensed\n", "line 1: the header lacks used"),
        (
            GOOD + "2026-11-01,lab.example.com,UNITY-A,vm,500,-3\n",
            "line 5: used: expected a whole number >= 0, got -3",
        ),
        (
            GOOD + "2026-13-01,lab.example.com,UNITY-A,vm,500,3\n",
            "line 5: date: expected an "
            "ISO 8601 date such as 2026-09-01 or 2026-09-01T10:00:00+00:00, got '2026-13-01'",
        ),
        (
            GOOD + "2026-11-01,lab.example.com,UNITY-A,voice,500,3\n",
            "line 5: class: expected one of vm, um, inbox, got 'voice'",
        ),
        (
            GOOD + "2026-09-01,lab.example.com,UNITY-A,vm,500,3\n",
            "line 5: the same date, pool, server and class as line 2",
        ),
        ("", "empty file"),
        (
            GOOD + "2026-11-01,lab.example.com,UNITY-A,vm,99999999999999999999,3\n",
            "line 5: licensed: expected at most 9223372036854775807, got 99999999999999999999",
        ),
        (
            GOOD + "2026-09-01T00:00:00.5,lab.example.com,unity-a,VM,500,3\n",
            "line 5: the same date, pool, server and class as line 2",
        ),
        (
            '{"snapshots": [{"date": "2026-09-01", "pool": "p", "server": "A", "class": "vm", '
            '"licensed": 1, "used": 1}, {"date": "2026-09-01", "pool": "p", "server": "a", '
            '"class": "vm", "licensed": 1, "used": 1}]}',
            "snapshots[1]: the same date, pool, server and class as snapshots[0]",
        ),
    ],
)
def test_a_bad_row_imports_nothing(tmp_path: Path, text: str, error: str) -> None:
    config = write_config(tmp_path)
    source = tmp_path / "bad.csv"
    source.write_text(text)
    result = run("-c", config, "history", "import", source)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"poolsync: error: {source}: {error}")
    with Store.open(tmp_path / "store.db") as store:
        assert store.snapshots() == []


def test_import_of_a_missing_file(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = run("-c", config, "history", "import", tmp_path / "nope.csv")
    assert result.exit_code == 2
    assert "nope.csv: no such file" in result.stderr


def test_export_writes_what_the_store_holds(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    t = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    with Store.open(tmp_path / "store.db") as store:
        store.add_snapshots(
            [Snapshot(t, "lab.example.com", "UNITY-B", SeatClass.INBOX, 50, 25, 24)], source="sync"
        )
    result = run("-c", config, "history", "export")
    assert (
        result.stdout.splitlines()[1]
        == "2026-11-30T06:00:00+00:00,lab.example.com,UNITY-B,inbox,50,25,24"
    )


def test_an_expiring_license_file_moves_the_exhaustion_date(tmp_path: Path) -> None:
    # UNITY-D runs on demo.lic (50 subscribers until 29-dec-2026), 30 used and flat:
    # from 30 December the built-in default license (10 subscribers) applies.
    config = write_config(tmp_path)
    demo = Path(__file__).resolve().parents[2] / "examples" / "licenses" / "demo.lic"
    config.write_text(
        config.read_text()
        + f"""capacity:
  license_files:
    UNITY-D: {{files: ["{demo}"]}}
"""
    )
    history = tmp_path / "h.csv"
    history.write_text(
        "date,pool,server,class,licensed,used\n"
        + "".join(f"2026-11-{d:02d},lab.example.com,UNITY-D,vm,50,30\n" for d in (1, 11, 21, 30))
    )
    assert run("-c", config, "history", "import", history).exit_code == 0
    result = run(
        "-c",
        config,
        "report",
        "capacity",
        "--format",
        "json",
        "--today",
        "2026-12-01",
        "--horizon",
        "90d",
    )
    assert result.exit_code == 3, result.stderr
    vm = json.loads(result.stdout)["pools"][0]["classes"]["vm"]
    assert (vm["licensed"], vm["used"], vm["growth_per_day"]) == (50, 30, 0)
    assert (vm["exhausted_on"], vm["days_left"], vm["seats_needed"]) == ("2026-12-30", 29, 20)


def test_license_files_without_a_mac_still_count(tmp_path: Path) -> None:
    # unity-a-base.lic and unity-a-upgrade.lic are bound to UNITY-A's MAC and grant
    # 500 VM seats for good; their Inbox seats end on 30-jun-2027. Without `mac` the
    # host-ID check is skipped: the files count, and only the Inbox seats change (50 to
    # 20, under the 25 used).
    config = write_config(tmp_path)
    examples = Path(__file__).resolve().parents[2] / "examples" / "licenses"
    files = ", ".join(f'"{examples / n}"' for n in ("unity-a-base.lic", "unity-a-upgrade.lic"))
    config.write_text(
        config.read_text()
        + f"""capacity:
  license_files:
    UNITY-A: {{files: [{files}]}}
"""
    )
    history = tmp_path / "h.csv"
    history.write_text(
        "date,pool,server,class,licensed,used\n"
        + "".join(
            f"2026-11-{d:02d},lab.example.com,UNITY-A,{c},{lic},{used}\n"
            for d in (1, 11, 21, 30)
            for c, lic, used in (("vm", 500, 100), ("inbox", 50, 25))
        )
    )
    assert run("-c", config, "history", "import", history).exit_code == 0
    result = run("-c", config, "report", "capacity", "--format", "json", "--today", "2026-12-01")
    assert result.exit_code == 3, result.stderr
    classes = json.loads(result.stdout)["pools"][0]["classes"]
    assert classes["vm"]["exhausted_on"] is None
    assert classes["inbox"]["exhausted_on"] == "2027-07-01"


def test_rows_for_another_pool_or_the_future_are_refused_without_force(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    source = tmp_path / "odd.csv"
    source.write_text(
        "date,pool,server,class,licensed,used\n"
        "2026-09-01,other.example.org,UNITY-X,vm,10,5\n"
        "2999-01-01,lab.example.com,UNITY-A,vm,500,400\n"
        "2026-09-02,lab.example.com,UNITY-A,vm,500,401\n"
    )
    refused = run("-c", config, "history", "import", source)
    assert refused.exit_code == 2
    assert (
        "1 row is for pool other.example.org, not this config's forest lab.example.com"
        in refused.stderr
    )
    assert "1 row is dated in the future (from 2999-01-01" in refused.stderr
    assert "nothing was imported" in refused.stderr
    assert (
        not (tmp_path / "store.db").exists()
        or run("-c", config, "history", "export").stdout.count("\n") == 1
    )
    forced = run("-c", config, "history", "import", source, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert forced.stdout.strip() == f"imported 3 rows from {source}: 3 new, 0 replaced"
    assert "warning:" in forced.stderr


def test_delete_removes_exactly_the_rows_asked_for(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    source = tmp_path / "old.csv"
    source.write_text(GOOD + "2026-09-01,other.example.org,UNITY-X,vm,10,5\n")
    assert run("-c", config, "history", "import", source, "--force").exit_code == 0
    assert run("-c", config, "history", "delete").exit_code == 2  # say what to delete
    dry = run("-c", config, "history", "delete", "--pool", "OTHER.example.org", "--dry-run")
    assert dry.stdout.strip() == "would delete 1 row"
    gone = run("-c", config, "history", "delete", "--pool", "other.example.org")
    assert gone.stdout.strip() == "deleted 1 row"
    before = run("-c", config, "history", "delete", "--before", "2026-10-01")
    assert before.stdout.strip() == "deleted 2 rows"
    left = run("-c", config, "history", "export").stdout.splitlines()[1:]
    assert left == ["2026-10-01T06:30:00+00:00,lab.example.com,UNITY-A,vm,500,430,"]


def test_export_out_dash_is_stdout_and_mode_is_explicit(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    source = tmp_path / "old.csv"
    source.write_text(GOOD)
    assert run("-c", config, "history", "import", source).exit_code == 0
    dash = run("-c", config, "history", "export", "--out", "-")
    assert dash.exit_code == 0 and dash.stdout.startswith("date,pool,server")
    out = tmp_path / "h.csv"
    out.write_text("planted")
    out.chmod(0o666)
    shared = run("-c", config, "history", "export", "--out", out, "--mode", "640")
    assert shared.exit_code == 0, shared.stderr
    assert (out.stat().st_mode & 0o777) == 0o640 and out.read_text().startswith("date,")
    bad = run("-c", config, "history", "export", "--out", "/dev/null")
    assert bad.exit_code == 2 and "not a regular file" in bad.stderr
