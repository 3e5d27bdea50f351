"""The store's edges: read-only opening, foreign files, I/O errors as StoreError."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from poolsync.errors import StoreError, StoreVersionError
from poolsync.store import Store


def test_reading_never_creates_or_changes_a_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(StoreVersionError, match="not a poolsync store"):
        Store.open(empty, create=False)
    assert empty.read_bytes() == b""
    with pytest.raises(StoreError, match="no store at"):
        Store.open(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_a_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    for create in (True, False):
        with pytest.raises(StoreVersionError, match="not a poolsync store"):
            Store.open(other, create=create)


def test_a_new_store_is_versioned_and_empty(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        assert not store.has_data()
        assert store.locations() == []
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1


def test_a_store_path_that_cannot_exist_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the store"):
        Store.open(blocker / "poolsync.db")
