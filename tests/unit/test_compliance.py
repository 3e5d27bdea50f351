"""Compliance states: which state, since when, until when, and what would end it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from poolsync.allocation import build_pool_report
from poolsync.attachment import format_attachment, license_data
from poolsync.compliance import ComplianceReport, Limits, State, assess
from poolsync.model import Location, Seats
from poolsync.records import ViolationKey

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FOREST = "lab.example.com"


def location(
    name: str,
    version: str,
    licensed: Seats,
    *,
    ports: int = 24,
    pooling: bool = True,
    guid: str | None = None,
    failover_of: str | None = None,
) -> Location:
    text = format_attachment(
        license_data(
            licensed=licensed, pooling=pooling, secondary=False, ports=ports, published=None
        )
    )
    return Location(
        guid=guid or f"g-{name}",
        dn=f"CN={name}",
        name=name,
        object_id=f"id-{guid or name}",
        version=version,
        failover_of=failover_of,
        attachment=None if failover_of else text,
    )


DEFAULT_LIMITS = Limits()


def run(
    locations: list[Location],
    homed: dict[str, Seats],
    *,
    limits: Limits = DEFAULT_LIMITS,
    first_seen: dict[ViolationKey, datetime] | None = None,
    now: datetime = NOW,
) -> ComplianceReport:
    report = build_pool_report(FOREST, locations, homed)
    return assess(report, locations, homed, limits=limits, first_seen=first_seen or {}, now=now)


def test_a_pool_within_its_licenses_is_compliant() -> None:
    states = run(
        [location("A", "4.0(5)", Seats(100, 10, 10)), location("B", "5.0(1)", Seats(100, 10, 10))],
        {"id-A": Seats(150), "id-B": Seats(40)},
    )  # A borrows from B: fine
    assert states.compliant
    assert [(a.name, a.state) for a in (*states.pools, *states.servers)] == [
        (FOREST, State.COMPLIANT),
        ("A", State.COMPLIANT),
        ("B", State.COMPLIANT),
    ]


def test_an_over_pool_puts_4x_into_four_hour_shutdown_and_5x_into_grace() -> None:
    seen = NOW - timedelta(days=3)
    states = run(
        [location("A", "4.0(5)", Seats(100)), location("B", "5.0(1)", Seats(100))],
        {"id-A": Seats(150), "id-B": Seats(80)},
        first_seen={ViolationKey.pool(FOREST, "vm"): seen},
    )
    a, b = states.server("g-A"), states.server("g-B")
    assert a is not None and b is not None
    assert (a.state, a.since, a.until) == (State.FOUR_HOUR_SHUTDOWN, seen, None)
    assert (b.state, b.since, b.until) == (State.GRACE, seen, seen + timedelta(days=28))
    (pool,) = states.pools
    assert pool.state is State.FOUR_HOUR_SHUTDOWN  # the most severe member's
    (violation,) = pool.violations
    assert "uses 230 VM seats of 200" in violation.what
    assert "add 30 VM seats" in violation.remedy
    assert states.violation_keys() == {ViolationKey.pool(FOREST, "vm")}


def test_grace_ends_after_28_days_then_restarts_every_48_hours() -> None:
    locations = [location("B", "5.0(1)", Seats(100))]
    seen = NOW - timedelta(days=28)
    states = run(
        locations, {"id-B": Seats(101)}, first_seen={ViolationKey.pool(FOREST, "vm"): seen}
    )
    assert states.pools[0].state is State.RESTART_EVERY_48H
    fresh = run(locations, {"id-B": Seats(101)})  # never seen before: since now
    assert (fresh.pools[0].state, fresh.pools[0].since) == (State.GRACE, NOW)
    shorter = run(
        locations,
        {"id-B": Seats(101)},
        limits=Limits(grace_days=2),
        first_seen={ViolationKey.pool(FOREST, "vm"): NOW - timedelta(days=3)},
    )
    assert shorter.pools[0].state is State.RESTART_EVERY_48H


def test_per_server_maximums() -> None:
    states = run(
        [location("A", "4.0(5)", Seats(500), ports=96), location("B", "4.2(1)", Seats(500))],
        {"id-A": Seats(10), "id-B": Seats(300)},
        limits=Limits(max_voice_ports=72, max_subscribers=250),
    )
    a, b = states.server("g-A"), states.server("g-B")
    assert a is not None and b is not None
    assert a.state is State.FOUR_HOUR_SHUTDOWN
    assert [str(v.key) for v in a.violations] == ["server:g-A:voice-ports"]
    assert "96 voice ports" in a.violations[0].what
    assert [str(v.key) for v in b.violations] == ["server:g-B:subscribers"]
    assert "move 50 subscribers" in b.violations[0].remedy
    assert states.pools[0].state is State.FOUR_HOUR_SHUTDOWN  # members are in violation
    assert states.pools[0].violations == ()  # but the pool's own seats are fine
    no_limits = run(
        [location("A", "4.0(5)", Seats(500), ports=96)],
        {"id-A": Seats(10)},
        limits=Limits(max_voice_ports=None),
    )
    assert no_limits.compliant


def test_a_server_outside_the_pool_answers_for_its_own_license() -> None:
    states = run(
        [
            location("A", "4.0(5)", Seats(100)),
            location("C", "5.0(1)", Seats(50, 5, 0), pooling=False),
        ],
        {"id-A": Seats(10), "id-C": Seats(60, 6, 0)},
    )
    c = states.server("g-C")
    assert c is not None and c.state is State.GRACE
    assert [str(v.key) for v in c.violations] == ["server:g-C:vm", "server:g-C:um"]
    assert "move 10 subscribers" in c.violations[0].remedy
    assert states.pools[0].state is State.COMPLIANT  # C is not a member
    assert not states.compliant


def test_servers_with_the_same_name_are_told_apart_by_guid() -> None:
    states = run(
        [
            location("X", "5.0(1)", Seats(100), guid="g1"),
            location("X", "4.0(5)", Seats(100), ports=96, guid="g2"),
            location("X", "4.0(5)", Seats(10), pooling=False, guid="g3"),
        ],
        {"id-g1": Seats(10), "id-g2": Seats(10), "id-g3": Seats(50)},
    )
    one, two, three = (states.server(g) for g in ("g1", "g2", "g3"))
    assert one is not None and two is not None and three is not None
    assert [str(v.key) for v in two.violations] == ["server:g2:voice-ports"]
    assert two.state is State.FOUR_HOUR_SHUTDOWN and one.state is State.COMPLIANT
    assert three.state is State.FOUR_HOUR_SHUTDOWN  # over its own license, outside the pool


def test_a_non_pooled_primary_counts_its_secondarys_subscribers() -> None:
    primary = location("P", "4.0(5)", Seats(100), pooling=False)
    secondary = location("S", "4.0(5)", Seats(0), failover_of=primary.object_id)
    states = run([primary, secondary], {"id-P": Seats(60), "id-S": Seats(60)})
    p = states.server("g-P")
    assert p is not None and p.state is State.FOUR_HOUR_SHUTDOWN
    assert "uses 120 VM seats of 100" in p.violations[0].what


def test_the_pool_takes_its_worst_members_state_and_dates() -> None:
    pool_key = ViolationKey.pool(FOREST, "vm")
    ports_key = ViolationKey.server("g-A", "voice-ports")
    locations = [location("A", "5.0(1)", Seats(100), ports=96), location("B", "5.0(1)", Seats(100))]
    homed = {"id-A": Seats(150), "id-B": Seats(80)}
    states = run(
        locations,
        homed,
        first_seen={pool_key: NOW - timedelta(days=2), ports_key: NOW - timedelta(days=40)},
    )
    (pool,) = states.pools
    assert (pool.state, pool.since) == (State.RESTART_EVERY_48H, NOW - timedelta(days=40))
    graced = run(
        locations,
        homed,
        first_seen={pool_key: NOW - timedelta(days=2), ports_key: NOW - timedelta(days=20)},
    )
    (pool,) = graced.pools
    # A's grace (from day -20) ends first: the pool's grace ends then.
    assert (pool.state, pool.until) == (State.GRACE, NOW + timedelta(days=8))
