"""Capacity planning: robust growth, projection, exhaustion, seats needed, per-server
limits and recommendations. Expected dates and counts are worked out by hand in the
comments (docs/capacity.md has the worked example)."""

from __future__ import annotations

import random
import statistics
from dataclasses import replace
from datetime import date, timedelta

import pytest

from poolsync.capacity.growth import GrowthRate, theil_sen
from poolsync.capacity.model import (
    LicenseChange,
    Point,
    Recommendation,
)
from poolsync.compliance import Limits
from poolsync.model import Seats
from tests.support.capacity import (
    INBOX,
    TODAY,
    UM,
    VM,
    WORKED_LIMITS,
    at,
    linear,
    only_pool,
    run,
    series,
    worked_example,
)

LAST_30 = range(-29, 1)  # daily snapshots, the last one today


# -- Theil-Sen ------------------------------------------------------------------------


def test_theil_sen_edge_cases() -> None:
    assert theil_sen([]) == (0.0, 0.0)
    assert theil_sen([(3.0, 7.0)]) == (0.0, 7.0)
    assert theil_sen([(1.0, 5.0), (1.0, 9.0), (1.0, 6.0)]) == (0.0, 6.0)  # one x only
    assert theil_sen([(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]) == (2.0, 1.0)


def test_theil_sen_ignores_one_outlier_and_the_order_of_points() -> None:
    points = [(float(x), 10.0 + 3.0 * x) for x in range(20)]
    points[7] = (7.0, 10_000.0)
    shuffled = list(points)
    random.Random(4).shuffle(shuffled)
    assert theil_sen(points) == theil_sen(shuffled) == (3.0, 10.0)


def test_growth_rate_per_day() -> None:
    assert GrowthRate(3).per_day(500) == 3
    assert GrowthRate(30, 30).per_day(500) == 1
    assert GrowthRate(3, 30, percent=True).per_day(800) == pytest.approx(0.8)
    assert GrowthRate(3, 30, percent=True).text == "3%/month"
    assert GrowthRate(36.5, 365).text == "36.5/year"


# -- exhaustion -----------------------------------------------------------------------


def test_known_linear_growth_gives_the_exact_exhaustion_day() -> None:
    # used = 100 + 2d (d: days from today), 200 licensed: over when 100 + 2d > 200,
    # i.e. d > 50, so on day 51 = 2027-01-20 (December has 31 days: 2026-11-30 + 31
    # = 2026-12-31, + 20 = 2027-01-20).
    vm = only_pool(run(series("UNITY-A", linear(100, 2, LAST_30), 200))).classes[VM]
    assert (vm.licensed, vm.used, vm.headroom) == (200, 100, 100)
    assert vm.growth_per_day == 2.0
    assert vm.exhausted_on == date(2027, 1, 20)
    assert vm.days_left == 51
    # The worst day is the last: 100 + 2 * 365 - 200 = 630 seats short.
    assert vm.seats_needed == 630
    assert Point(date(2027, 1, 20), 202.0, 200) in vm.projection
    assert vm.projection[0] == Point(TODAY, 100.0, 200)
    assert vm.projection[-1] == Point(date(2027, 11, 30), 830.0, 200)
    assert [p.day for p in vm.projection[:3]] == [TODAY, date(2026, 12, 7), date(2026, 12, 14)]
    assert len(vm.history) == 30 and vm.history[-1] == Point(TODAY, 100.0, 200)


def test_one_outlier_snapshot_does_not_move_the_exhaustion_day() -> None:
    used = linear(100, 2, LAST_30)
    used[-10] *= 10  # one resync read something absurd: 800 instead of 80
    vm = only_pool(run(series("UNITY-A", used, 200))).classes[VM]
    assert (vm.growth_per_day, vm.exhausted_on, vm.seats_needed) == (2.0, date(2027, 1, 20), 630)


def test_an_outlier_latest_snapshot_does_not_swing_the_line() -> None:
    # The line is fitted, not anchored at the latest point: today's 150 (instead of
    # 100) shows as today's use but the projection still crosses 200 on day 51.
    used = linear(100, 2, LAST_30)
    used[0] = 150
    vm = only_pool(run(series("UNITY-A", used, 200))).classes[VM]
    assert (vm.used, vm.headroom) == (150, 50)
    assert (vm.growth_per_day, vm.exhausted_on) == (2.0, date(2027, 1, 20))
    assert vm.projection[0] == Point(TODAY, 100.0, 200)


def test_flat_use_never_runs_out() -> None:
    report = run(series("UNITY-A", dict.fromkeys(LAST_30, 150), 200))
    vm = only_pool(report).classes[VM]
    assert (vm.growth_per_day, vm.exhausted_on, vm.days_left, vm.seats_needed) == (
        0.0,
        None,
        None,
        0,
    )
    assert report.recommendations == ()


def test_a_pool_over_its_seats_today_runs_out_today() -> None:
    report = run(series("UNITY-A", dict.fromkeys(LAST_30, 210), 200))
    vm = only_pool(report).classes[VM]
    assert (vm.exhausted_on, vm.days_left, vm.seats_needed, vm.headroom) == (TODAY, 0, 10, -10)
    assert report.recommendations == (
        Recommendation(
            "high",
            "Pool lab.example.com is over its VM seats now (210 used of 200 licensed): "
            "buy 10 VM seats to last through 2027-11-30, or move 10 VM subscribers out "
            "of the pool",
        ),
    )


def test_a_license_expiry_moves_exhaustion_to_the_expiry_day() -> None:
    # 150 used, flat; 200 licensed until UNITY-A's license drops to 100 on 2027-03-01
    # (91 days from today): over that very day, 50 seats short from then on.
    expiry = LicenseChange("unity-a", date(2027, 3, 1), Seats(vm=100))  # names: any case
    report = run(series("UNITY-A", dict.fromkeys(LAST_30, 150), 200), changes=[expiry])
    pool = only_pool(report)
    vm = pool.classes[VM]
    assert (vm.licensed, vm.exhausted_on, vm.days_left, vm.seats_needed) == (
        200,
        date(2027, 3, 1),
        91,
        50,
    )
    assert Point(date(2027, 3, 1), 150.0, 100) in vm.projection
    assert pool.servers[0].classes[VM].exhausted_on == date(2027, 3, 1)
    assert report.recommendations == (
        Recommendation(
            "medium",
            "Pool lab.example.com runs out of VM seats on 2027-03-01 (91 days), when "
            "its licensed VM seats drop from 200 to 100: buy 50 VM seats to last "
            "through 2027-11-30, or move 50 VM subscribers out of the pool",
        ),
    )


def test_license_changes_the_snapshots_already_show_are_ignored() -> None:
    # Dated today (the latest snapshot's day) or earlier: the snapshot counts it.
    old = [
        LicenseChange("UNITY-A", TODAY, Seats(vm=10)),
        LicenseChange("UNITY-A", date(2026, 11, 1), Seats(vm=10)),
    ]
    vm = only_pool(run(series("UNITY-A", dict.fromkeys(LAST_30, 150), 200), changes=old)).classes[
        VM
    ]
    assert (vm.exhausted_on, vm.seats_needed) == (None, 0)


def test_an_add_on_license_delays_exhaustion() -> None:
    # 100 + 2d > 200 on day 51 (2027-01-20), but from 2027-01-01 (day 32) 300 are
    # licensed: 100 + 2d > 300 on day 101 = 2027-03-11. Short 100 + 730 - 300 = 530.
    more = LicenseChange("UNITY-A", date(2027, 1, 1), Seats(vm=300))
    vm = only_pool(run(series("UNITY-A", linear(100, 2, LAST_30), 200), changes=[more])).classes[VM]
    assert (vm.exhausted_on, vm.days_left, vm.seats_needed) == (date(2027, 3, 11), 101, 530)
    assert Point(date(2027, 1, 1), 164.0, 300) in vm.projection


def test_a_license_change_for_an_unknown_server_is_a_note() -> None:
    report = run(
        series("UNITY-A", dict.fromkeys(LAST_30, 150), 200),
        changes=[LicenseChange("UNITY-Z", date(2027, 1, 1), Seats(vm=5))],
    )
    assert report.notes == (
        "license change for UNITY-Z on 2027-01-01 ignored: no such "
        "server in the window's snapshots",
    )


# -- series ---------------------------------------------------------------------------


def test_servers_add_up_to_the_pool() -> None:
    # A: 300 + 1d of 400; B: 200 + 3d of 250. Pool: 500 + 4d of 650, over when
    # 4d > 150, i.e. d = 38 (2027-01-07).
    report = run(
        series("UNITY-B", linear(200, 3, LAST_30), 250)
        + series("UNITY-A", linear(300, 1, LAST_30), 400)
    )
    pool = only_pool(report)
    vm = pool.classes[VM]
    assert (vm.licensed, vm.used, vm.growth_per_day) == (650, 500, 4.0)
    assert (vm.exhausted_on, vm.days_left) == (date(2027, 1, 7), 38)
    assert [s.name for s in pool.servers] == ["UNITY-A", "UNITY-B"]
    a, b = (s.classes[VM] for s in pool.servers)
    assert (a.licensed, a.used, a.growth_per_day) == (400, 300, 1.0)
    assert (b.licensed, b.used, b.growth_per_day) == (250, 200, 3.0)
    # B alone (its own license; it borrows in the pool): 200 + 3d > 250 on d = 17.
    assert (b.exhausted_on, b.seats_needed) == (date(2026, 12, 17), 200 + 3 * 365 - 250)
    assert all(
        h.used == ha.used + hb.used
        for h, ha, hb in zip(vm.history, a.history, b.history, strict=True)
    )


def test_the_window_leaves_out_older_snapshots() -> None:
    # Days -29..0 grow 2 a day; much older days (-300..-100) hold nonsense. With a
    # 30-day window the first day counted is -29 (day -30 is not after today - 30).
    old = {d: 5000 - 40 * d for d in range(-300, -99, 10)}
    edge = {-30: 9999}
    snapshots = series("UNITY-A", {**old, **edge, **linear(100, 2, LAST_30)}, 200)
    vm = only_pool(run(snapshots, window=30)).classes[VM]
    assert vm.history[0].day == TODAY - timedelta(days=29)
    assert len(vm.history) == 30
    assert (vm.growth_per_day, vm.exhausted_on) == (2.0, date(2027, 1, 20))
    with_old = only_pool(run(snapshots, window=400)).classes[VM]
    assert with_old.history[0].day == TODAY - timedelta(days=300)


def test_the_last_snapshot_of_a_day_counts() -> None:
    morning = series("UNITY-A", dict.fromkeys(LAST_30, 999), 200, hour=1)
    evening = series("UNITY-A", linear(100, 2, LAST_30), 200, hour=23)
    vm = only_pool(run(morning + evening)).classes[VM]
    assert (vm.used, vm.exhausted_on, len(vm.history)) == (100, date(2027, 1, 20), 30)


def test_a_server_that_stopped_reporting_is_left_out_with_a_note() -> None:
    report = run(
        series("UNITY-A", dict.fromkeys(LAST_30, 150), 200)
        + series("UNITY-OLD", dict.fromkeys(range(-29, -9), 40), 50)
    )
    pool = only_pool(report)
    assert [s.name for s in pool.servers] == ["UNITY-A"]
    assert (pool.classes[VM].used, pool.classes[VM].licensed) == (150, 200)
    assert report.notes == (
        "UNITY-OLD: no snapshot since 2026-11-20; left out of pool "
        "lab.example.com (its history still counts in the pool's)",
    )


def test_no_snapshots_in_the_window() -> None:
    report = run(series("UNITY-A", {-200: 5}, 10))
    assert report.pools == ()
    assert report.notes == ("no snapshots in the 90 days up to 2026-11-30",)


def test_bad_window_or_horizon() -> None:
    with pytest.raises(ValueError, match="window_days"):
        run([], window=0)
    with pytest.raises(ValueError, match="horizon_days"):
        run([], horizon=-1)


# -- growth overrides -----------------------------------------------------------------


def test_a_growth_override_keeps_todays_level_and_splits_by_share() -> None:
    # Fitted: 500 + 4d. Override 10/day: 500 + 10d > 650 when d > 15, on day 16.
    # Servers get 10 * 300/500 = 6 and 10 * 200/500 = 4 a day.
    snapshots = series("UNITY-A", linear(300, 1, LAST_30), 400) + series(
        "UNITY-B", linear(200, 3, LAST_30), 250
    )
    pool = only_pool(run(snapshots, growth={VM: 10.0}))
    assert (pool.classes[VM].growth_per_day, pool.classes[VM].exhausted_on) == (
        10.0,
        date(2026, 12, 16),
    )
    assert [s.classes[VM].growth_per_day for s in pool.servers] == [6.0, 4.0]
    percent = only_pool(run(snapshots, growth={VM: GrowthRate(3, 30, percent=True)}))
    assert percent.classes[VM].growth_per_day == pytest.approx(0.5)  # 3% of 500 / 30


# -- per-server limits and recommendations --------------------------------------------


def test_subscribers_to_move_for_the_per_server_maximum() -> None:
    # 540 + 1d homed, at most 600: over when d > 60, on day 61 (2027-01-30); at the
    # horizon 540 + 365 = 905 homed, so 305 must move.
    report = run(
        series("UNITY-A", linear(540, 1, LAST_30), 2000), limits=Limits(max_subscribers=600)
    )
    (server,) = only_pool(report).servers
    assert server.classes[VM].to_move == 305
    sentence = (
        "UNITY-A exceeds the per-server maximum of 600 subscribers on 2027-01-30: "
        "move 305 subscribers to another server"
    )
    assert server.limits == (sentence,)
    assert report.recommendations == (Recommendation("low", sentence),)


def test_a_server_over_the_maximum_today() -> None:
    report = run(
        series("UNITY-A", dict.fromkeys(LAST_30, 650), 2000), limits=Limits(max_subscribers=600)
    )
    (server,) = only_pool(report).servers
    assert server.classes[VM].to_move == 50
    assert server.limits == (
        "UNITY-A exceeds the per-server maximum of 600 subscribers now "
        "(650 on 2026-11-30): move 50 subscribers to another server",
    )


def test_no_maximum_no_move() -> None:
    (server,) = only_pool(run(series("UNITY-A", linear(540, 1, LAST_30), 2000))).servers
    assert (server.classes[VM].to_move, server.limits) == (0, ())


def test_recommendations_are_ranked_by_urgency_then_date() -> None:
    snapshots = (
        series("UNITY-A", linear(100, 2, LAST_30), 200)
        + series("UNITY-A", linear(100, 1, LAST_30), 300, seat_class=UM)
        + series("UNITY-A", dict.fromkeys(LAST_30, 95), 100, seat_class=INBOX)
        + series("UNITY-B", linear(100, 1, LAST_30), 50)
    )
    report = run(snapshots, limits=Limits(max_subscribers=150))
    assert [r.urgency for r in report.recommendations] == ["high", "medium", "low", "low", "low"]
    assert [r.text for r in report.recommendations] == [
        # VM: 200 + 3d > 250 when d > 16.7: day 17; short 200 + 1095 - 250 = 1045.
        "Pool lab.example.com runs out of VM seats on 2026-12-17 (17 days): buy 1045 VM "
        "seats to last through 2027-11-30, or move 1045 VM subscribers out of the pool",
        # UM: 100 + d > 300 on day 201; short 100 + 365 - 300 = 165.
        "Pool lab.example.com runs out of UM seats on 2027-06-19 (201 days): buy 165 UM "
        "seats to last through 2027-11-30, or move 165 UM subscribers out of the pool",
        # A: 100 + 2d > 150 on day 26, 830 at the horizon; B: 100 + d, day 51, 465.
        "UNITY-A exceeds the per-server maximum of 150 subscribers on 2026-12-26: move 680 "
        "subscribers to another server",
        "UNITY-B exceeds the per-server maximum of 150 subscribers on 2027-01-20: move 315 "
        "subscribers to another server",
        "Pool lab.example.com has only 5 Inbox seats left of 100 (5.0%); at the current "
        "growth (0.00 seats a day) they last through 2027-11-30",
    ]


# -- the worked example of docs/capacity.md -------------------------------------------


def test_the_worked_example() -> None:
    report = run(worked_example(), limits=WORKED_LIMITS)
    pool = only_pool(report)
    vm, um, inbox = (pool.classes[c] for c in (VM, UM, INBOX))
    # 800 + 2d of 900: over on day 51 (2027-01-20); 800 + 730 - 900 = 630 short.
    assert (vm.licensed, vm.used, vm.headroom, vm.growth_per_day) == (900, 800, 100, 2.0)
    assert (vm.exhausted_on, vm.days_left, vm.seats_needed) == (date(2027, 1, 20), 51, 630)
    assert (um.licensed, um.used, um.growth_per_day, um.exhausted_on) == (350, 240, 0.0, None)
    assert (inbox.licensed, inbox.used, inbox.exhausted_on) == (100, 55, None)
    a, b = pool.servers
    # A: 540 + 1d, its own 500 exceeded already (it borrows 40 from B).
    assert (a.classes[VM].exhausted_on, a.classes[VM].days_left) == (TODAY, 0)
    assert (a.classes[VM].seats_needed, a.classes[VM].to_move) == (405, 305)
    # B: 260 + 1d, over its own 400 on day 141; over 600 on day 341, 625 at the horizon.
    assert (b.classes[VM].exhausted_on, b.classes[VM].to_move) == (date(2027, 4, 20), 25)
    assert [r.text for r in report.recommendations] == [
        "Pool lab.example.com runs out of VM seats on 2027-01-20 (51 days): buy 630 VM "
        "seats to last through 2027-11-30, or move 630 VM subscribers out of the pool",
        "UNITY-A exceeds the per-server maximum of 600 subscribers on 2027-01-30: move 305 "
        "subscribers to another server",
        "UNITY-B exceeds the per-server maximum of 600 subscribers on 2027-11-06: move 25 "
        "subscribers to another server",
    ]
    assert [r.urgency for r in report.recommendations] == ["high", "low", "low"]


def test_the_worked_example_with_a_bad_resync() -> None:
    # docs/capacity.md: the resync of 2026-11-09 (day -21) reads UNITY-A's VM as 5190
    # (ten times 519). Theil-Sen keeps 2 a day and 2027-01-20; least squares would
    # tilt to 9.94 a day through 1578.5 today, over its 900 seats already.
    snapshots = [
        replace(s, used=5190)
        if (s.server, s.seat_class, s.taken_at) == ("UNITY-A", VM, at(-21))
        else s
        for s in worked_example()
    ]
    vm = only_pool(run(snapshots, limits=WORKED_LIMITS)).classes[VM]
    assert Point(date(2026, 11, 9), 5429.0, 900) in vm.history
    assert (vm.growth_per_day, vm.exhausted_on, vm.seats_needed) == (2.0, date(2027, 1, 20), 630)
    xs = [float((p.day - TODAY).days) for p in vm.history]
    least_squares = statistics.linear_regression(xs, [p.used for p in vm.history])
    assert (round(least_squares.slope, 2), least_squares.intercept) == (9.94, 1578.5)


def test_server_names_are_compared_case_insensitively() -> None:
    # Imported rows spell the server "unity-a", resyncs "UNITY-A": one server, flat.
    history = [
        *series("unity-a", {d: 60 for d in range(-29, -9)}, 100),
        *series("UNITY-A", {d: 60 for d in range(-9, 1)}, 100),
    ]
    pool = only_pool(run(history))
    assert [s.name for s in pool.servers] == ["UNITY-A"]
    vm = pool.classes[VM]
    assert (vm.licensed, vm.used, vm.growth_per_day, vm.exhausted_on) == (100, 60, 0, None)
