"""A damaged store: every command says what to do instead of "database disk image is
malformed", and `poolsync store check` shows what is wrong."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from poolsync.capacity.model import Snapshot
from poolsync.model import SeatClass
from poolsync.store import Store
from tests.support.fakes import write_config
from tests.support.helpers import run


def filled_store(tmp_path: Path) -> tuple[Path, Path]:
    config = write_config(tmp_path)
    store = tmp_path / "store.db"
    with Store.open(store) as opened:
        opened.add_snapshots(
            [
                Snapshot(
                    datetime(2026, 9, d, tzinfo=UTC),
                    "lab.example.com",
                    f"UNITY-{n}",
                    SeatClass.VM,
                    500,
                    400 + n,
                    None,
                )
                for d in range(1, 28)
                for n in range(40)
            ],
            source="import",
        )
    return config, store


def damage(store: Path) -> None:
    """Overwrite pages in the middle of the file, as a failing disk would."""
    data = bytearray(store.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    # Keep the header page (the file still opens as a poolsync store); garble the rest.
    data[page:] = b"\xde\xad\xbe\xef" * ((len(data) - page) // 4)
    store.write_bytes(bytes(data))


def test_a_whole_store_checks_ok(tmp_path: Path) -> None:
    config, _ = filled_store(tmp_path)
    result = run("-c", config, "store", "check", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["integrity"] == ["ok"]
    assert doc["rows"]["snapshots"] == 27 * 40


def test_a_damaged_store_says_what_to_do(tmp_path: Path) -> None:
    config, store = filled_store(tmp_path)
    damage(store)
    result = run("-c", config, "history", "export")
    assert result.exit_code == 1
    assert "malformed" not in result.stderr.split(":", 2)[1]  # not a bare SQLite message
    assert f"the store {store} is damaged" in result.stderr
    assert f"mv {store} {store}.damaged" in result.stderr
    assert "resync --total" in result.stderr and "internal error" not in result.stderr
    check = run("-c", config, "store", "check")
    assert check.exit_code == 3
    assert check.stdout.startswith(f"store {store}: DAMAGED")
    assert "To recover: move it aside" in check.stdout


def test_an_unreadable_run_time_is_one_clear_error(tmp_path: Path) -> None:
    config, store = filled_store(tmp_path)
    with Store.open(store) as opened:
        opened.begin_run("total", datetime(2026, 12, 1, 6, tzinfo=UTC))
    with sqlite3.connect(store) as db:
        db.execute("UPDATE runs SET started_at = 'Tuesday'")
    result = run("-c", config, "history")
    assert result.exit_code == 1 and result.stdout == ""
    assert (
        f"the store {store} is damaged: runs.started_at of run 1 is 'Tuesday', not an "
        "ISO 8601 time with a UTC offset: move it aside"
    ) in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
