"""License violations and when each was first seen (table ``violations``).

A grace period counts from a violation's first sighting, so the store keeps it from
one sync to the next. Plain SQL over a connection the :class:`~poolsync.store.Store`
owns (it opens the transactions). Each row's ``key`` is a
:class:`~poolsync.records.ViolationKey`'s text; only here is it read back. A key that
does not read back (none of this poolsync's rules) matches no violation found now, so
it is not returned, and the next record forgets it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from poolsync.records import ViolationKey
from poolsync.store import times

__all__ = ["first_seen", "record"]


def first_seen(db: sqlite3.Connection) -> dict[ViolationKey, datetime]:
    """When each license violation still present was first seen by a sync."""
    try:
        rows = db.execute("SELECT key, first_seen FROM violations").fetchall()
    except sqlite3.OperationalError:  # an older store opened read-only
        return {}
    return {
        key: times.read(when, table="violations", column="first_seen", row=f"violation {text!r}")
        for text, when in rows
        if (key := ViolationKey.parse(text)) is not None
    }


def record(
    db: sqlite3.Connection,
    keys: set[ViolationKey],
    now: datetime,
    *,
    keep: Callable[[ViolationKey], bool],
) -> None:
    """Keep the first-seen time of ``keys``, add new ones at ``now``, and forget the
    others, except those ``keep`` says to hold."""
    held = {row[0] for row in db.execute("SELECT key FROM violations")}
    wanted = {str(key) for key in keys}

    def kept(text: str) -> bool:
        key = ViolationKey.parse(text)
        return key is not None and keep(key)

    db.executemany(
        "DELETE FROM violations WHERE key = ?", [(k,) for k in sorted(held - wanted) if not kept(k)]
    )
    db.executemany(
        "INSERT INTO violations (key, first_seen) VALUES (?, ?)",
        [(k, times.write(now)) for k in sorted(wanted - held)],
    )
