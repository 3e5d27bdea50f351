"""A license violation's key is a ViolationKey; its text (kept by the store, shown by
`pool --format json`) is the same as before it was typed, so an existing store keeps its
violations' first sightings, and their grace periods."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from poolsync.records import ViolationKey
from poolsync.store import Store

GUID = "5f1c0a8e-3b2d-4c6e-9a7f-0123456789ab"
DAY0 = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("pool:lab.example.com:vm", ViolationKey("pool", "lab.example.com", "vm")),
        ("pool:lab.example.com:inbox", ViolationKey.pool("lab.example.com", "inbox")),
        (f"server:{GUID}:voice-ports", ViolationKey.server(GUID, "voice-ports")),
        (f"server:{GUID}:subscribers", ViolationKey.server(GUID, "subscribers")),
        (f"server:{GUID}:um", ViolationKey.server(GUID, "um")),
        ("pool:a:b:vm", ViolationKey.pool("a:b", "vm")),  # a pool id with ":" in it
    ],
)
def test_the_text_round_trips_byte_for_byte(text: str, key: ViolationKey) -> None:
    assert ViolationKey.parse(text) == key
    assert str(key) == text


@pytest.mark.parametrize(
    "text",
    ["", "pool", "pool:f", "pool::vm", "host:g:vm", "server:g:seats", "server:g:", "pool:f:VM"],
)
def test_text_that_is_no_key_is_none(text: str) -> None:
    assert ViolationKey.parse(text) is None


def test_only_a_servers_own_violation_names_a_server() -> None:
    assert ViolationKey.server(GUID, "vm").server_guid == GUID
    assert ViolationKey.pool(GUID, "vm").server_guid is None


def test_an_old_stores_key_text_keeps_its_first_sighting(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store.open(path):
        pass
    # Rows as the previous release wrote them (keys built as strings by compliance.py),
    # and one this release does not know.
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO violations VALUES (?, ?)",
            [
                ("pool:lab.example.com:vm", "2026-10-01T00:00:00+00:00"),
                (f"server:{GUID}:voice-ports", "2026-10-01T00:00:00+00:00"),
                ("server:other-guid:vm", "2026-10-01T00:00:00+00:00"),
                ("quota:lab:vm", "2026-10-01T00:00:00+00:00"),
            ],
        )
    pool = ViolationKey.pool("lab.example.com", "vm")
    ports = ViolationKey.server(GUID, "voice-ports")
    other = ViolationKey.server("other-guid", "vm")
    later = DAY0 + timedelta(days=9)
    with Store.open(path) as store:
        assert store.violations() == {pool: DAY0, ports: DAY0, other: DAY0}
        # Still found: first seen then, not now. The other server, not assessed this
        # time, is kept; the unknown row is forgotten.
        store.record_violations({pool, ports}, later, keep=lambda k: k == other)
        assert store.violations() == {pool: DAY0, ports: DAY0, other: DAY0}
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT key, first_seen FROM violations ORDER BY key").fetchall() == [
            ("pool:lab.example.com:vm", "2026-10-01T00:00:00+00:00"),
            (f"server:{GUID}:voice-ports", "2026-10-01T00:00:00+00:00"),
            ("server:other-guid:vm", "2026-10-01T00:00:00+00:00"),
        ]
