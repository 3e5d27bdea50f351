"""A damaged store: recognising SQLite's corruption errors, saying what to do, and
``poolsync store check``'s look inside (read-only)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from poolsync.errors import StoreError
from poolsync.store.schema import APPLICATION_ID

__all__ = ["StoreCheck", "StoreDamaged", "check_store", "damage"]

#: What SQLite says of a file it cannot read as a database, or of a damaged one.
_DAMAGE_WORDS = ("malformed", "not a database", "disk image", "corrupt")
_TABLES = ("locations", "subscribers", "passes", "runs", "snapshots", "violations", "seats_by_home")


class StoreDamaged(StoreError):
    """The store's file is damaged: what to do instead of a bare SQLite message."""


def advice(path: Path, *, check_hint: bool = True) -> str:
    return (
        f"move it aside (mv {path} {path}.damaged); to keep the usage history, point a "
        f"config's store at the moved file and run `poolsync history export --out "
        f"history.csv` if it still reads (then `history import` it); `poolsync resync "
        f"--total` builds a new store"
        + (". `poolsync store check` shows what is damaged" if check_hint else "")
    )


def damage(exc: BaseException, path: Path) -> StoreDamaged | None:
    """A StoreDamaged for ``exc`` when it is SQLite saying the file is damaged."""
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(
        exc, sqlite3.OperationalError | sqlite3.IntegrityError
    ):
        return None
    text = str(exc)
    if not any(words in text.lower() for words in _DAMAGE_WORDS):
        return None
    return StoreDamaged(f"the store {path} is damaged ({text}): {advice(path)}")


@dataclass(frozen=True, slots=True)
class StoreCheck:
    path: str
    readable: bool
    poolsync_store: bool
    schema_version: int | None
    integrity: tuple[str, ...]  # "ok", or SQLite's list of problems
    rows: dict[str, int | None]  # per table; None when it could not be counted
    runs: int | None
    problem: str | None = None  # why it could not be checked at all

    @property
    def ok(self) -> bool:
        return (
            self.readable
            and self.poolsync_store
            and self.integrity == ("ok",)
            and all(n is not None for n in self.rows.values())
        )


def check_store(path: Path) -> StoreCheck:
    """Look at ``path`` read-only: header, schema version, SQLite's integrity check and
    the row count of each table. Never raises for a damaged file; it reports it."""
    if not path.exists():
        raise StoreError(f"no store at {path}")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        return StoreCheck(str(path), False, False, None, (), {}, None, str(exc))
    try:
        try:
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            return StoreCheck(str(path), False, False, None, (), {}, None, str(exc))
        try:
            integrity = tuple(row[0] for row in db.execute("PRAGMA integrity_check(50)"))
        except sqlite3.DatabaseError as exc:
            integrity = (str(exc),)
        rows: dict[str, int | None] = {}
        for table in _TABLES:
            try:
                rows[table] = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            except sqlite3.DatabaseError:
                rows[table] = None
        return StoreCheck(
            str(path), True, app_id == APPLICATION_ID, version, integrity, rows, rows.get("runs")
        )
    finally:
        db.close()
