"""What people read fits an 80-column terminal: host names short in the summary, and
errors with commands in them never wrapped (a terminal folds them; a copy is whole)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from poolsync.cli.resync import render_result
from poolsync.records import RunDetail
from poolsync.store import Store
from tests.support.engine import directory, resync
from tests.support.fakes import write_config
from tests.support.helpers import run

LONG_ERROR = (
    "the run would delete 12 objects of the 40 held (the guard allows 5); nothing "
    "was changed. Check the directory (and `poolsync resync --dry-run -v`), then "
    "rerun with --allow-deletes 12"
)


def test_the_resync_summary_fits_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = resync(tmp_path, directory(tmp_path))
    monkeypatch.setenv("COLUMNS", "80")
    render_result(result)
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    rows = [line for line in lines if line.strip().startswith(("domain", "gc"))]
    assert len(rows) == 2 and all(" dc1 " in row for row in rows)  # one line each


def test_history_errors_are_whole_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path)
    with Store.open(tmp_path / "store.db") as store:
        run_id = store.begin_run("incremental", datetime(2026, 12, 1, 6, tzinfo=UTC))
        store.finish_run(
            run_id,
            status="refused",
            finished_at=datetime(2026, 12, 1, 6, 0, 2, tzinfo=UTC),
            detail=RunDetail(error=LONG_ERROR),
        )
    monkeypatch.setenv("COLUMNS", "80")
    result = run("-c", config, "history")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"run {run_id}: {LONG_ERROR}" in lines  # whole, with its command
    assert all(len(line) <= 80 for line in lines if not line.startswith("run "))
