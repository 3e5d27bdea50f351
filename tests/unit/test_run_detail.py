"""A run's detail is a RunDetail; the JSON the history keeps is unchanged, and every
shape an earlier poolsync kept reads back typed and shows as it was kept."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from poolsync.records import Changes, PassDetail, RunDetail
from poolsync.store import Store
from poolsync.store.runs import detail_json, read_detail

NOW = "2026-11-30T12:00:00+00:00"
CURRENT = {
    "changes": {"locations": {"delete": 0, "insert": 2, "update": 1}},
    "compliant": True,
    "passes": {
        "gc": {
            "attempts": 2,
            "dc_host": "dc1",
            "endpoint": "ldaps://dc1:3269",
            "locations": 3,
            "mode": "incremental",
            "reason": None,
            "removals": 1,
            "skipped": 0,
            "subscribers": 4,
            "usn": 99,
            "why": None,
        }
    },
    "seconds": 1.5,
    "servers": 3,
    "subscribers": 4,
}
# As the first release kept a committed run (no mode, reason, changes ...).
FIRST = {
    "passes": {
        "domain": {"locations": 2, "subscribers": 5, "skipped": 0, "usn": 7, "dc_host": "dc1"}
    },
    "servers": 2,
    "subscribers": 5,
    "seconds": 0.25,
}


@pytest.mark.parametrize(
    "doc",
    [
        CURRENT,
        FIRST,
        {},
        {"error": "no DC answered", "error_type": "QueryError"},
        {
            "error": "the process ended before the run finished (killed?); nothing it read "
            "was committed"
        },
        {"note": "committed; the process ended before it recorded the end of the run"},
        {"error": "x", "hint": "a key of a newer poolsync", "passes": {"gc": {"extra": [1]}}},
        {"passes": ["not", "a", "mapping"], "seconds": 3},
    ],
)
def test_every_kept_shape_shows_as_it_was_kept(doc: dict[str, Any]) -> None:
    assert detail_json(read_detail(doc)) == doc
    assert json.dumps(detail_json(read_detail(doc)), sort_keys=True) == json.dumps(
        doc, sort_keys=True
    )


def test_a_current_detail_reads_typed() -> None:
    detail = read_detail(CURRENT)
    assert detail.passes == {
        "gc": PassDetail("incremental", None, None, "ldaps://dc1:3269", "dc1", 99, 3, 4, 1, 0, 2)
    }
    assert detail.changes == {"locations": Changes(added=2, changed=1)}
    assert (detail.servers, detail.compliant, detail.seconds, detail.error) == (3, True, 1.5, None)


def test_a_failed_runs_detail_is_kept_as_before(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    with Store.open(tmp_path / "s.db") as store:
        run_id = store.begin_run("total", datetime(2026, 11, 30, tzinfo=UTC))
        store.finish_run(
            run_id,
            status="failed",
            finished_at=datetime(2026, 11, 30, tzinfo=UTC),
            detail=RunDetail(error="no DC answered", error_type="QueryError"),
        )
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT detail FROM runs").fetchone()[0] == (
            '{"error": "no DC answered", "error_type": "QueryError"}'
        )


def test_a_first_release_run_reads_back_typed(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store.open(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO runs VALUES (1, 'total', ?, ?, 'ok', ?)", (NOW, NOW, json.dumps(FIRST))
        )
    with Store.open(path, create=False) as store:
        (run,) = store.runs()
    assert run.detail.seconds == 0.25 and run.detail.changes is None
    assert run.detail.passes is not None
    domain = run.detail.passes["domain"]
    assert (domain.usn, domain.locations, domain.reason) == (7, 2, None)
    assert domain.absent == {"mode", "reason", "why", "endpoint", "removals", "attempts"}
    assert detail_json(run.detail) == FIRST
