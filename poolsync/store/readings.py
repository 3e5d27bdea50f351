"""The servers' own readings in the store (``server_readings``): added by
``servers probe`` in one transaction, the latest per (server, source) read back by
the pool and the doctor. Plain SQL over a connection the :class:`Store` owns.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from poolsync.model import Seats
from poolsync.servers.model import SOURCES, ServerReading
from poolsync.store import times

__all__ = ["add_readings", "latest_readings"]

_COLS = (
    "server, source, read_at, reachable, lic_vm, lic_um, lic_inbox, used_vm, used_um, "
    "used_inbox, pooling, secondary, error"
)


def _seats(seats: Seats | None) -> tuple[int | None, int | None, int | None]:
    return (None, None, None) if seats is None else (seats.vm, seats.um, seats.inbox)


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def add_readings(db: sqlite3.Connection, readings: Iterable[ServerReading]) -> int:
    """Insert ``readings`` (a reading of one server, source and time replaces one held);
    the caller's transaction. Returns how many."""
    rows = [
        (
            r.server,
            r.source,
            times.write(r.read_at, timespec="microseconds"),
            int(r.reachable),
            *_seats(r.licensed),
            *_seats(r.published_used),
            _flag(r.pooling_enabled),
            _flag(r.secondary_licensed),
            r.error,
        )
        for r in readings
    ]
    db.executemany(
        f"INSERT OR REPLACE INTO server_readings ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
    )
    return len(rows)


def _reading(row: tuple[object, ...]) -> ServerReading:
    (server, source, read_at, reachable, lv, lu, li, uv, uu, ui, pooling, secondary, error) = row

    def seats(vm: object, um: object, inbox: object) -> Seats | None:
        if vm is None and um is None and inbox is None:
            return None
        return Seats(int(vm or 0), int(um or 0), int(inbox or 0))  # type: ignore[call-overload]

    src = str(source)
    return ServerReading(
        server=str(server),
        source="snmp" if src == "snmp" else "http",
        read_at=times.read(
            read_at, table="server_readings", column="read_at", row=f"{server}/{source}"
        ),
        reachable=bool(reachable),
        licensed=seats(lv, lu, li),
        published_used=seats(uv, uu, ui),
        pooling_enabled=None if pooling is None else bool(pooling),
        secondary_licensed=None if secondary is None else bool(secondary),
        error=None if error is None else str(error),
    )


def latest_readings(db: sqlite3.Connection) -> tuple[ServerReading, ...]:
    """The latest reading of each (server, source), by server name then source
    (http before snmp); empty when the store has no table yet (an older store opened
    read-only)."""
    has = db.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'server_readings'"
    ).fetchone()[0]
    if not has:
        return ()
    rows = db.execute(
        f"SELECT {_COLS} FROM server_readings AS r WHERE read_at = (SELECT max(read_at) "
        "FROM server_readings AS l WHERE l.server = r.server AND l.source = r.source)"
    ).fetchall()
    readings = [_reading(row) for row in rows]
    order = {s: i for i, s in enumerate(SOURCES)}
    return tuple(sorted(readings, key=lambda r: (r.server.lower(), r.server, order[r.source])))
