"""The total-resync engine over an in-memory directory: atomicity and retries."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from poolsync.attachment import format_attachment, license_data
from poolsync.config import load_config
from poolsync.errors import DirectoryUnavailable, StoreLockedError, UnsafeChangeError
from poolsync.model import Seats
from poolsync.profile import load_profile
from poolsync.store import Changes, Store
from poolsync.sync import engine
from tests.unit.fakes import FakeDirectory, location_entry, subscriber_entry, write_config

ATTACHMENT = format_attachment(license_data(licensed=Seats(10, 5, 2), pooling=True,
                                            secondary=False, ports=4, published=None))


def now() -> datetime:
    return datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def directory(subscribers: int = 30) -> FakeDirectory:
    return FakeDirectory(
        locations=[location_entry(1, "UNITY-A", "loc-a", ATTACHMENT),
                   location_entry(2, "UNITY-B", "loc-b", None)],
        subscribers=[subscriber_entry(n, "loc-a" if n % 3 else "loc-b",
                                      ("UM",) if n % 2 else ("VMI", "UM"))
                     for n in range(subscribers)],
    )


def resync(tmp_path: Path, fake: FakeDirectory,
           monkeypatch: pytest.MonkeyPatch) -> engine.ResyncSummary:
    monkeypatch.setattr(engine, "connect", fake.connect)
    config = load_config(write_config(tmp_path))
    return engine.total_resync(config, load_profile("cisco-unity"), password="pw", now=now)


def snapshot(db_path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT * FROM subscribers ORDER BY pass, guid").fetchall() + \
            db.execute("SELECT * FROM locations ORDER BY pass, guid").fetchall()


def test_total_resync_stores_both_passes(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    summary = resync(tmp_path, directory(), monkeypatch)
    assert [(p.name, p.locations, p.subscribers) for p in summary.passes] == [
        ("domain", 2, 30), ("gc", 2, 30)]
    # Counted once per object, though both passes hold a copy.
    assert summary.changes["subscribers"].added == 30
    assert summary.changes["locations"].added == 2
    with Store.open(tmp_path / "store.db", create=False) as store:
        homed = store.homed_seats()
        assert homed["loc-b"] == Seats(vm=10, um=10, inbox=5)
        assert homed["loc-a"] == Seats(vm=20, um=20, inbox=10)
        assert [p.usn for p in store.passes()] == [5000, 5000]
        assert store.runs()[0].status == "ok"
    again = resync(tmp_path, directory(), monkeypatch)
    assert again.changes["subscribers"].added == 0
    assert again.changes["subscribers"].changed == 0


def test_a_dropped_connection_retries_the_pass_without_duplicates(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = directory()
    fake.fail_after, fake.failures_left = 17, 1
    summary = resync(tmp_path, fake, monkeypatch)
    assert summary.passes[0].attempts == 2
    assert summary.passes[0].subscribers == 30
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert sum(s.vm for s in store.homed_seats().values()) == 30


def test_a_failed_run_leaves_the_previous_state(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    resync(tmp_path, directory(), monkeypatch)
    before = snapshot(tmp_path / "store.db")
    broken = directory(subscribers=50)
    broken.fail_after, broken.failures_left = 40, 100  # every attempt drops after 40
    with pytest.raises(DirectoryUnavailable):
        resync(tmp_path, broken, monkeypatch)
    assert broken.connects == 3  # as many attempts as the retry policy allows
    assert snapshot(tmp_path / "store.db") == before
    with Store.open(tmp_path / "store.db", create=False) as store:
        runs = store.runs()
        assert [r.status for r in runs[:2]] == ["failed", "ok"]
        assert "reset by peer" in runs[0].detail["error"]


def test_an_interrupt_mid_stream_leaves_the_previous_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resync(tmp_path, directory(), monkeypatch)
    before = snapshot(tmp_path / "store.db")
    fake = directory(subscribers=80)
    original = fake.connect

    def interrupting(*args: object, **kwargs: object) -> object:
        conn = original(*args, **kwargs)  # type: ignore[arg-type]
        real_search = conn.search

        def search(*a: object, **k: object) -> object:
            for i, entry in enumerate(real_search(*a, **k)):  # type: ignore[arg-type]
                if i == 25:
                    raise KeyboardInterrupt
                yield entry
        conn.search = search  # type: ignore[method-assign,assignment]
        return conn

    monkeypatch.setattr(fake, "connect", interrupting)
    with pytest.raises(KeyboardInterrupt):
        resync(tmp_path, fake, monkeypatch)
    assert snapshot(tmp_path / "store.db") == before


def test_a_second_run_is_refused_while_one_holds_the_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resync(tmp_path, directory(), monkeypatch)
    with Store.open(tmp_path / "store.db") as holder:
        holder.lock()
        with pytest.raises(StoreLockedError, match="another poolsync run holds"):
            resync(tmp_path, directory(), monkeypatch)


def test_a_pass_that_finds_no_locations_does_not_erase_the_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resync(tmp_path, directory(), monkeypatch)
    before = snapshot(tmp_path / "store.db")
    empty = FakeDirectory(locations=[], subscribers=[])
    with pytest.raises(UnsafeChangeError, match="read no Locations") as info:
        resync(tmp_path, empty, monkeypatch)
    assert info.value.exit_code == 4
    assert snapshot(tmp_path / "store.db") == before
    monkeypatch.setattr(engine, "connect", empty.connect)
    config = load_config(tmp_path / "poolsync.yaml")
    summary = engine.total_resync(config, load_profile("cisco-unity"), password="pw", now=now,
                                  allow_empty=True)
    assert summary.changes["locations"].removed == 2
    assert summary.servers == 0


def test_changes_are_counted_per_object(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    resync(tmp_path, directory(), monkeypatch)
    changed = directory()
    changed.subscribers[0] = subscriber_entry(0, "loc-a", ())  # was loc-b with VMI, UM
    del changed.subscribers[1]
    summary = resync(tmp_path, changed, monkeypatch)
    assert summary.changes["subscribers"] == Changes(added=0, changed=1, removed=1)


def test_subscribers_without_a_home_are_still_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = directory(subscribers=3)
    homeless = subscriber_entry(99, "")
    del homeless.attributes["ciscoecsbuumlocationobjectid"]  # type: ignore[attr-defined]
    fake.subscribers.append(homeless)
    summary = resync(tmp_path, fake, monkeypatch)
    assert summary.subscribers == 4
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert store.homed_seats()[""] == Seats(vm=1)


def test_an_object_without_a_usable_guid_is_skipped_not_fatal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = directory(subscribers=4)
    broken = subscriber_entry(50, "loc-a")
    broken.attributes["objectguid"] = [b"short"]  # type: ignore[index]
    fake.subscribers.insert(2, broken)
    summary = resync(tmp_path, fake, monkeypatch)
    assert [(p.subscribers, p.skipped) for p in summary.passes] == [(4, 1), (4, 1)]
    assert summary.subscribers == 4
