"""seats_by_home, kept by each commit, always equals grouping every merged subscriber."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolsync.model import SeatClass, Seats, Subscriber
from poolsync.store import PassRecord, Store
from poolsync.store.mirror import merged as _merged

GUIDS = [str(uuid.UUID(int=i + 1)) for i in range(12)]
HOMES = ["oid-a", "oid-b", None]


def regrouped(store_path: Path) -> dict[str, Seats]:
    """The seats per home computed from scratch over the merged view (the old way)."""
    sql = (
        "SELECT coalesce(home, ''), count(*), sum(um), sum(inbox) "  # noqa: S608
        f"FROM ({_merged('subscribers')}) GROUP BY coalesce(home, '')"
    )
    with sqlite3.connect(store_path) as db:
        rows = db.execute(sql).fetchall()
    return {home: Seats(vm=vm, um=um, inbox=inbox) for home, vm, um, inbox in rows}


def merged_count(store_path: Path) -> int:
    """Objects held, one per objectGUID, counted from scratch."""
    sql = (
        f"SELECT (SELECT count(*) FROM ({_merged('locations', 'guid')})) + "  # noqa: S608
        f"(SELECT count(*) FROM ({_merged('subscribers', 'guid')}))"
    )
    with sqlite3.connect(store_path) as db:
        return int(db.execute(sql).fetchone()[0])


subscriber = st.builds(
    lambda i, home, um, inbox: Subscriber(
        guid=GUIDS[i],
        dn=f"CN=s{i},DC=x",
        home=home,
        classes=frozenset({SeatClass.UM} if um else set())
        | ({SeatClass.INBOX} if inbox else set()),
    ),
    st.integers(0, len(GUIDS) - 1),
    st.sampled_from(HOMES),
    st.booleans(),
    st.booleans(),
)

step = st.tuples(
    st.sampled_from(["domain", "gc"]),
    st.sampled_from(["total", "incremental"]),
    st.lists(subscriber, max_size=8),
    st.lists(st.sampled_from(GUIDS), max_size=3),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(step, min_size=1, max_size=6))
def test_seats_by_home_follows_every_commit(tmp_path_factory: object, steps: list[Any]) -> None:
    path = Path(tmp_path_factory.mktemp("seats")) / "s.db"  # type: ignore[attr-defined]
    for usn, (name, mode, subscribers, removed) in enumerate(steps, start=1):
        with Store.open(path) as store, store.sync_writer() as writer:
            writer.begin_pass(name, mode)
            writer.stage_subscribers(name, [(s, usn) for s in subscribers])
            if mode == "incremental":
                writer.stage_removals(name, [(g, usn) for g in removed])
            writer.record_pass(
                PassRecord(name, "ldaps://x", "dc1", "inv", "DC=x", usn, datetime.now(UTC), "fp")
            )
            writer.plan()
            writer.commit()
        with Store.open(path, create=False) as store:
            assert store.homed_seats() == regrouped(path)
            assert store.object_count() == merged_count(path)


def test_a_schema_4_store_gets_its_seats_counted(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store.open(path) as store, store.sync_writer() as writer:
        for name in ("domain", "gc"):
            writer.begin_pass(name, "total")
            writer.stage_subscribers(
                name,
                [
                    (
                        Subscriber(
                            guid=GUIDS[0],
                            dn="CN=a",
                            home="oid-a" if name == "domain" else "oid-b",
                            classes=frozenset({SeatClass.UM}),
                        ),
                        1,
                    ),
                    (Subscriber(guid=GUIDS[1], dn="CN=b", home="oid-b"), 1),
                ],
            )
            writer.record_pass(
                PassRecord(name, "ldaps://x", "dc1", "inv", "DC=x", 1, datetime.now(UTC), "fp")
            )
        writer.plan()
        writer.commit()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE seats_by_home")
        db.execute("ALTER TABLE locations DROP COLUMN attachment_refused")
        db.execute("DROP TABLE server_readings")
        db.execute("PRAGMA user_version = 4")
    expected = {"oid-a": Seats(vm=1, um=1, inbox=0), "oid-b": Seats(vm=1, um=0, inbox=0)}
    with Store.open(path, create=False) as store:  # read-only: grouped on the fly
        assert store.homed_seats() == expected
    with Store.open(path) as store:  # writable: migrated and filled
        assert store.homed_seats() == expected
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 7
        assert db.execute("SELECT count(*) FROM seats_by_home").fetchone()[0] == 2
