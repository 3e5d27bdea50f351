"""Staging what the passes read, and committing the plan in one transaction.

:class:`SyncWriter` stages each pass's reads in temporary tables (on disk, this
connection only), asks :mod:`poolsync.store.planner` what they change, and applies that
plan, the passes' watermarks and the seats per home in one write transaction. Staged
objects become rows here, one mapping per kind (:func:`_location_row`,
:func:`_subscriber_row`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from poolsync.model import Location, SeatClass, Subscriber
from poolsync.records import KINDS, MODES, Mode, Op, PassRecord, Plan, PlannedChange
from poolsync.store import planner
from poolsync.store.mirror import WATERMARK_COLS, pass_row
from poolsync.store.schema import STAGING_DDL, STAGING_TABLES

if TYPE_CHECKING:
    from poolsync.store.store import Store

__all__ = ["SyncWriter"]

BATCH = 1000

# The columns a row is staged and stored with, per kind (:func:`_location_row`,
# :func:`_subscriber_row` give them in this order).
_LOC_COLS = (
    "pass, guid, dn, name, object_id, version, failover_of, attachment, usn_changed, "
    "attachment_refused"
)
_SUB_COLS = "pass, guid, dn, home, dtmf_id, um, inbox, usn_changed"


# The merged copy (domain pass preferred) of every subscriber the plan changes, in
# either pass: its home, and the seats it uses.
_CHANGED_MERGED = """
SELECT coalesce(CASE WHEN d.guid IS NOT NULL THEN d.home ELSE g.home END, '') AS home,
       CASE WHEN d.guid IS NOT NULL THEN d.um ELSE g.um END AS um,
       CASE WHEN d.guid IS NOT NULL THEN d.inbox ELSE g.inbox END AS inbox
FROM (SELECT DISTINCT guid FROM temp.plan WHERE kind = 'subscribers') AS t
LEFT JOIN main.subscribers AS d ON d.pass = 'domain' AND d.guid = t.guid
LEFT JOIN main.subscribers AS g ON g.pass = 'gc' AND g.guid = t.guid
WHERE d.guid IS NOT NULL OR g.guid IS NOT NULL"""


def _seat_delta(db: sqlite3.Connection, *, sign: int) -> None:
    """Add the changed subscribers' merged seats, times ``sign``, to temp.seat_delta.

    Called before the plan is applied (-1) and after (+1), in the commit's transaction:
    ``seats_by_home`` then moves by exactly what the commit changed, whatever the size
    of the store.
    """
    if sign < 0:
        db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS seat_delta "
            "(home TEXT NOT NULL, vm INTEGER, um INTEGER, inbox INTEGER)"
        )
        db.execute("DELETE FROM temp.seat_delta")
    db.execute(
        f"INSERT INTO temp.seat_delta SELECT home, {int(sign)}, {int(sign)} * um, "
        f"{int(sign)} * inbox FROM ({_CHANGED_MERGED})"
    )


def _fold_seat_delta(db: sqlite3.Connection) -> None:
    db.execute(
        "INSERT INTO main.seats_by_home (home, vm, um, inbox) SELECT home, sum(vm), sum(um), "
        "sum(inbox) FROM temp.seat_delta WHERE true GROUP BY home ON CONFLICT (home) DO "
        "UPDATE SET vm = vm + excluded.vm, um = um + excluded.um, "
        "inbox = inbox + excluded.inbox"
    )
    db.execute("DELETE FROM main.seats_by_home WHERE vm = 0")
    db.execute("DELETE FROM temp.seat_delta")


def _location_row(pass_name: str, loc: Location, usn: int | None) -> tuple[Any, ...]:
    return (
        pass_name,
        loc.guid,
        loc.dn,
        loc.name,
        loc.object_id,
        loc.version,
        loc.failover_of,
        loc.attachment,
        usn,
        loc.attachment_refused,
    )


def _subscriber_row(pass_name: str, sub: Subscriber, usn: int | None) -> tuple[Any, ...]:
    return (
        pass_name,
        sub.guid,
        sub.dn,
        sub.home,
        sub.dtmf_id,
        int(SeatClass.UM in sub.classes),
        int(SeatClass.INBOX in sub.classes),
        usn,
    )


class SyncWriter:
    """Stages what the passes read, plans the change, and applies it in one transaction.

    Staging lives in temporary tables (on disk, this connection only), so reading a
    large directory costs neither memory nor the store's write lock. A pass is staged
    either as ``total`` (what it read replaces the pass's objects: anything not read is
    deleted) or ``incremental`` (what it read is upserted; its removals, tombstones and
    objects that stopped being Unity objects, are deleted).
    """

    def __init__(self, db: sqlite3.Connection, store: Store) -> None:
        self._db = db
        self._store = store
        self._passes: list[PassRecord] = []
        self._planned = False

    def _drop(self) -> None:
        self._db.executescript("".join(f"DROP TABLE IF EXISTS temp.{t};" for t in STAGING_TABLES))

    def __enter__(self) -> SyncWriter:
        self._drop()
        self._db.executescript(STAGING_DDL)
        return self

    def __exit__(self, *exc: object) -> None:
        self._drop()

    def begin_pass(self, pass_name: str, mode: Mode) -> None:
        """Start (or restart, after a failed attempt) staging a pass."""
        if mode not in MODES:
            raise ValueError(mode)
        with self._temp():
            for table in ("stage_locations", "stage_subscribers", "stage_removals", "stage_modes"):
                self._db.execute(f"DELETE FROM temp.{table} WHERE pass = ?", (pass_name,))
            self._db.execute(
                "INSERT INTO temp.stage_modes (pass, mode) VALUES (?, ?)", (pass_name, mode)
            )
        self._passes = [p for p in self._passes if p.name != pass_name]
        self._planned = False

    @contextlib.contextmanager
    def _temp(self) -> Iterator[None]:
        self._db.execute("BEGIN")  # temp tables only: no lock on the store itself
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _insert(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> int:
        count = 0
        batch: list[tuple[Any, ...]] = []
        with self._temp():
            for row in rows:
                batch.append(row)
                if len(batch) >= BATCH:
                    self._db.executemany(sql, batch)
                    count += len(batch)
                    batch.clear()
            if batch:
                self._db.executemany(sql, batch)
                count += len(batch)
        return count

    def stage_locations(self, pass_name: str, items: Iterable[tuple[Location, int | None]]) -> int:
        return self._insert(
            f"INSERT OR REPLACE INTO temp.stage_locations ({_LOC_COLS}) "
            "VALUES (?,?,?,?,?,?,?,?,?,?)",
            (_location_row(pass_name, loc, usn) for loc, usn in items),
        )

    def stage_subscribers(
        self, pass_name: str, items: Iterable[tuple[Subscriber, int | None]]
    ) -> int:
        return self._insert(
            f"INSERT OR REPLACE INTO temp.stage_subscribers ({_SUB_COLS}) VALUES (?,?,?,?,?,?,?,?)",
            (_subscriber_row(pass_name, sub, usn) for sub, usn in items),
        )

    def stage_removals(self, pass_name: str, items: Iterable[tuple[str, int | None]]) -> int:
        """objectGUIDs that are gone (tombstones) or no longer Unity objects, with the
        uSNChanged at which that was read (None when unknown)."""
        return self._insert(
            "INSERT INTO temp.stage_removals (pass, guid, usn) VALUES (?,?,?) "
            "ON CONFLICT (pass, guid) DO UPDATE SET usn = max(coalesce(usn, -1), "
            "coalesce(excluded.usn, -1))",
            ((pass_name, guid, usn) for guid, usn in items),
        )

    def record_pass(self, record: PassRecord) -> None:
        self._passes = [p for p in self._passes if p.name != record.name] + [record]

    def plan(self) -> Plan:
        """Work out inserts, updates and deletes against the store; changes nothing
        (the rules: :mod:`poolsync.store.planner`)."""
        with self._temp():
            counts = planner.plan(self._db, {t: self._store.columns(t) for t in KINDS})
        self._planned = True
        return Plan(counts=counts, held=self._store.object_count())

    def planned(self, op: Op | None = None, *, limit: int | None = None) -> Iterator[PlannedChange]:
        """The planned changes (all, or one op): :func:`poolsync.store.planner.planned`."""
        return planner.planned(self._db, op, limit=limit)

    def commit(self, *, run_id: int | None = None) -> None:
        """Apply the plan and the passes' watermarks, all in one transaction.

        ``run_id``'s record is marked ``committed`` in the same transaction, so a run
        killed between this commit and recording its end is never taken for one that
        wrote nothing.
        """
        if not self._planned:
            raise RuntimeError("plan() before commit()")
        with self._store.transaction() as db:
            if run_id is not None:
                db.execute("UPDATE runs SET status = 'committed' WHERE id = ?", (run_id,))
            _seat_delta(db, sign=-1)  # what the changed subscribers counted before
            for table, cols in (("locations", _LOC_COLS), ("subscribers", _SUB_COLS)):
                db.execute(
                    f"DELETE FROM main.{table} WHERE EXISTS (SELECT 1 FROM temp.plan AS p "
                    f"WHERE p.kind = '{table}' AND p.op = 'delete' AND p.pass = "
                    f"{table}.pass AND p.guid = {table}.guid)"
                )
                db.execute(
                    f"INSERT OR REPLACE INTO main.{table} ({cols}) SELECT {cols} FROM "
                    f"temp.stage_{table} AS s WHERE EXISTS (SELECT 1 FROM temp.plan AS p "
                    f"WHERE p.kind = '{table}' AND p.op IN ('insert', 'update') AND "
                    "p.pass = s.pass AND p.guid = s.guid)"
                )
            _seat_delta(db, sign=1)  # and what they count now
            _fold_seat_delta(db)
            names = [p.name for p in self._passes]
            db.executemany("DELETE FROM passes WHERE pass = ?", [(n,) for n in names])
            db.executemany(
                f"INSERT INTO passes ({WATERMARK_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [pass_row(p) for p in self._passes],
            )
