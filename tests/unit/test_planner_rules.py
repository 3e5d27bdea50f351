"""One golden test per rule of the sync planner (:mod:`poolsync.store.planner`).

Each test commits a starting state, stages one run, and checks the exact plan: the
counts and every planned change, as ``--dry-run -v`` lists them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from poolsync.model import Location, SeatClass, Seats, Subscriber
from poolsync.records import Changes, Mode, PassRecord, Plan, PlannedChange
from poolsync.store import Store, SyncWriter

A, B, C = "guid-a", "guid-b", "guid-c"


def sub(
    guid: str, dn: str | None = None, *, home: str | None = "oid-1", um: bool = False
) -> Subscriber:
    return Subscriber(
        guid=guid,
        dn=dn or f"CN={guid},DC=x",
        home=home,
        classes=frozenset({SeatClass.UM}) if um else frozenset(),
    )


def loc(guid: str, name: str, *, version: str | None = "14.0") -> Location:
    return Location(
        guid=guid, dn=f"CN={name},DC=x", name=name, object_id=f"oid-{name}", version=version
    )


@contextmanager
def run(path: Path, passes: dict[str, Mode]) -> Iterator[SyncWriter]:
    """Stage one run of ``passes`` (the test stages into the writer it yields)."""
    with Store.open(path) as store, store.sync_writer() as writer:
        for name, mode in passes.items():
            writer.begin_pass(name, mode)
            writer.record_pass(
                PassRecord(name, "ldaps://x", "dc1", "inv", "DC=x", 1, datetime.now(UTC), "fp")
            )
        yield writer


def commit(
    path: Path,
    name: str,
    subscribers: Iterable[Subscriber] = (),
    locations: Iterable[Location] = (),
    usn: int = 1,
) -> None:
    """The starting state: ``name``'s pass read totally."""
    with run(path, {name: "total"}) as writer:
        writer.stage_subscribers(name, [(s, usn) for s in subscribers])
        writer.stage_locations(name, [(loc_, usn) for loc_ in locations])
        writer.plan()
        writer.commit()


def planned(writer: SyncWriter) -> tuple[Plan, list[PlannedChange]]:
    plan = writer.plan()
    return plan, list(writer.planned())


def change(
    op: str, dn: str, *, passes: str = "domain", kind: str = "subscribers", label: str | None = None
) -> PlannedChange:
    return PlannedChange(kind, passes, op, dn, label if label is not None else dn)  # type: ignore[arg-type]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


def test_rule_1_identity_is_the_guid_so_a_rename_is_an_update(path: Path) -> None:
    commit(path, "domain", [sub(A, "CN=old,DC=x")])
    with run(path, {"domain": "total"}) as writer:
        writer.stage_subscribers("domain", [(sub(A, "CN=new,OU=moved,DC=x"), 2)])
        plan, changes = planned(writer)
    assert plan.counts["subscribers"] == Changes(changed=1)
    assert changes == [change("update", "CN=new,OU=moved,DC=x")]


def test_rule_2_an_object_not_held_is_inserted(path: Path) -> None:
    with run(path, {"domain": "total"}) as writer:
        writer.stage_subscribers("domain", [(sub(A), 1)])
        writer.stage_locations("domain", [(loc(B, "UNITY-1"), 1)])
        plan, changes = planned(writer)
    assert plan.counts == {"locations": Changes(added=1), "subscribers": Changes(added=1)}
    assert plan.held == 0
    assert changes == [
        change("insert", "CN=UNITY-1,DC=x", kind="locations", label="UNITY-1"),
        change("insert", f"CN={A},DC=x"),
    ]


def test_rule_3_only_a_changed_attribute_is_an_update(path: Path) -> None:
    commit(path, "domain", [sub(A), sub(B)], [loc(C, "UNITY-1")])
    with run(path, {"domain": "total"}) as writer:
        # A: the same, read at a later uSNChanged (not compared); B: now uses UM;
        # UNITY-1: its version went from a value to NULL.
        writer.stage_subscribers("domain", [(sub(A), 9), (sub(B, um=True), 9)])
        writer.stage_locations("domain", [(loc(C, "UNITY-1", version=None), 9)])
        plan, changes = planned(writer)
    assert plan.counts == {"locations": Changes(changed=1), "subscribers": Changes(changed=1)}
    assert plan.held == 3
    assert changes == [
        change("update", "CN=UNITY-1,DC=x", kind="locations", label="UNITY-1"),
        change("update", f"CN={B},DC=x"),
    ]


def test_rule_4_a_total_pass_deletes_what_it_did_not_read(path: Path) -> None:
    commit(path, "domain", [sub(A), sub(B)])
    with run(path, {"domain": "total"}) as writer:
        writer.stage_subscribers("domain", [(sub(A), 2)])
        plan, changes = planned(writer)
    assert plan.counts["subscribers"] == Changes(removed=1)
    assert plan.deletes == 1
    assert changes == [change("delete", f"CN={B},DC=x")]


def test_rule_5_an_incremental_pass_deletes_only_what_it_read_removed(path: Path) -> None:
    commit(path, "domain", [sub(A), sub(B), sub(C)])
    with run(path, {"domain": "incremental"}) as writer:
        writer.stage_subscribers("domain", [(sub(A, um=True), 2)])  # B and C: not read
        writer.stage_removals("domain", [(B, 3), ("guid-never-held", 3)])
        plan, changes = planned(writer)
    assert plan.counts["subscribers"] == Changes(changed=1, removed=1)
    assert changes == [change("delete", f"CN={B},DC=x"), change("update", f"CN={A},DC=x")]


@pytest.mark.parametrize(
    ("live_usn", "removal_usn", "removed"),
    [
        (5, 6, True),  # the removal is later: it wins
        (6, 5, False),  # the live copy is later: it stands
        (5, 5, False),  # a tie: the live copy stands
        (None, 5, True),  # an unknown live USN counts as lowest
        (5, None, False),  # a removal without a USN (DirSync) loses to any live read
        (None, None, False),
    ],
)
def test_rule_6_the_higher_usn_wins(
    path: Path, live_usn: int | None, removal_usn: int | None, removed: bool
) -> None:
    commit(path, "domain", [sub(A)])
    with run(path, {"domain": "incremental"}) as writer:
        writer.stage_subscribers("domain", [(sub(A, um=True), live_usn)])
        writer.stage_removals("domain", [(A, removal_usn)])
        plan, changes = planned(writer)
    expected = change("delete", f"CN={A},DC=x") if removed else change("update", f"CN={A},DC=x")
    assert changes == [expected]
    assert plan.counts["subscribers"] == (Changes(removed=1) if removed else Changes(changed=1))


def test_rule_7_a_pass_not_staged_is_untouched(path: Path) -> None:
    commit(path, "domain", [sub(A)])
    commit(path, "gc", [sub(A), sub(B)])
    with run(path, {"domain": "total"}) as writer:
        writer.stage_subscribers("domain", [(sub(A), 2)])
        plan, changes = planned(writer)
    assert plan.empty and changes == []
    assert plan.held == 2  # A once (both passes hold it), B


def test_rule_8_an_object_both_passes_change_counts_once(path: Path) -> None:
    commit(path, "domain", [sub(A)])
    commit(path, "gc", [sub(A)])
    with run(path, {"domain": "total", "gc": "total"}) as writer:
        for name in ("domain", "gc"):
            writer.stage_subscribers(name, [(sub(A, "CN=renamed,DC=x"), 2), (sub(B), 2)])
        plan, changes = planned(writer)
    assert plan.counts["subscribers"] == Changes(added=1, changed=1)
    assert changes == [
        change("insert", f"CN={B},DC=x", passes="domain+gc"),
        change("update", "CN=renamed,DC=x", passes="domain+gc"),
    ]


def test_rule_9_the_domain_copy_wins_over_the_gc_copy(path: Path) -> None:
    commit(path, "gc", [sub(A, "CN=gc-copy,DC=x", home="oid-gc", um=True)], [loc(C, "GC-NAME")])
    commit(path, "domain", [sub(A, "CN=domain-copy,DC=x", home="oid-dom")], [loc(C, "DOMAIN-NAME")])
    with Store.open(path, create=False) as store:
        assert [x.name for x in store.locations()] == ["DOMAIN-NAME"]
        assert store.homed_seats() == {"oid-dom": Seats(vm=1, um=0, inbox=0)}
        assert store.subscribers_homed_on(["oid-dom", "oid-gc"], limit=5) == [
            ("CN=domain-copy,DC=x", "oid-dom")
        ]
        assert store.object_count() == 2
