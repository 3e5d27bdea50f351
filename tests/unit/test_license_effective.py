"""What license files grant on a day: INCREMENT sums, FEATURE overrides, expiry, the
default license, the timeline, duplicate FEATURE lines."""

from __future__ import annotations

import time
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from poolsync.licensing import (
    DEFAULT_LICENSE,
    PARAMETERS,
    check_licenses,
    effective_at,
    timeline,
)
from poolsync.licensing.dates import format_date
from poolsync.licensing.effective import (
    Cause,
    Change,
    Source,
    TimelineEntry,
    duplicate_features,
)
from poolsync.licensing.flexlm import MAX_FILE_BYTES, LicenseFile, parse_license_file

MAC = "000BCD123456"


def lic(path: str, *lines: str) -> LicenseFile:
    text = "".join(line + f" HOSTID={MAC}\n" for line in lines)
    parsed = parse_license_file(text.encode(), path=path)
    assert parsed.ok, parsed.problems
    return parsed


def inc(name: str, count: int, expiry: str = "permanent", extra: str = "") -> str:
    return f"INCREMENT {name} cisco 4.0 {expiry} {count} {extra}".rstrip()


def feat(name: str, count: int, expiry: str = "permanent") -> str:
    return f"FEATURE {name} cisco 4.0 {expiry} {count}"


DAY = date(2026, 12, 1)


def test_increments_add_up_across_lines_and_files() -> None:
    a = lic("a.lic", inc("LicSubscribersMax", 300), inc("LicSubscribersMax", 50))
    b = lic("b.lic", inc("LicSubscribersMax", 200), inc("LicUMSubscribersMax", 10))
    effective = effective_at([a, b], DAY)
    assert effective.values["LicSubscribersMax"] == 550
    assert effective.values["LicUMSubscribersMax"] == 10
    assert effective.values["LicVoicePortsMax"] == 0  # not the default license's 2
    assert not effective.default
    assert effective.contributing == ("a.lic", "b.lic")
    assert effective.sources["LicSubscribersMax"] == (
        Source("a.lic", 1, "INCREMENT", 300),
        Source("a.lic", 2, "INCREMENT", 50),
        Source("b.lic", 1, "INCREMENT", 200),
    )
    # Removing a file removes exactly what it added.
    assert effective_at([a], DAY).values["LicSubscribersMax"] == 350


def test_a_feature_line_sets_the_value_over_increments() -> None:
    base = lic("base.lic", inc("LicVoicePortsMax", 16))
    ports = lic("ports.lic", feat("LicVoicePortsMax", 24))
    for order in ([base, ports], [ports, base]):
        effective = effective_at(order, DAY)
        assert effective.values["LicVoicePortsMax"] == 24
        assert effective.sources["LicVoicePortsMax"] == (Source("ports.lic", 1, "FEATURE", 24),)


def test_the_first_feature_line_wins_and_the_next_takes_over_when_it_expires() -> None:
    first = lic("first.lic", feat("LicVoicePortsMax", 24, "31-dec-2026"))
    second = lic("second.lic", feat("LicVoicePortsMax", 48))
    assert effective_at([first, second], DAY).values["LicVoicePortsMax"] == 24
    assert effective_at([second, first], DAY).values["LicVoicePortsMax"] == 48
    assert effective_at([first, second], date(2027, 1, 1)).values["LicVoicePortsMax"] == 48


def test_duplicate_feature_lines_are_warnings_on_the_later_line() -> None:
    a = lic("a.lic", feat("LicVoicePortsMax", 24), feat("LicVoicePortsMax", 30))
    b = lic("b.lic", feat("LicVoicePortsMax", 48), inc("LicVoicePortsMax", 2))
    found = duplicate_features([a, b])
    assert [(p.line, p.code, p.severity) for p in found["a.lic"]] == [
        (2, "duplicate-feature", "warning")
    ]
    assert "the first is line 1" in found["a.lic"][0].message
    assert "the first is a.lic line 1" in found["b.lic"][0].message
    assert "the first one wins" in found["b.lic"][0].message


def test_a_line_counts_through_its_expiry_day_and_not_after() -> None:
    demo = lic("demo.lic", inc("LicSubscribersMax", 50, "29-dec-2026"))
    assert effective_at([demo], date(2026, 12, 29)).values["LicSubscribersMax"] == 50
    after = effective_at([demo], date(2026, 12, 30))
    assert after.default
    assert after.values == DEFAULT_LICENSE


def test_start_dates() -> None:
    trial = lic(
        "t.lic",
        inc("LicTTSSessionsMax", 4, "31-mar-2027", "START=1-jan-2027"),
        inc("LicSubscribersMax", 5),
    )
    assert effective_at([trial], date(2026, 12, 31)).values["LicTTSSessionsMax"] == 0
    assert effective_at([trial], date(2027, 1, 1)).values["LicTTSSessionsMax"] == 4


def test_the_default_license() -> None:
    effective = effective_at([], DAY)
    assert effective.default
    assert effective.values["LicSubscribersMax"] == 10
    assert effective.values["LicVoicePortsMax"] == 2
    assert effective.values["LicMaxMsgRecLenIsLicensed"] == 0
    assert effective.values["LicPoolingIsEnabled"] == 0
    assert effective.message_seconds == 30
    assert set(effective.values) == set(PARAMETERS)
    assert effective.sources == {}


def test_flags_are_on_at_one_or_more() -> None:
    a = lic("a.lic", inc("LicPoolingIsEnabled", 1), inc("LicMaxMsgRecLenIsLicensed", 1))
    b = lic("b.lic", inc("LicPoolingIsEnabled", 1))
    effective = effective_at([a, b], DAY)
    assert effective.values["LicPoolingIsEnabled"] == 1
    assert effective.message_seconds is None


def test_a_file_with_errors_never_contributes() -> None:
    broken = parse_license_file(
        b"INCREMENT LicSubscribersMax cisco 4.0 permanent 100 HOSTID=ANY\nFEATUR x\n",
        path="broken.lic",
    )
    assert not broken.ok and broken.features
    assert effective_at([broken], DAY).default
    assert timeline([broken]) == ()


def test_the_timeline_lists_changes_with_their_causes() -> None:
    base = lic("base.lic", inc("LicSubscribersMax", 300))
    demo = lic(
        "demo.lic",
        inc("LicSubscribersMax", 50, "29-dec-2026"),
        inc("LicVoicePortsMax", 16, "29-dec-2026"),
    )
    trial = lic("tts.lic", inc("LicTTSSessionsMax", 4, "31-mar-2027", "START=1-jan-2027"))
    entries = timeline([base, demo, trial])
    assert [e.date for e in entries] == [date(2026, 12, 30), date(2027, 1, 1), date(2027, 4, 1)]
    first = entries[0]
    assert first.changes == (
        Change("LicSubscribersMax", 350, 300),
        Change("LicVoicePortsMax", 16, 0),
    )
    assert first.causes == (Cause("demo.lic", 1, "expired"), Cause("demo.lic", 2, "expired"))
    assert first.files == ("demo.lic",)
    assert entries[1].causes == (Cause("tts.lic", 1, "starts"),)
    assert not any(e.default_after for e in entries)


def test_the_timeline_shows_the_fall_back_to_the_default_license() -> None:
    demo = lic("demo.lic", inc("LicSubscribersMax", 50, "29-dec-2026"))
    [entry] = timeline([demo])
    assert entry.changes == (Change("LicSubscribersMax", 50, 10), Change("LicVoicePortsMax", 0, 2))
    assert (entry.default_before, entry.default_after) == (False, True)


def test_an_expiry_hidden_by_a_feature_line_is_no_change() -> None:
    ports = lic("ports.lic", feat("LicVoicePortsMax", 24))
    term = lic("term.lic", inc("LicVoicePortsMax", 8, "31-dec-2026"))
    assert timeline([ports, term]) == ()


_LINES = st.tuples(
    st.sampled_from(["FEATURE", "INCREMENT"]),
    st.sampled_from(PARAMETERS),
    st.integers(0, 1),
    st.one_of(
        st.just("permanent"),
        st.dates(date(2026, 1, 1), date(2027, 12, 31)).map(
            lambda d: f"{d.day}-{d.strftime('%b').lower()}-{d.year}"
        ),
    ),
)


@settings(max_examples=100, deadline=None)
@given(
    files=st.lists(st.lists(_LINES, min_size=1, max_size=5), min_size=1, max_size=4),
    day=st.dates(date(2025, 6, 1), date(2028, 6, 1)),
)
def test_the_timeline_agrees_with_effective_at(
    files: list[list[tuple[str, str, int, str]]], day: date
) -> None:
    """Between two timeline entries the values never change; at each entry they do."""
    parsed = [
        lic(f"{i}.lic", *(f"{k} {n} cisco 4.0 {e} {c}" for k, n, c, e in lines))
        for i, lines in enumerate(files)
    ]
    entries = timeline(parsed)
    before = [e for e in entries if e.date <= day]
    if before:
        last = before[-1]
        assert effective_at(parsed, day).values == effective_at(parsed, last.date).values
        assert {c.name: c.after for c in last.changes}.items() <= dict(
            effective_at(parsed, day).values
        ).items()
    else:
        earliest = date(2025, 1, 1)
        assert effective_at(parsed, day).values == effective_at(parsed, earliest).values


def _timeline_by_effective_at(files: list[LicenseFile]) -> tuple[TimelineEntry, ...]:
    """The timeline by definition: effective_at the day before and on each candidate
    day (quadratic; the reference the one-pass timeline() must agree with)."""
    candidates: dict[date, list[Cause]] = {}
    for file in files:
        for line in file.features:
            if line.start is not None:
                candidates.setdefault(line.start, []).append(Cause(file.path, line.line, "starts"))
            if line.expiry is not None:
                candidates.setdefault(line.expiry + timedelta(days=1), []).append(
                    Cause(file.path, line.line, "expired")
                )
    entries = []
    for day in sorted(candidates):
        before, after = effective_at(files, day - timedelta(days=1)), effective_at(files, day)
        changes = tuple(
            Change(n, before.values[n], after.values[n])
            for n in PARAMETERS
            if before.values[n] != after.values[n]
        )
        if changes:
            entries.append(
                TimelineEntry(day, changes, tuple(candidates[day]), before.default, after.default)
            )
    return tuple(entries)


_DATES = st.dates(date(2026, 1, 1), date(2027, 12, 31)).map(format_date)
_STARTED_LINES = st.tuples(
    st.sampled_from(["FEATURE", "INCREMENT"]),
    st.sampled_from((*PARAMETERS[:3], "LicPoolingIsEnabled")),
    st.integers(0, 1),
    st.one_of(st.just("permanent"), _DATES),
    st.one_of(st.just(""), _DATES.map(lambda d: f"START={d}")),
)


@settings(max_examples=200, deadline=None)
@given(files=st.lists(st.lists(_STARTED_LINES, min_size=1, max_size=6), min_size=1, max_size=4))
def test_the_one_pass_timeline_is_the_timeline_by_definition(
    files: list[list[tuple[str, str, int, str, str]]],
) -> None:
    parsed = []
    for i, lines in enumerate(files):
        text = "".join(f"{k} {n} cisco 4.0 {e} {c} HOSTID={MAC} {s}\n" for k, n, c, e, s in lines)
        file = parse_license_file(text.encode(), path=f"{i}.lic")
        if file.ok:  # START after the expiry is a syntax error: such a file is skipped
            parsed.append(file)
    assert timeline(parsed) == _timeline_by_effective_at(parsed)


def test_a_max_size_file_of_distinct_expiries_is_fast() -> None:
    # The review's worst case: ~14,600 INCREMENT lines (1 MiB), each expiring on another
    # day. Computing the timeline by effective_at per day took about seven minutes.
    lines, size, day = [], 0, date(1990, 1, 1)
    while True:
        line = f"INCREMENT LicSubscribersMax cisco 4.0 {format_date(day)} 1 HOSTID={MAC}\n"
        if size + len(line) > MAX_FILE_BYTES:
            break
        lines.append(line)
        size += len(line)
        day += timedelta(days=1)
    assert len(lines) > 14_000
    started = time.perf_counter()
    parsed = parse_license_file("".join(lines).encode(), path="big.lic")
    result = check_licenses([parsed], at=date(2026, 12, 1), macs=[MAC])
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"{elapsed:.1f} s"
    assert len(result.timeline) == len(lines)
    lapsed = (date(2026, 12, 1) - date(1990, 1, 1)).days  # expired by 1-dec-2026
    assert result.effective.values["LicSubscribersMax"] == len(lines) - lapsed
