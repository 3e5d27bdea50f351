"""Open, version-check, read and write the SQLite store."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from poolsync.dn import parent as dn_parent
from poolsync.errors import StoreError, StoreLockedError, StoreVersionError
from poolsync.model import Location, SeatClass, Seats, Subscriber
from poolsync.records import (
    KINDS,
    MODES,
    Changes,
    Kind,
    Mode,
    Op,
    PassRecord,
    Plan,
    PlannedChange,
    RunRecord,
    Snapshot,
)
from poolsync.servers.model import ServerReading
from poolsync.store.files import check_file, lock_path, prepare
from poolsync.store.health import damage
from poolsync.store.readings import add_readings, latest_readings
from poolsync.store.schema import (
    APPLICATION_ID,
    DDL,
    MIGRATIONS,
    SCHEMA_VERSION,
    STAGING_DDL,
    STAGING_TABLES,
)
from poolsync.trust import trusted_uid

BATCH = 1000
PASS_ORDER = ("domain", "gc")  # the domain pass's copy wins where both passes hold one





_LOC_COLS = ("pass, guid, dn, name, object_id, version, failover_of, attachment, usn_changed, "
             "attachment_refused")
_SUB_COLS = "pass, guid, dn, home, dtmf_id, um, inbox, usn_changed"
_COMPARED = {
    "locations": "guid, dn, name, object_id, version, failover_of, attachment, "
                 "attachment_refused",
    "subscribers": "guid, dn, home, dtmf_id, um, inbox",
}


def _merged(table: str, cols: str = "*") -> str:
    """Rows of ``table``, one per objectGUID, the domain pass's copy preferred."""
    return (
        f"SELECT {cols} FROM {table} WHERE pass = 'domain' UNION ALL "
        f"SELECT {cols} FROM {table} AS g WHERE g.pass = 'gc' AND NOT EXISTS "
        f"(SELECT 1 FROM {table} AS d WHERE d.pass = 'domain' AND d.guid = g.guid)"
    )


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
        db.execute("CREATE TEMP TABLE IF NOT EXISTS seat_delta "
                   "(home TEXT NOT NULL, vm INTEGER, um INTEGER, inbox INTEGER)")
        db.execute("DELETE FROM temp.seat_delta")
    db.execute(f"INSERT INTO temp.seat_delta SELECT home, {int(sign)}, {int(sign)} * um, "
               f"{int(sign)} * inbox FROM ({_CHANGED_MERGED})")


def _fold_seat_delta(db: sqlite3.Connection) -> None:
    db.execute(
        "INSERT INTO main.seats_by_home (home, vm, um, inbox) SELECT home, sum(vm), sum(um), "
        "sum(inbox) FROM temp.seat_delta WHERE true GROUP BY home ON CONFLICT (home) DO "
        "UPDATE SET vm = vm + excluded.vm, um = um + excluded.um, "
        "inbox = inbox + excluded.inbox")
    db.execute("DELETE FROM main.seats_by_home WHERE vm = 0")
    db.execute("DELETE FROM temp.seat_delta")


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
        # Before SQLite sees the path: no other user controls where the store is, and
        # a new store's file is created 0600 without following a link.
        existed = os.path.lexists(path)
        if not prepare(path, create=create):
            raise StoreError(f"no store at {path}: run `poolsync resync --total` first")
        try:
            if create:
                db = sqlite3.connect(path, isolation_level=None, timeout=10)
            else:
                db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                     isolation_level=None, timeout=10)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from exc
        store = cls(path, db)
        try:
            store._prepare(new=not existed, writable=create)
        except sqlite3.Error as exc:
            db.close()
            damaged = damage(exc, path)
            if damaged is not None:
                raise damaged from exc
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
                # Another process may have created it since we looked: look again
                # under the write lock.
                if not db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    # executescript() would commit on its own: statement by statement.
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
        if version < SCHEMA_VERSION and writable:
            with self.transaction():
                # Re-read under the write lock: a concurrent run may have migrated it.
                version = db.execute("PRAGMA user_version").fetchone()[0]
                for step in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[step]:
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

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
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreLockedError(f"{self.path} is busy: {exc}") from exc
            # Not another run: something keeps the store from being written (exit 1,
            # not 6, which schedulers take for "try again later").
            raise StoreError(f"{self.path} cannot be written ({exc}); check it and its "
                             f"-wal and -shm files") from exc
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                damaged = damage(exc, self.path)
                if damaged is not None:
                    raise damaged from exc
                raise StoreError(f"writing {self.path} failed, nothing was changed: "
                                 f"{exc}") from exc
            raise

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """One read transaction: every read inside sees the same committed state (WAL
        gives each reader a snapshot), so a report never mixes two commits, e.g. the
        Locations before a resync's commit and the seats after it."""
        if self._db.in_transaction:  # already inside one: it is the snapshot
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            if self._db.in_transaction:
                self._db.execute("COMMIT")

    # -- the run lock ------------------------------------------------------------
    def lock(self) -> None:
        """Hold the store for one sync run. The kernel drops it if the process dies."""
        if self._lock_fd is not None:
            return
        lock_file = lock_path(self.path)
        try:
            # O_NOFOLLOW: a link planted in its place must not be truncated.
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600)
        except OSError as exc:
            raise StoreError(f"cannot create the run lock {lock_file}: {exc.strerror}") from exc
        if not trusted_uid(os.fstat(fd).st_uid):  # planted in a shared sticky directory
            os.close(fd)
            check_file(lock_file)
            raise StoreError(f"the run lock {lock_file} belongs to another user: remove it")
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
    def abandon_stale_runs(self, finished_at: str) -> int:
        """Close the runs a killed process left open; call only while holding the lock.

        Whoever held the lock before us is gone (the kernel released its flock). A run
        it left 'running' never committed: it becomes 'abandoned' (counted and
        returned). One left 'committed' died after its commit: it becomes 'ok'.
        """
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE runs SET status = 'abandoned', finished_at = ?, detail = ? "
                "WHERE status = 'running'",
                (finished_at, json.dumps({"error": "the process ended before the run "
                                                   "finished (killed?); nothing it read "
                                                   "was committed"})))
            # Killed after its commit: what it read is in the store.
            db.execute(
                "UPDATE runs SET status = 'ok', finished_at = ?, detail = ? "
                "WHERE status = 'committed'",
                (finished_at, json.dumps({"note": "committed; the process ended before "
                                                  "it recorded the end of the run"})))
            return cur.rowcount

    def last_success(self) -> RunRecord | None:
        """The most recent run that committed (ok or with findings)."""
        row = self._db.execute(
            "SELECT id, kind, started_at, finished_at, status, detail FROM runs "
            "WHERE status IN ('ok', 'findings') ORDER BY id DESC LIMIT 1").fetchone()
        return RunRecord(row[0], row[1], row[2], row[3], row[4],
                         json.loads(row[5] or "{}")) if row else None

    def violations(self) -> dict[str, datetime]:
        """When each license violation still present was first seen by a sync."""
        try:
            rows = self._db.execute("SELECT key, first_seen FROM violations").fetchall()
        except sqlite3.OperationalError:  # an older store opened read-only
            return {}
        return {key: datetime.fromisoformat(when) for key, when in rows}

    def record_violations(self, keys: set[str], now: datetime, *,
                          keep: Callable[[str], bool] = lambda _key: False) -> None:
        """Keep the first-seen time of ``keys``, add new ones at ``now``, and forget the
        others, except those ``keep`` says to hold (a server this run could not assess
        must not have its grace period restarted)."""
        with self.transaction() as db:
            held = {row[0] for row in db.execute("SELECT key FROM violations")}
            db.executemany("DELETE FROM violations WHERE key = ?",
                           [(k,) for k in sorted(held - keys) if not keep(k)])
            db.executemany("INSERT INTO violations (key, first_seen) VALUES (?, ?)",
                           [(k, now.isoformat(timespec="seconds")) for k in sorted(keys - held)])

    def last_total(self) -> RunRecord | None:
        """The most recent total resync that committed."""
        row = self._db.execute(
            "SELECT id, kind, started_at, finished_at, status, detail FROM runs "
            "WHERE kind = 'total' AND status IN ('ok', 'findings') "
            "ORDER BY id DESC LIMIT 1").fetchone()
        return RunRecord(row[0], row[1], row[2], row[3], row[4],
                         json.loads(row[5] or "{}")) if row else None

    def begin_run(self, kind: str, started_at: str) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO runs (kind, started_at, status) VALUES (?, ?, 'running')",
                (kind, started_at),
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, *, status: str, finished_at: str,
                   detail: dict[str, Any], unless_committed: bool = False) -> None:
        """Record how run ``run_id`` ended; with ``unless_committed``, only while it is
        still ``running`` (a failure after its commit must not hide the commit)."""
        guard = " AND status = 'running'" if unless_committed else ""
        with self.transaction() as db:
            db.execute(
                f"UPDATE runs SET status = ?, finished_at = ?, detail = ? WHERE id = ?{guard}",
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
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(passes)")}
        # A schema-1 store opened read-only (a dry run) is not migrated: its defaults.
        extra = "method, cookie" if "cookie" in columns else "'usn', NULL"
        rows = self._db.execute(
            "SELECT pass, endpoint, dc_host, invocation_id, naming_context, usn, synced_at, "
            f"profile, {extra} FROM passes ORDER BY pass").fetchall()
        return [PassRecord(*row) for row in rows]

    def objects_per_pass(self) -> dict[tuple[str, str], int]:
        """Objects held per (pass, kind), kind "locations" or "subscribers"."""
        counts: dict[tuple[str, str], int] = {}
        for table in ("locations", "subscribers"):
            for name, n in self._db.execute(
                    f"SELECT pass, count(*) FROM {table} GROUP BY pass").fetchall():
                counts[name, table] = n
        return counts

    def containers(self, *, limit: int) -> list[str]:
        """The parent DNs of the objects the domain pass holds, most objects first.

        What ``poolsync service`` watches for change notifications.
        """
        counts: dict[str, int] = {}
        for table in ("locations", "subscribers"):
            for (dn,) in self._db.execute(f"SELECT dn FROM {table} WHERE pass = 'domain'"):
                parent = dn_parent(dn)
                if parent:
                    counts[parent] = counts.get(parent, 0) + 1
        return sorted(counts, key=lambda p: (-counts[p], p))[:limit]

    def object_count(self) -> int:
        """Objects held, counted once per objectGUID (what the deletion guard weighs)."""
        # Every merged subscriber is counted once in seats_by_home's vm (schema 5).
        subscribers = ("(SELECT coalesce(sum(vm), 0) FROM seats_by_home)"
                       if self._has_table("seats_by_home") else
                       f"(SELECT count(*) FROM ({_merged('subscribers', 'guid')}))")
        row = self._db.execute(
            f"SELECT (SELECT count(*) FROM ({_merged('locations', 'guid')})) + {subscribers}"
        ).fetchone()
        return int(row[0])

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of ``locations`` or ``subscribers`` as compared between syncs.

        Sorted; the pass name first. For tests and consistency checks.
        """
        if table not in _COMPARED:
            raise ValueError(table)
        return self._db.execute(
            f"SELECT pass, {_COMPARED[table]} FROM {table} ORDER BY pass, guid").fetchall()

    def location_counts(self) -> dict[str, int]:
        """Locations held per pass."""
        rows = self._db.execute("SELECT pass, count(*) FROM locations GROUP BY pass").fetchall()
        return {name: n for name, n in rows}

    def has_data(self) -> bool:
        return bool(self._db.execute("SELECT count(*) FROM passes").fetchone()[0])

    def columns(self, table: str) -> set[str]:
        """The columns of one of the store's tables (an older store may lack some)."""
        return {row[1] for row in self._db.execute(f"PRAGMA main.table_info({table})")}

    def locations(self, *, pass_name: str | None = None) -> list[Location]:
        """The Locations held, one per objectGUID (the domain pass's copy preferred),
        or those of one pass ("domain" or "gc")."""
        source = _merged("locations") if pass_name is None else "locations"
        where = "" if pass_name is None else "WHERE pass = ?"
        # A schema-5 store opened read-only (a dry run) has no attachment_refused.
        refused = ("attachment_refused" if "attachment_refused" in self.columns("locations")
                   else "NULL")
        rows = self._db.execute(
            "SELECT guid, dn, name, object_id, version, failover_of, attachment, "
            f"{refused} FROM ({source}) {where} ORDER BY name, guid",
            () if pass_name is None else (pass_name,)).fetchall()
        return [Location(*row) for row in rows]

    def homed_seats(self) -> dict[str, Seats]:
        """Seats used by subscribers, summed per home Location object id (in SQL).

        Subscribers without a home are summed under "" (no Location has that id).
        """
        if self._has_table("seats_by_home"):  # kept by every commit (schema 5)
            rows = self._db.execute("SELECT home, vm, um, inbox FROM seats_by_home").fetchall()
        else:  # an older store opened read-only
            rows = self._db.execute(
                "SELECT coalesce(home, ''), count(*), sum(um), sum(inbox) "
                f"FROM ({_merged('subscribers')}) GROUP BY coalesce(home, '')").fetchall()
        return {home: Seats(vm=vm, um=um, inbox=inbox) for home, vm, um, inbox in rows}

    def subscribers_homed_on(self, homes: Iterable[str], *,
                             limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` subscribers (DN, home key) whose home is one of ``homes``
        ("" for no home), one per objectGUID, by DN: samples of orphans."""
        wanted = sorted(set(homes))
        if not wanted or limit <= 0:
            return []
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(
            f"SELECT dn, coalesce(home, '') FROM ({_merged('subscribers')}) "
            f"WHERE coalesce(home, '') IN ({marks}) ORDER BY dn LIMIT ?",
            (*wanted, limit)).fetchall()
        return [(dn, home) for dn, home in rows]

    def snapshots(self, *, since: datetime | None = None) -> list[Snapshot]:
        """The usage history, oldest first (empty for a store from before schema 4
        opened read-only)."""
        if not self._has_table("snapshots"):
            return []
        where, args = ("WHERE taken_at >= ?", (since.isoformat(timespec="seconds"),)) \
            if since is not None else ("", ())
        rows = self._db.execute(
            "SELECT taken_at, pool, server, class, licensed, used, published FROM snapshots "
            f"{where} ORDER BY taken_at, pool, server, class", args).fetchall()
        return [Snapshot(datetime.fromisoformat(t), pool, server, SeatClass(c), lic, used, pub)
                for t, pool, server, c, lic, used, pub in rows]

    def delete_snapshots(self, *, pool: str | None = None, server: str | None = None,
                         since: datetime | None = None, until: datetime | None = None,
                         dry_run: bool = False) -> int:
        """Delete the usage-history rows matching every condition given (names compared
        case-insensitively; ``since`` inclusive, ``until`` exclusive); how many."""
        where, args = ["1"], []
        if pool is not None:
            where.append("lower(pool) = lower(?)")
            args.append(pool)
        if server is not None:
            where.append("lower(server) = lower(?)")
            args.append(server)
        if since is not None:
            where.append("taken_at >= ?")
            args.append(since.isoformat(timespec="seconds"))
        if until is not None:
            where.append("taken_at < ?")
            args.append(until.isoformat(timespec="seconds"))
        condition = " AND ".join(where)
        if dry_run:
            row = self._db.execute(f"SELECT count(*) FROM snapshots WHERE {condition}",
                                   args).fetchone()
            return int(row[0])
        with self.transaction() as db:
            return db.execute(f"DELETE FROM snapshots WHERE {condition}", args).rowcount

    def _has_table(self, name: str) -> bool:
        return bool(self._db.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
            (name,)).fetchone()[0])

    # -- writing -----------------------------------------------------------------
    def add_snapshots(self, rows: Iterable[Snapshot], *, source: str) -> tuple[int, int]:
        """Store ``rows`` in one transaction; a row with the same (time, pool, server,
        class) as one held replaces it. Returns (added, replaced)."""
        added = replaced = 0
        with self.transaction() as db:
            for row in rows:
                key = (row.taken_at.isoformat(timespec="seconds"), row.pool, row.server,
                       row.seat_class.value)
                held = db.execute("SELECT 1 FROM snapshots WHERE taken_at = ? AND pool = ? "
                                  "AND server = ? AND class = ?", key).fetchone()
                db.execute("INSERT OR REPLACE INTO snapshots (taken_at, pool, server, class, "
                           "licensed, used, published, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (*key, row.licensed, row.used, row.published, source))
                if held:
                    replaced += 1
                else:
                    added += 1
        return added, replaced

    def add_readings(self, readings: Iterable[ServerReading]) -> int:
        """Keep what the servers said about their own licenses, in one transaction."""
        with self.transaction() as db:
            return add_readings(db, readings)

    def latest_readings(self) -> tuple[ServerReading, ...]:
        """The latest reading of each (server, source) (:mod:`poolsync.store.readings`)."""
        return latest_readings(self._db)

    def sync_writer(self) -> SyncWriter:
        return SyncWriter(self._db, self)


def _location_row(pass_name: str, loc: Location, usn: int | None) -> tuple[Any, ...]:
    return (pass_name, loc.guid, loc.dn, loc.name, loc.object_id, loc.version,
            loc.failover_of, loc.attachment, usn, loc.attachment_refused)


def _subscriber_row(pass_name: str, sub: Subscriber, usn: int | None) -> tuple[Any, ...]:
    return (pass_name, sub.guid, sub.dn, sub.home, sub.dtmf_id,
            int(SeatClass.UM in sub.classes), int(SeatClass.INBOX in sub.classes), usn)




def _differs(table: str, new: str, old: str, present: set[str]) -> str:
    """SQL true when a compared column differs; columns an older store (opened read-only
    by a dry run, so not migrated) lacks are not compared."""
    cols = [c.strip() for c in _COMPARED[table].split(",")
            if c.strip() != "guid" and c.strip() in present]
    return " OR ".join(f"NOT ({new}.{c} IS {old}.{c})" for c in cols)


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
        self._db.executescript("".join(f"DROP TABLE IF EXISTS temp.{t};"
                                       for t in STAGING_TABLES))

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
            for table in ("stage_locations", "stage_subscribers", "stage_removals",
                          "stage_modes"):
                self._db.execute(f"DELETE FROM temp.{table} WHERE pass = ?", (pass_name,))
            self._db.execute("INSERT INTO temp.stage_modes (pass, mode) VALUES (?, ?)",
                             (pass_name, mode))
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

    def stage_locations(self, pass_name: str,
                        items: Iterable[tuple[Location, int | None]]) -> int:
        return self._insert(
            f"INSERT OR REPLACE INTO temp.stage_locations ({_LOC_COLS}) "
            "VALUES (?,?,?,?,?,?,?,?,?,?)",
            (_location_row(pass_name, loc, usn) for loc, usn in items))

    def stage_subscribers(self, pass_name: str,
                          items: Iterable[tuple[Subscriber, int | None]]) -> int:
        return self._insert(
            f"INSERT OR REPLACE INTO temp.stage_subscribers ({_SUB_COLS}) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (_subscriber_row(pass_name, sub, usn) for sub, usn in items))

    def stage_removals(self, pass_name: str, items: Iterable[tuple[str, int | None]]) -> int:
        """objectGUIDs that are gone (tombstones) or no longer Unity objects, with the
        uSNChanged at which that was read (None when unknown)."""
        return self._insert(
            "INSERT INTO temp.stage_removals (pass, guid, usn) VALUES (?,?,?) "
            "ON CONFLICT (pass, guid) DO UPDATE SET usn = max(coalesce(usn, -1), "
            "coalesce(excluded.usn, -1))",
            ((pass_name, guid, usn) for guid, usn in items))

    def record_pass(self, record: PassRecord) -> None:
        self._passes = [p for p in self._passes if p.name != record.name] + [record]

    def plan(self) -> Plan:
        """Work out inserts, updates and deletes against the store; changes nothing."""
        db = self._db
        with self._temp():
            # A live copy and a removal of one object: the later reading (higher
            # uSNChanged) wins. Unknown USNs (DirSync) lose to any live read.
            for table in ("stage_locations", "stage_subscribers"):
                db.execute(
                    f"DELETE FROM temp.{table} WHERE EXISTS (SELECT 1 FROM "
                    f"temp.stage_removals AS r WHERE r.pass = {table}.pass AND "
                    f"r.guid = {table}.guid AND coalesce(r.usn, -1) > "
                    f"coalesce({table}.usn_changed, -1) AND r.usn IS NOT NULL)")
            db.execute("DELETE FROM temp.plan")
            for table, label in (("locations", "name"), ("subscribers", "dn")):
                stage = f"temp.stage_{table}"
                db.execute(
                    f"INSERT INTO temp.plan SELECT '{table}', s.pass, s.guid, "
                    "CASE WHEN m.guid IS NULL THEN 'insert' ELSE 'update' END, s.dn, "
                    f"s.{label} FROM {stage} AS s LEFT JOIN main.{table} AS m "
                    "ON m.pass = s.pass AND m.guid = s.guid "
                    f"WHERE m.guid IS NULL OR "
                    f"{_differs(table, 's', 'm', self._store.columns(table))}")
                # total pass: whatever it did not read is gone
                # (CROSS JOIN fixes the join order: the small temp tables drive, so an
                # incremental plan never scans the store's tables.)
                db.execute(
                    f"INSERT INTO temp.plan SELECT '{table}', m.pass, m.guid, 'delete', "
                    f"m.dn, m.{label} FROM temp.stage_modes AS p CROSS JOIN main.{table} AS m "
                    "WHERE p.mode = 'total' AND m.pass = p.pass AND NOT EXISTS (SELECT 1 "
                    f"FROM {stage} AS s WHERE s.pass = m.pass AND s.guid = m.guid)")
                # incremental pass: what it saw removed, unless it also read it live
                db.execute(
                    f"INSERT INTO temp.plan SELECT '{table}', m.pass, m.guid, "
                    f"'delete', m.dn, m.{label} FROM temp.stage_removals AS r CROSS JOIN "
                    f"temp.stage_modes AS p CROSS JOIN main.{table} AS m WHERE p.pass = r.pass "
                    "AND p.mode = 'incremental' AND m.pass = r.pass AND m.guid = r.guid AND "
                    f"NOT EXISTS (SELECT 1 FROM {stage} AS s WHERE s.pass = m.pass AND "
                    "s.guid = m.guid)")
        counts: dict[Kind, Changes] = {}
        for table in KINDS:
            ops = dict(db.execute(
                "SELECT op, count(DISTINCT guid) FROM temp.plan WHERE kind = ? GROUP BY op",
                (table,)).fetchall())
            counts[table] = Changes(added=ops.get("insert", 0), changed=ops.get("update", 0),
                                    removed=ops.get("delete", 0))
        self._planned = True
        return Plan(counts=counts, held=self._store.object_count())

    def planned(self, op: Op | None = None, *,
                limit: int | None = None) -> Iterator[PlannedChange]:
        """The planned changes (all, or one op), ordered by kind, op and DN: one per
        object and operation, its passes joined (``domain+gc``) when both make it."""
        args: list[Any] = [] if op is None else [op]
        where = "" if op is None else "WHERE op = ?"
        sql = ("SELECT kind, group_concat(pass, '+'), op, min(dn), coalesce(min(label), '') "
               f"FROM (SELECT * FROM temp.plan {where} ORDER BY pass) "
               "GROUP BY kind, guid, op ORDER BY kind, op, min(dn)")
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        for row in self._db.execute(sql, args):
            yield PlannedChange(*row)

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
                    f"{table}.pass AND p.guid = {table}.guid)")
                db.execute(
                    f"INSERT OR REPLACE INTO main.{table} ({cols}) SELECT {cols} FROM "
                    f"temp.stage_{table} AS s WHERE EXISTS (SELECT 1 FROM temp.plan AS p "
                    f"WHERE p.kind = '{table}' AND p.op IN ('insert', 'update') AND "
                    "p.pass = s.pass AND p.guid = s.guid)")
            _seat_delta(db, sign=1)  # and what they count now
            _fold_seat_delta(db)
            names = [p.name for p in self._passes]
            db.executemany("DELETE FROM passes WHERE pass = ?", [(n,) for n in names])
            db.executemany(
                "INSERT INTO passes (pass, endpoint, dc_host, invocation_id, naming_context, "
                "usn, synced_at, profile, method, cookie) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(p.name, p.endpoint, p.dc_host, p.invocation_id, p.naming_context, p.usn,
                  p.synced_at, p.profile, p.method, p.cookie) for p in self._passes])
