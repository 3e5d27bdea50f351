"""The sync engine over a memory forest: atomicity, retries, incremental reads, guards.

Every run reads a :class:`~poolsync.directory.memory.MemorySource` (the source the
contract suite holds to the live reader); changes between runs are real changes to it
(add, replace, delete: new USNs and tombstones), and faults a memory source does not
have come from :class:`tests.support.fakes.FaultySource` around it.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from poolsync.config import load_config
from poolsync.errors import (
    DirectoryUnavailable,
    ProfileError,
    RunawaySearch,
    StoreLockedError,
    UnsafeChangeError,
)
from poolsync.model import Entry, Seats
from poolsync.profile import load_profile
from poolsync.store import Changes, Store
from poolsync.sync import engine
from tests.support.engine import classes_of, config_in, directory, forest, home_of, now, resync
from tests.support.fakes import (
    FaultySource,
    guid,
    memory_for,
    subscriber_entry,
    subscriber_guid,
    without,
    write_config,
)
from tests.support.helpers import LICENSE_CLASS_PROFILE


def snapshot(db_path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_path) as db:
        return (
            db.execute("SELECT * FROM subscribers ORDER BY pass, guid").fetchall()
            + db.execute("SELECT * FROM locations ORDER BY pass, guid").fetchall()
        )


def test_total_resync_stores_both_passes(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    summary = resync(tmp_path, memory)
    assert [(p.name, p.locations, p.subscribers) for p in summary.passes] == [
        ("domain", 2, 30),
        ("gc", 2, 30),
    ]
    # Counted once per object, though both passes hold a copy.
    assert summary.plan.counts["subscribers"].added == 30
    assert summary.plan.counts["locations"].added == 2
    with Store.open(tmp_path / "store.db", create=False) as store:
        homed = store.homed_seats()
        assert homed["loc-b"] == Seats(vm=10, um=10, inbox=5)
        assert homed["loc-a"] == Seats(vm=20, um=20, inbox=10)
        # Each pass's watermark is the highestCommittedUSN its DC gave.
        assert [p.usn for p in store.passes()] == [memory.counter] * 2
        # UNITY-A's 10 VM seats cannot cover 30 subscribers: synced, with findings.
        assert store.runs()[0].status == "findings"
    assert summary.compliant is False
    again = resync(tmp_path, memory)
    assert again.plan.counts["subscribers"].added == 0
    assert again.plan.counts["subscribers"].changed == 0


def test_a_dropped_connection_retries_the_pass_without_duplicates(tmp_path: Path) -> None:
    faulty = FaultySource(directory(tmp_path), drop_after=17, drops=1)
    summary = resync(tmp_path, faulty)
    assert faulty.drops == 0  # the connection did drop
    assert summary.passes[0].attempts == 2
    assert summary.passes[0].subscribers == 30
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert sum(s.vm for s in store.homed_seats().values()) == 30


def test_a_failed_run_leaves_the_previous_state(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    resync(tmp_path, memory)
    before = snapshot(tmp_path / "store.db")
    for n in range(30, 50):
        memory.add(subscriber_entry(n, home_of(n), classes_of(n)))
    broken = FaultySource(memory, drop_after=40, drops=100)  # every attempt drops after 40
    memory.opened.clear()
    with pytest.raises(DirectoryUnavailable):
        resync(tmp_path, broken)
    # as many domain attempts as the retry policy allows, and the GC's, opened ahead
    assert Counter(e.port for e in memory.opened) == {636: 3, 3269: 1}
    assert snapshot(tmp_path / "store.db") == before
    with Store.open(tmp_path / "store.db", create=False) as store:
        runs = store.runs()
        assert [r.status for r in runs[:2]] == ["failed", "findings"]
        assert "reset by peer" in (runs[0].detail.error or "")


def test_an_interrupt_mid_stream_leaves_the_previous_state(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    resync(tmp_path, memory)
    before = snapshot(tmp_path / "store.db")
    for n in range(30, 80):
        memory.add(subscriber_entry(n, home_of(n), classes_of(n)))
    with pytest.raises(KeyboardInterrupt):
        resync(tmp_path, FaultySource(memory, interrupt_at=25))
    assert snapshot(tmp_path / "store.db") == before


def test_a_second_run_is_refused_while_one_holds_the_store(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    resync(tmp_path, memory)
    with Store.open(tmp_path / "store.db") as holder:
        holder.lock()
        with pytest.raises(StoreLockedError, match="another poolsync run holds"):
            resync(tmp_path, memory)


def test_a_pass_that_finds_no_locations_does_not_erase_the_store(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    resync(tmp_path, memory)
    before = snapshot(tmp_path / "store.db")
    for gone in [guid(1), guid(2), *map(subscriber_guid, range(30))]:
        memory.delete(gone)
    with pytest.raises(UnsafeChangeError, match="read no Locations") as info:
        resync(tmp_path, memory)
    assert info.value.exit_code == 4
    assert snapshot(tmp_path / "store.db") == before
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert store.runs()[0].status == "refused"
    summary = resync(tmp_path, memory, allow_empty=True)
    assert summary.plan.counts["locations"].removed == 2
    assert summary.servers == 0


def test_changes_are_counted_per_object(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    resync(tmp_path, memory)
    memory.replace(subscriber_entry(0, "loc-a", ()))  # was loc-b with VMI, UM
    memory.delete(subscriber_guid(1))
    summary = resync(tmp_path, memory)
    assert summary.plan.counts["subscribers"] == Changes(added=0, changed=1, removed=1)


def test_subscribers_without_a_home_are_still_counted(tmp_path: Path) -> None:
    homeless = without(subscriber_entry(99, ""), "ciscoEcsbuUMLocationObjectId")
    memory = memory_for(config_in(tmp_path), [*forest(3), homeless])
    summary = resync(tmp_path, memory)
    assert summary.subscribers == 4
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert store.homed_seats()[""] == Seats(vm=1)


def test_an_object_without_a_usable_guid_is_skipped_not_fatal(tmp_path: Path) -> None:
    entries = forest(4)
    broken = subscriber_entry(50, "loc-a")
    entries.insert(4, Entry(broken.dn, {**broken.attributes, "objectguid": [b"short"]}))
    summary = resync(tmp_path, memory_for(config_in(tmp_path), entries))
    assert [(p.subscribers, p.skipped) for p in summary.passes] == [(4, 1), (4, 1)]
    assert summary.subscribers == 4


def test_the_second_run_is_incremental_and_applies_tombstones(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    resync(tmp_path, memory, total=False)  # nothing held yet: a total
    watermark = memory.counter
    memory.replace(subscriber_entry(1, "loc-b", classes_of(1)))  # moved: loc-a -> loc-b
    memory.delete(subscriber_guid(2))
    memory.add(subscriber_entry(777, "loc-a"))  # came and went between the runs: its
    memory.delete(subscriber_guid(777))  # tombstone names nothing held (ignored)
    faulty = FaultySource(memory)  # to see the filters sent
    result = resync(tmp_path, faulty, total=False)
    assert [(p.mode, p.reason) for p in result.passes] == [("incremental", None)] * 2
    above = f"(uSNChanged>={watermark + 1})"
    assert f"(&(objectClass=user){above})" in faulty.filters
    assert f"(&(objectClass=ciscoEcsbuUMLocation){above})" in faulty.filters
    assert any(f.startswith(f"(&(isDeleted=TRUE){above}") for f in faulty.filters)
    # Exactly what changed: one subscriber, two tombstones, no Location.
    assert [(p.locations, p.subscribers, p.removals) for p in result.passes] == [(0, 1, 2)] * 2
    assert result.plan.counts["subscribers"] == Changes(added=0, changed=1, removed=1)
    assert result.plan.counts["locations"] == Changes()
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert sum(s.vm for s in store.homed_seats().values()) == 29
        homed = store.homed_seats()
        assert (homed["loc-a"].vm, homed["loc-b"].vm) == (18, 11)  # u1 moved, u2 gone
        assert [p.usn for p in store.passes()] == [memory.counter] * 2


def test_a_user_that_stops_being_a_subscriber_leaves_the_store(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    resync(tmp_path, memory)
    memory.replace(without(subscriber_entry(3, "loc-a", classes_of(3)), "ciscoEcsbuObjectType"))
    result = resync(tmp_path, memory, total=False)
    assert result.passes[0].mode == "incremental"
    assert result.plan.counts["subscribers"].removed == 1
    assert result.passes[0].removals == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"invocation": "99999999-2222-3333-4444-555555555555"}, "invocation-changed"),
        ({"usn": 10}, "usn-rolled-back"),
        ({"host": "dc2.lab.example.com"}, "dc-changed"),
    ],
)
def test_a_changed_dc_forces_a_total_and_says_why(
    tmp_path: Path, change: dict[str, object], reason: str
) -> None:
    memory = directory(tmp_path)
    resync(tmp_path, memory)
    for key, value in change.items():
        setattr(memory, key, value)
    result = resync(tmp_path, memory, total=False)
    assert [(p.mode, p.reason) for p in result.passes] == [("total", reason)] * 2
    assert result.forced == {"domain": reason, "gc": reason}
    with Store.open(tmp_path / "store.db", create=False) as store:
        detail = store.runs()[0].detail
        assert detail.passes is not None and detail.passes["domain"].reason == reason


def test_an_old_watermark_forces_a_total(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    resync(tmp_path, memory)
    later = now() + timedelta(days=8)
    result = engine.run_sync(
        config_in(tmp_path),
        load_profile(str(LICENSE_CLASS_PROFILE)),
        source=memory,
        now=lambda: later,
    )
    assert result.forced == {"domain": "watermark-too-old", "gc": "watermark-too-old"}


def test_the_deletion_guard_stops_a_run_and_names_what_it_would_delete(tmp_path: Path) -> None:
    write_config(tmp_path)
    (tmp_path / "poolsync.yaml").write_text(
        (tmp_path / "poolsync.yaml").read_text() + "sync: {deletions: {max_objects: 5}}\n"
    )
    config = load_config(tmp_path / "poolsync.yaml")
    profile = load_profile(str(LICENSE_CLASS_PROFILE))
    memory = memory_for(config, forest())
    engine.run_sync(config, profile, source=memory, now=now)
    before = snapshot(tmp_path / "store.db")
    for n in range(20, 30):  # 10 subscribers gone
        memory.delete(subscriber_guid(n))
    with pytest.raises(UnsafeChangeError) as info:
        engine.run_sync(config, profile, source=memory, now=now, total=True)
    message = str(info.value)
    assert "would delete 10 objects of the 32 held" in message
    assert "CN=u20,OU=Subscribers" in message and "--allow-deletes 10" in message
    assert snapshot(tmp_path / "store.db") == before
    preview = engine.run_sync(
        config, profile, source=memory, now=now, total=True, dry_run=True
    )  # shows the plan, and that it would be refused
    assert preview.plan.counts["subscribers"].removed == 10
    assert preview.refusal is not None and "would delete 10 objects" in preview.refusal
    with pytest.raises(UnsafeChangeError, match="--allow-deletes 9 allows fewer"):
        engine.run_sync(config, profile, source=memory, now=now, total=True, allow_deletes=9)
    result = engine.run_sync(config, profile, source=memory, now=now, total=True, allow_deletes=10)
    assert result.plan.counts["subscribers"].removed == 10
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert [r.status for r in store.runs()[:3]] == ["findings", "refused", "refused"]


def test_a_percentage_guard(tmp_path: Path) -> None:
    from poolsync.config import DeletionGuard

    assert DeletionGuard(max_objects=500, max_percent=10).limit(200) == 20
    assert DeletionGuard(max_objects=5, max_percent=10).limit(200) == 5
    assert DeletionGuard(max_objects=500, max_percent=None).limit(200) == 500


def test_a_dry_run_plans_and_writes_nothing(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    first = resync(tmp_path, memory, dry_run=True, list_changes=True)
    assert not (tmp_path / "store.db").exists()
    assert first.run_id is None and first.plan.counts["subscribers"].added == 30
    # One line per object (2 Locations, 30 subscribers), though both passes insert each.
    assert {c.op for c in first.planned} == {"insert"} and len(first.planned) == 32
    assert {c.pass_name for c in first.planned} == {"domain+gc"}
    resync(tmp_path, memory)
    before = snapshot(tmp_path / "store.db")
    with Store.open(tmp_path / "store.db", create=False) as store:
        runs = len(store.runs())
    memory.delete(subscriber_guid(29))
    plan = resync(tmp_path, memory, dry_run=True, list_changes=True)
    assert [(c.op, c.dn, c.pass_name) for c in plan.planned] == [
        ("delete", "CN=u29,OU=Subscribers,DC=lab,DC=example,DC=com", "domain+gc")
    ]
    assert snapshot(tmp_path / "store.db") == before
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert len(store.runs()) == runs


def test_a_dead_dc_fails_over_to_the_next_and_reads_it_in_full(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    text = path.read_text().replace(
        'dc: {url: "ldaps://dc.invalid:636"}',
        'dc: {url: ["ldaps://dc1.invalid", "ldaps://dc2.invalid"]}',
    )
    path.write_text(text)
    config = load_config(path)
    profile = load_profile(str(LICENSE_CLASS_PROFILE))
    memory = memory_for(config, forest())
    engine.run_sync(config, profile, source=memory, now=now)
    memory.down = {"dc1.invalid"}
    memory.host = "dc2.lab.example.com"  # the next DC is another DC: USNs don't carry over
    result = engine.run_sync(config, profile, source=memory, now=now)
    domain = result.passes[0]
    assert (domain.endpoint, domain.mode, domain.reason) == (
        "ldaps://dc2.invalid",
        "total",
        "dc-changed",
    )
    memory.down = set()  # dc1 is back, but the pass stays on dc2: no second total
    again = engine.run_sync(config, profile, source=memory, now=now)
    assert (again.passes[0].endpoint, again.passes[0].mode) == (
        "ldaps://dc2.invalid",
        "incremental",
    )
    memory.down = {"dc1.invalid", "dc2.invalid"}
    with pytest.raises(DirectoryUnavailable, match="no domain endpoint answered"):
        engine.run_sync(config, profile, source=memory, now=now)


def test_a_run_left_running_by_a_killed_process_is_recorded_as_abandoned(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    resync(tmp_path, memory)
    with Store.open(tmp_path / "store.db") as store:
        store.begin_run("incremental", datetime(2026, 11, 30, 11, tzinfo=UTC))  # never finished
    resync(tmp_path, memory, total=False)
    with Store.open(tmp_path / "store.db", create=False) as store:
        statuses = [r.status for r in store.runs()]
        assert statuses[:3] == ["findings", "abandoned", "findings"]


def test_a_run_killed_after_its_commit_is_not_taken_for_one_that_wrote_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = directory(tmp_path)
    resync(tmp_path, memory)
    memory.add(subscriber_entry(30, home_of(30), classes_of(30)))

    class Killed(BaseException):
        pass

    def die(*args: object, **kwargs: object) -> None:
        raise Killed  # as if SIGKILL landed between the commit and recording the end

    with monkeypatch.context() as m:
        m.setattr(Store, "finish_run", die)
        with pytest.raises(Killed):
            resync(tmp_path, memory, total=False)
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert store.runs()[0].status == "committed"
        assert sum(s.vm for s in store.homed_seats().values()) == 31
    resync(tmp_path, memory, total=False)
    with Store.open(tmp_path / "store.db", create=False) as store:
        killed = store.runs()[1]
        assert killed.status == "ok" and "committed" in (killed.detail.note or "")


def test_a_bind_that_cannot_see_deleted_objects_forces_a_total(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    resync(tmp_path, memory)
    memory.delete(subscriber_guid(29))  # its tombstone would be invisible to this bind
    blind = FaultySource(memory, deleted_objects_readable=False)
    result = resync(tmp_path, blind, total=False)
    assert result.forced == {
        "domain": "deleted-objects-unreadable",
        "gc": "deleted-objects-unreadable",
    }
    assert result.plan.counts["subscribers"].removed == 1
    assert "List Contents" in (result.passes[0].why or "")


def test_the_gc_connection_opened_ahead_is_used_once_and_closed(tmp_path: Path) -> None:
    faulty = FaultySource(directory(tmp_path))  # to see the readers opened
    resync(tmp_path, faulty)
    # One per pass: the GC's was opened ahead and used.
    assert sorted(r.endpoint.port for r in faulty.readers) == [636, 3269]
    assert all(r.closed for r in faulty.readers)


def test_a_stale_warm_connection_is_closed_not_used(tmp_path: Path) -> None:
    from poolsync.directory.prewarm import Prewarmed

    config = config_in(tmp_path)
    faulty = FaultySource(memory_for(config, forest()))  # to see the readers closed
    with Prewarmed(faulty, config.directory.gc) as warm:
        warm._opened -= Prewarmed.FRESH + 1  # opened long ago
        assert warm.take(config.directory.gc) is None
    with Prewarmed(faulty, config.directory.gc) as warm:
        assert warm.take(config.directory.dc) is None  # not the endpoint it opened
    with Prewarmed(faulty, config.directory.gc) as warm:
        assert warm.take(config.directory.gc) is not None
        assert warm.take(config.directory.gc) is None  # once
    assert [r.closed for r in faulty.readers] == [True, True, False]


def test_a_search_far_beyond_what_the_store_holds_stops_the_run(tmp_path: Path) -> None:
    """The growth bound: twice what the store holds of a kind from the pass, and at
    least 10,000 more; past it the run stops with nothing written, unless
    allow_growth. The first run (nothing held) is bounded by max_entries alone."""
    resync(tmp_path, directory(tmp_path, 30))
    before = snapshot(tmp_path / "store.db")
    grown = directory(tmp_path, 30 + engine.GROWTH_FLOOR + 1)
    with pytest.raises(
        RunawaySearch,
        match="the store holds 30 subscribers from the last "
        "domain pass, and one search may return 10030",
    ):
        resync(tmp_path, grown)
    assert snapshot(tmp_path / "store.db") == before
    result = resync(tmp_path, grown, allow_growth=True)
    assert result.subscribers == 30 + engine.GROWTH_FLOOR + 1
    # Now the store holds 10,031: up to 20,062 may come.
    assert resync(tmp_path, directory(tmp_path, 20_062)).subscribers == 20_062


def test_a_profile_naming_what_the_schema_lacks_is_refused_before_reading(tmp_path: Path) -> None:
    """The forest's schema is checked against the profile first: a search on an
    attribute the schema lacks matches nothing and would read as "no subscribers"."""
    memory = directory(tmp_path)
    lacking = [
        e for e in memory.entries if not e.dn.startswith("CN=ciscoEcsbuLicenseClass,CN=Schema,")
    ]
    with pytest.raises(ProfileError, match=r"ciscoEcsbuLicenseClass \(subscriber.license_class"):
        resync(tmp_path, memory_for(config_in(tmp_path), lacking, schema=False))
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert not store.has_data()
