"""Sync runs: read Locations and subscribers from the DC and the GC, plan, then apply.

A run holds the store's run lock and records itself in the run history. Each pass
(domain pass on a DC, GC pass on a Global Catalog) connects to the first endpoint of
its list that answers, decides from its watermark whether it may read incrementally
(:mod:`poolsync.sync.watermark`) and stages what it reads. A transient error retries
the whole pass (a paged-results cookie does not survive a reconnect). Then the run
plans its inserts, updates and deletes, checks them against the guards, and commits
both passes and their watermarks in one transaction, or (``dry_run``) stops there.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from poolsync.allocation import build_pool_report
from poolsync.attachment import MAX_ATTACHMENT_BYTES
from poolsync.capacity.history import snapshots_from_report
from poolsync.compliance import assess
from poolsync.config import Config, Endpoint
from poolsync.directory import Bound, DirectoryConnection, connect, retrying
from poolsync.directory.connection import SHOW_DELETED_OID
from poolsync.directory.dirsync import DirSyncRead, is_tombstone
from poolsync.directory.filters import guid_equality, or_filter
from poolsync.directory.schema import read_schema
from poolsync.directory.source import RootDse
from poolsync.errors import (
    DirectoryUnavailable,
    DirSyncCookieRefused,
    HostNotFound,
    PoolsyncError,
    ProfileError,
    QueryError,
    RunCancelled,
    StoreError,
    Terminated,
    UnsafeChangeError,
)
from poolsync.metrics import PoolSeats, pool_seats
from poolsync.model import Entry, Location, Roles, Seats, Subscriber
from poolsync.profile import Profile
from poolsync.store import PassRecord, Plan, PlannedChange, Store, SyncWriter
from poolsync.sync import decode
from poolsync.sync.watermark import Answering, Decision, decide

log = logging.getLogger(__name__)
T = TypeVar("T")
GUARD_SAMPLE = 20  # objects named when the deletion guard trips


class Progress(Protocol):
    """Where a run reports what it is doing (a progress bar, or nothing)."""

    def begin(self, pass_name: str, description: str) -> None: ...
    def advance(self, count: int) -> None: ...
    def end(self) -> None: ...


class NoProgress:
    def begin(self, pass_name: str, description: str) -> None:
        log.info("%s", description)  # it names the pass: "domain pass (changes) on ..."

    def advance(self, count: int) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class PassSummary:
    name: str
    mode: str             # total | incremental
    reason: str | None    # why a total (a code from poolsync.sync.watermark), or None
    why: str | None
    endpoint: str
    dc_host: str
    naming_context: str
    usn: int
    locations: int        # live Locations read
    subscribers: int      # live subscribers read
    removals: int         # tombstones and objects no longer Unity objects read
    skipped: int
    seconds: float
    attempts: int


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a run did (or, with ``dry_run``, would do)."""

    kind: str                      # total | incremental (what was asked for)
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
    started_at: str
    forced: dict[str, str] = field(default_factory=dict)  # pass -> reason of a total
    refusal: str | None = None  # dry run only: why a real run would be refused
    states: tuple[tuple[str, str, str], ...] = ()  # (scope, name, compliance state)
    server_names: tuple[str, ...] = ()  # the Locations the store holds after the run


@dataclass
class _Counter:
    read: int = 0
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class _Removal:
    guid: str


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
        counter.read += 1
        yield item, decode.usn(entry)
        pending += 1
        if pending == 200:
            progress.advance(pending)
            pending = 0
    progress.advance(pending)


@dataclass
class _PassContext:
    name: str
    endpoints: tuple[Endpoint, ...]
    config: Config
    profile: Profile
    password: str | None
    writer: SyncWriter
    progress: Progress
    now: Callable[[], datetime]
    watermark: PassRecord | None
    requested_total: bool
    warm: _Warm | None = None  # a connection opened ahead for this pass
    held: dict[str, int] = field(default_factory=dict)  # kind -> objects of this pass
    allow_growth: bool = False

    def bound(self, kind: str) -> Bound | None:
        """How many ``kind`` ("locations", "subscribers") one search of this pass may
        return: twice what the store holds from this pass, and at least 10,000 more
        (None when it holds none: the first read is bounded by
        ``directory.max_entries`` alone)."""
        held = self.held.get(kind, 0)
        if held == 0 or self.allow_growth:
            return None
        limit = max(2 * held, held + GROWTH_FLOOR)
        label = "Locations" if kind == "locations" else kind
        return Bound(limit, f"the store holds {held} {label} from the last {self.name} "
                            f"pass, and one search may return {limit}; if the directory "
                            "really grew that much, run `poolsync resync --total "
                            "--allow-growth` once")


def _locations(conn: DirectoryConnection, ctx: _PassContext, base: str,
               ldap_filter: str) -> Iterator[Entry]:
    """Location entries, each attachment read on its own and refused over
    MAX_ATTACHMENT_BYTES (:meth:`DirectoryConnection.search_with_large_value`)."""
    return conn.search_with_large_value(
        base, ldap_filter, decode.location_attributes(ctx.profile),
        large=ctx.profile.location.pooling_data, max_bytes=MAX_ATTACHMENT_BYTES,
        bound=ctx.bound("locations"))


def _read_total(conn: DirectoryConnection, ctx: _PassContext, base: str,
                counters: dict[str, _Counter]) -> None:
    profile, writer, name = ctx.profile, ctx.writer, ctx.name
    writer.stage_locations(name, _decoded(
        _locations(conn, ctx, base, decode.location_filter(profile)),
        lambda e: decode.decode_location(e, profile), ctx.progress, counters["locations"]))
    writer.stage_subscribers(name, _decoded(
        conn.search(base, decode.subscriber_filter(profile),
                    decode.subscriber_attributes(profile), bound=ctx.bound("subscribers")),
        lambda e: decode.decode_subscriber(e, profile), ctx.progress, counters["subscribers"]))


def _read_incremental(conn: DirectoryConnection, ctx: _PassContext, base: str, usn: int,
                      ncs: list[str], counters: dict[str, _Counter]) -> None:
    """Objects changed above the watermark, and tombstones of those deleted since.

    Tombstones live in each naming context's Deleted Objects container, outside any
    OU a pass may be based on: they are searched there, per naming context.
    """
    profile, writer, name = ctx.profile, ctx.writer, ctx.name
    writer.stage_locations(name, _decoded(
        _locations(conn, ctx, base, decode.changed_filter(profile.location.object_class, usn)),
        lambda e: decode.decode_location(e, profile), ctx.progress, counters["locations"]))

    # Every changed user: one that stopped being a subscriber must leave the store.
    def user(entry: Entry) -> Subscriber | _Removal:
        if decode.is_subscriber(entry, profile):
            return decode.decode_subscriber(entry, profile)
        return _Removal(entry.guid())

    removals: list[tuple[str, int | None]] = []
    removal_counter = counters["removals"]

    def subscribers_only(items: Iterable[tuple[Subscriber | _Removal, int | None]],
                         ) -> Iterator[tuple[Subscriber, int | None]]:
        for item, item_usn in items:
            if isinstance(item, _Removal):
                removals.append((item.guid, item_usn))
                removal_counter.read += 1
                if len(removals) >= 1000:
                    writer.stage_removals(name, removals)
                    removals.clear()
            else:
                yield item, item_usn

    sub_counter = _Counter()
    writer.stage_subscribers(name, subscribers_only(_decoded(
        conn.search(base, decode.changed_filter(profile.subscriber.object_class, usn),
                    decode.changed_user_attributes(profile)),
        user, ctx.progress, sub_counter)))
    counters["subscribers"].skipped += sub_counter.skipped
    counters["subscribers"].read += sub_counter.read - removal_counter.read
    writer.stage_removals(name, removals)
    tomb_counter = _Counter()
    for nc in ncs:
        writer.stage_removals(name, ((guid, item_usn) for guid, item_usn in _decoded(
            conn.search(deleted_objects_dn(nc), decode.tombstone_filter(profile, usn),
                        ["objectGUID", "uSNChanged"], show_deleted=True),
            lambda e: e.guid(), ctx.progress, tomb_counter)))
    counters["removals"].read += tomb_counter.read
    counters["removals"].skipped += tomb_counter.skipped


GUID_BATCH = 100  # objects re-read per search after a DirSync read
GROWTH_FLOOR = 10_000  # a search may always return this many more than the store holds
DELETED_OBJECTS_WKGUID = "18e2ea80684f11d2b9aa00c04f79f805"


def deleted_objects_dn(naming_context: str) -> str:
    """The Deleted Objects container of a naming context, by its well-known GUID."""
    return f"<WKGUID={DELETED_OBJECTS_WKGUID},{naming_context}>"


def _deleted_objects_readable(conn: DirectoryConnection, ncs: list[str]) -> str | None:
    """None when the bind can read every Deleted Objects container, else why not.

    An account without that right gets no tombstones and no error: incremental reads
    would then miss every deletion.
    """
    for nc in ncs:
        try:
            entries, _ = conn.request(deleted_objects_dn(nc), "(objectClass=*)",
                                      ["objectGUID"], scope="base",
                                      controls=[(SHOW_DELETED_OID, True, None)])
        except QueryError as exc:
            return f"the Deleted Objects container of {nc} cannot be read ({exc})"
        # Without rights there the container comes back bare (Samba) or not at all.
        if not entries or entries[0].first("objectGUID") is None:
            return (f"the bind account cannot see the Deleted Objects container of {nc}, "
                    "so deletions would be missed (grant it List Contents and Read "
                    "Property there)")
    return None


def _covering_naming_contexts(conn: DirectoryConnection, root: RootDse,
                              base: str) -> list[str]:
    """The domain naming contexts a pass with ``base`` covers ("" covers them all)."""
    ncs = conn.domain_naming_contexts(root.configuration_naming_context)
    if not base:
        return ncs
    lowered = base.lower()
    matches = [nc for nc in ncs if lowered == nc.lower() or lowered.endswith("," + nc.lower())]
    if not matches:
        raise QueryError(f"{base} is in none of the forest's domain naming contexts "
                         f"({', '.join(ncs) or 'none found'})")
    return [max(matches, key=len)]


def encode_cookies(cookies: dict[str, bytes]) -> bytes:
    return json.dumps({nc: base64.b64encode(c).decode() for nc, c in sorted(cookies.items())}
                      ).encode()


def decode_cookies(raw: bytes | None) -> dict[str, bytes] | None:
    """The stored cookies per naming context, or None when absent or unreadable."""
    if not raw:
        return None
    try:
        doc = json.loads(raw)
        return {str(nc): base64.b64decode(c, validate=True) for nc, c in doc.items()}
    except (ValueError, TypeError, AttributeError, binascii.Error):
        return None


def _fresh_cookies(conn: DirectoryConnection, ctx: _PassContext,
                   ncs: list[str]) -> dict[str, bytes]:
    """A cookie per naming context, from a DirSync read without one (entries ignored).

    Read before the paged total read, so whatever changes in between is read twice
    rather than never.
    """
    cookies = {}
    for nc in ncs:
        read = DirSyncRead(conn, nc, decode.unity_objects_filter(ctx.profile),
                           ["objectGUID", "name"])
        for count, _ in enumerate(read, 1):
            if count % 200 == 0:
                ctx.progress.advance(0)  # lets a stop request end the pass
        cookies[nc] = read.cookie
    return cookies


def _read_dirsync_changes(conn: DirectoryConnection, ctx: _PassContext, base: str,
                          cookies: dict[str, bytes], counters: dict[str, _Counter],
                          ) -> dict[str, bytes]:
    """What changed since the cookies; changed objects are re-read in full by GUID.

    DirSync returns only the changed attributes of a changed object (and never
    uSNChanged), so an entry only says "this GUID changed"; tombstones say "gone".
    """
    profile, writer, name = ctx.profile, ctx.writer, ctx.name
    changed: set[str] = set()
    gone: set[str] = set()
    new_cookies = {}
    # DirSync reports an object only when one of the *requested* attributes changed:
    # ask for every attribute poolsync reads, and "name", which a rename or move sets.
    watched = sorted({"objectClass", "name", *decode.location_attributes(profile),
                      *decode.changed_user_attributes(profile)})
    for nc, cookie in cookies.items():
        read = DirSyncRead(conn, nc, decode.unity_objects_filter(ctx.profile), watched,
                           cookie=cookie)
        for entry in read:
            try:
                guid = entry.guid()
            except ValueError:
                counters["removals"].skipped += 1
                continue
            (gone if is_tombstone(entry) else changed).add(guid)
        new_cookies[nc] = read.cookie
    changed -= gone
    attributes = sorted({*decode.location_attributes(profile),
                         *decode.changed_user_attributes(profile), "objectClass"})
    location_class = profile.location.object_class.lower()
    pending = sorted(changed)
    for start in range(0, len(pending), GUID_BATCH):
        batch = pending[start:start + GUID_BATCH]
        locations, subscribers, removals = [], [], []
        seen = set()
        for entry in conn.search(base, or_filter(*map(guid_equality, batch)), attributes):
            try:
                guid = entry.guid()
                classes = {c.lower() for c in entry.texts("objectClass")}
                if location_class in classes:
                    locations.append((decode.decode_location(entry, profile), None))
                elif decode.is_subscriber(entry, profile):
                    subscribers.append((decode.decode_subscriber(entry, profile), None))
                else:
                    removals.append((guid, None))
            except ValueError as exc:
                counters["subscribers"].skipped += 1
                log.warning("skipped %s: %s", entry.dn, exc)
                continue
            seen.add(guid)
        # Not found again: deleted since, or moved out of the pass's scope.
        removals += [(guid, None) for guid in batch if guid not in seen]
        counters["locations"].read += writer.stage_locations(name, locations)
        counters["subscribers"].read += writer.stage_subscribers(name, subscribers)
        counters["removals"].read += writer.stage_removals(name, removals)
        ctx.progress.advance(len(batch))
    counters["removals"].read += writer.stage_removals(name, ((g, None) for g in sorted(gone)))
    return new_cookies


def _check_schema(conn: DirectoryConnection, schema_nc: str, profile: Profile) -> None:
    """Refuse, before reading, a profile that names what the forest's schema lacks: a
    search on a missing attribute matches nothing and would read as "no subscribers"."""
    attributes, classes = profile.schema_names()
    found = read_schema(conn, schema_nc, names=attributes | classes)
    missing = profile.missing_from({a.name for a in found.attributes},
                                   {c.name for c in found.classes})
    if missing:
        raise ProfileError(
            f"the schema profile {profile.name} ({profile.source}) names what the forest's "
            f"schema ({schema_nc}) does not have: {', '.join(missing)}; nothing was read. "
            "Run `poolsync schema discover` to find this forest's names")


def _run_pass(ctx: _PassContext, endpoint: Endpoint, attempt: int) -> PassSummary:
    started = time.monotonic()
    config, name, base = ctx.config, ctx.name, endpoint.base_dn
    conn: DirectoryConnection
    opened = ctx.warm.take(endpoint) if ctx.warm is not None else None
    with opened or connect(endpoint, config.directory, password=ctx.password) as conn:
        conn.limit_to(config.directory.timeouts.pass_)
        # Read the watermark before the query: changes made while we read are
        # above it and will be seen again, never lost.
        root = conn.root_dse()
        answering = Answering(
            dc_host=root.dns_host_name,
            invocation_id=conn.invocation_id(root.ds_service_name),
            highest_committed_usn=root.highest_committed_usn,
            naming_context=base,
            tombstone_lifetime_days=conn.tombstone_lifetime(root.configuration_naming_context),
        )
        if name == "domain" and root.schema_naming_context:
            _check_schema(conn, root.schema_naming_context, ctx.profile)
        decision: Decision = decide(
            ctx.watermark, answering, requested_total=ctx.requested_total,
            profile=ctx.profile.fingerprint, method=config.sync.method,
            max_age=config.sync.max_age, now=ctx.now())
        if decision.mode == "total" and decision.reason != "requested":
            log.info("%s pass: total resync: %s", name, decision.why)
        dirsync = config.sync.method == "dirsync"
        ncs: list[str] = []
        cookies: dict[str, bytes] | None = None
        if dirsync or decision.mode == "incremental":
            ncs = _covering_naming_contexts(conn, root, base)
        if decision.mode == "incremental":
            unreadable = _deleted_objects_readable(conn, ncs)
            if unreadable is not None:
                decision = Decision("total", "deleted-objects-unreadable", unreadable)
        if dirsync:
            held = decode_cookies(ctx.watermark.cookie) if ctx.watermark else None
            if decision.mode == "incremental":
                if held is None or sorted(held) != ncs:
                    decision = Decision("total", "cookie-refused",
                                        "the watermark has no usable DirSync cookie for "
                                        f"{', '.join(ncs)}")
                else:
                    cookies = held
        counters: dict[str, _Counter] = {}
        for _ in range(2):  # once more, in full, if the DC refuses the cookie
            ctx.writer.begin_pass(name, decision.mode)
            counters = {k: _Counter() for k in ("locations", "subscribers", "removals")}
            what = "total" if decision.mode == "total" else "changes"
            # Short enough that the count beside it fits 80 columns.
            ctx.progress.begin(name, f"{name} pass ({what}) on "
                                     f"{root.dns_host_name.split('.', 1)[0]}")
            try:
                if decision.mode == "total":
                    if dirsync:
                        cookies = _fresh_cookies(conn, ctx, ncs)
                    _read_total(conn, ctx, base, counters)
                elif dirsync:
                    assert cookies is not None
                    cookies = _read_dirsync_changes(conn, ctx, base, cookies, counters)
                else:
                    assert ctx.watermark is not None
                    _read_incremental(conn, ctx, base, ctx.watermark.usn, ncs, counters)
                break
            except DirSyncCookieRefused as exc:
                if decision.mode == "total":
                    # Refused without a cookie of ours to blame: a real failure.
                    raise QueryError(f"{name} pass: {exc}") from exc
                log.warning("%s pass: %s", name, exc)
                decision = Decision("total", "cookie-refused",
                                    f"{root.dns_host_name} refused the saved DirSync cookie")
            finally:
                ctx.progress.end()
    ctx.writer.record_pass(PassRecord(
        name=name, endpoint=endpoint.url, dc_host=root.dns_host_name,
        invocation_id=answering.invocation_id, naming_context=base,
        usn=root.highest_committed_usn, synced_at=ctx.now().isoformat(timespec="seconds"),
        profile=ctx.profile.fingerprint, method=config.sync.method,
        cookie=encode_cookies(cookies) if dirsync and cookies is not None else None,
    ))
    return PassSummary(
        name=name, mode=decision.mode, reason=decision.reason, why=decision.why,
        endpoint=endpoint.url, dc_host=root.dns_host_name, naming_context=base,
        usn=root.highest_committed_usn, locations=counters["locations"].read,
        subscribers=counters["subscribers"].read, removals=counters["removals"].read,
        skipped=sum(c.skipped for c in counters.values()),
        seconds=time.monotonic() - started, attempts=attempt,
    )


def _endpoint_order(endpoints: tuple[Endpoint, ...],
                    watermark: PassRecord | None) -> list[Endpoint]:
    """The order a pass tries its endpoints: the one it last read first (moving costs a
    total resync), then the configured order."""
    last = watermark.endpoint if watermark else None
    return sorted(endpoints, key=lambda e: e.url != last)


class _Warm:
    """A connection opened ahead, in a thread, for a pass that runs later, so its TLS
    handshake and bind (60 ms against the lab's Samba, more across a WAN) overlap the
    earlier pass.

    The pass takes it only for the endpoint it was opened to and while it is fresh (a
    DC drops idle connections); anything that went wrong opening it is left to the
    pass's own connect, which reports and retries it as usual.
    """

    FRESH = 60.0  # seconds

    def __init__(self, endpoint: Endpoint, config: Config, password: str | None) -> None:
        self.endpoint = endpoint
        self._conn: DirectoryConnection | None = None
        self._opened = 0.0
        self._thread = threading.Thread(target=self._open, args=(config, password),
                                        name="poolsync-warm", daemon=True)
        self._thread.start()

    def _open(self, config: Config, password: str | None) -> None:
        try:
            self._conn = connect(self.endpoint, config.directory, password=password)
            self._opened = time.monotonic()
        except Exception as exc:  # the pass's own connect reports it
            log.debug("opening %s ahead failed: %s", self.endpoint.url, exc)

    def take(self, endpoint: Endpoint) -> DirectoryConnection | None:
        """The open connection to ``endpoint``, once; None when there is none to use."""
        self._thread.join()
        conn, self._conn = self._conn, None
        if conn is not None and (endpoint != self.endpoint
                                 or time.monotonic() - self._opened > self.FRESH):
            conn.close()
            return None
        return conn

    def __enter__(self) -> _Warm:
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join()
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _run_pass_with_failover(ctx: _PassContext, attempt: int) -> PassSummary:
    """Try the pass's endpoints in order; the first that answers reads the pass."""
    failures: list[DirectoryUnavailable] = []
    # The DC the watermark came from first: moving costs a total resync, so a pass
    # stays with the DC it last read while that DC answers (no flapping back).
    endpoints = _endpoint_order(ctx.endpoints, ctx.watermark)
    for index, endpoint in enumerate(endpoints):
        try:
            return _run_pass(ctx, endpoint, attempt)
        except DirectoryUnavailable as exc:
            failures.append(exc)
            if index + 1 < len(endpoints):
                log.warning("%s pass: %s; trying %s", ctx.name, exc, endpoints[index + 1].url)
    if len(failures) == 1:
        raise failures[0]
    # Only names that resolve nowhere: retrying the pass cannot help either.
    kind = HostNotFound if all(isinstance(f, HostNotFound) for f in failures) \
        else DirectoryUnavailable
    raise kind(f"no {ctx.name} endpoint answered: " + "; ".join(map(str, failures)))


def _guard(store: Store, writer: SyncWriter, plan: Plan, summaries: list[PassSummary], *,
           config: Config, allow_empty: bool, allow_deletes: int | None) -> None:
    """Refuse plans too empty or too destructive to trust; nothing is committed then."""
    held = store.location_counts()
    for summary in summaries:
        if (summary.mode == "total" and summary.locations == 0
                and held.get(summary.name, 0) > 0 and not allow_empty):
            # A wrong base DN, a bind account without read rights or a GC missing the
            # attributes all look like "no Unity servers".
            raise UnsafeChangeError(
                f"the {summary.name} pass read no Locations from {summary.endpoint} "
                f"(base {summary.naming_context or '(forest root)'!r}) but the store holds "
                f"{held[summary.name]}; nothing was changed. Check the base DN and the bind "
                "account's read rights, or rerun with --allow-empty if the servers are "
                "really gone"
            )
    deletes = plan.deletes
    limit = config.sync.deletions.limit(plan.held)
    if deletes <= limit or (allow_deletes is not None and deletes <= allow_deletes):
        return
    sample = list(writer.planned("delete", limit=GUARD_SAMPLE))
    names = "; ".join(f"{c.kind[:-1]} {c.label or c.dn}" for c in sample)
    more = f" and {deletes - len(sample)} more" if deletes > len(sample) else ""
    allowed = (f"--allow-deletes {allow_deletes} allows fewer" if allow_deletes is not None
               else f"the guard allows {limit}")
    raise UnsafeChangeError(
        f"the run would delete {deletes} object{'' if deletes == 1 else 's'} of the "
        f"{plan.held} held ({allowed}); "
        f"nothing was changed. Deleting: {names}{more}. Check the directory (and "
        f"`poolsync resync --dry-run -v`), then rerun with --allow-deletes {deletes}"
    )


def _pool_seats(config: Config, store: Store, locations: list[Location],
               homed: dict[str, Seats], now: datetime, roles: Roles,
               ) -> tuple[bool, tuple[PoolSeats, ...], tuple[tuple[str, str, str], ...]]:
    """After a commit: the pool, its compliance, and each violation's first sighting."""
    report = build_pool_report(config.forest, locations, homed, roles=roles)
    states = assess(report, locations, homed, limits=config.compliance,
                    first_seen=store.violations(), now=now)
    assessed = states.assessed_guids()

    def unassessed(key: str) -> bool:  # "server:<guid>:..." of a server not assessed now
        scope, _, rest = key.partition(":")
        return scope == "server" and rest.split(":", 1)[0] not in assessed

    try:
        store.record_violations(states.violation_keys(), now, keep=unassessed)
    except StoreError as exc:
        log.warning("could not record the license violations: %s", exc)
    try:
        store.add_snapshots(snapshots_from_report(report, now), source="sync")
    except StoreError as exc:
        log.warning("could not record the usage snapshot: %s", exc)
    summary = states.series()
    return report.compliant and states.compliant, pool_seats(report), summary


def run_sync(config: Config, profile: Profile, *, password: str | None, total: bool = False,
             dry_run: bool = False, list_changes: bool = False,
             allow_deletes: int | None = None, allow_empty: bool = False,
             allow_growth: bool = False,
             progress: Progress | None = None, now: Callable[[], datetime],
             stop: threading.Event | None = None) -> SyncResult:
    """One sync run: incremental where the watermarks allow it, total where not.

    ``dry_run`` reads and plans but writes nothing (not even the run history). A
    search returning far more than the store holds stops the run (RunawaySearch)
    unless ``allow_growth``. When
    ``stop`` is set during a retry wait the run ends with :class:`RunCancelled`
    (progress reports may raise it too); nothing is written then.
    """
    progress = progress or NoProgress()
    started = time.monotonic()
    started_at = now().isoformat(timespec="seconds")
    kind = "total" if total else "incremental"
    directory = config.directory
    passes = (("domain", directory.dcs), ("gc", directory.gcs))
    with ExitStack() as stack:
        store = stack.enter_context(_open_store(config.store, dry_run=dry_run, stack=stack))
        run_id: int | None = None
        if not dry_run:
            store.lock()
            abandoned = store.abandon_stale_runs(started_at)
            if abandoned:
                log.warning("%d earlier run(s) never finished (killed?); recorded as "
                            "abandoned. Nothing they read was committed", abandoned)
            run_id = store.begin_run(kind, started_at)
        try:
            watermarks = {p.name: p for p in store.passes()}
            held = store.objects_per_pass()
            # The GC pass's connection opens while the domain pass reads.
            gc_first = _endpoint_order(directory.gcs, watermarks.get("gc"))[0]
            warm = stack.enter_context(_Warm(gc_first, config, password))
            with store.sync_writer() as writer:
                summaries = []
                for name, endpoints in passes:
                    ctx = _PassContext(name, endpoints, config, profile, password, writer,
                                       progress, now, watermarks.get(name), total,
                                       warm if name == "gc" else None,
                                       held={kind: n for (p, kind), n in held.items()
                                             if p == name},
                                       allow_growth=allow_growth)
                    for attempt in retrying(directory.retries, what=f"{name} pass",
                                            sleep=_sleep_until(stop)):
                        with attempt:
                            summaries.append(_run_pass_with_failover(
                                ctx, attempt.retry_state.attempt_number))
                plan = writer.plan()
                planned = tuple(writer.planned()) if list_changes else ()
                refusal = None
                try:
                    _guard(store, writer, plan, summaries, config=config,
                           allow_empty=allow_empty, allow_deletes=allow_deletes)
                except UnsafeChangeError as exc:
                    if not dry_run:
                        raise
                    refusal = str(exc)  # a dry run shows the plan, and says so
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
            compliant = True
        else:
            compliant, pools, states = _pool_seats(config, store, locations, homed, now(),
                                                   profile.roles())
        result = SyncResult(
            kind=kind, dry_run=dry_run, run_id=run_id, store=str(config.store),
            passes=tuple(summaries), plan=plan, planned=planned, servers=len(locations),
            subscribers=sum(s.vm for s in homed.values()), compliant=compliant,
            pools=pools, seconds=time.monotonic() - started, started_at=started_at,
            forced=forced, refusal=refusal, states=states,
            server_names=tuple(loc.name for loc in locations),
        )
        if run_id is not None:
            try:
                store.finish_run(run_id, status="ok" if compliant else "findings",
                                 finished_at=now().isoformat(timespec="seconds"),
                                 detail=_detail(result))
            except StoreError as exc:
                # The data is committed and the run marked so; the next run records it.
                log.warning("the run committed, but recording its end failed: %s", exc)
    return result


def _sleep_until(stop: threading.Event | None) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        if stop is None:
            time.sleep(seconds)
        elif stop.wait(seconds):
            raise RunCancelled("stopping: the run was abandoned while waiting to retry; "
                               "nothing was written")
    return sleep


def _open_store(path: Path, *, dry_run: bool, stack: ExitStack) -> Store:
    """The store; for a dry run read-only, or an empty throwaway one when none exists."""
    if not dry_run:
        return Store.open(path)
    if path.exists():
        return Store.open(path, create=False)
    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="poolsync-dry-")))
    return Store.open(scratch / "dry-run.db")


def _detail(result: SyncResult) -> dict[str, object]:
    return {
        "passes": {p.name: {"mode": p.mode, "reason": p.reason, "why": p.why,
                            "endpoint": p.endpoint, "dc_host": p.dc_host, "usn": p.usn,
                            "locations": p.locations, "subscribers": p.subscribers,
                            "removals": p.removals, "skipped": p.skipped,
                            "attempts": p.attempts}
                   for p in result.passes},
        "changes": {kind: {"insert": c.added, "update": c.changed, "delete": c.removed}
                    for kind, c in result.plan.counts.items()},
        "servers": result.servers, "subscribers": result.subscribers,
        "compliant": result.compliant, "seconds": round(result.seconds, 3),
    }


def _record_failure(store: Store, run_id: int, exc: BaseException,
                    now: Callable[[], datetime]) -> None:
    """Record how the run ended; a run that already committed keeps its "committed"
    (the next run records it ok): an interrupt after the commit loses nothing."""
    if isinstance(exc, Terminated):
        message = "terminated (SIGTERM); nothing was committed"
    elif isinstance(exc, KeyboardInterrupt):
        message = "interrupted (Ctrl-C); nothing was committed"
    else:
        message = str(exc) if isinstance(exc, PoolsyncError) else type(exc).__name__
    status = ("refused" if isinstance(exc, UnsafeChangeError)
              else "cancelled" if isinstance(exc, RunCancelled | KeyboardInterrupt)
              else "failed")
    try:
        store.finish_run(run_id, status=status,
                         finished_at=now().isoformat(timespec="seconds"),
                         detail={"error": message, "error_type": type(exc).__name__},
                         unless_committed=True)
    except StoreError as record_error:
        log.warning("could not record the failed run: %s", record_error)
