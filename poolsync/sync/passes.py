"""One pass of a sync run: a domain pass on a DC, or a GC pass on a Global Catalog.

A pass opens a reader on the first of its endpoints that answers (the one its
watermark came from first: moving costs a total resync), reads the DC's facts before
its query (changes made meanwhile are above the watermark and read again, never lost),
decides from its watermark whether it may read incrementally
(:mod:`poolsync.sync.watermark`) and what the source can read, then reads with one of
:mod:`poolsync.sync.readers` into the store's staging. It records its new watermark in
the staging too: nothing is committed here.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from poolsync.config import Config, Endpoint
from poolsync.directory.prewarm import Prewarmed
from poolsync.directory.schema import read_schema
from poolsync.directory.source import Bound, DirectoryReader, DirectorySource, RootDse
from poolsync.errors import (
    DirectoryUnavailable,
    DirSyncCookieRefused,
    HostNotFound,
    ProfileError,
    QueryError,
)
from poolsync.profile import Profile
from poolsync.records import Mode, PassRecord
from poolsync.store import SyncWriter
from poolsync.sync.readers import (
    Counter,
    DirSyncChanges,
    PassRead,
    Progress,
    Staging,
    TotalRead,
    UsnChanges,
    deleted_objects_dn,
)
from poolsync.sync.watermark import Answering, Decision, decide

__all__ = ["GROWTH_FLOOR", "PassContext", "PassSummary", "endpoint_order", "run_pass"]

log = logging.getLogger(__name__)
GROWTH_FLOOR = 10_000  # a search may always return this many more than the store holds
#: The change reads each sync.method needs of a source to read incrementally.
NEEDED = {"usn": ("usn", "tombstones"), "dirsync": ("dirsync",)}


@dataclass(frozen=True, slots=True)
class PassSummary:
    name: str
    mode: Mode
    reason: str | None  # why a total (a code from poolsync.sync.watermark), or None
    why: str | None
    endpoint: str
    dc_host: str
    naming_context: str
    usn: int
    locations: int  # live Locations read
    subscribers: int  # live subscribers read
    removals: int  # tombstones and objects no longer Unity objects read
    skipped: int
    seconds: float
    attempts: int


@dataclass
class PassContext:
    name: str
    endpoints: tuple[Endpoint, ...]
    config: Config
    profile: Profile
    source: DirectorySource
    writer: SyncWriter
    progress: Progress
    now: Callable[[], datetime]
    watermark: PassRecord | None
    requested_total: bool
    warm: Prewarmed | None = None  # a reader opened ahead for this pass
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
        return Bound(
            limit,
            f"the store holds {held} {label} from the last {self.name} "
            f"pass, and one search may return {limit}; if the directory "
            "really grew that much, run `poolsync resync --total "
            "--allow-growth` once",
        )


def _deleted_objects_readable(reader: DirectoryReader, ncs: list[str]) -> str | None:
    """None when the bind can read every Deleted Objects container, else why not.

    An account without that right gets no tombstones and no error: incremental reads
    would then miss every deletion.
    """
    for nc in ncs:
        try:
            entries = reader.read(
                deleted_objects_dn(nc),
                "(objectClass=*)",
                ["objectGUID"],
                scope="base",
                show_deleted=True,
            )
        except QueryError as exc:
            return f"the Deleted Objects container of {nc} cannot be read ({exc})"
        # Without rights there the container comes back bare (Samba) or not at all.
        if not entries or entries[0].first("objectGUID") is None:
            return (
                f"the bind account cannot see the Deleted Objects container of {nc}, "
                "so deletions would be missed (grant it List Contents and Read "
                "Property there)"
            )
    return None


def _covering_naming_contexts(reader: DirectoryReader, root: RootDse, base: str) -> list[str]:
    """The domain naming contexts a pass with ``base`` covers ("" covers them all)."""
    ncs = reader.domain_naming_contexts(root.configuration_naming_context)
    if not base:
        return ncs
    lowered = base.lower()
    matches = [nc for nc in ncs if lowered == nc.lower() or lowered.endswith("," + nc.lower())]
    if not matches:
        raise QueryError(
            f"{base} is in none of the forest's domain naming contexts "
            f"({', '.join(ncs) or 'none found'})"
        )
    return [max(matches, key=len)]


def encode_cookies(cookies: dict[str, bytes]) -> bytes:
    return json.dumps(
        {nc: base64.b64encode(c).decode() for nc, c in sorted(cookies.items())}
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


def _check_schema(reader: DirectoryReader, schema_nc: str, profile: Profile) -> None:
    """Refuse, before reading, a profile that names what the forest's schema lacks: a
    search on a missing attribute matches nothing and would read as "no subscribers"."""
    attributes, classes = profile.schema_names()
    found = read_schema(reader, schema_nc, names=attributes | classes)
    missing = profile.missing_from(
        {a.name for a in found.attributes}, {c.name for c in found.classes}
    )
    if missing:
        raise ProfileError(
            f"the schema profile {profile.name} ({profile.source}) names what the forest's "
            f"schema ({schema_nc}) does not have: {', '.join(missing)}; nothing was read. "
            "Run `poolsync schema discover` to find this forest's names"
        )


def _without_changes(
    reader: DirectoryReader, source: DirectorySource, method: str
) -> Decision | None:
    """A total read, and why, when the source cannot read what ``method`` needs."""
    missing = [c for c in NEEDED[method] if c not in reader.changes]
    if not missing:
        return None
    origin = source.origin
    what = "an export" if origin.kind == "export" else f"the {origin.kind} source"
    return Decision(
        "total",
        "source-without-changes",
        f"{what} ({origin.label}) cannot read changes ({', '.join(missing)}): it is read in full",
    )


@dataclass(frozen=True, slots=True)
class _ReadPlan:
    decision: Decision
    how: PassRead
    dirsync: bool  # the pass keeps DirSync cookies
    ncs: tuple[str, ...]  # the naming contexts it covers (when they were needed)


def _plan_read(
    ctx: PassContext, reader: DirectoryReader, root: RootDse, base: str, decision: Decision
) -> _ReadPlan:
    """How the pass reads: the decision (a total after all, when the source cannot read
    changes or the DC cannot show deletions), and with which reader."""
    method = ctx.config.sync.method
    dirsync = method == "dirsync" and "dirsync" in reader.changes
    if decision.mode == "incremental":
        decision = _without_changes(reader, ctx.source, method) or decision
    ncs: tuple[str, ...] = ()
    if dirsync or decision.mode == "incremental":
        ncs = tuple(_covering_naming_contexts(reader, root, base))
    if decision.mode == "incremental":
        unreadable = _deleted_objects_readable(reader, list(ncs))
        if unreadable is not None:
            decision = Decision("total", "deleted-objects-unreadable", unreadable)
    if dirsync and decision.mode == "incremental":
        held = decode_cookies(ctx.watermark.cookie) if ctx.watermark else None
        if held is None or sorted(held) != list(ncs):
            decision = Decision(
                "total",
                "cookie-refused",
                f"the watermark has no usable DirSync cookie for {', '.join(ncs)}",
            )
        else:
            return _ReadPlan(decision, DirSyncChanges(base, held), True, ncs)
    if decision.mode == "total":
        return _ReadPlan(decision, TotalRead(base, ncs if dirsync else None), dirsync, ncs)
    assert ctx.watermark is not None
    return _ReadPlan(decision, UsnChanges(base, ctx.watermark.usn, ncs), False, ncs)


def run_pass(ctx: PassContext, endpoint: Endpoint, attempt: int) -> PassSummary:
    """Read one pass from ``endpoint`` into the staging; its summary."""
    started = time.monotonic()
    config, name, base = ctx.config, ctx.name, endpoint.base_dn
    taken = ctx.warm.take(endpoint) if ctx.warm is not None else None
    with taken or ctx.source.open(endpoint) as reader:
        reader.limit_to(ctx.source.pass_timeout)
        root = reader.root_dse()
        answering = Answering(
            dc_host=root.dns_host_name,
            invocation_id=reader.invocation_id(root.ds_service_name),
            highest_committed_usn=root.highest_committed_usn,
            naming_context=base,
            tombstone_lifetime_days=reader.tombstone_lifetime(root.configuration_naming_context),
        )
        if name == "domain" and root.schema_naming_context:
            _check_schema(reader, root.schema_naming_context, ctx.profile)
        decision = decide(
            ctx.watermark,
            answering,
            requested_total=ctx.requested_total,
            profile=ctx.profile.fingerprint,
            method=config.sync.method,
            max_age=config.sync.max_age,
            now=ctx.now(),
        )
        plan = _plan_read(ctx, reader, root, base, decision)
        decision, how, dirsync = plan.decision, plan.how, plan.dirsync
        if decision.mode == "total" and decision.reason != "requested":
            log.info("%s pass: total resync: %s", name, decision.why)
        counters: dict[str, Counter] = {}
        cookies: dict[str, bytes] | None = None
        for _ in range(2):  # once more, in full, if the DC refuses the cookie
            ctx.writer.begin_pass(name, decision.mode)
            counters = {k: Counter() for k in ("locations", "subscribers", "removals")}
            what = "total" if decision.mode == "total" else "changes"
            # Short enough that the count beside it fits 80 columns.
            ctx.progress.begin(
                name, f"{name} pass ({what}) on {root.dns_host_name.split('.', 1)[0]}"
            )
            try:
                cookies = how.read(
                    reader,
                    Staging(name, ctx.profile, ctx.writer, ctx.progress, ctx.bound, counters),
                )
                break
            except DirSyncCookieRefused as exc:
                if decision.mode == "total":
                    # Refused without a cookie of ours to blame: a real failure.
                    raise QueryError(f"{name} pass: {exc}") from exc
                log.warning("%s pass: %s", name, exc)
                decision = Decision(
                    "total",
                    "cookie-refused",
                    f"{root.dns_host_name} refused the saved DirSync cookie",
                )
                how = TotalRead(base, plan.ncs)
            finally:
                ctx.progress.end()
    taken_at = ctx.source.origin.taken_at
    ctx.writer.record_pass(
        PassRecord(
            name=name,
            endpoint=endpoint.url,
            dc_host=root.dns_host_name,
            invocation_id=answering.invocation_id,
            naming_context=base,
            usn=root.highest_committed_usn,
            synced_at=(taken_at or ctx.now()).replace(microsecond=0),  # the store keeps seconds
            profile=ctx.profile.fingerprint,
            method=config.sync.method,
            cookie=encode_cookies(cookies) if dirsync and cookies is not None else None,
        )
    )
    return PassSummary(
        name=name,
        mode=decision.mode,
        reason=decision.reason,
        why=decision.why,
        endpoint=endpoint.url,
        dc_host=root.dns_host_name,
        naming_context=base,
        usn=root.highest_committed_usn,
        locations=counters["locations"].read,
        subscribers=counters["subscribers"].read,
        removals=counters["removals"].read,
        skipped=sum(c.skipped for c in counters.values()),
        seconds=time.monotonic() - started,
        attempts=attempt,
    )


def endpoint_order(endpoints: tuple[Endpoint, ...], watermark: PassRecord | None) -> list[Endpoint]:
    """The order a pass tries its endpoints: the one it last read first (moving costs a
    total resync), then the configured order."""
    last = watermark.endpoint if watermark else None
    return sorted(endpoints, key=lambda e: e.url != last)


def run_pass_with_failover(ctx: PassContext, attempt: int) -> PassSummary:
    """Try the pass's endpoints in order; the first that answers reads the pass."""
    failures: list[DirectoryUnavailable] = []
    # The DC the watermark came from first: moving costs a total resync, so a pass
    # stays with the DC it last read while that DC answers (no flapping back).
    endpoints = endpoint_order(ctx.endpoints, ctx.watermark)
    for index, endpoint in enumerate(endpoints):
        try:
            return run_pass(ctx, endpoint, attempt)
        except DirectoryUnavailable as exc:
            failures.append(exc)
            if index + 1 < len(endpoints):
                log.warning("%s pass: %s; trying %s", ctx.name, exc, endpoints[index + 1].url)
    if len(failures) == 1:
        raise failures[0]
    # Only names that resolve nowhere: retrying the pass cannot help either.
    kind = (
        HostNotFound if all(isinstance(f, HostNotFound) for f in failures) else DirectoryUnavailable
    )
    raise kind(f"no {ctx.name} endpoint answered: " + "; ".join(map(str, failures)))
