"""``--metrics-file``: a run's outcome as Prometheus metrics, written after every run."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from poolsync.config import Config
from poolsync.errors import PoolsyncError, StoreError, UnsafeChangeError
from poolsync.metrics import (
    MetricsError,
    Mode,
    Outcome,
    PoolSeats,
    RunMetrics,
    render_metrics,
    write_metrics,
)
from poolsync.store import Store
from poolsync.sync.engine import SyncResult

log = logging.getLogger(__name__)


def _store_facts(config: Config) -> tuple[datetime | None, dict[tuple[str, str], int]]:
    """When the last committed run finished, and the objects held per pass and kind."""
    if not config.store.exists():
        return None, {}
    try:
        with Store.open(config.store, create=False) as store:
            last = store.last_success()
            objects = store.objects_per_pass()
    except StoreError as exc:
        log.warning("metrics: cannot read the store: %s", exc)
        return None, {}
    return (last.finished_at if last else None), objects


def write_run_metrics(
    path: Path,
    config: Config,
    *,
    started: datetime,
    result: SyncResult | None = None,
    error: PoolsyncError | None = None,
    mode: Mode = "incremental",
    finished: datetime | None = None,
) -> None:
    """Write the metrics of a run that produced ``result`` or failed with ``error``."""
    last_success, objects = _store_facts(config)
    outcome: Outcome
    pools: tuple[PoolSeats, ...] = ()
    changes: dict[tuple[str, str], int] = {}
    forced: dict[str, str] = {}
    states: tuple[tuple[str, str, str], ...] = ()
    if result is not None:
        states = result.states
        outcome = "ok" if result.compliant else "findings"
        exit_code = 0 if result.compliant else 3
        mode = "total" if result.kind == "total" else "incremental"
        pools = result.pools
        for kind, c in result.plan.counts.items():
            changes[kind, "insert"], changes[kind, "update"], changes[kind, "delete"] = (
                c.added,
                c.changed,
                c.removed,
            )
        forced = dict(result.forced)
    else:
        outcome = "refused" if isinstance(error, UnsafeChangeError) else "failed"
        exit_code = error.exit_code if error is not None else 1
    finished = finished or datetime.now(started.tzinfo)
    text = render_metrics(
        RunMetrics(
            outcome=outcome,
            mode=mode,
            started_at=started,
            finished_at=finished,
            last_success_at=last_success,
            exit_code=exit_code,
            objects=objects,
            changes=changes,
            forced_total=forced,
            pools=pools,
            states=states,
        )
    )
    try:
        write_metrics(path, text)
    except MetricsError as exc:
        # The run's own outcome (and exit code) matters more than its metrics: say it.
        log.error("%s", exc)
