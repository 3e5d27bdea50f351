"""Open, version-check, read and write the SQLite store."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poolsync.errors import StoreError, StoreLockedError, StoreVersionError
from poolsync.model import Location, SeatClass, Seats, Subscriber
from poolsync.store.schema import APPLICATION_ID, DDL, SCHEMA_VERSION, STAGING_DDL

BATCH = 1000
PASS_ORDER = ("domain", "gc")  # the domain pass's copy wins where both passes hold one


@dataclass(frozen=True, slots=True)
class PassRecord:
    """Where a pass read from and how far: the watermark of that pass."""

    name: str
    endpoint: str
    dc_host: str
    invocation_id: str
    naming_context: str
    usn: int
    synced_at: str
    profile: str


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    kind: str
    started_at: str
    finished_at: str | None
    status: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Changes:
    """What a total resync changed in the store, per object kind."""

    added: int = 0
    changed: int = 0
    removed: int = 0


_LOC_COLS = "pass, guid, dn, name, object_id, version, failover_of, attachment, usn_changed"
_SUB_COLS = "pass, guid, dn, home, dtmf_id, um, inbox, usn_changed"
_COMPARED = {
    "locations": "guid, dn, name, object_id, version, failover_of, attachment",
    "subscribers": "guid, dn, home, dtmf_id, um, inbox",
}


def _merged(table: str, cols: str = "*") -> str:
    """Rows of ``table``, one per objectGUID, the domain pass's copy preferred."""
    return (
        f"SELECT {cols} FROM {table} WHERE pass = 'domain' UNION ALL "
        f"SELECT {cols} FROM {table} AS g WHERE g.pass = 'gc' AND NOT EXISTS "
        f"(SELECT 1 FROM {table} AS d WHERE d.pass = 'domain' AND d.guid = g.guid)"
    )


class Store:
    """The poolsync store at ``path``."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self._db = db
        self._lock_fd: int | None = None

    # -- opening ---------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> Store:
        """Open the store; with ``create=False`` read-only, and it must exist already."""
        exists = path.exists()
        if not exists and not create:
            raise StoreError(f"no store at {path}: run `poolsync resync --total` first")
        try:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(path, isolation_level=None, timeout=10)
            else:
                db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                     isolation_level=None, timeout=10)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from exc
        store = cls(path, db)
        try:
            store._prepare(new=not exists, writable=create)
        except sqlite3.Error as exc:
            db.close()
            raise StoreError(f"{path}: not a usable poolsync store: {exc}") from exc
        except BaseException:
            db.close()
            raise
        return store

    def _prepare(self, *, new: bool, writable: bool) -> None:
        db = self._db
        db.execute("PRAGMA temp_store = FILE")  # staging must not grow the process
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if app_id == 0 and version == 0:
            tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables or not writable:
                raise StoreVersionError(f"{self.path} is not a poolsync store"
                                        + (" (it is empty)" if not tables else ""))
            db.execute("PRAGMA journal_mode = WAL")
            with self.transaction():
                # executescript() would commit on its own: run statement by statement.
                for statement in DDL.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return
        if app_id != APPLICATION_ID:
            raise StoreVersionError(f"{self.path} is an SQLite file but not a poolsync store")
        if version > SCHEMA_VERSION:
            raise StoreVersionError(
                f"{self.path} was written by a newer poolsync (store schema {version}; this "
                f"poolsync reads up to {SCHEMA_VERSION}): upgrade poolsync or use another store"
            )

    def close(self) -> None:
        self.unlock()
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all or nothing. SQLite errors become StoreError."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreLockedError(f"{self.path} is busy: {exc}") from exc
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"writing {self.path} failed, nothing was changed: "
                                 f"{exc}") from exc
            raise

    # -- the run lock ------------------------------------------------------------
    def lock(self) -> None:
        """Hold the store for one sync run. The kernel drops it if the process dies."""
        if self._lock_fd is not None:
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create the run lock {lock_path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLockedError(
                f"another poolsync run holds {self.path} (pid {holder}); try again later"
            ) from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- run history -------------------------------------------------------------
    def begin_run(self, kind: str, started_at: str) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO runs (kind, started_at, status) VALUES (?, ?, 'running')",
                (kind, started_at),
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, *, status: str, finished_at: str,
                   detail: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, detail = ? WHERE id = ?",
                (status, finished_at, json.dumps(detail, sort_keys=True), run_id),
            )

    def runs(self, *, limit: int = 20) -> list[RunRecord]:
        rows = self._db.execute(
            "SELECT id, kind, started_at, finished_at, status, detail FROM runs "
            "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [RunRecord(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}"))
                for r in rows]

    # -- reading -----------------------------------------------------------------
    def passes(self) -> list[PassRecord]:
        rows = self._db.execute(
            "SELECT pass, endpoint, dc_host, invocation_id, naming_context, usn, synced_at, "
            "profile FROM passes ORDER BY pass").fetchall()
        return [PassRecord(*row) for row in rows]

    def location_counts(self) -> dict[str, int]:
        """Locations held per pass."""
        rows = self._db.execute("SELECT pass, count(*) FROM locations GROUP BY pass").fetchall()
        return {name: n for name, n in rows}

    def has_data(self) -> bool:
        return bool(self._db.execute("SELECT count(*) FROM passes").fetchone()[0])

    def locations(self) -> list[Location]:
        rows = self._db.execute(
            "SELECT guid, dn, name, object_id, version, failover_of, attachment "
            f"FROM ({_merged('locations')}) ORDER BY name, guid").fetchall()
        return [Location(*row) for row in rows]

    def homed_seats(self) -> dict[str, Seats]:
        """Seats used by subscribers, summed per home Location object id (in SQL).

        Subscribers without a home are summed under "" (no Location has that id).
        """
        rows = self._db.execute(
            "SELECT coalesce(home, ''), count(*), sum(um), sum(inbox) "
            f"FROM ({_merged('subscribers')}) GROUP BY coalesce(home, '')").fetchall()
        return {home: Seats(vm=vm, um=um, inbox=inbox) for home, vm, um, inbox in rows}

    # -- writing -----------------------------------------------------------------
    def total_resync(self) -> TotalResyncWriter:
        return TotalResyncWriter(self._db, self)


def _location_row(pass_name: str, loc: Location, usn: int | None) -> tuple[Any, ...]:
    return (pass_name, loc.guid, loc.dn, loc.name, loc.object_id, loc.version,
            loc.failover_of, loc.attachment, usn)


def _subscriber_row(pass_name: str, sub: Subscriber, usn: int | None) -> tuple[Any, ...]:
    return (pass_name, sub.guid, sub.dn, sub.home, sub.dtmf_id,
            int(SeatClass.UM in sub.classes), int(SeatClass.INBOX in sub.classes), usn)


class TotalResyncWriter:
    """Stages a total resync and swaps it in with one transaction.

    Staging lives in temporary tables (on disk, this connection only), so reading a
    large directory costs neither memory nor the store's write lock.
    """

    def __init__(self, db: sqlite3.Connection, store: Store) -> None:
        self._db = db
        self._store = store
        self._passes: list[PassRecord] = []

    def __enter__(self) -> TotalResyncWriter:
        self._db.executescript(
            "DROP TABLE IF EXISTS temp.stage_locations;"
            "DROP TABLE IF EXISTS temp.stage_subscribers;" + STAGING_DDL)
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.executescript(
            "DROP TABLE IF EXISTS temp.stage_locations;"
            "DROP TABLE IF EXISTS temp.stage_subscribers;")

    def clear_pass(self, pass_name: str) -> None:
        """Forget what a failed attempt of this pass staged, before it is retried."""
        self._db.execute("DELETE FROM temp.stage_locations WHERE pass = ?", (pass_name,))
        self._db.execute("DELETE FROM temp.stage_subscribers WHERE pass = ?", (pass_name,))
        self._passes = [p for p in self._passes if p.name != pass_name]

    def _insert(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> int:
        count = 0
        batch: list[tuple[Any, ...]] = []
        self._db.execute("BEGIN")  # temp tables: no lock on the store itself
        try:
            for row in rows:
                batch.append(row)
                if len(batch) >= BATCH:
                    self._db.executemany(sql, batch)
                    count += len(batch)
                    batch.clear()
            if batch:
                self._db.executemany(sql, batch)
                count += len(batch)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return count

    def stage_locations(self, pass_name: str,
                        items: Iterable[tuple[Location, int | None]]) -> int:
        return self._insert(
            f"INSERT OR REPLACE INTO temp.stage_locations ({_LOC_COLS}) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (_location_row(pass_name, loc, usn) for loc, usn in items))

    def stage_subscribers(self, pass_name: str,
                          items: Iterable[tuple[Subscriber, int | None]]) -> int:
        return self._insert(
            f"INSERT OR REPLACE INTO temp.stage_subscribers ({_SUB_COLS}) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (_subscriber_row(pass_name, sub, usn) for sub, usn in items))

    def record_pass(self, record: PassRecord) -> None:
        self._passes = [p for p in self._passes if p.name != record.name] + [record]

    def _diff(self, table: str, cols: str) -> Changes:
        """Objects added, changed and removed, counted once per objectGUID.

        Both sides are the merged view the reports use (the domain pass's copy where
        both passes hold an object); ``cols`` are the columns compared.
        """
        db = self._db
        new = _merged(f"temp.stage_{table}", cols)
        old = _merged(f"main.{table}", cols)
        db.execute(f"CREATE TEMP TABLE diff_new AS {new}")
        db.execute(f"CREATE TEMP TABLE diff_old AS {old}")
        try:
            added = db.execute(
                "SELECT count(*) FROM diff_new AS n WHERE NOT EXISTS "
                "(SELECT 1 FROM diff_old AS o WHERE o.guid = n.guid)").fetchone()[0]
            removed = db.execute(
                "SELECT count(*) FROM diff_old AS o WHERE NOT EXISTS "
                "(SELECT 1 FROM diff_new AS n WHERE o.guid = n.guid)").fetchone()[0]
            same = db.execute("SELECT count(*) FROM (SELECT * FROM diff_new INTERSECT "
                              "SELECT * FROM diff_old)").fetchone()[0]
            total = db.execute("SELECT count(*) FROM diff_new").fetchone()[0]
        finally:
            db.execute("DROP TABLE temp.diff_new")
            db.execute("DROP TABLE temp.diff_old")
        return Changes(added=added, changed=total - added - same, removed=removed)

    def commit(self) -> dict[str, Changes]:
        """Swap the staged passes in, all in one transaction; return what changed."""
        with self._store.transaction() as db:
            # usn_changed moves on every write and the pass is not part of the
            # object: compare what the object says.
            changes = {
                "locations": self._diff("locations", _COMPARED["locations"]),
                "subscribers": self._diff("subscribers", _COMPARED["subscribers"]),
            }
            db.execute("DELETE FROM main.locations")
            db.execute("DELETE FROM main.subscribers")
            db.execute(f"INSERT INTO main.locations ({_LOC_COLS}) "
                       f"SELECT {_LOC_COLS} FROM temp.stage_locations")
            db.execute(f"INSERT INTO main.subscribers ({_SUB_COLS}) "
                       f"SELECT {_SUB_COLS} FROM temp.stage_subscribers")
            db.execute("DELETE FROM passes")
            db.executemany(
                "INSERT INTO passes (pass, endpoint, dc_host, invocation_id, naming_context, "
                "usn, synced_at, profile) VALUES (?,?,?,?,?,?,?,?)",
                [(p.name, p.endpoint, p.dc_host, p.invocation_id, p.naming_context, p.usn,
                  p.synced_at, p.profile) for p in self._passes])
        return changes
