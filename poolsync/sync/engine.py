"""Sync runs: read Locations and subscribers from a directory source, plan, then apply.

A run holds the store's run lock and records itself in the run history. Its two passes
(:mod:`poolsync.sync.passes`: the domain pass on a DC, the GC pass on a Global Catalog)
read through the :class:`~poolsync.directory.source.DirectorySource` it is handed (a
live forest, an LDIF export, memory) and stage what they read. A transient error retries
the whole pass (a paged-results cookie does not survive a reconnect). Then the run plans
its inserts, updates and deletes, checks them against the guards
(:mod:`poolsync.sync.guard`), and commits both passes and their watermarks in one
transaction, or (``dry_run``) stops there. This module only orchestrates.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from poolsync.config import Config
from poolsync.directory import retrying
from poolsync.directory.prewarm import Prewarmed
from poolsync.directory.source import DirectorySource
from poolsync.errors import (
    PoolsyncError,
    RunCancelled,
    StoreError,
    Terminated,
    UnsafeChangeError,
)
from poolsync.metrics import PoolSeats
from poolsync.profile import Profile
from poolsync.records import Mode, PassDetail, Plan, PlannedChange, RunDetail, RunStatus
from poolsync.store import Store
from poolsync.sync.guard import GUARD_SAMPLE, PassOutcome, refusal
from poolsync.sync.outcome import record_outcome
from poolsync.sync.passes import (
    GROWTH_FLOOR,
    PassContext,
    PassSummary,
    endpoint_order,
    run_pass_with_failover,
)
from poolsync.sync.readers import NoProgress, Progress

__all__ = ["GROWTH_FLOOR", "NoProgress", "PassSummary", "Progress", "SyncResult", "run_sync"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a run did (or, with ``dry_run``, would do)."""

    kind: Mode  # what was asked for
    dry_run: bool
    run_id: int | None
    store: str
    passes: tuple[PassSummary, ...]
    plan: Plan
    planned: tuple[PlannedChange, ...]  # every planned change when asked for (dry-run -v)
    servers: int
    subscribers: int
    compliant: bool
    pools: tuple[PoolSeats, ...]
    seconds: float
    started_at: datetime  # aware, to the second (as the run history keeps it)
    forced: dict[str, str] = field(default_factory=dict)  # pass -> reason of a total
    refusal: str | None = None  # dry run only: why a real run would be refused
    states: tuple[tuple[str, str, str], ...] = ()  # (scope, name, compliance state)
    server_names: tuple[str, ...] = ()  # the Locations the store holds after the run


def run_sync(
    config: Config,
    profile: Profile,
    *,
    source: DirectorySource,
    total: bool = False,
    dry_run: bool = False,
    list_changes: bool = False,
    allow_deletes: int | None = None,
    allow_empty: bool = False,
    allow_growth: bool = False,
    progress: Progress | None = None,
    now: Callable[[], datetime],
    stop: threading.Event | None = None,
) -> SyncResult:
    """One sync run from ``source``: incremental where the watermarks (and the source)
    allow it, total where not.

    ``dry_run`` reads and plans but writes nothing (not even the run history). A
    search returning far more than the store holds stops the run (RunawaySearch)
    unless ``allow_growth``. When
    ``stop`` is set during a retry wait the run ends with :class:`RunCancelled`
    (progress reports may raise it too); nothing is written then.
    """
    progress = progress or NoProgress()
    started = time.monotonic()
    started_at = now().replace(microsecond=0)
    kind: Mode = "total" if total else "incremental"
    passes = (("domain", source.dcs), ("gc", source.gcs))
    with ExitStack() as stack:
        store = stack.enter_context(_open_store(config.store, dry_run=dry_run, stack=stack))
        run_id: int | None = None
        if not dry_run:
            store.lock()
            abandoned = store.abandon_stale_runs(started_at)
            if abandoned:
                log.warning(
                    "%d earlier run(s) never finished (killed?); recorded as "
                    "abandoned. Nothing they read was committed",
                    abandoned,
                )
            run_id = store.begin_run(kind, started_at)
        try:
            watermarks = {p.name: p for p in store.passes()}
            held = store.objects_per_pass()
            # The GC pass's connection opens while the domain pass reads.
            gc_first = endpoint_order(source.gcs, watermarks.get("gc"))[0]
            warm = stack.enter_context(Prewarmed(source, gc_first))
            with store.sync_writer() as writer:
                summaries = []
                for name, endpoints in passes:
                    ctx = PassContext(
                        name,
                        endpoints,
                        config,
                        profile,
                        source,
                        writer,
                        progress,
                        now,
                        watermarks.get(name),
                        total,
                        warm if name == "gc" else None,
                        held={kind: n for (p, kind), n in held.items() if p == name},
                        allow_growth=allow_growth,
                    )
                    for attempt in retrying(
                        source.retries, what=f"{name} pass", sleep=_sleep_until(stop)
                    ):
                        with attempt:
                            summaries.append(
                                run_pass_with_failover(ctx, attempt.retry_state.attempt_number)
                            )
                plan = writer.plan()
                planned = tuple(writer.planned()) if list_changes else ()
                refused = refusal(
                    plan,
                    [
                        PassOutcome(p.name, p.mode, p.locations, p.endpoint, p.naming_context)
                        for p in summaries
                    ],
                    store.location_counts(),
                    limit=config.sync.deletions.limit(plan.held),
                    allow_empty=allow_empty,
                    allow_deletes=allow_deletes,
                    deleting=list(writer.planned("delete", limit=GUARD_SAMPLE))
                    if plan.deletes
                    else [],
                )
                if refused is not None and not dry_run:
                    raise UnsafeChangeError(refused)
                if not dry_run:
                    writer.commit(run_id=run_id)
        except BaseException as exc:
            if run_id is not None:
                _record_failure(store, run_id, exc, now)
            raise
        forced = {s.name: s.reason for s in summaries if s.reason}
        pools: tuple[PoolSeats, ...] = ()
        states: tuple[tuple[str, str, str], ...] = ()
        with store.reading():
            locations, homed = store.locations(), store.homed_seats()
        if dry_run:
            compliant = True  # a dry run shows the plan (and any refusal) only
        else:
            # An export is assessed, and its usage dated, as of when it was taken.
            when = source.origin.taken_at or now()
            outcome = record_outcome(
                config, store, locations, homed, at=when, roles=profile.roles()
            )
            compliant, pools, states = outcome.compliant, outcome.pools, outcome.states
        result = SyncResult(
            kind=kind,
            dry_run=dry_run,
            run_id=run_id,
            store=str(config.store),
            passes=tuple(summaries),
            plan=plan,
            planned=planned,
            servers=len(locations),
            subscribers=sum(s.vm for s in homed.values()),
            compliant=compliant,
            pools=pools,
            seconds=time.monotonic() - started,
            started_at=started_at,
            forced=forced,
            refusal=refused,
            states=states,
            server_names=tuple(loc.name for loc in locations),
        )
        if run_id is not None:
            try:
                store.finish_run(
                    run_id,
                    status="ok" if compliant else "findings",
                    finished_at=now(),
                    detail=_detail(result),
                )
            except StoreError as exc:
                # The data is committed and the run marked so; the next run records it.
                log.warning("the run committed, but recording its end failed: %s", exc)
    return result


def _sleep_until(stop: threading.Event | None) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        if stop is None:
            time.sleep(seconds)
        elif stop.wait(seconds):
            raise RunCancelled(
                "stopping: the run was abandoned while waiting to retry; nothing was written"
            )

    return sleep


def _open_store(path: Path, *, dry_run: bool, stack: ExitStack) -> Store:
    """The store; for a dry run read-only, or an empty throwaway one when none exists."""
    if not dry_run:
        return Store.open(path)
    if path.exists():
        return Store.open(path, create=False)
    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="poolsync-dry-")))
    return Store.open(scratch / "dry-run.db")


def _detail(result: SyncResult) -> RunDetail:
    return RunDetail(
        passes={
            p.name: PassDetail(
                mode=p.mode,
                reason=p.reason,
                why=p.why,
                endpoint=p.endpoint,
                dc_host=p.dc_host,
                usn=p.usn,
                locations=p.locations,
                subscribers=p.subscribers,
                removals=p.removals,
                skipped=p.skipped,
                attempts=p.attempts,
            )
            for p in result.passes
        },
        changes={kind: c for kind, c in result.plan.counts.items()},
        servers=result.servers,
        subscribers=result.subscribers,
        compliant=result.compliant,
        seconds=round(result.seconds, 3),
    )


def _record_failure(
    store: Store, run_id: int, exc: BaseException, now: Callable[[], datetime]
) -> None:
    """Record how the run ended; a run that already committed keeps its "committed"
    (the next run records it ok): an interrupt after the commit loses nothing."""
    if isinstance(exc, Terminated):
        message = "terminated (SIGTERM); nothing was committed"
    elif isinstance(exc, KeyboardInterrupt):
        message = "interrupted (Ctrl-C); nothing was committed"
    else:
        message = str(exc) if isinstance(exc, PoolsyncError) else type(exc).__name__
    status: RunStatus = (
        "refused"
        if isinstance(exc, UnsafeChangeError)
        else "cancelled"
        if isinstance(exc, RunCancelled | KeyboardInterrupt)
        else "failed"
    )
    try:
        store.finish_run(
            run_id,
            status=status,
            finished_at=now(),
            detail=RunDetail(error=message, error_type=type(exc).__name__),
            unless_committed=True,
        )
    except StoreError as record_error:
        log.warning("could not record the failed run: %s", record_error)
