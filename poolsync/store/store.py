"""The :class:`Store`: open, version-check and migrate the SQLite file, and its rooms.

The store owns the connection and its transactions; what it reads and writes lives in
one module per concern, each plain SQL over that connection: :mod:`.schema` (tables and
migrations), :mod:`.lock` (the run lock), :mod:`.runs` (the run history),
:mod:`.violations` and :mod:`.snapshots` (compliance and usage history), :mod:`.mirror`
(reading the mirror and the watermarks), :mod:`.staging` and :mod:`.planner` (a sync's
staging, plan and commit), :mod:`.readings` (the servers' own readings).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from poolsync.errors import StoreError, StoreLockedError, StoreVersionError
from poolsync.model import Location, Seats
from poolsync.records import (
    Mode,
    PassRecord,
    RunDetail,
    RunRecord,
    RunStatus,
    Snapshot,
    ViolationKey,
)
from poolsync.servers.model import ServerReading
from poolsync.store import mirror, readings, runs, schema, snapshots, violations
from poolsync.store.files import prepare
from poolsync.store.health import StoreDamaged, advice, damage
from poolsync.store.lock import RunLock
from poolsync.store.schema import APPLICATION_ID, SCHEMA_VERSION
from poolsync.store.staging import SyncWriter
from poolsync.store.times import UnreadableTime

__all__ = ["Store", "SyncWriter"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _times(read: Callable[Concatenate[Store, _P], _T]) -> Callable[Concatenate[Store, _P], _T]:
    """A read whose rows hold times: a stored time that does not read back
    (:mod:`poolsync.store.times`) is damage, said with the file and what to do."""

    @functools.wraps(read)
    def reading(store: Store, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return read(store, *args, **kwargs)
        except UnreadableTime as exc:
            raise StoreDamaged(
                f"the store {store.path} is damaged: {exc}: {advice(store.path, check_hint=False)}"
            ) from None

    return reading


class Store:
    """The poolsync store at ``path``."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self._db = db
        self._lock = RunLock(path)

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
                db = sqlite3.connect(
                    f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=10
                )
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
                raise StoreVersionError(
                    f"{self.path} is not a poolsync store"
                    + (" (it is empty)" if not tables else "")
                )
            db.execute("PRAGMA journal_mode = WAL")
            with self.transaction():
                # Another process may have created it since we looked: look again
                # under the write lock.
                if not db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    schema.create(db)
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
                schema.migrate(db)

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
            raise StoreError(
                f"{self.path} cannot be written ({exc}); check it and its -wal and -shm files"
            ) from exc
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
                raise StoreError(f"writing {self.path} failed, nothing was changed: {exc}") from exc
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

    # -- the run lock (:mod:`poolsync.store.lock`) -------------------------------
    def lock(self) -> None:
        """Hold the store for one sync run. The kernel drops it if the process dies."""
        self._lock.take()

    def unlock(self) -> None:
        self._lock.release()

    # -- run history (:mod:`poolsync.store.runs`) --------------------------------
    def abandon_stale_runs(self, finished_at: datetime) -> int:
        """Close the runs a killed process left open; call only while holding the lock.

        A run left 'running' never committed: it becomes 'abandoned' (counted and
        returned). One left 'committed' died after its commit: it becomes 'ok'.
        """
        with self.transaction() as db:
            return runs.abandon_stale(db, finished_at)

    @_times
    def last_success(self) -> RunRecord | None:
        """The most recent run that committed (ok or with findings)."""
        return runs.last_success(self._db)

    @_times
    def last_total(self) -> RunRecord | None:
        """The most recent total resync that committed."""
        return runs.last_total(self._db)

    def begin_run(self, kind: Mode, started_at: datetime) -> int:
        with self.transaction() as db:
            return runs.begin(db, kind, started_at)

    def finish_run(
        self,
        run_id: int,
        *,
        status: RunStatus,
        finished_at: datetime,
        detail: RunDetail,
        unless_committed: bool = False,
    ) -> None:
        """Record how run ``run_id`` ended; with ``unless_committed``, only while it is
        still ``running`` (a failure after its commit must not hide the commit)."""
        with self.transaction() as db:
            runs.finish(
                db,
                run_id,
                status=status,
                finished_at=finished_at,
                detail=detail,
                unless_committed=unless_committed,
            )

    @_times
    def runs(self, *, limit: int = 20) -> list[RunRecord]:
        return runs.recent(self._db, limit=limit)

    # -- violations and usage history --------------------------------------------
    @_times
    def violations(self) -> dict[ViolationKey, datetime]:
        """When each license violation still present was first seen by a sync."""
        return violations.first_seen(self._db)

    def record_violations(
        self,
        keys: set[ViolationKey],
        now: datetime,
        *,
        keep: Callable[[ViolationKey], bool] = lambda _key: False,
    ) -> None:
        """Keep the first-seen time of ``keys``, add new ones at ``now``, and forget the
        others, except those ``keep`` says to hold (a server this run could not assess
        must not have its grace period restarted)."""
        with self.transaction() as db:
            violations.record(db, keys, now, keep=keep)

    @_times
    def snapshots(self, *, since: datetime | None = None) -> list[Snapshot]:
        """The usage history, oldest first (empty for a store from before schema 4
        opened read-only)."""
        if not mirror.has_table(self._db, "snapshots"):
            return []
        return snapshots.read(self._db, since=since)

    def add_snapshots(self, rows: Iterable[Snapshot], *, source: str) -> tuple[int, int]:
        """Store ``rows`` in one transaction; a row with the same (time, pool, server,
        class) as one held replaces it. Returns (added, replaced)."""
        with self.transaction() as db:
            return snapshots.add(db, rows, source=source)

    def delete_snapshots(
        self,
        *,
        pool: str | None = None,
        server: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        dry_run: bool = False,
    ) -> int:
        """Delete the usage-history rows matching every condition given (names compared
        case-insensitively; ``since`` inclusive, ``until`` exclusive); how many."""
        if dry_run:
            return snapshots.forget(
                self._db, pool=pool, server=server, since=since, until=until, count_only=True
            )
        with self.transaction() as db:
            return snapshots.forget(db, pool=pool, server=server, since=since, until=until)

    # -- the servers' own readings (:mod:`poolsync.store.readings`) --------------
    def add_readings(self, found: Iterable[ServerReading]) -> int:
        """Keep what the servers said about their own licenses, in one transaction."""
        with self.transaction() as db:
            return readings.add_readings(db, found)

    @_times
    def latest_readings(self) -> tuple[ServerReading, ...]:
        """The latest reading of each (server, source) (:mod:`poolsync.store.readings`)."""
        return readings.latest_readings(self._db)

    # -- reading the mirror (:mod:`poolsync.store.mirror`) -----------------------
    @_times
    def passes(self) -> list[PassRecord]:
        return mirror.passes(self._db)

    def objects_per_pass(self) -> dict[tuple[str, str], int]:
        """Objects held per (pass, kind), kind "locations" or "subscribers"."""
        return mirror.objects_per_pass(self._db)

    def containers(self, *, limit: int) -> list[str]:
        """The parent DNs of the objects the domain pass holds, most objects first.

        What ``poolsync service`` watches for change notifications.
        """
        return mirror.containers(self._db, limit=limit)

    def object_count(self) -> int:
        """Objects held, counted once per objectGUID (what the deletion guard weighs)."""
        return mirror.object_count(self._db)

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of ``locations`` or ``subscribers`` as compared between syncs.

        Sorted; the pass name first. For tests and consistency checks.
        """
        return mirror.rows(self._db, table)

    def location_counts(self) -> dict[str, int]:
        """Locations held per pass."""
        return mirror.location_counts(self._db)

    def has_data(self) -> bool:
        return mirror.has_data(self._db)

    def columns(self, table: str) -> set[str]:
        """The columns of one of the store's tables (an older store may lack some)."""
        return mirror.columns(self._db, table)

    def locations(self, *, pass_name: str | None = None) -> list[Location]:
        """The Locations held, one per objectGUID (the domain pass's copy preferred),
        or those of one pass ("domain" or "gc")."""
        return mirror.locations(self._db, pass_name=pass_name)

    def homed_seats(self) -> dict[str, Seats]:
        """Seats used by subscribers, summed per home Location object id (in SQL).

        Subscribers without a home are summed under "" (no Location has that id).
        """
        return mirror.homed_seats(self._db)

    def subscribers_homed_on(self, homes: Iterable[str], *, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` subscribers (DN, home key) whose home is one of ``homes``
        ("" for no home), one per objectGUID, by DN: samples of orphans."""
        return mirror.subscribers_homed_on(self._db, homes, limit=limit)

    # -- a sync's staging, plan and commit (:mod:`poolsync.store.staging`) -------
    def sync_writer(self) -> SyncWriter:
        return SyncWriter(self._db, self)
