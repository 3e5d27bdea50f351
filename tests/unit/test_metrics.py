"""The metrics file: its exact text, the exposition grammar, and the atomic write."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolsync.allocation import ClassSeats, Pool, PoolReport
from poolsync.compliance import Assessment, ComplianceReport, State
from poolsync.errors import PoolsyncError
from poolsync.metrics import (
    MetricsError,
    PoolSeats,
    RunMetrics,
    escape_label_value,
    pool_seats,
    render_metrics,
    write_metrics,
)
from poolsync.model import SeatClass

STARTED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
FINISHED = STARTED + timedelta(seconds=2.5)


def sample(**overrides: Any) -> RunMetrics:
    values: dict[str, Any] = {
        "outcome": "findings",
        "mode": "incremental",
        "started_at": STARTED,
        "finished_at": FINISHED,
        "last_success_at": FINISHED,
        "exit_code": 3,
        "objects": {
            ("gc", "locations"): 4,
            ("domain", "locations"): 4,
            ("domain", "subscribers"): 890,
        },
        "changes": {("subscribers", "insert"): 2, ("locations", "update"): 1},
        "forced_total": {"gc": "invocation-changed"},
        "pools": [
            PoolSeats("lab.example.com", "um", 240, 350, True),
            PoolSeats("lab.example.com", "vm", 930, 900, False),
        ],
    }
    values.update(overrides)
    return RunMetrics(**values)


EXPECTED = """\
# HELP poolsync_run_timestamp_seconds When the last poolsync run finished, as a Unix time.
# TYPE poolsync_run_timestamp_seconds gauge
poolsync_run_timestamp_seconds 1714564802.5
# HELP poolsync_run_duration_seconds How long the last poolsync run took.
# TYPE poolsync_run_duration_seconds gauge
poolsync_run_duration_seconds 2.5
# HELP poolsync_run_outcome The last run's outcome: 1 for the outcome it had, 0 for the others.
# TYPE poolsync_run_outcome gauge
poolsync_run_outcome{outcome="ok"} 0
poolsync_run_outcome{outcome="findings"} 1
poolsync_run_outcome{outcome="refused"} 0
poolsync_run_outcome{outcome="failed"} 0
# HELP poolsync_run_mode The last run's mode: 1 for the mode it ran in, 0 for the others.
# TYPE poolsync_run_mode gauge
poolsync_run_mode{mode="total"} 0
poolsync_run_mode{mode="incremental"} 1
poolsync_run_mode{mode="dry-run"} 0
# HELP poolsync_run_exit_code The exit code of the last poolsync run.
# TYPE poolsync_run_exit_code gauge
poolsync_run_exit_code 3
# HELP poolsync_last_success_timestamp_seconds When the last run that committed to the \
store finished, as a Unix time (0 if none ever did).
# TYPE poolsync_last_success_timestamp_seconds gauge
poolsync_last_success_timestamp_seconds 1714564802.5
# HELP poolsync_objects Objects the store holds after the last run, per pass and kind.
# TYPE poolsync_objects gauge
poolsync_objects{pass="domain",kind="locations"} 4
poolsync_objects{pass="domain",kind="subscribers"} 890
poolsync_objects{pass="gc",kind="locations"} 4
# HELP poolsync_run_changes Objects the last run inserted, updated or deleted in the store, \
per kind.
# TYPE poolsync_run_changes gauge
poolsync_run_changes{kind="locations",op="insert"} 0
poolsync_run_changes{kind="locations",op="update"} 1
poolsync_run_changes{kind="locations",op="delete"} 0
poolsync_run_changes{kind="subscribers",op="insert"} 2
poolsync_run_changes{kind="subscribers",op="update"} 0
poolsync_run_changes{kind="subscribers",op="delete"} 0
# HELP poolsync_pass_forced_total_resync 1 for each pass the last run read in full although \
it was not asked to, with the reason.
# TYPE poolsync_pass_forced_total_resync gauge
poolsync_pass_forced_total_resync{pass="gc",reason="invocation-changed"} 1
# HELP poolsync_pool_seats_used Seats of a class that a license pool uses.
# TYPE poolsync_pool_seats_used gauge
poolsync_pool_seats_used{pool="lab.example.com",class="vm"} 930
poolsync_pool_seats_used{pool="lab.example.com",class="um"} 240
# HELP poolsync_pool_seats_licensed Seats of a class that a license pool has licensed.
# TYPE poolsync_pool_seats_licensed gauge
poolsync_pool_seats_licensed{pool="lab.example.com",class="vm"} 900
poolsync_pool_seats_licensed{pool="lab.example.com",class="um"} 350
# HELP poolsync_pool_compliant 1 if the pool uses no more seats of any class than it has \
licensed, else 0.
# TYPE poolsync_pool_compliant gauge
poolsync_pool_compliant{pool="lab.example.com"} 0
"""


# -- a checker for the text exposition format 0.0.4 ----------------------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
LABEL = rf"[a-zA-Z_][a-zA-Z0-9_]*={LABEL_VALUE}"
VALUE = r"(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)"
SAMPLE = re.compile(rf"({NAME})(\{{(?:{LABEL}(?:,{LABEL})*,?)?\}})? {VALUE}(?: -?\d+)?")
HELP = re.compile(rf"# HELP ({NAME}) (?:[^\\\n]|\\[\\n])*")
TYPE = re.compile(rf"# TYPE ({NAME}) (?:counter|gauge|histogram|summary|untyped)")
LABEL_PAIR = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)=({LABEL_VALUE})")


def unescape(quoted: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), quoted[1:-1])


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], str]]:
    """Checks ``text`` against the format and returns {family: {labels: value}}."""
    assert text.endswith("\n") and not text.endswith("\n\n")
    helps: dict[str, int] = {}
    types: dict[str, int] = {}
    series: dict[str, dict[tuple[tuple[str, str], ...], str]] = {}
    finished: set[str] = set()  # families whose samples are over: they must stay grouped
    current: str | None = None
    for line in text[:-1].split("\n"):
        if line.startswith("#"):
            match = HELP.fullmatch(line) or TYPE.fullmatch(line)
            assert match, f"bad comment line: {line!r}"
            name = match.group(1)
            counts = helps if line.startswith("# HELP") else types
            counts[name] = counts.get(name, 0) + 1
            assert name not in series, f"{name}: HELP/TYPE after its samples"
            continue
        match = SAMPLE.fullmatch(line)
        assert match, f"not a sample line: {line!r}"
        name = match.group(1)
        if name != current:
            assert name not in finished, f"{name}: samples not grouped"
            if current is not None:
                finished.add(current)
            current = name
        labels = tuple((k, unescape(v)) for k, v in LABEL_PAIR.findall(match.group(2) or ""))
        family = series.setdefault(name, {})
        assert labels not in family, f"duplicate series: {line!r}"
        family[labels] = line.rsplit(" ", 1)[1]
    for name in series:
        assert helps.get(name) == 1, f"{name}: HELP {helps.get(name, 0)} times"
        assert types.get(name) == 1, f"{name}: TYPE {types.get(name, 0)} times"
    assert set(helps) == set(types) == set(series), "HELP/TYPE for a family without samples"
    return series


# -- rendering -------------------------------------------------------------------------------


def test_a_small_run_renders_to_exactly_this_text() -> None:
    assert render_metrics(sample()) == EXPECTED


def test_the_rendered_text_follows_the_exposition_grammar() -> None:
    series = parse(render_metrics(sample()))
    assert all(name.startswith("poolsync_") for name in series)
    assert (
        series["poolsync_pool_seats_used"][(("pool", "lab.example.com"), ("class", "vm"))] == "930"
    )


def test_input_order_does_not_change_the_text() -> None:
    first = sample()
    shuffled = sample(
        objects=dict(reversed(list(first.objects.items()))),
        changes=dict(reversed(list(first.changes.items()))),
        pools=list(reversed(first.pools)),
    )
    assert render_metrics(shuffled) == render_metrics(first)


def test_label_values_are_escaped_as_the_format_says() -> None:
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    text = render_metrics(
        sample(
            forced_total={'dc\\1 "x"\nnew': "invocation-changed"},
            pools=[PoolSeats("für\\", "vm", 1, 2, True)],
        )
    )
    assert (
        'poolsync_pass_forced_total_resync{pass="dc\\\\1 \\"x\\"\\nnew",'
        'reason="invocation-changed"} 1\n' in text
    )
    assert 'poolsync_pool_compliant{pool="für\\\\"} 1\n' in text
    series = parse(text)
    assert (("pool", "für\\"),) in series["poolsync_pool_compliant"]


@given(
    st.lists(st.tuples(st.text(), st.text()), max_size=5),
    st.lists(st.text(), max_size=5, unique=True),
)
def test_any_label_value_survives_the_round_trip(
    passes: list[tuple[str, str]], pools: list[str]
) -> None:
    forced = dict(passes)
    metrics = sample(forced_total=forced, pools=[PoolSeats(p, "inbox", 1, 1, True) for p in pools])
    series = parse(render_metrics(metrics))
    got = {
        labels[0][1]: labels[1][1] for labels in series.get("poolsync_pass_forced_total_resync", {})
    }
    assert got == forced
    assert {labels[0][1] for labels in series.get("poolsync_pool_compliant", {})} == set(pools)


def test_a_run_that_never_committed_shows_last_success_as_zero() -> None:
    series = parse(
        render_metrics(
            sample(
                outcome="failed",
                exit_code=5,
                last_success_at=None,
                objects={},
                forced_total={},
                pools=[],
            )
        )
    )
    assert series["poolsync_last_success_timestamp_seconds"] == {(): "0.0"}
    assert series["poolsync_run_outcome"][(("outcome", "failed"),)] == "1"
    assert sum(v == "1" for v in series["poolsync_run_outcome"].values()) == 1
    # Nothing to say about pools or forced passes: those families are left out entirely.
    for absent in (
        "poolsync_objects",
        "poolsync_pool_compliant",
        "poolsync_pass_forced_total_resync",
    ):
        assert absent not in series
    # Change counts are always all there, zeros included, so a quiet run is not a gap.
    assert len(series["poolsync_run_changes"]) == 6


def test_a_pool_is_compliant_only_when_every_class_is() -> None:
    pools = [
        PoolSeats("a", "vm", 1, 2, True),
        PoolSeats("a", "um", 3, 2, False),
        PoolSeats("b", "vm", 1, 2, True),
    ]
    series = parse(render_metrics(sample(pools=pools)))
    assert series["poolsync_pool_compliant"] == {(("pool", "a"),): "0", (("pool", "b"),): "1"}


def test_timestamps_keep_their_instant_whatever_the_time_zone() -> None:
    elsewhere = FINISHED.astimezone(datetime.now().astimezone().tzinfo)
    assert render_metrics(sample(finished_at=elsewhere)) == EXPECTED


def test_a_clock_stepped_back_gives_zero_duration() -> None:
    metrics = sample(finished_at=STARTED - timedelta(seconds=1))
    assert parse(render_metrics(metrics))["poolsync_run_duration_seconds"] == {(): "0.0"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"outcome": "great"}, "outcome 'great'"),
        ({"mode": "partial"}, "mode 'partial'"),
        ({"started_at": datetime(2024, 5, 1)}, "started_at must be timezone-aware"),
        ({"last_success_at": datetime(2024, 5, 1)}, "last_success_at must be timezone-aware"),
        ({"exit_code": -1}, "exit_code must be a non-negative integer"),
        ({"objects": {("gc", "locations"): -4}}, "non-negative"),
        ({"changes": {("locations", "insert"): True}}, "non-negative integer"),
        ({"pools": [PoolSeats("a", "vm", 1, 1, True)] * 2}, "lists seat class vm twice"),
    ],
)
def test_invalid_metrics_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sample(**overrides)


def test_pool_seats_refuse_an_unknown_class_or_a_negative_count() -> None:
    with pytest.raises(ValueError, match="seat class 'ports'"):
        PoolSeats("a", "ports", 1, 1, True)
    with pytest.raises(ValueError, match="used must be a non-negative integer"):
        PoolSeats("a", "vm", -1, 1, True)


def test_metrics_are_a_snapshot_of_the_callers_data() -> None:
    objects = {("gc", "locations"): 4}
    metrics = sample(objects=objects)
    objects[("gc", "locations")] = 5
    assert metrics.objects == {("gc", "locations"): 4}
    assert replace(metrics, exit_code=0).objects == {("gc", "locations"): 4}


def test_pool_seats_come_from_a_pool_report() -> None:
    report = PoolReport(
        pools=(
            Pool(
                id="lab.example.com",
                members=("UNITY-A",),
                servers=(),
                seats={
                    SeatClass.INBOX: ClassSeats(licensed=50, used=30, available=20, compliant=True),
                    SeatClass.VM: ClassSeats(
                        licensed=500, used=520, available=-20, compliant=False
                    ),
                },
            ),
        ),
        excluded=(),
    )
    assert pool_seats(report) == (
        PoolSeats("lab.example.com", "vm", used=520, licensed=500, compliant=False),
        PoolSeats("lab.example.com", "inbox", used=30, licensed=50, compliant=True),
    )


# -- the atomic write --------------------------------------------------------------------------


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "poolsync.prom"
    path.write_text("# the previous run's metrics\n")
    yield path


def test_write_replaces_the_file_with_mode_0644_through_a_temp_file_the_collector_ignores(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renamed: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        renamed.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    old_umask = os.umask(0o077)  # a hardened service's umask must not hide the file
    try:
        write_metrics(target, EXPECTED)
    finally:
        os.umask(old_umask)
    assert target.read_text() == EXPECTED
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    [(src, dst)] = renamed
    assert dst == target and src.parent == target.parent and not src.name.endswith(".prom")
    assert sorted(p.name for p in target.parent.iterdir()) == ["poolsync.prom"]


@pytest.mark.parametrize("failing", ["replace", "fsync", "fchmod"])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(
    target: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    def fail(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(MetricsError) as caught:
        write_metrics(target, EXPECTED)
    message = str(caught.value)
    assert message == f"cannot write the metrics file {target}: No space left on device"
    assert isinstance(caught.value, PoolsyncError) and caught.value.exit_code == 1
    assert target.read_text() == "# the previous run's metrics\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["poolsync.prom"]


def test_an_interrupted_write_leaves_no_temp_file(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_metrics(target, EXPECTED)
    assert target.read_text() == "# the previous run's metrics\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["poolsync.prom"]


def test_a_missing_directory_is_one_line_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "poolsync.prom"
    with pytest.raises(MetricsError, match=re.escape(str(path))) as caught:
        write_metrics(path, EXPECTED)
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_directory_in_the_way_is_an_error_and_stays(tmp_path: Path) -> None:
    path = tmp_path / "poolsync.prom"
    path.mkdir()
    with pytest.raises(MetricsError, match=re.escape(str(path))):
        write_metrics(path, EXPECTED)
    assert path.is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["poolsync.prom"]


def test_compliance_states_are_one_series_each() -> None:
    text = render_metrics(
        sample(
            states=[
                ("server", "UNITY-B", "grace"),
                ("pool", "lab.example.com", "four-hour-shutdown"),
            ]
        )
    )
    lines = [line for line in text.splitlines() if line.startswith("poolsync_compliance_state")]
    assert lines == [
        'poolsync_compliance_state{scope="pool",name="lab.example.com",'
        'state="four-hour-shutdown"} 1',
        'poolsync_compliance_state{scope="server",name="UNITY-B",state="grace"} 1',
    ]
    assert "poolsync_compliance_state" not in render_metrics(sample())


def test_the_metrics_file_is_never_written_through_a_link_or_onto_a_device(tmp_path: Path) -> None:
    link = tmp_path / "poolsync.prom"
    link.symlink_to("/dev/null")
    with pytest.raises(MetricsError, match="is a symbolic link"):
        write_metrics(link, "x 1\n")
    assert link.is_symlink()
    with pytest.raises(MetricsError, match="not a regular file"):
        write_metrics(Path("/dev/null"), "x 1\n")
    assert Path("/dev/null").is_char_device()


def test_two_servers_with_one_name_are_two_series() -> None:
    """node_exporter drops a file with two series of one label set: a server whose name
    another Location shares is named with its objectGUID."""

    def server(name: str, guid: str, state: State) -> Assessment:
        return Assessment("server", name, state, None, None, (), guid)

    report = ComplianceReport(
        pools=(Assessment("pool", "lab.example.com", State.COMPLIANT, None, None, ()),),
        servers=(
            server("UNITY-A", "guid-1", State.COMPLIANT),
            server("UNITY-A", "guid-2", State.GRACE),
            server("UNITY-B", "guid-3", State.COMPLIANT),
        ),
    )
    text = render_metrics(sample(states=report.series()))
    lines = [line for line in text.splitlines() if line.startswith("poolsync_compliance_state")]
    assert lines == [
        'poolsync_compliance_state{scope="pool",name="lab.example.com",state="compliant"} 1',
        'poolsync_compliance_state{scope="server",name="UNITY-A (guid-1)",state="compliant"} 1',
        'poolsync_compliance_state{scope="server",name="UNITY-A (guid-2)",state="grace"} 1',
        'poolsync_compliance_state{scope="server",name="UNITY-B",state="compliant"} 1',
    ]
