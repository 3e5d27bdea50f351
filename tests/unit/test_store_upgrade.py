"""A store written by the previous release (schema 7, as 51cf159 writes it) opens,
upgrades and reads back whole: every table, through the current records.

The DDL below is that release's, copied (comments dropped) so the test keeps checking
the old layout when ``poolsync/store/schema.py`` moves on; the rows are what its writer
put in them (ISO 8601 text times, JSON run details, 0/1 flags).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from poolsync.model import Location, SeatClass, Seats, Subscriber
from poolsync.records import (
    Changes,
    PassDetail,
    PassRecord,
    RunDetail,
    RunRecord,
    Snapshot,
    ViolationKey,
)
from poolsync.servers.model import ServerReading
from poolsync.store import Store
from poolsync.store.runs import detail_json
from poolsync.store.schema import SCHEMA_VERSION

SCHEMA_7_DDL = """
CREATE TABLE locations (
    pass        TEXT NOT NULL,
    guid        TEXT NOT NULL,
    dn          TEXT NOT NULL,
    name        TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    version     TEXT,
    failover_of TEXT,
    attachment  BLOB,
    usn_changed INTEGER,
    attachment_refused INTEGER,
    PRIMARY KEY (pass, guid)
) WITHOUT ROWID;
CREATE TABLE subscribers (
    pass        TEXT NOT NULL,
    guid        TEXT NOT NULL,
    dn          TEXT NOT NULL,
    home        TEXT,
    dtmf_id     TEXT,
    um          INTEGER NOT NULL,
    inbox       INTEGER NOT NULL,
    usn_changed INTEGER,
    PRIMARY KEY (pass, guid)
) WITHOUT ROWID;
CREATE TABLE passes (
    pass           TEXT PRIMARY KEY,
    endpoint       TEXT NOT NULL,
    dc_host        TEXT NOT NULL,
    invocation_id  TEXT NOT NULL,
    naming_context TEXT NOT NULL,
    usn            INTEGER NOT NULL,
    synced_at      TEXT NOT NULL,
    profile        TEXT NOT NULL,
    method         TEXT NOT NULL DEFAULT 'usn',
    cookie         BLOB
);
CREATE TABLE violations (
    key        TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL
);
CREATE TABLE snapshots (
    taken_at  TEXT NOT NULL,
    pool      TEXT NOT NULL,
    server    TEXT NOT NULL,
    class     TEXT NOT NULL,
    licensed  INTEGER NOT NULL,
    used      INTEGER NOT NULL,
    published INTEGER,
    source    TEXT NOT NULL,
    PRIMARY KEY (taken_at, pool, server, class)
) WITHOUT ROWID;
CREATE TABLE seats_by_home (
    home  TEXT PRIMARY KEY,
    vm    INTEGER NOT NULL,
    um    INTEGER NOT NULL,
    inbox INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE server_readings (
    server    TEXT NOT NULL,
    source    TEXT NOT NULL,
    read_at   TEXT NOT NULL,
    reachable INTEGER NOT NULL,
    lic_vm INTEGER, lic_um INTEGER, lic_inbox INTEGER,
    used_vm INTEGER, used_um INTEGER, used_inbox INTEGER,
    pooling   INTEGER,
    secondary INTEGER,
    error     TEXT,
    PRIMARY KEY (server, source, read_at)
) WITHOUT ROWID;
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,
    detail      TEXT
);
"""

APPLICATION_ID = 0x506F6F6C
T0 = "2024-03-01T08:00:00+00:00"
T1 = "2024-03-01T08:00:07+00:00"
ATTACHMENT = b"<AvXmlLicData><LicSubscribersMax>100</LicSubscribersMax></AvXmlLicData>"


#: A committed run's detail as that release wrote it.
DETAIL_7 = {
    "passes": {
        "domain": {
            "mode": "total",
            "reason": "requested",
            "why": "--total was given",
            "endpoint": "ldaps://dc1.lab:636",
            "dc_host": "dc1.lab",
            "usn": 60,
            "locations": 1,
            "subscribers": 1,
            "removals": 0,
            "skipped": 0,
            "attempts": 1,
        }
    },
    "changes": {
        "locations": {"insert": 2, "update": 0, "delete": 0},
        "subscribers": {"insert": 2, "update": 0, "delete": 0},
    },
    "servers": 2,
    "subscribers": 2,
    "compliant": False,
    "seconds": 7.0,
}


def write_schema_7_store(path: Path) -> None:
    """The store 51cf159 leaves after one total resync, a failed run, a probe and a
    history import."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("BEGIN IMMEDIATE")
    for statement in SCHEMA_7_DDL.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute("PRAGMA user_version = 7")
    for name in ("domain", "gc"):
        db.execute(
            "INSERT INTO locations VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                name,
                "guid-loc-1",
                "CN=UNITY-1,CN=Locations,DC=lab",
                "UNITY-1",
                "oid-1",
                "14.0.1",
                None,
                ATTACHMENT,
                40,
                None,
            ),
        )
        db.execute(
            "INSERT INTO subscribers VALUES (?,?,?,?,?,?,?,?)",
            (name, "guid-sub-1", "CN=Ann,OU=Users,DC=lab", "oid-1", "1001", 1, 0, 41),
        )
    db.execute(
        "INSERT INTO locations VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            "gc",
            "guid-loc-2",
            "CN=UNITY-2,CN=Locations,DC=child",
            "UNITY-2",
            "oid-2",
            None,
            "oid-1",
            None,
            50,
            0,
        ),
    )
    db.execute(
        "INSERT INTO subscribers VALUES (?,?,?,?,?,?,?,?)",
        ("gc", "guid-sub-2", "CN=Bob,OU=Users,DC=child", None, None, 0, 1, 51),
    )
    db.execute("INSERT INTO seats_by_home VALUES ('oid-1', 1, 1, 0), ('', 1, 0, 1)")
    db.execute(
        "INSERT INTO passes VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            "domain",
            "ldaps://dc1.lab:636",
            "dc1.lab",
            "inv-1",
            "DC=lab",
            60,
            T0,
            "fp-1",
            "usn",
            None,
        ),
    )
    db.execute(
        "INSERT INTO passes VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            "gc",
            "ldaps://dc1.lab:3269",
            "dc1.lab",
            "inv-1",
            "",
            61,
            T0,
            "fp-1",
            "dirsync",
            b'{"DC=lab": "Y29va2ll"}',
        ),
    )
    db.execute("INSERT INTO violations VALUES ('pool:lab.example.com:vm', ?)", (T0,))
    db.execute(
        "INSERT INTO snapshots VALUES (?,?,?,?,?,?,?,?)",
        (T0, "lab.example.com", "UNITY-1", "vm", 100, 2, None, "sync"),
    )
    db.execute(
        "INSERT INTO snapshots VALUES (?,?,?,?,?,?,?,?)",
        ("2024-02-01T00:00:00+00:00", "lab.example.com", "UNITY-1", "um", 10, 1, 1, "import"),
    )
    db.execute(
        "INSERT INTO server_readings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        ("UNITY-1", "http", T0, 1, 100, 10, 5, 2, 0, 0, 1, 0, None),
    )
    db.execute(
        "INSERT INTO server_readings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        ("UNITY-1", "snmp", T0, 0, None, None, None, None, None, None, None, None, "timed out"),
    )
    detail = DETAIL_7
    db.execute(
        "INSERT INTO runs VALUES (1, 'total', ?, ?, 'findings', ?)",
        (T0, T1, json.dumps(detail, sort_keys=True)),
    )
    db.execute(
        "INSERT INTO runs VALUES (2, 'incremental', ?, ?, 'failed', ?)",
        (T1, T1, json.dumps({"error": "no DC answered", "error_type": "QueryError"})),
    )
    db.execute("COMMIT")
    db.close()


def read_everything(store: Store) -> dict[str, object]:
    return {
        "passes": store.passes(),
        "runs": store.runs(),
        "last_success": store.last_success(),
        "last_total": store.last_total(),
        "violations": store.violations(),
        "snapshots": store.snapshots(),
        "readings": store.latest_readings(),
        "locations": store.locations(),
        "gc_locations": store.locations(pass_name="gc"),
        "homed": store.homed_seats(),
        "objects": store.object_count(),
        "per_pass": store.objects_per_pass(),
        "has_data": store.has_data(),
        "location_rows": store.rows("locations"),
        "subscriber_rows": store.rows("subscribers"),
        "orphans": store.subscribers_homed_on([""], limit=5),
    }


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    path = tmp_path / "schema7.db"
    write_schema_7_store(path)
    return path


def test_a_schema_7_store_reads_back_whole(old_store: Path) -> None:
    with Store.open(old_store, create=False) as store:  # read-only, as reports open it
        before = read_everything(store)
    with Store.open(old_store) as store:  # writable: upgraded to the current schema
        after = read_everything(store)
    with sqlite3.connect(old_store) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert after == before
    t0, t1 = datetime(2024, 3, 1, 8, tzinfo=UTC), datetime(2024, 3, 1, 8, 0, 7, tzinfo=UTC)
    assert after["passes"] == [
        PassRecord(
            "domain",
            "ldaps://dc1.lab:636",
            "dc1.lab",
            "inv-1",
            "DC=lab",
            60,
            t0,
            "fp-1",
            "usn",
            None,
        ),
        PassRecord(
            "gc",
            "ldaps://dc1.lab:3269",
            "dc1.lab",
            "inv-1",
            "",
            61,
            t0,
            "fp-1",
            "dirsync",
            b'{"DC=lab": "Y29va2ll"}',
        ),
    ]
    runs = after["runs"]
    assert isinstance(runs, list) and [(r.id, r.kind, r.status) for r in runs] == [
        (2, "incremental", "failed"),
        (1, "total", "findings"),
    ]
    assert runs[0] == RunRecord(
        2,
        "incremental",
        t1,
        t1,
        "failed",
        RunDetail(error="no DC answered", error_type="QueryError"),
    )
    assert runs[1].detail == RunDetail(
        passes={
            "domain": PassDetail(
                "total",
                "requested",
                "--total was given",
                "ldaps://dc1.lab:636",
                "dc1.lab",
                60,
                1,
                1,
                0,
                0,
                1,
            )
        },
        changes={"locations": Changes(added=2), "subscribers": Changes(added=2)},
        servers=2,
        subscribers=2,
        compliant=False,
        seconds=7.0,
    )
    assert detail_json(runs[1].detail) == DETAIL_7  # what history shows, as it was kept
    assert after["last_success"] == after["last_total"] == runs[1]
    assert after["violations"] == {ViolationKey("pool", "lab.example.com", "vm"): t0}
    assert after["snapshots"] == [
        Snapshot(
            datetime(2024, 2, 1, tzinfo=UTC), "lab.example.com", "UNITY-1", SeatClass.UM, 10, 1, 1
        ),
        Snapshot(t0, "lab.example.com", "UNITY-1", SeatClass.VM, 100, 2, None),
    ]
    assert after["readings"] == (
        ServerReading(
            "UNITY-1", "http", t0, True, Seats(100, 10, 5), Seats(2, 0, 0), True, False, None
        ),
        ServerReading("UNITY-1", "snmp", t0, False, None, None, None, None, "timed out"),
    )
    assert after["locations"] == [
        Location(
            "guid-loc-1",
            "CN=UNITY-1,CN=Locations,DC=lab",
            "UNITY-1",
            "oid-1",
            "14.0.1",
            None,
            ATTACHMENT,
            None,
        ),
        Location(
            "guid-loc-2",
            "CN=UNITY-2,CN=Locations,DC=child",
            "UNITY-2",
            "oid-2",
            None,
            "oid-1",
            None,
            0,
        ),
    ]
    assert [loc.guid for loc in after["gc_locations"]] == ["guid-loc-1", "guid-loc-2"]  # type: ignore[attr-defined]
    assert after["homed"] == {"oid-1": Seats(1, 1, 0), "": Seats(1, 0, 1)}
    assert after["objects"] == 4
    assert after["per_pass"] == {
        ("domain", "locations"): 1,
        ("gc", "locations"): 2,
        ("domain", "subscribers"): 1,
        ("gc", "subscribers"): 2,
    }
    assert after["orphans"] == [("CN=Bob,OU=Users,DC=child", "")]
    assert t1 > t0


def test_a_schema_7_store_takes_the_next_sync(old_store: Path) -> None:
    """The upgraded store plans against the old rows: nothing changed is no change."""
    with Store.open(old_store) as store, store.sync_writer() as writer:
        writer.begin_pass("domain", "incremental")
        writer.stage_subscribers(
            "domain",
            [
                (
                    Subscriber(
                        "guid-sub-1",
                        "CN=Ann,OU=Users,DC=lab",
                        "oid-1",
                        "1001",
                        frozenset({SeatClass.UM}),
                    ),
                    70,
                ),
                (Subscriber("guid-sub-3", "CN=Cy,OU=Users,DC=lab", "oid-1"), 71),
            ],
        )
        writer.stage_locations(
            "domain",
            [
                (
                    Location(
                        "guid-loc-1",
                        "CN=UNITY-1,CN=Locations,DC=lab",
                        "UNITY-1",
                        "oid-1",
                        "14.0.1",
                        None,
                        ATTACHMENT,
                        None,
                    ),
                    72,
                )
            ],
        )
        writer.record_pass(
            PassRecord(
                "domain",
                "ldaps://dc1.lab:636",
                "dc1.lab",
                "inv-1",
                "DC=lab",
                80,
                datetime.fromisoformat(T1),
                "fp-1",
            )
        )
        plan = writer.plan()
        assert plan.counts == {"locations": Changes(), "subscribers": Changes(added=1)}
        writer.commit()
    with Store.open(old_store, create=False) as store:
        assert store.homed_seats() == {"oid-1": Seats(2, 1, 0), "": Seats(1, 0, 1)}
        assert store.passes()[0].usn == 80
