"""When a pass may read incrementally, and why it must be a total resync (pure).

A watermark (the pass's :class:`~poolsync.records.PassRecord`) is only valid for the
DC it came from, at the incarnation it came from, with the schema profile and method
it was read with, and only for so long: past the forest's tombstoneLifetime deletions
are lost. Every rule here is one of ``ad-sync-rules.md``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from poolsync.records import Mode, PassRecord

DAY = 86400.0
DEFAULT_TOMBSTONE_LIFETIME_DAYS = 60  # what AD assumes when the attribute is empty


@dataclass(frozen=True, slots=True)
class Answering:
    """What the DC that answered a pass says about itself, read before the query."""

    dc_host: str
    invocation_id: str
    highest_committed_usn: int
    naming_context: str
    tombstone_lifetime_days: int | None


@dataclass(frozen=True, slots=True)
class Decision:
    """``mode`` is "total" or "incremental"; ``reason`` a stable code, ``why`` words."""

    mode: Mode
    reason: str | None = None
    why: str | None = None


INCREMENTAL = Decision("incremental")


def max_age_seconds(configured: float, tombstone_lifetime_days: int | None) -> float:
    """The configured maximum watermark age, capped a day below tombstoneLifetime."""
    days = tombstone_lifetime_days or DEFAULT_TOMBSTONE_LIFETIME_DAYS
    return min(configured, max(days - 1, 1) * DAY)


def decide(
    watermark: PassRecord | None,
    answering: Answering,
    *,
    requested_total: bool,
    profile: str,
    method: str,
    max_age: float,
    now: datetime,
) -> Decision:
    """Whether this pass reads incrementally from ``watermark``, or why not."""
    if requested_total:
        return Decision("total", "requested", "--total was given")
    if watermark is None:
        return Decision(
            "total", "no-watermark", "no watermark for this pass yet (first run, or a new store)"
        )
    if watermark.profile != profile:
        return Decision(
            "total", "profile-changed", "the schema profile changed since the last pass"
        )
    if watermark.method != method:
        return Decision(
            "total", "method-changed", f"sync.method changed from {watermark.method} to {method}"
        )
    if watermark.naming_context.lower() != answering.naming_context.lower():
        return Decision(
            "total",
            "base-changed",
            f"the base DN changed from {watermark.naming_context or '(root)'!r} "
            f"to {answering.naming_context or '(root)'!r}",
        )
    if watermark.dc_host.lower() != answering.dc_host.lower():
        return Decision(
            "total",
            "dc-changed",
            f"{answering.dc_host} answered, but the watermark belongs to "
            f"{watermark.dc_host} (USNs are per DC: failover or a config change)",
        )
    if watermark.invocation_id.lower() != answering.invocation_id.lower():
        return Decision(
            "total",
            "invocation-changed",
            f"{answering.dc_host}'s invocationId changed from "
            f"{watermark.invocation_id} to {answering.invocation_id} "
            "(restored from backup?)",
        )
    if answering.highest_committed_usn < watermark.usn:
        return Decision(
            "total",
            "usn-rolled-back",
            f"{answering.dc_host}'s highestCommittedUSN "
            f"{answering.highest_committed_usn} is below the watermark "
            f"{watermark.usn}",
        )
    limit = max_age_seconds(max_age, answering.tombstone_lifetime_days)
    age = (now - watermark.synced_at).total_seconds()
    if age > limit:
        synced = watermark.synced_at.isoformat(timespec="seconds")
        return Decision(
            "total",
            "watermark-too-old",
            f"the last successful pass was {_ago(age)} ago ({synced}),"
            f" more than the maximum age of {_ago(limit)}",
        )
    return INCREMENTAL


def _ago(seconds: float) -> str:
    delta = timedelta(seconds=round(seconds))
    if delta.days >= 2:
        return f"{delta.days} days"
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{seconds / 60:.0f} min"
