"""What-if scenario files never crash the report: random, mutated and hostile YAML
(hypothesis).

Every input is written to a real file and taken through what ``poolsync report
capacity --what-if FILE`` does: :func:`load_scenario`, :func:`apply` to the worked
example's snapshots, the projection of the after state, and the report in its table,
JSON, Markdown and CSV forms. The only outcome allowed besides a report is one
ScenarioError line naming the file. Example counts: tests/support/fuzzing.py; figures:
docs/reliability.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolsync.capacity.model import CapacityReport, WhatIf
from poolsync.capacity.project import project
from poolsync.capacity.whatif import ScenarioError, apply, load_scenario
from poolsync.render.capacity import capacity_csv, capacity_json, capacity_md, capacity_table
from tests.support.capacity import GENERATED, SPRING, TODAY, WORKED_LIMITS, worked_example
from tests.support.fuzzing import expect_only, fuzz_settings, yaml_inputs

pytestmark = pytest.mark.fuzz

SNAPSHOTS = worked_example()
EVERY_KIND = """\
name: every-kind
changes:
  - add_server: {name: UNITY-N, pool: lab.example.com, licenses: {vm: 200, um: 50, inbox: 0}}
  - add_licenses: {server: unity-a, vm: 100, um: 0, inbox: 1, on: 2026-01-01}
  - move_subscribers: {from: UNITY-A, to: UNITY-B, vm: 50, um: 10, inbox: 0}
  - remove_server: {name: UNITY-B, move_to: UNITY-N}
  - growth: {vm: "-2%/month", um: "+3 / day", inbox: "10/YEAR"}
"""
SEEDS = [SPRING.encode(), EVERY_KIND.encode()]
KNOWN_KEYS = [
    "name",
    "changes",
    "add_server",
    "add_licenses",
    "remove_server",
    "move_subscribers",
    "growth",
    "pool",
    "licenses",
    "vm",
    "um",
    "inbox",
    "server",
    "on",
    "move_to",
    "from",
    "to",
]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-whatif") / "scenario.yaml"


def report_with(path: Path) -> CapacityReport:
    """What `report capacity --what-if` computes (cli/report.py), without the store."""
    result = project(
        SNAPSHOTS,
        today=TODAY,
        window_days=90,
        horizon_days=365,
        limits=WORKED_LIMITS,
        generated=GENERATED,
    )
    scenario = load_scenario(path)
    applied = apply(scenario, SNAPSHOTS, today=TODAY)
    after = project(
        applied.snapshots,
        today=TODAY,
        window_days=90,
        horizon_days=365,
        limits=WORKED_LIMITS,
        generated=GENERATED,
        license_changes=applied.license_changes,
        growth=applied.growth,
    )
    return replace(
        result,
        what_if=WhatIf(
            scenario=str(path),
            pools=after.pools,
            recommendations=after.recommendations,
            applied=applied.sentences,
        ),
    )


def through_report(path: Path, data: bytes) -> CapacityReport | None:
    path.write_bytes(data)
    report: CapacityReport | None = expect_only(ScenarioError, path, lambda: report_with(path))
    if report is not None:
        json.dumps(capacity_json(report), allow_nan=False)
        capacity_table(report)
        capacity_md(report)
        capacity_csv(report)
    return report


def test_the_seeds_are_valid(scratch: Path) -> None:
    for seed in SEEDS:
        assert through_report(scratch, seed) is not None


@fuzz_settings(2)
@given(data=yaml_inputs(SEEDS, KNOWN_KEYS))
def test_any_yaml_raises_only_scenario_error(scratch: Path, data: bytes) -> None:
    through_report(scratch, data)


RATES = st.one_of(
    st.builds(
        "{}{}/{}".format,
        st.one_of(
            st.integers(-(10**400), 10**400),
            st.floats(allow_nan=False),
            st.decimals(allow_nan=False, allow_infinity=False, places=6),
        ),
        st.sampled_from(["", "%", " % "]),
        st.sampled_from(["day", "month", "year", "Day", "week", ""]),
    ),
    st.text(alphabet="0123456789.+-%/ dayonthyr\u0663", max_size=20),
)
COUNTS = st.one_of(st.integers(-(10**20), 10**20), st.sampled_from([0, 1, 2**63, 10**400]))


@fuzz_settings(2)
@given(rate=RATES, seat_class=st.sampled_from(["vm", "um", "inbox"]))
def test_any_growth_rate_raises_only_scenario_error(
    scratch: Path, rate: str, seat_class: str
) -> None:
    through_report(scratch, f'changes:\n  - growth: {{{seat_class}: "{rate}"}}\n'.encode())


CHANGES: list[Callable[[int], str]] = [
    lambda n: f"add_licenses: {{server: UNITY-A, vm: {n}}}",
    lambda n: f"add_licenses: {{server: UNITY-B, um: {n}, on: 2027-01-01}}",
    lambda n: f"add_server: {{name: UNITY-N, licenses: {{vm: {n}, inbox: {n}}}}}",
    lambda n: f"move_subscribers: {{from: UNITY-A, to: UNITY-B, vm: {n}}}",
    lambda n: f"move_subscribers: {{from: UNITY-A, to: UNITY-B, vm: 1, um: {n}}}",
]


@fuzz_settings(1)
@given(changes=st.lists(st.tuples(st.sampled_from(CHANGES), COUNTS), min_size=1, max_size=4))
def test_any_seat_counts_raise_only_scenario_error(
    scratch: Path, changes: list[tuple[Callable[[int], str], int]]
) -> None:
    text = "changes:\n" + "".join(f"  - {change(n)}\n" for change, n in changes)
    through_report(scratch, text.encode())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Found by the fuzzer: a rate too large for a float was infinity, and the
        # projection raised OverflowError (ValueError for NaN) converting it.
        (
            'growth: {vm: "' + "9" * 400 + '/day"}',
            r"changes\[0\]\.growth\.vm: expected a rate "
            r"such as .*, of at most 1000000 a unit",
        ),
        ('growth: {um: "1000001%/year"}', r"changes\[0\]\.growth\.um: expected a rate"),
        # Found by a hostile-input probe: other scripts' digits were read as a rate.
        ('growth: {vm: "\u0663/day"}', r"changes\[0\]\.growth\.vm: expected a rate"),
        # Found by the fuzzer: a seat count too large for a float crashed the projection
        # (OverflowError).
        (
            "add_licenses: {server: UNITY-A, vm: " + "1" + "0" * 400 + "}",
            r"changes\[0\]\.add_licenses\.vm: expected an integer <= 9223372036854775807, got a "
            r"very large integer",
        ),
        (
            "add_server: {name: N, licenses: {inbox: 9223372036854775808}}",
            r"changes\[0\]\.add_server\.licenses\.inbox: expected an integer <= "
            r"9223372036854775807, got 9223372036854775808",
        ),
        (
            "move_subscribers: {from: UNITY-A, to: UNITY-B, vm: " + "9" * 30 + "}",
            r"changes\[0\]\.move_subscribers\.vm: expected an integer <= 9223372036854775807",
        ),
    ],
)
def test_regressions_raise_one_scenario_error(scratch: Path, change: str, message: str) -> None:
    scratch.write_text(f"changes:\n  - {change}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=f"^{scratch}: {message}"):
        report_with(scratch)
    assert through_report(scratch, scratch.read_bytes()) is None
