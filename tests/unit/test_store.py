"""The store's edges: read-only opening, foreign files, I/O errors as StoreError."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from poolsync.errors import StoreError, StoreLockedError, StoreVersionError
from poolsync.store import Store


def test_reading_never_creates_or_changes_a_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(StoreVersionError, match="not a poolsync store"):
        Store.open(empty, create=False)
    assert empty.read_bytes() == b""
    with pytest.raises(StoreError, match="no store at"):
        Store.open(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_a_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    for create in (True, False):
        with pytest.raises(StoreVersionError, match="not a poolsync store"):
            Store.open(other, create=create)


def test_a_new_store_is_versioned_and_empty(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        assert not store.has_data()
        assert store.locations() == []
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 7


def test_a_store_path_that_cannot_exist_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the store"):
        Store.open(blocker / "poolsync.db")


def test_a_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as db:  # the schema poolsync 0.1 wrote
        db.executescript("""
            CREATE TABLE locations (pass TEXT, guid TEXT, dn TEXT, name TEXT, object_id TEXT,
                version TEXT, failover_of TEXT, attachment BLOB, usn_changed INTEGER);
            CREATE TABLE subscribers (pass TEXT, guid TEXT, dn TEXT, home TEXT, dtmf_id TEXT,
                um INTEGER, inbox INTEGER, usn_changed INTEGER);
            CREATE TABLE passes (pass TEXT PRIMARY KEY, endpoint TEXT, dc_host TEXT,
                invocation_id TEXT, naming_context TEXT, usn INTEGER, synced_at TEXT,
                profile TEXT);
            CREATE TABLE runs (id INTEGER PRIMARY KEY, kind TEXT, started_at TEXT,
                finished_at TEXT, status TEXT, detail TEXT);
            INSERT INTO passes VALUES ('domain', 'ldaps://dc', 'dc1', 'inv', 'DC=x', 42,
                '2026-11-30T00:00:00+00:00', 'fp');
            PRAGMA application_id = 1349480300;
            PRAGMA user_version = 1;
        """)
    with Store.open(path, create=False) as store:  # read-only (a dry run): as it is
        (mark,) = store.passes()
        assert (mark.usn, mark.method, mark.cookie) == (42, "usn", None)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    with Store.open(path) as store:
        (mark,) = store.passes()
        assert (mark.usn, mark.method, mark.cookie) == (42, "usn", None)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 7


def test_violations_keep_their_first_sighting_and_unassessed_servers_keep_theirs(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime, timedelta

    from poolsync.records import ViolationKey

    day0 = datetime(2026, 11, 1, tzinfo=UTC)
    vm, um = ViolationKey.pool("f", "vm"), ViolationKey.pool("f", "um")
    ports = ViolationKey.server("g1", "voice-ports")
    with Store.open(tmp_path / "s.db") as store:
        store.record_violations({vm, ports}, day0)
        store.record_violations(
            {vm}, day0 + timedelta(days=1), keep=lambda key: key.server_guid == "g1"
        )
        assert store.violations() == {vm: day0, ports: day0}
        store.record_violations({vm, um}, day0 + timedelta(days=2))
        assert store.violations() == {vm: day0, um: day0 + timedelta(days=2)}


def test_snapshots_round_trip_and_replace_same_moment(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from poolsync.capacity.model import Snapshot
    from poolsync.model import SeatClass

    t0 = datetime(2026, 11, 1, 10, tzinfo=UTC)
    rows = [
        Snapshot(t0, "f", "UNITY-A", SeatClass.VM, 100, 80, 75),
        Snapshot(t0, "f", "UNITY-A", SeatClass.UM, 10, 4),
    ]
    with Store.open(tmp_path / "s.db") as store:
        assert store.add_snapshots(rows, source="sync") == (2, 0)
        again = [Snapshot(t0, "f", "UNITY-A", SeatClass.VM, 100, 81, None)]
        assert store.add_snapshots(again, source="import") == (0, 1)
        # Oldest first, then pool, server and class (by name: um before vm).
        assert store.snapshots() == [rows[1], again[0]]
        assert store.snapshots(since=datetime(2026, 11, 2, tzinfo=UTC)) == []


def test_a_schema_3_store_gains_snapshots(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from poolsync.capacity.model import Snapshot
    from poolsync.model import SeatClass

    path = tmp_path / "s.db"
    with Store.open(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE snapshots")
        db.execute("DROP TABLE seats_by_home")
        db.execute("ALTER TABLE locations DROP COLUMN attachment_refused")
        db.execute("DROP TABLE server_readings")
        db.execute("PRAGMA user_version = 3")
    with Store.open(path, create=False) as store:  # read-only: no table, no history
        assert store.snapshots() == []
    with Store.open(path) as store:  # writable: migrated, and the table works
        row = Snapshot(datetime(2026, 11, 1, tzinfo=UTC), "f", "A", SeatClass.VM, 1, 1)
        assert store.add_snapshots([row], source="sync") == (1, 0)
        assert store.snapshots() == [row]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 7


def test_a_report_reads_one_committed_state(tmp_path: Path) -> None:
    """Locations and seats were read in two statements: a commit between them showed a
    server at 0 used and its subscribers orphaned. Inside reading() both see one state."""
    path = tmp_path / "store.db"
    Store.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO seats_by_home VALUES ('oid-a', 50, 0, 0)")
    with Store.open(path, create=False) as store:
        with store.reading():
            before = store.homed_seats()
            with sqlite3.connect(path) as other:  # another run commits meanwhile
                other.execute("UPDATE seats_by_home SET home = 'oid-b'")
            during = store.homed_seats()
        after = store.homed_seats()
    assert set(before) == set(during) == {"oid-a"}
    assert set(after) == {"oid-b"}


def test_a_planted_wal_link_is_an_unusable_store_not_a_busy_one(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    Store.open(path).close()
    wal = tmp_path / "store.db-wal"
    wal.unlink(missing_ok=True)
    wal.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StoreError) as info:
        Store.open(path)
    assert not isinstance(info.value, StoreLockedError)  # exit 1, not 6
    assert f"{wal} is a symbolic link" in str(info.value)
    assert info.value.exit_code == 1


def test_a_schema_5_store_is_read_and_planned_as_it_is_then_migrated(tmp_path: Path) -> None:
    """A dry run opens an older store read-only: no attachment_refused column yet."""
    from poolsync.model import Location

    path = tmp_path / "s.db"
    with Store.open(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE locations DROP COLUMN attachment_refused")
        db.execute("DROP TABLE server_readings")
        db.execute(
            "INSERT INTO locations VALUES ('domain', 'g1', 'CN=A', 'A', 'oid', "
            "'4.0', NULL, x'3c612f3e', 7)"
        )
        db.execute("PRAGMA user_version = 5")
    big = Location("g1", "CN=A", "A", "oid", "4.0", None, None, attachment_refused=5_000_000)
    with Store.open(path, create=False) as store, store.sync_writer() as writer:
        assert store.locations() == [Location("g1", "CN=A", "A", "oid", "4.0", None, b"<a/>")]
        writer.begin_pass("domain", "total")
        writer.stage_locations("domain", [(big, 8)])
        assert writer.plan().counts["locations"].changed == 1
    with Store.open(path) as store:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == 7
        assert store.locations()[0].attachment_refused is None


def test_server_readings_are_kept_and_the_latest_of_each_read_back(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from poolsync.model import Seats
    from poolsync.servers.model import ServerReading, failed_reading

    t0, t1 = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)
    old = ServerReading(
        "UNITY-A", "http", t0, True, Seats(40, 5, 0), Seats(3, 0, 0), True, False, None
    )
    new = ServerReading("UNITY-A", "http", t1, True, Seats(60, 5, 0), None, True, None, None)
    down = failed_reading("UNITY-B", "snmp", "no answer within 5 s", reachable=False, read_at=t1)
    with Store.open(tmp_path / "s.db") as store:
        assert store.latest_readings() == ()
        assert store.add_readings([old, down]) == 2
        store.add_readings([new])
        assert store.latest_readings() == (new, down)
