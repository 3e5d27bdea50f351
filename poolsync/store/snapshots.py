"""The usage history (table ``snapshots``): one row per time, pool, server and class.

Written by every committed sync and by ``history import``, read by the capacity
reports. Plain SQL over a connection the :class:`~poolsync.store.Store` owns (it opens
the transactions); rows become :class:`~poolsync.records.Snapshot` in one place.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from poolsync.model import SeatClass
from poolsync.records import Snapshot
from poolsync.store import times

__all__ = ["add", "forget", "read"]

_TIME = "seconds"  # taken_at is kept as ISO 8601 to the second


def _record(row: tuple[Any, ...]) -> Snapshot:
    taken_at, pool, server, seat_class, licensed, used, published = row
    when = times.read(
        taken_at, table="snapshots", column="taken_at", row=f"{pool}/{server}/{seat_class}"
    )
    return Snapshot(when, pool, server, SeatClass(seat_class), licensed, used, published)


def add(db: sqlite3.Connection, rows: Iterable[Snapshot], *, source: str) -> tuple[int, int]:
    """Store ``rows``; a row with the same (time, pool, server, class) as one held
    replaces it. Returns (added, replaced)."""
    added = replaced = 0
    for row in rows:
        key = (row.taken_at.isoformat(timespec=_TIME), row.pool, row.server, row.seat_class.value)
        held = db.execute(
            "SELECT 1 FROM snapshots WHERE taken_at = ? AND pool = ? AND server = ? AND class = ?",
            key,
        ).fetchone()
        db.execute(
            "INSERT OR REPLACE INTO snapshots (taken_at, pool, server, class, "
            "licensed, used, published, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*key, row.licensed, row.used, row.published, source),
        )
        if held:
            replaced += 1
        else:
            added += 1
    return added, replaced


def read(db: sqlite3.Connection, *, since: datetime | None = None) -> list[Snapshot]:
    """The usage history, oldest first."""
    where, args = (
        ("WHERE taken_at >= ?", (since.isoformat(timespec=_TIME),))
        if since is not None
        else ("", ())
    )
    rows = db.execute(
        "SELECT taken_at, pool, server, class, licensed, used, published FROM snapshots "
        f"{where} ORDER BY taken_at, pool, server, class",
        args,
    ).fetchall()
    return [_record(row) for row in rows]


def _where(
    *, pool: str | None, server: str | None, since: datetime | None, until: datetime | None
) -> tuple[str, list[str]]:
    where, args = ["1"], []
    if pool is not None:
        where.append("lower(pool) = lower(?)")
        args.append(pool)
    if server is not None:
        where.append("lower(server) = lower(?)")
        args.append(server)
    if since is not None:
        where.append("taken_at >= ?")
        args.append(since.isoformat(timespec=_TIME))
    if until is not None:
        where.append("taken_at < ?")
        args.append(until.isoformat(timespec=_TIME))
    return " AND ".join(where), args


def forget(
    db: sqlite3.Connection,
    *,
    pool: str | None = None,
    server: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    count_only: bool = False,
) -> int:
    """Delete (or with ``count_only`` count) the rows matching every condition given
    (names compared case-insensitively; ``since`` inclusive, ``until`` exclusive)."""
    condition, args = _where(pool=pool, server=server, since=since, until=until)
    if count_only:
        return int(
            db.execute(f"SELECT count(*) FROM snapshots WHERE {condition}", args).fetchone()[0]
        )
    return db.execute(f"DELETE FROM snapshots WHERE {condition}", args).rowcount
