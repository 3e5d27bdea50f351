"""The total-resync engine over an in-memory directory: atomicity and retries."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from poolsync.attachment import format_attachment, license_data
from poolsync.config import load_config
from poolsync.errors import (
    DirectoryUnavailable,
    RunawaySearch,
    StoreLockedError,
    UnsafeChangeError,
)
from poolsync.model import Entry, Seats
from poolsync.profile import load_profile
from poolsync.store import Changes, Store
from poolsync.sync import engine
from tests.helpers import LICENSE_CLASS_PROFILE
from tests.unit.fakes import (
    FakeDirectory,
    guid_bytes,
    location_entry,
    subscriber_entry,
    write_config,
)

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


def resync(tmp_path: Path, fake: FakeDirectory, monkeypatch: pytest.MonkeyPatch, *,
           total: bool = True, **kwargs: object) -> engine.SyncResult:
    config = load_config(write_config(tmp_path))
    return engine.run_sync(config, load_profile(str(LICENSE_CLASS_PROFILE)),
                           source=fake.serve(config), now=now,
                           total=total, **kwargs)  # type: ignore[arg-type]


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
    assert summary.plan.counts["subscribers"].added == 30
    assert summary.plan.counts["locations"].added == 2
    with Store.open(tmp_path / "store.db", create=False) as store:
        homed = store.homed_seats()
        assert homed["loc-b"] == Seats(vm=10, um=10, inbox=5)
        assert homed["loc-a"] == Seats(vm=20, um=20, inbox=10)
        assert [p.usn for p in store.passes()] == [5000, 5000]
        # UNITY-A's 10 VM seats cannot cover 30 subscribers: synced, with findings.
        assert store.runs()[0].status == "findings"
    assert summary.compliant is False
    again = resync(tmp_path, directory(), monkeypatch)
    assert again.plan.counts["subscribers"].added == 0
    assert again.plan.counts["subscribers"].changed == 0


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
    # as many domain attempts as the retry policy allows, and the GC's, opened ahead
    assert broken.connects == 3 + 1
    assert snapshot(tmp_path / "store.db") == before
    with Store.open(tmp_path / "store.db", create=False) as store:
        runs = store.runs()
        assert [r.status for r in runs[:2]] == ["failed", "findings"]
        assert "reset by peer" in runs[0].detail["error"]


def test_an_interrupt_mid_stream_leaves_the_previous_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resync(tmp_path, directory(), monkeypatch)
    before = snapshot(tmp_path / "store.db")
    fake = directory(subscribers=80)
    original = fake.open

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

    monkeypatch.setattr(fake, "open", interrupting)
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
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert store.runs()[0].status == "refused"
    config = load_config(tmp_path / "poolsync.yaml")
    summary = engine.run_sync(config, load_profile(str(LICENSE_CLASS_PROFILE)),
                              source=empty.serve(config), now=now, total=True,
                              allow_empty=True)
    assert summary.plan.counts["locations"].removed == 2
    assert summary.servers == 0


def test_changes_are_counted_per_object(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    resync(tmp_path, directory(), monkeypatch)
    changed = directory()
    changed.subscribers[0] = subscriber_entry(0, "loc-a", ())  # was loc-b with VMI, UM
    del changed.subscribers[1]
    summary = resync(tmp_path, changed, monkeypatch)
    assert summary.plan.counts["subscribers"] == Changes(added=0, changed=1, removed=1)


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


def tombstone(n: int, usn: int = 9000) -> Entry:
    return Entry(f"CN=u{n}\\0ADEL:x,CN=Deleted Objects,DC=lab,DC=example,DC=com",
                 {"objectguid": [guid_bytes(10_000 + n)], "usnchanged": [str(usn).encode()],
                  "isdeleted": [b"TRUE"]})


def test_the_second_run_is_incremental_and_applies_tombstones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resync(tmp_path, directory(), monkeypatch, total=False)
    fake = directory()
    fake.usn = 6000
    fake.subscribers = [subscriber_entry(1, "loc-b")]  # what changed (loc-a -> loc-b)
    fake.tombstones = [tombstone(2), tombstone(777)]  # 777 was never held: ignored
    result = resync(tmp_path, fake, monkeypatch, total=False)
    assert [(p.mode, p.reason) for p in result.passes] == [("incremental", None)] * 2
    assert any("uSNChanged>=5001" in f for f in fake.filters)
    assert result.plan.counts["subscribers"] == Changes(added=0, changed=1, removed=1)
    assert result.plan.counts["locations"] == Changes()
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert sum(s.vm for s in store.homed_seats().values()) == 29
        assert [p.usn for p in store.passes()] == [6000, 6000]


def test_a_user_that_stops_being_a_subscriber_leaves_the_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resync(tmp_path, directory(), monkeypatch)
    fake = directory()
    demoted = subscriber_entry(3, "loc-a")
    del demoted.attributes["ciscoecsbuobjecttype"]  # type: ignore[attr-defined]
    fake.subscribers = [demoted]
    result = resync(tmp_path, fake, monkeypatch, total=False)
    assert result.plan.counts["subscribers"].removed == 1
    assert result.passes[0].removals == 1


@pytest.mark.parametrize(("change", "reason"), [
    ({"invocation": "99999999-2222-3333-4444-555555555555"}, "invocation-changed"),
    ({"usn": 10}, "usn-rolled-back"),
    ({"dc_host": "dc2.lab.example.com"}, "dc-changed"),
])
def test_a_changed_dc_forces_a_total_and_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, object],
        reason: str) -> None:
    resync(tmp_path, directory(), monkeypatch)
    fake = directory()
    for key, value in change.items():
        setattr(fake, key, value)
    result = resync(tmp_path, fake, monkeypatch, total=False)
    assert [(p.mode, p.reason) for p in result.passes] == [("total", reason)] * 2
    assert result.forced == {"domain": reason, "gc": reason}
    with Store.open(tmp_path / "store.db", create=False) as store:
        detail = store.runs()[0].detail
        assert detail["passes"]["domain"]["reason"] == reason


def test_an_old_watermark_forces_a_total(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    resync(tmp_path, directory(), monkeypatch)
    config = load_config(tmp_path / "poolsync.yaml")
    later = now() + timedelta(days=8)
    result = engine.run_sync(config, load_profile(str(LICENSE_CLASS_PROFILE)),
                             source=directory().serve(config), now=lambda: later)
    assert result.forced == {"domain": "watermark-too-old", "gc": "watermark-too-old"}


def test_the_deletion_guard_stops_a_run_and_names_what_it_would_delete(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path)
    (tmp_path / "poolsync.yaml").write_text(
        (tmp_path / "poolsync.yaml").read_text() + "sync: {deletions: {max_objects: 5}}\n")
    config = load_config(tmp_path / "poolsync.yaml")
    profile = load_profile(str(LICENSE_CLASS_PROFILE))
    engine.run_sync(config, profile, source=directory().serve(config), now=now)
    before = snapshot(tmp_path / "store.db")
    fewer = directory(subscribers=20).serve(config)  # 10 subscribers gone
    with pytest.raises(UnsafeChangeError) as info:
        engine.run_sync(config, profile, source=fewer, now=now, total=True)
    message = str(info.value)
    assert "would delete 10 objects of the 32 held" in message
    assert "CN=u20,OU=Subscribers" in message and "--allow-deletes 10" in message
    assert snapshot(tmp_path / "store.db") == before
    preview = engine.run_sync(config, profile, source=fewer, now=now, total=True,
                              dry_run=True)  # shows the plan, and that it would be refused
    assert preview.plan.counts["subscribers"].removed == 10
    assert preview.refusal is not None and "would delete 10 objects" in preview.refusal
    with pytest.raises(UnsafeChangeError, match="--allow-deletes 9 allows fewer"):
        engine.run_sync(config, profile, source=fewer, now=now, total=True, allow_deletes=9)
    result = engine.run_sync(config, profile, source=fewer, now=now, total=True,
                             allow_deletes=10)
    assert result.plan.counts["subscribers"].removed == 10
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert [r.status for r in store.runs()[:3]] == ["findings", "refused", "refused"]


def test_a_percentage_guard(tmp_path: Path) -> None:
    from poolsync.config import DeletionGuard
    assert DeletionGuard(max_objects=500, max_percent=10).limit(200) == 20
    assert DeletionGuard(max_objects=5, max_percent=10).limit(200) == 5
    assert DeletionGuard(max_objects=500, max_percent=None).limit(200) == 500


def test_a_dry_run_plans_and_writes_nothing(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    first = resync(tmp_path, directory(), monkeypatch, dry_run=True, list_changes=True)
    assert not (tmp_path / "store.db").exists()
    assert first.run_id is None and first.plan.counts["subscribers"].added == 30
    # One line per object (2 Locations, 30 subscribers), though both passes insert each.
    assert {c.op for c in first.planned} == {"insert"} and len(first.planned) == 32
    assert {c.pass_name for c in first.planned} == {"domain+gc"}
    resync(tmp_path, directory(), monkeypatch)
    before = snapshot(tmp_path / "store.db")
    with Store.open(tmp_path / "store.db", create=False) as store:
        runs = len(store.runs())
    changed = directory(subscribers=29)
    plan = resync(tmp_path, changed, monkeypatch, dry_run=True, list_changes=True)
    assert [(c.op, c.dn, c.pass_name) for c in plan.planned] == [
        ("delete", "CN=u29,OU=Subscribers,DC=lab,DC=example,DC=com", "domain+gc")]
    assert snapshot(tmp_path / "store.db") == before
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert len(store.runs()) == runs


def test_a_dead_dc_fails_over_to_the_next_and_reads_it_in_full(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = directory()
    path = write_config(tmp_path)
    text = path.read_text().replace('dc: {url: "ldaps://dc.invalid:636"}',
                                    'dc: {url: ["ldaps://dc1.invalid", "ldaps://dc2.invalid"]}')
    path.write_text(text)
    config = load_config(path)
    profile = load_profile(str(LICENSE_CLASS_PROFILE))
    fake.serve(config)
    engine.run_sync(config, profile, source=fake, now=now)
    fake.down = {"dc1.invalid"}
    fake.dc_host = "dc2.lab.example.com"  # the next DC is another DC: USNs don't carry over
    result = engine.run_sync(config, profile, source=fake, now=now)
    domain = result.passes[0]
    assert (domain.endpoint, domain.mode, domain.reason) == (
        "ldaps://dc2.invalid", "total", "dc-changed")
    fake.down = set()  # dc1 is back, but the pass stays on dc2: no second total
    again = engine.run_sync(config, profile, source=fake, now=now)
    assert (again.passes[0].endpoint, again.passes[0].mode) == (
        "ldaps://dc2.invalid", "incremental")
    fake.down = {"dc1.invalid", "dc2.invalid"}
    with pytest.raises(DirectoryUnavailable, match="no domain endpoint answered"):
        engine.run_sync(config, profile, source=fake, now=now)


def test_a_run_left_running_by_a_killed_process_is_recorded_as_abandoned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resync(tmp_path, directory(), monkeypatch)
    with Store.open(tmp_path / "store.db") as store:
        store.begin_run("incremental", "2026-11-30T11:00:00+00:00")  # never finished
    resync(tmp_path, directory(), monkeypatch, total=False)
    with Store.open(tmp_path / "store.db", create=False) as store:
        statuses = [r.status for r in store.runs()]
        assert statuses[:3] == ["findings", "abandoned", "findings"]


def test_a_run_killed_after_its_commit_is_not_taken_for_one_that_wrote_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resync(tmp_path, directory(), monkeypatch)

    class Killed(BaseException):
        pass

    def die(*args: object, **kwargs: object) -> None:
        raise Killed  # as if SIGKILL landed between the commit and recording the end

    with monkeypatch.context() as m:
        m.setattr(Store, "finish_run", die)
        with pytest.raises(Killed):
            resync(tmp_path, directory(subscribers=31), monkeypatch, total=False)
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert store.runs()[0].status == "committed"
        assert sum(s.vm for s in store.homed_seats().values()) == 31
    resync(tmp_path, directory(subscribers=31), monkeypatch, total=False)
    with Store.open(tmp_path / "store.db", create=False) as store:
        killed = store.runs()[1]
        assert killed.status == "ok" and "committed" in killed.detail["note"]


def test_a_bind_that_cannot_see_deleted_objects_forces_a_total(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resync(tmp_path, directory(), monkeypatch)
    fake = directory(subscribers=29)  # one deleted; the tombstone would be invisible
    fake.deleted_objects_readable = False
    result = resync(tmp_path, fake, monkeypatch, total=False)
    assert result.forced == {"domain": "deleted-objects-unreadable",
                             "gc": "deleted-objects-unreadable"}
    assert result.plan.counts["subscribers"].removed == 1
    assert "List Contents" in (result.passes[0].why or "")


def test_the_gc_connection_opened_ahead_is_used_once_and_closed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = directory()
    opened: list[object] = []
    original = fake.open

    def tracking(*args: object, **kwargs: object) -> object:
        conn = original(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(conn)
        return conn

    fake.open = tracking  # type: ignore[method-assign,assignment]
    resync(tmp_path, fake, monkeypatch)
    assert fake.connects == 2  # one per pass: the GC's was opened ahead and used
    assert all(c.closed for c in opened)  # type: ignore[attr-defined]


def test_a_stale_warm_connection_is_closed_not_used(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from poolsync.directory.prewarm import Prewarmed

    config = load_config(write_config(tmp_path))
    fake = directory().serve(config)
    with Prewarmed(fake, config.directory.gc) as warm:
        warm._opened -= Prewarmed.FRESH + 1  # opened long ago
        assert warm.take(config.directory.gc) is None
    with Prewarmed(fake, config.directory.gc) as warm:
        assert warm.take(config.directory.dc) is None  # not the endpoint it opened
    with Prewarmed(fake, config.directory.gc) as warm:
        assert warm.take(config.directory.gc) is not None
        assert warm.take(config.directory.gc) is None  # once


def test_a_search_far_beyond_what_the_store_holds_stops_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The growth bound: twice what the store holds of a kind from the pass, and at
    least 10,000 more; past it the run stops with nothing written, unless
    allow_growth. The first run (nothing held) is bounded by max_entries alone."""
    resync(tmp_path, directory(30), monkeypatch)
    before = snapshot(tmp_path / "store.db")
    grown = directory(30 + engine.GROWTH_FLOOR + 1)
    with pytest.raises(RunawaySearch, match="the store holds 30 subscribers from the last "
                                            "domain pass, and one search may return 10030"):
        resync(tmp_path, grown, monkeypatch)
    assert snapshot(tmp_path / "store.db") == before
    result = resync(tmp_path, grown, monkeypatch, allow_growth=True)
    assert result.subscribers == 30 + engine.GROWTH_FLOOR + 1
    # Now the store holds 10,031: up to 20,062 may come.
    assert resync(tmp_path, directory(20_062), monkeypatch).subscribers == 20_062
