"""Reading the mirror: the Locations and subscribers the passes left, and their watermarks.

The store keeps each object once per pass (``domain``, ``gc``); readers mostly want it
once per objectGUID, the domain pass's copy preferred (:func:`merged`). Plain SQL over
a connection the :class:`~poolsync.store.Store` owns. A store of an older schema opened
read-only (a dry run, a report) is not migrated, so reads here fall back where a column
or table is missing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from poolsync.dn import parent as dn_parent
from poolsync.model import Location, Seats
from poolsync.records import KINDS, PassRecord
from poolsync.store import times

__all__ = [
    "COMPARED",
    "WATERMARK_COLS",
    "columns",
    "containers",
    "has_data",
    "has_table",
    "homed_seats",
    "location_counts",
    "locations",
    "merged",
    "object_count",
    "objects_per_pass",
    "pass_row",
    "passes",
    "rows",
    "subscribers_homed_on",
]

# The columns two syncs compare: a row whose compared columns are unchanged is no update.
COMPARED: dict[str, str] = {  # by table (a Kind)
    "locations": "guid, dn, name, object_id, version, failover_of, attachment, attachment_refused",
    "subscribers": "guid, dn, home, dtmf_id, um, inbox",
}


def merged(table: str, cols: str = "*") -> str:
    """Rows of ``table``, one per objectGUID, the domain pass's copy preferred."""
    return (
        f"SELECT {cols} FROM {table} WHERE pass = 'domain' UNION ALL "
        f"SELECT {cols} FROM {table} AS g WHERE g.pass = 'gc' AND NOT EXISTS "
        f"(SELECT 1 FROM {table} AS d WHERE d.pass = 'domain' AND d.guid = g.guid)"
    )


def has_table(db: sqlite3.Connection, name: str) -> bool:
    return bool(
        db.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()[0]
    )


def columns(db: sqlite3.Connection, table: str) -> set[str]:
    """The columns of one of the store's tables (an older store may lack some)."""
    return {row[1] for row in db.execute(f"PRAGMA main.table_info({table})")}


# A pass's watermark: the columns of table ``passes``, in PassRecord's field order.
WATERMARK_COLS = (
    "pass, endpoint, dc_host, invocation_id, naming_context, usn, synced_at, "
    "profile, method, cookie"
)


def pass_row(record: PassRecord) -> tuple[Any, ...]:
    """The one mapping of a pass record to its ``passes`` row (WATERMARK_COLS)."""
    return (
        record.name,
        record.endpoint,
        record.dc_host,
        record.invocation_id,
        record.naming_context,
        record.usn,
        times.write(record.synced_at),
        record.profile,
        record.method,
        record.cookie,
    )


def _pass_record(row: tuple[Any, ...]) -> PassRecord:
    """The one mapping of a ``passes`` row (WATERMARK_COLS) to its record."""
    (
        name,
        endpoint,
        dc_host,
        invocation_id,
        naming_context,
        usn,
        synced_at,
        profile,
        method,
        cookie,
    ) = row
    return PassRecord(
        name,
        endpoint,
        dc_host,
        invocation_id,
        naming_context,
        usn,
        times.read(synced_at, table="passes", column="synced_at", row=f"pass {name!r}"),
        profile,
        method,
        cookie,
    )


def passes(db: sqlite3.Connection) -> list[PassRecord]:
    """Each pass's watermark, by pass name."""
    # A schema-1 store opened read-only (a dry run) is not migrated: its defaults.
    cols = (
        WATERMARK_COLS
        if "cookie" in columns(db, "passes")
        else WATERMARK_COLS.replace("method, cookie", "'usn', NULL")
    )
    rows = db.execute(f"SELECT {cols} FROM passes ORDER BY pass").fetchall()
    return [_pass_record(row) for row in rows]


def has_data(db: sqlite3.Connection) -> bool:
    return bool(db.execute("SELECT count(*) FROM passes").fetchone()[0])


def objects_per_pass(db: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """Objects held per (pass, kind), kind "locations" or "subscribers"."""
    counts: dict[tuple[str, str], int] = {}
    for table in KINDS:
        for name, n in db.execute(f"SELECT pass, count(*) FROM {table} GROUP BY pass"):
            counts[name, table] = n
    return counts


def location_counts(db: sqlite3.Connection) -> dict[str, int]:
    """Locations held per pass."""
    return dict(db.execute("SELECT pass, count(*) FROM locations GROUP BY pass").fetchall())


def containers(db: sqlite3.Connection, *, limit: int) -> list[str]:
    """The parent DNs of the objects the domain pass holds, most objects first."""
    counts: dict[str, int] = {}
    for table in KINDS:
        for (dn,) in db.execute(f"SELECT dn FROM {table} WHERE pass = 'domain'"):
            parent = dn_parent(dn)
            if parent:
                counts[parent] = counts.get(parent, 0) + 1
    return sorted(counts, key=lambda p: (-counts[p], p))[:limit]


def object_count(db: sqlite3.Connection) -> int:
    """Objects held, counted once per objectGUID (what the deletion guard weighs)."""
    # Every merged subscriber is counted once in seats_by_home's vm (schema 5).
    subscribers = (
        "(SELECT coalesce(sum(vm), 0) FROM seats_by_home)"
        if has_table(db, "seats_by_home")
        else f"(SELECT count(*) FROM ({merged('subscribers', 'guid')}))"
    )
    row = db.execute(
        f"SELECT (SELECT count(*) FROM ({merged('locations', 'guid')})) + {subscribers}"
    ).fetchone()
    return int(row[0])


def rows(db: sqlite3.Connection, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``locations`` or ``subscribers`` as compared between syncs, sorted;
    the pass name first."""
    if table not in COMPARED:
        raise ValueError(table)
    return db.execute(f"SELECT pass, {COMPARED[table]} FROM {table} ORDER BY pass, guid").fetchall()


def locations(db: sqlite3.Connection, *, pass_name: str | None = None) -> list[Location]:
    """The Locations held, one per objectGUID (the domain pass's copy preferred), or
    those of one pass."""
    source = merged("locations") if pass_name is None else "locations"
    where = "" if pass_name is None else "WHERE pass = ?"
    # A schema-5 store opened read-only (a dry run) has no attachment_refused.
    refused = "attachment_refused" if "attachment_refused" in columns(db, "locations") else "NULL"
    found = db.execute(
        "SELECT guid, dn, name, object_id, version, failover_of, attachment, "
        f"{refused} FROM ({source}) {where} ORDER BY name, guid",
        () if pass_name is None else (pass_name,),
    ).fetchall()
    return [Location(*row) for row in found]


def homed_seats(db: sqlite3.Connection) -> dict[str, Seats]:
    """Seats used by subscribers, summed per home Location object id ("" for none)."""
    if has_table(db, "seats_by_home"):  # kept by every commit (schema 5)
        found = db.execute("SELECT home, vm, um, inbox FROM seats_by_home").fetchall()
    else:  # an older store opened read-only
        found = db.execute(
            "SELECT coalesce(home, ''), count(*), sum(um), sum(inbox) "
            f"FROM ({merged('subscribers')}) GROUP BY coalesce(home, '')"
        ).fetchall()
    return {home: Seats(vm=vm, um=um, inbox=inbox) for home, vm, um, inbox in found}


def subscribers_homed_on(
    db: sqlite3.Connection, homes: Iterable[str], *, limit: int
) -> list[tuple[str, str]]:
    """Up to ``limit`` subscribers (DN, home key) whose home is one of ``homes`` ("" for
    no home), one per objectGUID, by DN."""
    wanted = sorted(set(homes))
    if not wanted or limit <= 0:
        return []
    marks = ",".join("?" * len(wanted))
    found = db.execute(
        f"SELECT dn, coalesce(home, '') FROM ({merged('subscribers')}) "
        f"WHERE coalesce(home, '') IN ({marks}) ORDER BY dn LIMIT ?",
        (*wanted, limit),
    ).fetchall()
    return [(dn, home) for dn, home in found]
