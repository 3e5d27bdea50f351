"""License violations and when each was first seen (table ``violations``).

A grace period counts from a violation's first sighting, so the store keeps it from
one sync to the next. Plain SQL over a connection the :class:`~poolsync.store.Store`
owns (it opens the transactions).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from poolsync.store import times

__all__ = ["first_seen", "record"]


def first_seen(db: sqlite3.Connection) -> dict[str, datetime]:
    """When each license violation still present was first seen by a sync."""
    try:
        rows = db.execute("SELECT key, first_seen FROM violations").fetchall()
    except sqlite3.OperationalError:  # an older store opened read-only
        return {}
    return {key: times.read(when, table="violations", column="first_seen",
                            row=f"violation {key!r}") for key, when in rows}


def record(db: sqlite3.Connection, keys: set[str], now: datetime, *,
           keep: Callable[[str], bool]) -> None:
    """Keep the first-seen time of ``keys``, add new ones at ``now``, and forget the
    others, except those ``keep`` says to hold."""
    held = {row[0] for row in db.execute("SELECT key FROM violations")}
    db.executemany("DELETE FROM violations WHERE key = ?",
                   [(k,) for k in sorted(held - keys) if not keep(k)])
    db.executemany("INSERT INTO violations (key, first_seen) VALUES (?, ?)",
                   [(k, times.write(now)) for k in sorted(keys - held)])
