"""What a committed run records beside its data: the pool's compliance and usage.

After the commit the run assesses the pool it now holds (pure:
:func:`poolsync.compliance.assess`), then keeps when each license violation was first
seen (a grace period counts from there) and the usage snapshot capacity reports trend
over. A failure to record either is logged, never raised: the data is committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from poolsync.allocation import build_pool_report
from poolsync.capacity.history import snapshots_from_report
from poolsync.compliance import assess
from poolsync.config import Config
from poolsync.errors import StoreError
from poolsync.metrics import PoolSeats, pool_seats
from poolsync.model import Location, Roles, Seats
from poolsync.records import ViolationKey
from poolsync.store import Store

__all__ = ["Outcome", "record_outcome"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    compliant: bool
    pools: tuple[PoolSeats, ...]
    states: tuple[tuple[str, str, str], ...]  # (scope, name, compliance state)


def record_outcome(
    config: Config,
    store: Store,
    locations: list[Location],
    homed: dict[str, Seats],
    *,
    at: datetime,
    roles: Roles,
) -> Outcome:
    """Assess the pool the store holds as of ``at`` (when the data was read, or an
    export taken); record its violations' first sightings and its usage snapshot."""
    report = build_pool_report(config.forest, locations, homed, roles=roles)
    states = assess(
        report, locations, homed, limits=config.compliance, first_seen=store.violations(), now=at
    )
    assessed = states.assessed_guids()

    def unassessed(key: ViolationKey) -> bool:  # a server's own, not assessed now
        return key.server_guid is not None and key.server_guid not in assessed

    try:
        store.record_violations(states.violation_keys(), at, keep=unassessed)
    except StoreError as exc:
        log.warning("could not record the license violations: %s", exc)
    try:
        store.add_snapshots(snapshots_from_report(report, at), source="sync")
    except StoreError as exc:
        log.warning("could not record the usage snapshot: %s", exc)
    return Outcome(report.compliant and states.compliant, pool_seats(report), states.series())
