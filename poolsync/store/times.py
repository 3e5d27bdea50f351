"""The store's times: kept as ISO 8601 text with a UTC offset, read back as aware
:class:`~datetime.datetime` in one place, so nothing above the store parses them again.

Only poolsync writes these columns, always with an offset (``2026-11-30T12:00:00+00:00``).
A value that does not read back as one (edited by hand, or damaged) is not guessed at:
:func:`read` raises :class:`UnreadableTime`, which the :class:`~poolsync.store.Store`
turns into :class:`~poolsync.store.StoreDamaged` naming the file, the table, the
column, the row and the value, with what to do.
"""

from __future__ import annotations

from datetime import datetime

__all__ = ["UnreadableTime", "read", "write"]


class UnreadableTime(ValueError):
    """A stored time that is not an ISO 8601 time with a UTC offset."""

    def __init__(self, table: str, column: str, row: str, value: object) -> None:
        self.table, self.column, self.row, self.value = table, column, row, value
        super().__init__(
            f"{table}.{column} of {row} is {value!r}, not an ISO 8601 time with a UTC offset"
        )


def read(value: object, *, table: str, column: str, row: str) -> datetime:
    """The aware datetime ``value`` (a stored text) holds; :class:`UnreadableTime` when
    it holds none. ``row`` says which row, for the message (``run 7``, ``pass 'gc'``)."""
    if not isinstance(value, str):
        raise UnreadableTime(table, column, row, value)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UnreadableTime(table, column, row, value) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise UnreadableTime(table, column, row, value)
    return when


def write(when: datetime, *, timespec: str = "seconds") -> str:
    """The text a time is kept as (to the second unless ``timespec`` says otherwise)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{when!r} must be timezone-aware to be stored")
    return when.isoformat(timespec=timespec)
