"""Ask every configured DC and Global Catalog what it holds (the doctor's only I/O).

Each endpoint of ``directory.gc.url`` and ``directory.dc.url`` is asked, once, for
its own view of the forest's sites, DCs and connections (the configuration partition
under ``CN=Sites``) and for every Location it holds, with ``whenCreated``,
``whenChanged``, ``uSNChanged`` and ``replPropertyMetaData`` as evidence. An endpoint
that cannot be read becomes a :class:`~poolsync.doctor.model.DcProbe` with its error,
so one dead DC never hides what the others say.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from poolsync.attachment import MAX_ATTACHMENT_BYTES
from poolsync.config import Endpoint
from poolsync.directory import retrying
from poolsync.directory.source import DirectorySource
from poolsync.doctor.model import DcProbe, ForeignSighting, LocationCopy, StoreView
from poolsync.errors import DirectoryError, QueryError, SecretError
from poolsync.forest import (
    CONFIG_ATTRIBUTES,
    CONFIG_FILTER,
    ForestConfig,
    decode_forest,
    merge_views,
    parse_repl_metadata,
)
from poolsync.homes import match_homes
from poolsync.model import Entry, Location, Roles
from poolsync.profile import Profile
from poolsync.store import Store
from poolsync.sync.decode import decode_location, location_attributes, location_filter, usn

__all__ = ["ForestProbe", "probe_forest", "probe_other_forest", "store_view"]

EVIDENCE_ATTRIBUTES = ("whenCreated", "whenChanged", "replPropertyMetaData")
ORPHAN_SAMPLE = 5  # subscribers shown as evidence of orphaned homes
ORPHAN_KEYS = 200  # distinct orphaned home values looked up for them

Step = Callable[[str], None]
#: Equal Locations read from several endpoints, kept once: see _copy.
Shared = dict[Location, Location]


@dataclass(frozen=True, slots=True)
class ForestProbe:
    topology: ForestConfig
    probes: tuple[DcProbe, ...]


def parse_generalized_time(text: str | None) -> dt.datetime | None:
    """``20261130054808.0Z`` -> an aware UTC datetime (None when absent or malformed)."""
    if not text:
        return None
    try:
        return dt.datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _copy(entry: Entry, dc: str, profile: Profile, shared: Shared) -> LocationCopy:
    location = decode_location(entry, profile)
    return LocationCopy(
        dc=dc,
        # Every DC holds a copy, and copies mostly agree: one object for equal ones
        # (the attachment is most of a Location's size).
        location=shared.setdefault(location, location),
        when_created=parse_generalized_time(entry.text("whenCreated")),
        when_changed=parse_generalized_time(entry.text("whenChanged")),
        usn_changed=usn(entry),
        stamps=parse_repl_metadata(entry.first("replPropertyMetaData")),
    )


def _endpoints(source: DirectorySource) -> list[tuple[Endpoint, bool]]:
    """Every endpoint of the source once, Global Catalogs first: (endpoint, is_gc)."""
    seen: set[str] = set()
    out: list[tuple[Endpoint, bool]] = []
    for endpoints, gc in ((source.gcs, True), (source.dcs, False)):
        for endpoint in endpoints:
            if endpoint.url not in seen:
                seen.add(endpoint.url)
                out.append((endpoint, gc))
    return out


def _read(
    endpoint: Endpoint,
    gc: bool,
    source: DirectorySource,
    profile: Profile,
    *,
    now: dt.datetime,
    shared: Shared | None = None,
) -> tuple[DcProbe, ForestConfig | None]:
    shared = {} if shared is None else shared

    def attempt() -> tuple[DcProbe, ForestConfig]:
        with source.open(endpoint) as conn:
            root = conn.root_dse()
            skipped: list[str] = []
            sites = f"CN=Sites,{root.configuration_naming_context}"
            try:
                view = decode_forest(conn.search(sites, CONFIG_FILTER, list(CONFIG_ATTRIBUTES)))
            except QueryError:
                if source.origin.kind == "directory":
                    raise
                # An export without its sites: the Locations still tell what they can.
                view = decode_forest(())
                skipped.append(
                    f"{endpoint.url}: the export holds no {sites}: no sites, DCs "
                    "or replication connections to check (export them as "
                    "docs/offline.md says)"
                )
            me = view.dc_by_dsa(root.ds_service_name)
            name = me.name if me is not None else root.dns_host_name
            attributes = [*location_attributes(profile), *EVIDENCE_ATTRIBUTES]
            copies: list[LocationCopy] = []
            entries = conn.search_with_large_value(
                endpoint.base_dn,
                location_filter(profile),
                attributes,
                large=profile.location.pooling_data,
                max_bytes=MAX_ATTACHMENT_BYTES,
            )
            for entry in entries:
                try:
                    copies.append(_copy(entry, name, profile, shared))
                except ValueError as exc:  # e.g. no objectGUID: skip it, say so
                    skipped.append(f"{name} ({endpoint.url}): skipped {entry.dn}: {exc}")
            return DcProbe(
                dc=name,
                url=endpoint.url,
                gc=gc,
                read_at=now,
                copies=tuple(copies),
                skipped=tuple(skipped),
            ), view

    try:
        result: tuple[DcProbe, ForestConfig] = retrying(
            source.retries, what=f"reading {endpoint.url}"
        )(attempt)
        return result
    except DirectoryError as exc:
        return DcProbe(dc=endpoint.host, url=endpoint.url, gc=gc, read_at=now, error=str(exc)), None


def probe_forest(
    source: DirectorySource, profile: Profile, *, now: dt.datetime, step: Step | None = None
) -> ForestProbe:
    """Ask every endpoint of ``source``; merge the configuration partitions they sent."""
    probes: list[DcProbe] = []
    views: dict[str, ForestConfig] = {}
    shared: Shared = {}
    for endpoint, gc in _endpoints(source):
        if step is not None:
            step(f"asking {endpoint.url}")
        probe, view = _read(endpoint, gc, source, profile, now=now, shared=shared)
        probes.append(probe)
        if view is not None:
            views.setdefault(probe.dc, view)
    topology = merge_views(views)
    return ForestProbe(topology=topology, probes=tuple(_named(p, topology) for p in probes))


def _named(probe: DcProbe, topology: ForestConfig) -> DcProbe:
    """A failed probe named by its host: the DC's name when the host is a known DC."""
    if probe.error is None:
        return probe
    dc = topology.dc(probe.dc)
    return (
        probe
        if dc is None
        else DcProbe(
            dc=dc.name, url=probe.url, gc=probe.gc, read_at=probe.read_at, error=probe.error
        )
    )


def probe_other_forest(
    forest: str,
    source: DirectorySource,
    profile: Profile,
    names: Iterable[str],
    *,
    now: dt.datetime,
) -> tuple[list[ForeignSighting], str | None]:
    """Look for Locations called ``names`` in another ``forest`` (its own source, with
    its own credentials): what was found, and an error text when it could not be read."""
    wanted = {n.lower() for n in names}
    if not wanted:
        return [], None
    errors: list[str] = []
    for endpoint in source.gcs:
        try:
            probe, _ = _read(endpoint, True, source, profile, now=now)
        except SecretError as exc:  # the other forest's password reference
            return [], f"forest {forest} could not be read: {exc}"
        if probe.error is not None:
            errors.append(probe.error)
            continue
        return [
            ForeignSighting(server=c.location.name, forest=forest, dn=c.location.dn, dc=probe.dc)
            for c in probe.copies
            if c.location.name.lower() in wanted
        ], None
    return [], f"forest {forest} could not be read: {'; '.join(errors)}"


def store_view(store: Store, topology: ForestConfig, roles: Roles) -> StoreView | None:
    """What poolsync's store holds from its GC pass, or None before the first sync."""
    gc_pass = next((p for p in store.passes() if p.name == "gc"), None)
    if gc_pass is None:
        return None
    dc = topology.dc(gc_pass.dc_host)
    with store.reading():
        homed = store.homed_seats()
        merged = store.locations()
        gc_locations = tuple(store.locations(pass_name="gc"))  # noqa: S106 (a pass name)
    orphan_keys = match_homes(merged, homed).orphan_keys
    return StoreView(
        gc=dc.name if dc is not None else gc_pass.dc_host,
        synced_at=gc_pass.synced_at,
        locations=gc_locations,
        homed=homed,
        usn=gc_pass.usn,
        roles=roles,
        orphans=tuple(store.subscribers_homed_on(orphan_keys[:ORPHAN_KEYS], limit=ORPHAN_SAMPLE)),
    )
