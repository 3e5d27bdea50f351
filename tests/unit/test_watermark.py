"""Every rule that forces a total resync instead of an incremental pass."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from poolsync.records import PassRecord
from poolsync.sync.watermark import DAY, Answering, decide, max_age_seconds

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MARK = PassRecord(
    name="domain",
    endpoint="ldaps://dc1:636",
    dc_host="DC1.lab.example.com",
    invocation_id="aaaaaaaa-0000-0000-0000-000000000001",
    naming_context="DC=lab,DC=example,DC=com",
    usn=5000,
    synced_at=NOW - timedelta(hours=1),
    profile="fp",
    method="usn",
)
ANSWER = Answering(
    dc_host="dc1.lab.example.com",
    invocation_id="AAAAAAAA-0000-0000-0000-000000000001",
    highest_committed_usn=5100,
    naming_context="dc=lab,dc=example,dc=com",
    tombstone_lifetime_days=180,
)


def run(
    mark: PassRecord | None = MARK,
    answer: Answering = ANSWER,
    *,
    total: bool = False,
    profile: str = "fp",
    method: str = "usn",
    max_age: float = 7 * DAY,
) -> tuple[str, str | None]:
    d = decide(
        mark,
        answer,
        requested_total=total,
        profile=profile,
        method=method,
        max_age=max_age,
        now=NOW,
    )
    return d.mode, d.reason


def test_a_valid_watermark_reads_incrementally() -> None:
    # Host names, GUIDs and DNs compare case-insensitively.
    assert run() == ("incremental", None)
    assert run(answer=replace(ANSWER, highest_committed_usn=5000)) == ("incremental", None)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"total": True}, "requested"),
        ({"mark": None}, "no-watermark"),
        ({"profile": "other"}, "profile-changed"),
        ({"method": "dirsync"}, "method-changed"),
        ({"answer": replace(ANSWER, naming_context="DC=other,DC=example,DC=com")}, "base-changed"),
        ({"answer": replace(ANSWER, dc_host="dc2.lab.example.com")}, "dc-changed"),
        (
            {"answer": replace(ANSWER, invocation_id="bbbbbbbb-0000-0000-0000-000000000002")},
            "invocation-changed",
        ),
        ({"answer": replace(ANSWER, highest_committed_usn=4999)}, "usn-rolled-back"),
        ({"mark": replace(MARK, synced_at=NOW - timedelta(days=8))}, "watermark-too-old"),
    ],
)
def test_each_rule_forces_a_total(kwargs: dict[str, object], reason: str) -> None:
    assert run(**kwargs) == ("total", reason)  # type: ignore[arg-type]


def test_max_age_never_reaches_the_tombstone_lifetime() -> None:
    assert max_age_seconds(7 * DAY, 180) == 7 * DAY
    assert max_age_seconds(365 * DAY, 180) == 179 * DAY
    assert max_age_seconds(365 * DAY, None) == 59 * DAY  # empty: AD assumes 60 days
    old = replace(MARK, synced_at=NOW - timedelta(days=20))
    short = replace(ANSWER, tombstone_lifetime_days=14)
    assert run(old, short, max_age=365 * DAY) == ("total", "watermark-too-old")
    assert run(old, max_age=365 * DAY) == ("incremental", None)


def test_the_reason_says_what_happened() -> None:
    d = decide(
        MARK,
        replace(ANSWER, dc_host="dc2.lab.example.com"),
        requested_total=False,
        profile="fp",
        method="usn",
        max_age=7 * DAY,
        now=NOW,
    )
    assert d.why is not None
    assert "dc2.lab.example.com" in d.why and "DC1.lab.example.com" in d.why
