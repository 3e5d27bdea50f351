"""Compliance states: which state, since when, until when, and what would end it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from poolsync.allocation import build_pool_report
from poolsync.attachment import format_attachment, license_data
from poolsync.compliance import ComplianceReport, Limits, State, assess
from poolsync.model import Location, Seats

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FOREST = "lab.example.com"


def location(name: str, version: str, licensed: Seats, *, ports: int = 24,
             pooling: bool = True) -> Location:
    text = format_attachment(license_data(licensed=licensed, pooling=pooling, secondary=False,
                                          ports=ports, published=None))
    return Location(guid=f"g-{name}", dn=f"CN={name}", name=name, object_id=f"id-{name}",
                    version=version, failover_of=None, attachment=text)


DEFAULT_LIMITS = Limits()


def run(locations: list[Location], homed: dict[str, Seats], *,
        limits: Limits = DEFAULT_LIMITS,
        first_seen: dict[str, datetime] | None = None, now: datetime = NOW,
        ) -> ComplianceReport:
    report = build_pool_report(FOREST, locations, homed)
    return assess(report, locations, homed, limits=limits, first_seen=first_seen or {},
                  now=now)


def test_a_pool_within_its_licenses_is_compliant() -> None:
    states = run([location("A", "4.0(5)", Seats(100, 10, 10)),
                  location("B", "5.0(1)", Seats(100, 10, 10))],
                 {"id-A": Seats(150), "id-B": Seats(40)})  # A borrows from B: fine
    assert states.compliant
    assert [(a.name, a.state) for a in (*states.pools, *states.servers)] == [
        (FOREST, State.COMPLIANT), ("A", State.COMPLIANT), ("B", State.COMPLIANT)]


def test_an_over_pool_puts_4x_into_four_hour_shutdown_and_5x_into_grace() -> None:
    seen = NOW - timedelta(days=3)
    states = run([location("A", "4.0(5)", Seats(100)), location("B", "5.0(1)", Seats(100))],
                 {"id-A": Seats(150), "id-B": Seats(80)},
                 first_seen={f"pool:{FOREST}:vm": seen})
    a, b = states.server("A"), states.server("B")
    assert a is not None and b is not None
    assert (a.state, a.since, a.until) == (State.FOUR_HOUR_SHUTDOWN, seen, None)
    assert (b.state, b.since, b.until) == (State.GRACE, seen, seen + timedelta(days=28))
    (pool,) = states.pools
    assert pool.state is State.FOUR_HOUR_SHUTDOWN  # the most severe member's
    (violation,) = pool.violations
    assert "uses 230 VM seats of 200" in violation.what
    assert "add 30 VM seats" in violation.remedy
    assert states.violation_keys() == {f"pool:{FOREST}:vm"}


def test_grace_ends_after_28_days_then_restarts_every_48_hours() -> None:
    locations = [location("B", "5.0(1)", Seats(100))]
    seen = NOW - timedelta(days=28)
    states = run(locations, {"id-B": Seats(101)}, first_seen={f"pool:{FOREST}:vm": seen})
    assert states.pools[0].state is State.RESTART_EVERY_48H
    fresh = run(locations, {"id-B": Seats(101)})  # never seen before: since now
    assert (fresh.pools[0].state, fresh.pools[0].since) == (State.GRACE, NOW)
    shorter = run(locations, {"id-B": Seats(101)}, limits=Limits(grace_days=2),
                  first_seen={f"pool:{FOREST}:vm": NOW - timedelta(days=3)})
    assert shorter.pools[0].state is State.RESTART_EVERY_48H


def test_per_server_maximums() -> None:
    states = run([location("A", "4.0(5)", Seats(500), ports=96),
                  location("B", "4.2(1)", Seats(500))],
                 {"id-A": Seats(10), "id-B": Seats(300)},
                 limits=Limits(max_voice_ports=72, max_subscribers=250))
    a, b = states.server("A"), states.server("B")
    assert a is not None and b is not None
    assert a.state is State.FOUR_HOUR_SHUTDOWN
    assert [v.key for v in a.violations] == ["server:A:voice-ports"]
    assert "96 voice ports" in a.violations[0].what
    assert [v.key for v in b.violations] == ["server:B:subscribers"]
    assert "move 50 subscribers" in b.violations[0].remedy
    assert states.pools[0].state is State.FOUR_HOUR_SHUTDOWN  # members are in violation
    assert states.pools[0].violations == ()  # but the pool's own seats are fine
    no_limits = run([location("A", "4.0(5)", Seats(500), ports=96)], {"id-A": Seats(10)},
                    limits=Limits(max_voice_ports=None))
    assert no_limits.compliant


def test_a_server_outside_the_pool_answers_for_its_own_license() -> None:
    states = run([location("A", "4.0(5)", Seats(100)),
                  location("C", "5.0(1)", Seats(50, 5, 0), pooling=False)],
                 {"id-A": Seats(10), "id-C": Seats(60, 6, 0)})
    c = states.server("C")
    assert c is not None and c.state is State.GRACE
    assert [v.key for v in c.violations] == ["server:C:vm", "server:C:um"]
    assert "move 10 subscribers" in c.violations[0].remedy
    assert states.pools[0].state is State.COMPLIANT  # C is not a member
    assert not states.compliant
