"""Total resync: read every Location and subscriber from the DC and the GC.

A run holds the store's run lock, records itself in the run history, stages each
pass (retried from scratch on a transient directory error, since a paged-results
cookie does not survive a reconnect) and commits both passes in one transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from poolsync.config import Config, Endpoint
from poolsync.directory import DirectoryConnection, connect, retrying
from poolsync.errors import PoolsyncError, StoreError, UnsafeChangeError
from poolsync.model import Entry
from poolsync.profile import Profile
from poolsync.store import Changes, PassRecord, Store, TotalResyncWriter
from poolsync.sync import decode

log = logging.getLogger(__name__)
T = TypeVar("T")


class Progress(Protocol):
    """Where a run reports what it is doing (a progress bar, or nothing)."""

    def begin(self, pass_name: str, description: str) -> None: ...
    def advance(self, count: int) -> None: ...
    def end(self) -> None: ...


class NoProgress:
    def begin(self, pass_name: str, description: str) -> None:
        log.info("%s pass: %s", pass_name, description)

    def advance(self, count: int) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class PassSummary:
    name: str
    endpoint: str
    dc_host: str
    naming_context: str
    usn: int
    locations: int
    subscribers: int
    skipped: int
    seconds: float
    attempts: int


@dataclass(frozen=True, slots=True)
class ResyncSummary:
    kind: str
    run_id: int
    store: str
    passes: tuple[PassSummary, ...]
    changes: dict[str, Changes]
    servers: int
    subscribers: int
    seconds: float
    started_at: str


@dataclass
class _Counter:
    skipped: int = 0


def _decoded(entries: Iterable[Entry], decode_one: Callable[[Entry], T], progress: Progress,
             counter: _Counter) -> Iterator[tuple[T, int | None]]:
    pending = 0
    for entry in entries:
        try:
            item = decode_one(entry)
        except ValueError as exc:
            counter.skipped += 1
            log.warning("skipped %s: %s", entry.dn, exc)
            continue
        yield item, decode.usn(entry)
        pending += 1
        if pending == 200:
            progress.advance(pending)
            pending = 0
    progress.advance(pending)


def _run_pass(name: str, endpoint: Endpoint, base: str, config: Config, profile: Profile,
              password: str | None, writer: TotalResyncWriter, progress: Progress,
              now: Callable[[], datetime], attempt: int) -> PassSummary:
    started = time.monotonic()
    writer.clear_pass(name)
    conn: DirectoryConnection
    with connect(endpoint, config.directory, password=password) as conn:
        # Read the watermark before the query: changes made while we read are
        # above it and will be seen again, never lost.
        root = conn.root_dse()
        invocation = conn.invocation_id(root.ds_service_name)
        progress.begin(name, f"{name} pass on {endpoint.url} ({root.dns_host_name})")
        counter = _Counter()
        try:
            locations = writer.stage_locations(name, _decoded(
                conn.search(base, decode.location_filter(profile),
                            decode.location_attributes(profile)),
                lambda e: decode.decode_location(e, profile), progress, counter))
            subscribers = writer.stage_subscribers(name, _decoded(
                conn.search(base, decode.subscriber_filter(profile),
                            decode.subscriber_attributes(profile)),
                lambda e: decode.decode_subscriber(e, profile), progress, counter))
        finally:
            progress.end()
    writer.record_pass(PassRecord(
        name=name, endpoint=endpoint.url, dc_host=root.dns_host_name,
        invocation_id=invocation, naming_context=base, usn=root.highest_committed_usn,
        synced_at=now().isoformat(timespec="seconds"), profile=profile.fingerprint,
    ))
    return PassSummary(
        name=name, endpoint=endpoint.url, dc_host=root.dns_host_name, naming_context=base,
        usn=root.highest_committed_usn, locations=locations, subscribers=subscribers,
        skipped=counter.skipped, seconds=time.monotonic() - started, attempts=attempt,
    )


def _guard_empty_read(store: Store, summaries: list[PassSummary], *,
                      allow_empty: bool) -> None:
    """Refuse to replace Locations the store holds with a pass that found none.

    A wrong base DN, a bind account without read rights or a GC missing the
    attributes all look like "no Unity servers": committing that would erase good
    state and report an empty, compliant pool.
    """
    if allow_empty:
        return
    held = store.location_counts()
    for summary in summaries:
        if summary.locations == 0 and held.get(summary.name, 0) > 0:
            raise UnsafeChangeError(
                f"the {summary.name} pass read no Locations from {summary.endpoint} "
                f"(base {summary.naming_context or '(forest root)'!r}) but the store holds "
                f"{held[summary.name]}; nothing was changed. Check the base DN and the bind "
                "account's read rights, or rerun with --allow-empty if the servers are "
                "really gone"
            )


def total_resync(config: Config, profile: Profile, *, password: str | None,
                 progress: Progress | None = None, now: Callable[[], datetime],
                 allow_empty: bool = False) -> ResyncSummary:
    """Re-read everything and replace the store's copy in one transaction."""
    progress = progress or NoProgress()
    started = time.monotonic()
    started_at = now().isoformat(timespec="seconds")
    directory = config.directory
    passes = (("domain", directory.dc, directory.dc.base_dn),
              ("gc", directory.gc, directory.gc.base_dn))
    with Store.open(config.store) as store:
        store.lock()
        run_id = store.begin_run("total", started_at)
        try:
            with store.total_resync() as writer:
                summaries = []
                for name, endpoint, base in passes:
                    # A paged-results cookie does not survive a reconnect: a transient
                    # error retries the whole pass, which first forgets what it staged.
                    for attempt in retrying(directory.retries, what=f"{name} pass"):
                        with attempt:
                            summaries.append(_run_pass(
                                name, endpoint, base, config, profile, password, writer,
                                progress, now, attempt.retry_state.attempt_number))
                _guard_empty_read(store, summaries, allow_empty=allow_empty)
                changes = writer.commit()
        except BaseException as exc:
            message = str(exc) if isinstance(exc, PoolsyncError) else type(exc).__name__
            try:
                store.finish_run(run_id, status="failed",
                                 finished_at=now().isoformat(timespec="seconds"),
                                 detail={"error": message})
            except StoreError as record_error:
                log.warning("could not record the failed run: %s", record_error)
            raise
        locations = store.locations()
        subscribers = sum(s.vm for s in store.homed_seats().values())
        summary = ResyncSummary(
            kind="total", run_id=run_id, store=str(config.store), passes=tuple(summaries),
            changes=changes, servers=len(locations), subscribers=subscribers,
            seconds=time.monotonic() - started, started_at=started_at,
        )
        store.finish_run(run_id, status="ok", finished_at=now().isoformat(timespec="seconds"),
                         detail={
                             "passes": {p.name: {"locations": p.locations,
                                                 "subscribers": p.subscribers,
                                                 "skipped": p.skipped,
                                                 "usn": p.usn, "dc_host": p.dc_host}
                                        for p in summaries},
                             "servers": summary.servers, "subscribers": subscribers,
                             "seconds": round(summary.seconds, 3),
                         })
    return summary
