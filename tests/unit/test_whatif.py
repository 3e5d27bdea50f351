"""What-if scenarios: the file format, each change's effect on the numbers, and errors
that name the file, the key path and what was expected."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from poolsync.capacity.growth import GrowthRate
from poolsync.capacity.model import LicenseChange, PoolCapacity, Recommendation, Snapshot
from poolsync.capacity.scenario import AddLicenses, MoveSubscribers, SetGrowth
from poolsync.capacity.whatif import Applied, ScenarioError, apply, load_scenario, what_if
from poolsync.model import Seats
from tests.support.capacity import (
    EXAMPLE,
    GENERATED,
    INBOX,
    TODAY,
    UM,
    VM,
    WORKED_LIMITS,
    only_pool,
    run,
    series,
    worked_example,
)


def scenario_file(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def changes(tmp_path: Path, *items: str) -> Path:
    return scenario_file(tmp_path, "changes:\n" + "".join(f"  - {i}\n" for i in items))


def applied(
    path: Path,
    snapshots: list[Snapshot] | None = None,
    license_changes: list[LicenseChange] | None = None,
) -> Applied:
    return apply(
        load_scenario(path),
        worked_example() if snapshots is None else snapshots,
        license_changes or [],
        today=TODAY,
    )


def after(path: Path) -> PoolCapacity:
    result = applied(path)
    return only_pool(
        run(
            list(result.snapshots),
            limits=WORKED_LIMITS,
            changes=list(result.license_changes),
            growth=result.growth,
        )
    )


def servers(pool: PoolCapacity) -> dict[str, dict[str, float]]:
    return {s.name: {c.value: cap.used for c, cap in s.classes.items()} for s in pool.servers}


# -- the file ---------------------------------------------------------------------------


def test_load_the_worked_example(tmp_path: Path) -> None:
    scenario = load_scenario(EXAMPLE)
    assert scenario.name == "spring-2027"
    first, _, move, growth = scenario.changes
    assert isinstance(first, AddLicenses)
    assert (first.server, first.seats, first.on) == ("UNITY-B", Seats(vm=400), date(2027, 1, 1))
    assert isinstance(move, MoveSubscribers)
    assert (move.source, move.target, move.seats) == ("UNITY-A", "UNITY-N", Seats(140, 30, 0))
    assert isinstance(growth, SetGrowth)
    assert growth.rates == {VM: GrowthRate(3, 30, percent=True), UM: GrowthRate(2, 1)}
    assert load_scenario(changes(tmp_path, "growth: {vm: 1/day}")).name == "scenario"


def test_the_worked_example(tmp_path: Path) -> None:
    # The file examples/ ships, so the docs' example can be run as it is.
    result = what_if(
        load_scenario(EXAMPLE),
        worked_example(),
        today=TODAY,
        window_days=90,
        horizon_days=365,
        limits=WORKED_LIMITS,
        generated=GENERATED,
    )
    assert result.scenario == "spring-2027"
    assert result.applied == (
        "Added 400 VM, 0 UM, 0 Inbox seats to UNITY-B from 2027-01-01",
        "Added UNITY-N to pool lab.example.com, licensed for 300 VM, 100 UM, 0 Inbox seats, "
        "with no subscribers",
        "Moved 140 subscribers from UNITY-A to UNITY-N (140 VM, 30 UM, 0 Inbox seats)",
        "Growth set to VM 3%/month, UM 2/day per pool, instead of the fitted trend",
    )
    (pool,) = result.pools
    vm, um, inbox = (pool.classes[c] for c in (VM, UM, INBOX))
    # VM: 800 used of 500 + 400 + 300 = 1200 (1600 from 2027-01-01); 3% of 800 a month
    # is 24 / 30 = 0.8 a day: 800 + 0.8 * 365 = 1092 at the horizon, never over.
    assert (vm.licensed, vm.used, vm.headroom) == (1200, 800, 400)
    assert vm.growth_per_day == pytest.approx(0.8)
    assert (vm.exhausted_on, vm.seats_needed) == (None, 0)
    assert [
        p.licensed for p in vm.projection if p.day in (date(2026, 12, 28), date(2027, 1, 1))
    ] == [1200, 1600]
    # UM: 240 used of 200 + 150 + 100 = 450, 2 a day: over when d > 105, on day 106
    # (2027-03-16); 240 + 730 - 450 = 520 short at the horizon.
    assert (um.licensed, um.used, um.growth_per_day) == (450, 240, 2.0)
    assert (um.exhausted_on, um.days_left, um.seats_needed) == (date(2027, 3, 16), 106, 520)
    assert (inbox.licensed, inbox.used, inbox.exhausted_on) == (100, 55, None)
    assert servers(pool) == {
        "UNITY-A": {"vm": 400, "um": 120, "inbox": 30},
        "UNITY-B": {"vm": 260, "um": 90, "inbox": 25},
        "UNITY-N": {"vm": 140, "um": 30, "inbox": 0},
    }
    # Each server's share of the pool's growth: 400/800, 260/800, 140/800 of 0.8 ...
    assert [s.classes[VM].growth_per_day for s in pool.servers] == pytest.approx([0.4, 0.26, 0.14])
    # ... and 120/240, 90/240, 30/240 of 2.
    assert [s.classes[UM].growth_per_day for s in pool.servers] == pytest.approx([1.0, 0.75, 0.25])
    # UNITY-A: 400 + 0.4 * 365 = 546 at the horizon, within the 600 maximum.
    assert [(s.classes[VM].to_move, s.limits) for s in pool.servers] == [(0, ())] * 3
    assert result.recommendations == (
        Recommendation(
            "medium",
            "Pool lab.example.com runs out of UM seats on 2027-03-16 (106 days): buy "
            "520 UM seats to last through 2027-11-30, or move 520 UM subscribers out "
            "of the pool",
        ),
    )


# -- each change ----------------------------------------------------------------------


def test_add_server_adds_its_seats_and_no_use(tmp_path: Path) -> None:
    result = applied(changes(tmp_path, "add_server: {name: UNITY-N, licenses: {vm: 300}}"))
    new = [s for s in result.snapshots if s.server == "UNITY-N"]
    assert len(new) == 8 * 3  # every moment the pool has a snapshot, every class
    assert {(s.seat_class, s.licensed, s.used) for s in new} == {
        (VM, 300, 0),
        (UM, 0, 0),
        (INBOX, 0, 0),
    }
    pool = after(changes(tmp_path, "add_server: {name: UNITY-N, licenses: {vm: 300}}"))
    vm = pool.classes[VM]
    # 800 + 2d of 1200: over when d > 200, on day 201 (2027-06-19); 1530 - 1200 = 330.
    assert (vm.licensed, vm.used, vm.growth_per_day) == (1200, 800, 2.0)
    assert (vm.exhausted_on, vm.seats_needed) == (date(2027, 6, 19), 330)
    assert pool.servers[2].classes[VM].growth_per_day == 0.0


def test_add_server_in_a_named_pool(tmp_path: Path) -> None:
    other = series("UNITY-X", {0: 5}, 10, pool="a.example.com")
    path = changes(tmp_path, "add_server: {name: UNITY-N, pool: a.example.com, licenses: {vm: 7}}")
    result = applied(path, worked_example() + other)
    assert {s.pool for s in result.snapshots if s.server == "UNITY-N"} == {"a.example.com"}


def test_add_licenses_in_the_future_is_a_license_change(tmp_path: Path) -> None:
    result = applied(changes(tmp_path, "add_licenses: {server: UNITY-B, vm: 400, on: 2027-01-01}"))
    assert result.license_changes == (
        LicenseChange("UNITY-B", date(2027, 1, 1), Seats(800, 150, 50)),
    )
    assert result.snapshots == tuple(worked_example())
    vm = after(
        changes(tmp_path, "add_licenses: {server: UNITY-B, vm: 400, on: 2027-01-01}")
    ).classes[VM]
    # 900 until 2027-01-01 (day 32), 1300 after: 800 + 2d > 1300 on day 251 (2027-08-08).
    assert (vm.licensed, vm.exhausted_on, vm.seats_needed) == (900, date(2027, 8, 8), 230)


def test_add_licenses_today_changes_todays_seats(tmp_path: Path) -> None:
    # No ``on``: today, the latest snapshot's day, so the snapshot shows the seats.
    path = changes(tmp_path, "add_licenses: {server: UNITY-A, vm: 100}")
    result = applied(path)
    assert result.sentences == ("Added 100 VM, 0 UM, 0 Inbox seats to UNITY-A from 2026-11-30",)
    assert result.license_changes == ()
    vm = after(path).classes[VM]
    # 800 + 2d of 1000: over on day 101 (2027-03-11); earlier history keeps 900.
    assert (vm.licensed, vm.headroom, vm.exhausted_on) == (1000, 200, date(2027, 3, 11))
    assert [p.licensed for p in vm.history] == [900] * 7 + [1000]


def test_add_licenses_stacks_on_a_later_expiry(tmp_path: Path) -> None:
    expiry = LicenseChange("UNITY-A", date(2027, 3, 1), Seats(100, 200, 50))
    same_day = LicenseChange("UNITY-B", date(2027, 1, 1), Seats(300, 150, 50))
    result = applied(
        changes(
            tmp_path,
            "add_licenses: {server: UNITY-A, vm: 50, on: 2027-01-01}",
            "add_licenses: {server: UNITY-B, um: 5, on: 2027-01-01}",
        ),
        license_changes=[expiry, same_day],
    )
    assert sorted(result.license_changes, key=lambda c: (c.server, c.on)) == [
        LicenseChange("UNITY-A", date(2027, 1, 1), Seats(550, 200, 50)),  # new: 500 + 50
        LicenseChange("UNITY-A", date(2027, 3, 1), Seats(150, 200, 50)),  # the add-on stays
        LicenseChange("UNITY-B", date(2027, 1, 1), Seats(300, 155, 50)),  # raised, not doubled
    ]


def test_add_licenses_from_a_past_day_rewrites_history_from_then(tmp_path: Path) -> None:
    path = changes(tmp_path, "add_licenses: {server: UNITY-A, vm: 100, on: 2026-11-16}")
    vm = after(path).classes[VM]
    # Snapshots on days -49..0 weekly: -14 (2026-11-16), -7 and 0 get the 100.
    assert [p.licensed for p in vm.history] == [900] * 5 + [1000] * 3


def test_move_subscribers_shifts_both_servers_and_not_the_pool(tmp_path: Path) -> None:
    base = only_pool(run(worked_example(), limits=WORKED_LIMITS))
    pool = after(
        changes(tmp_path, "move_subscribers: {from: UNITY-A, to: UNITY-B, vm: 50, um: 10}")
    )
    assert pool.classes == base.classes
    a, b = pool.servers
    assert (a.classes[VM].used, b.classes[VM].used) == (490, 310)
    assert (a.classes[UM].used, b.classes[UM].used) == (140, 100)
    # Every snapshot moved by 50: the same slopes, lines 50 lower and 50 higher.
    assert (a.classes[VM].growth_per_day, b.classes[VM].growth_per_day) == (1.0, 1.0)
    before = {p.day: p.used for p in base.servers[0].classes[VM].projection}
    assert {p.day: p.used + 50 for p in a.classes[VM].projection if p.day in before} == before
    assert [p.used for p in b.classes[VM].history] == [
        p.used + 50 for p in base.servers[1].classes[VM].history
    ]
    # A: 490 + d > 600 on day 111 (2027-03-21), 855 at the horizon: 255 to move.
    assert a.classes[VM].to_move == 255
    assert a.limits == (
        "UNITY-A exceeds the per-server maximum of 600 subscribers on "
        "2027-03-21: move 255 subscribers to another server",
    )


def test_remove_server_moves_its_history_to_the_target(tmp_path: Path) -> None:
    path = changes(tmp_path, "remove_server: {name: UNITY-B, move_to: unity-a}")
    result = applied(path)
    assert result.sentences == (
        "Removed UNITY-B and its 400 VM, 150 UM, 50 Inbox seats; its subscribers (260 VM, "
        "90 UM, 25 Inbox) move to UNITY-A",
    )
    base = only_pool(run(worked_example(), limits=WORKED_LIMITS))
    pool = after(path)
    (a,) = pool.servers
    vm = pool.classes[VM]
    # The pool's use is unchanged (800 + 2d), its seats drop to A's 500: over already.
    assert [p.used for p in vm.history] == [p.used for p in base.classes[VM].history]
    assert (vm.licensed, vm.used, vm.growth_per_day, vm.exhausted_on) == (500, 800, 2.0, TODAY)
    # 800 + 730 - 500 = 1030 seats short at the horizon.
    assert vm.seats_needed == 1030
    assert (a.classes[VM].used, a.classes[VM].growth_per_day, a.classes[UM].used) == (800, 2.0, 240)


def test_remove_a_server_without_subscribers(tmp_path: Path) -> None:
    path = changes(
        tmp_path,
        "add_server: {name: UNITY-N, licenses: {vm: 10}}",
        "remove_server: {name: UNITY-N}",
    )
    result = applied(path)
    assert result.sentences[1] == (
        "Removed UNITY-N and its 10 VM, 0 UM, 0 Inbox seats (it has no subscribers)"
    )
    assert result.snapshots == tuple(worked_example())


def test_growth_rates(tmp_path: Path) -> None:
    pool = after(changes(tmp_path, 'growth: {vm: "30/month", um: "-1/day", inbox: "36.5%/year"}'))
    vm, um, inbox = (pool.classes[c] for c in (VM, UM, INBOX))
    assert vm.growth_per_day == 1.0
    # VM: 800 + d > 900 on day 101 (2027-03-11).
    assert vm.exhausted_on == date(2027, 3, 11)
    assert um.growth_per_day == -1.0
    assert inbox.growth_per_day == pytest.approx(0.055)  # 36.5% of 55 over 365 days


def test_later_changes_see_earlier_ones(tmp_path: Path) -> None:
    path = changes(
        tmp_path,
        "move_subscribers: {from: UNITY-B, to: UNITY-A, vm: 260}",
        "move_subscribers: {from: UNITY-B, to: UNITY-A, vm: 1}",
    )
    with pytest.raises(ScenarioError) as caught:
        applied(path)
    assert str(caught.value) == (
        f"{path}: changes[1].move_subscribers.vm: expected at most 0 "
        "(UNITY-B's VM subscribers today), got 1"
    )


# -- errors ---------------------------------------------------------------------------

LOAD_ERRORS = [
    (
        "add_licenses: {server: UNITY-A, vm: -5}",
        "changes[0].add_licenses.vm: expected an integer >= 0, got -5",
    ),
    (
        "add_licenses: {server: UNITY-A}",
        "changes[0].add_licenses: expected at least one of vm, um, inbox above 0",
    ),
    (
        "add_licenses: {server: UNITY-A, vm: 5, on: next week}",
        "changes[0].add_licenses.on: expected a date (YYYY-MM-DD), got 'next week'",
    ),
    (
        "add_licenses: {server: UNITY-A, vn: 5}",
        "changes[0].add_licenses: unknown key 'vn' (allowed: inbox, on, server, um, vm)",
    ),
    (
        "add_server: {name: UNITY-N, licenses: {vm: 1.5}}",
        "changes[0].add_server.licenses.vm: expected an integer >= 0, got 1.5",
    ),
    ("add_server: {name: UNITY-N}", "changes[0].add_server.licenses: required key is missing"),
    (
        "move_subscribers: {from: UNITY-A, to: UNITY-B, vm: 0}",
        "changes[0].move_subscribers.vm: expected an integer >= 1, got 0",
    ),
    (
        "move_subscribers: {from: UNITY-A, to: UNITY-B, vm: 10, um: 20}",
        "changes[0].move_subscribers.um: expected at most 10 (the vm count: each of these "
        "subscribers also uses a VM seat), got 20",
    ),
    (
        "move_subscribers: {from: UNITY-A, to: unity-a, vm: 10}",
        "changes[0].move_subscribers.to: expected a server other than 'UNITY-A' (from), "
        "got 'unity-a'",
    ),
    (
        "growth: {vm: fast}",
        "changes[0].growth.vm: expected a rate such as '3/day', '10/month', '2%/month' or "
        "'5%/year', got 'fast'",
    ),
    (
        "growth: {vm: 3}",
        "changes[0].growth.vm: expected a rate such as '3/day', '10/month', '2%/month' or "
        "'5%/year', got 3",
    ),
    ("growth: {}", "changes[0].growth: expected a rate for at least one of vm, um, inbox"),
    (
        "add_sever: {name: UNITY-N}",
        "changes[0]: unknown key 'add_sever' (allowed: add_licenses, add_server, growth, "
        "move_subscribers, remove_server)",
    ),
    (
        "{growth: {vm: 1/day}, remove_server: {name: UNITY-A}}",
        "changes[0]: expected exactly one change (add_server, add_licenses, remove_server, "
        "move_subscribers, growth), got 2 (growth, remove_server)",
    ),
    ("remove_server: UNITY-A", "changes[0].remove_server: expected a mapping, got 'UNITY-A'"),
]


@pytest.mark.parametrize(("item", "message"), LOAD_ERRORS)
def test_load_errors(tmp_path: Path, item: str, message: str) -> None:
    path = changes(tmp_path, item)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}: {message}"


def test_file_level_errors(tmp_path: Path) -> None:
    for text, message in [
        ("name: x\n", "changes: required key is missing"),
        ("changes: []\n", "changes: expected a list of at least 1 item, got 0"),
        ("changes: [1]\n", "changes[0]: expected a mapping, got 1"),
        ("chnages: []\n", "unknown key 'chnages' (allowed: changes, name)"),
    ]:
        path = scenario_file(tmp_path, text)
        with pytest.raises(ScenarioError) as caught:
            load_scenario(path)
        assert str(caught.value) == f"{path}: {message}"
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")


APPLY_ERRORS = [
    (
        "add_licenses: {server: UNITY-X, vm: 5}",
        "changes[0].add_licenses.server: expected one of the servers UNITY-A, UNITY-B, "
        "got 'UNITY-X'",
    ),
    (
        "move_subscribers: {from: UNITY-A, to: UNITY-B, vm: 600}",
        "changes[0].move_subscribers.vm: expected at most 540 (UNITY-A's VM subscribers "
        "today), got 600",
    ),
    (
        "move_subscribers: {from: UNITY-A, to: UNITY-B, vm: 200, um: 160}",
        "changes[0].move_subscribers.um: expected at most 150 (UNITY-A's UM subscribers "
        "today), got 160",
    ),
    (
        "move_subscribers: {from: UNITY-A, to: UNITY-Z, vm: 1}",
        "changes[0].move_subscribers.to: expected one of the servers UNITY-A, UNITY-B, "
        "got 'UNITY-Z'",
    ),
    (
        "remove_server: {name: UNITY-A}",
        "changes[0].remove_server.move_to: required key is missing (UNITY-A has subscribers "
        "today: 540 VM, 150 UM, 30 Inbox; name the server they move to)",
    ),
    (
        "remove_server: {name: UNITY-A, move_to: UNITY-A}",
        "changes[0].remove_server.move_to: expected another server of pool lab.example.com, "
        "got 'UNITY-A'",
    ),
    (
        "add_server: {name: unity-a, licenses: {vm: 1}}",
        "changes[0].add_server.name: expected a new server name (UNITY-A is in pool "
        "lab.example.com), got 'unity-a'",
    ),
    (
        "add_server: {name: UNITY-N, pool: other.example.com, licenses: {vm: 1}}",
        "changes[0].add_server.pool: expected one of the pools lab.example.com, "
        "got 'other.example.com'",
    ),
]


@pytest.mark.parametrize(("item", "message"), APPLY_ERRORS)
def test_apply_errors(tmp_path: Path, item: str, message: str) -> None:
    path = changes(tmp_path, item)
    with pytest.raises(ScenarioError) as caught:
        applied(path)
    assert str(caught.value) == f"{path}: {message}"


def test_errors_with_several_pools(tmp_path: Path) -> None:
    snapshots = worked_example() + series("UNITY-X", {0: 5}, 10, pool="a.example.com")
    for item, message in [
        (
            "add_server: {name: UNITY-N, licenses: {vm: 1}}",
            "changes[0].add_server.pool: required key is missing (there are 2 pools: "
            "a.example.com, lab.example.com)",
        ),
        (
            "move_subscribers: {from: UNITY-A, to: UNITY-X, vm: 1}",
            "changes[0].move_subscribers.to: expected a server of pool lab.example.com, like "
            "UNITY-A, got 'UNITY-X'",
        ),
    ]:
        path = changes(tmp_path, item)
        with pytest.raises(ScenarioError) as caught:
            applied(path, snapshots)
        assert str(caught.value) == f"{path}: {message}"


def test_the_shipped_example_is_the_docs_one() -> None:
    doc = (EXAMPLE.parents[2] / "docs" / "capacity.md").read_text()
    block = doc.split("### What if: `spring-2027.yaml`", 1)[1].split("```yaml\n", 1)[1]
    shipped = [line for line in EXAMPLE.read_text().splitlines() if not line.startswith("#")]
    assert block.split("```", 1)[0].splitlines() == shipped
