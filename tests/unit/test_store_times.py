"""The store's times are aware datetimes in its records, parsed once where it maps rows;
a stored time that does not read back is damage, said with the table, column, row and
value (never a ValueError from deep inside, never a guess)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from poolsync.records import PassRecord, RunDetail, ViolationKey
from poolsync.store import Store, StoreDamaged

T0 = datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC)
PARIS = timezone(timedelta(hours=1))


def _pass(name: str, synced_at: datetime) -> PassRecord:
    return PassRecord(name, "ldaps://dc1:636", "dc1", "inv", "DC=x", 7, synced_at, "fp")


def filled(path: Path) -> Path:
    with Store.open(path) as store:
        run_id = store.begin_run("total", T0)
        with store.sync_writer() as writer:
            for name in ("domain", "gc"):
                writer.begin_pass(name, "total")
                writer.record_pass(_pass(name, T0.astimezone(PARIS)))
            writer.plan()
            writer.commit(run_id=run_id)
        store.finish_run(
            run_id,
            status="ok",
            finished_at=T0 + timedelta(seconds=3, microseconds=9),
            detail=RunDetail(),
        )
        store.record_violations({ViolationKey.pool("f", "vm")}, T0)
    return path


def test_times_read_back_as_the_aware_datetimes_written(tmp_path: Path) -> None:
    with Store.open(filled(tmp_path / "s.db"), create=False) as store:
        (run,) = store.runs()
        assert (run.started_at, run.finished_at) == (T0, T0 + timedelta(seconds=3))
        synced = [p.synced_at for p in store.passes()]
        assert synced == [T0, T0] and all(s.utcoffset() == timedelta(hours=1) for s in synced)
        assert store.violations() == {ViolationKey.pool("f", "vm"): T0}
    with sqlite3.connect(tmp_path / "s.db") as db:  # the text kept is unchanged
        assert db.execute("SELECT started_at, finished_at FROM runs").fetchone() == (
            "2026-11-30T12:00:05+00:00",
            "2026-11-30T12:00:08+00:00",
        )
        assert db.execute("SELECT DISTINCT synced_at FROM passes").fetchall() == [
            ("2026-11-30T13:00:05+01:00",)
        ]


def test_a_naive_time_is_not_stored(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store, pytest.raises(ValueError, match="aware"):
        store.begin_run("total", datetime(2026, 11, 30))


@pytest.mark.parametrize(
    ("sql", "read", "said"),
    [
        (
            "UPDATE runs SET started_at = 'yesterday'",
            Store.runs,
            "runs.started_at of run 1 is 'yesterday'",
        ),
        (
            "UPDATE runs SET finished_at = '2026-11-30T12:00:08'",
            Store.last_success,
            "runs.finished_at of run 1 is '2026-11-30T12:00:08'",
        ),  # no offset: not guessed
        (
            "UPDATE passes SET synced_at = '' WHERE pass = 'gc'",
            Store.passes,
            "passes.synced_at of pass 'gc' is ''",
        ),
        (
            "UPDATE violations SET first_seen = 'soon'",
            Store.violations,
            "violations.first_seen of violation 'pool:f:vm' is 'soon'",
        ),
    ],
)
def test_an_unreadable_stored_time_is_damage_named_with_what_to_do(
    tmp_path: Path, sql: str, read: object, said: str
) -> None:
    path = filled(tmp_path / "s.db")
    with sqlite3.connect(path) as db:
        db.execute(sql)
    with Store.open(path, create=False) as store, pytest.raises(StoreDamaged) as caught:
        read(store)  # type: ignore[operator]
    message = str(caught.value)
    assert message.startswith(
        f"the store {path} is damaged: {said}, not an ISO 8601 time "
        "with a UTC offset: move it aside"
    )
    assert "resync --total" in message
