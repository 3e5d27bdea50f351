"""Why a Unity server is missing from the pool: the doctor's pure classifier.

:func:`diagnose` takes what every DC and Global Catalog answered
(:class:`~poolsync.doctor.model.DoctorInput`) and returns one
:class:`~poolsync.doctor.model.DoctorReport`: per server its findings (cause code,
severity, which viewers are affected, evidence, fix) and per Global Catalog the pool
members that look through it and what it lacks. No I/O and no clock (``inp.now``
stamps the report), so the same input always gives the same report.

Each cause code comes from exactly one rule:

- exclusions from the pool rules (``pooling-disabled``, ``version-unsupported``,
  ``attachment-missing``, ``attachment-too-large``, ``attachment-corrupt``,
  ``failover-secondary``):
  :mod:`poolsync.doctor.pool`;
- a viewer's GC without the server's current Location (``replication-pending`` when a
  usable chain of connections leads there, ``no-replication-path`` when none does):
  :mod:`poolsync.doctor.replication`, in words by :mod:`poolsync.doctor.paths`;
- poolsync's own store behind its GC (``stale-mirror``): :mod:`poolsync.doctor.mirror`;
- expected names without a Location (``other-forest``, ``location-missing``):
  :mod:`poolsync.doctor.pool`;
- published utilization that disagrees with the store (``published-stale``):
  :mod:`poolsync.doctor.pool`;
- subscribers whose home names no Location (``orphaned-subscribers``, a finding about
  the forest): :mod:`poolsync.doctor.pool`;
- what each Unity server says about its own license, against its Location's copy
  (``attachment-not-published``, which replaces that server's ``attachment-missing``
  or ``pooling-disabled``; ``attachment-differs``; ``server-unreachable``):
  :mod:`poolsync.doctor.live`;
- the DCs' own replication (``inbound-replication-disabled``,
  ``outbound-replication-disabled``, ``connection-disabled``, ``connection-missing``),
  and servers whose monitors use such a DC (``monitor-dc-unhealthy``):
  :mod:`poolsync.doctor.dcs`.

Every rule reads the same facts, arranged by :mod:`poolsync.doctor.servers`; this
module puts them together, orders the findings and applies ``only``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from poolsync.allocation import build_pool_report
from poolsync.doctor.dcs import dc_health, monitor_findings
from poolsync.doctor.live import SUPERSEDES, live_findings
from poolsync.doctor.mirror import stale_mirror
from poolsync.doctor.model import (
    CAUSES,
    SEVERITIES,
    DoctorInput,
    DoctorReport,
    Finding,
    ServerHealth,
)
from poolsync.doctor.pool import (
    duplicate_names,
    exclusions,
    expected,
    orphaned_subscribers,
    published_stale,
)
from poolsync.doctor.replication import replication
from poolsync.doctor.servers import (
    canon,
    group_copies,
    names,
    partial_attributes,
    probe_for,
    read_servers,
    sorted_names,
    viewers,
)
from poolsync.errors import UserError
from poolsync.model import Location, Roles

__all__ = ["diagnose", "locations_seen"]


def _finding_key(finding: Finding) -> tuple[int, int]:
    return SEVERITIES.index(finding.severity), CAUSES.index(finding.cause)


def _worst(health: ServerHealth) -> int:
    return min((SEVERITIES.index(f.severity) for f in health.findings), default=len(SEVERITIES))


def _notes(inp: DoctorInput, gc_notes: Sequence[str]) -> tuple[str, ...]:
    notes = [
        f"{p.dc} ({p.url}) could not be read: {p.error}"
        for p in sorted(inp.probes, key=lambda p: (p.dc.lower(), p.url))
        if p.error is not None
    ]
    notes += [line for p in inp.probes for line in p.skipped]
    notes += gc_notes
    if inp.store is None:
        notes.append(
            "no committed sync in the store: stale-mirror, published-stale and "
            "orphaned-subscribers were not checked"
        )
    elif inp.store.gc is not None and probe_for(inp, canon(inp.topology, inp.store.gc)) is None:
        notes.append(
            f"poolsync's store was last read from {inp.store.gc}, which could not "
            "be read now: stale-mirror was not checked"
        )
    return tuple(notes)


def _only(report: DoctorReport, only: str) -> DoctorReport:
    key = only.lower()
    servers = tuple(s for s in report.servers if s.name.lower() == key)
    if not servers:
        known = names(sorted_names({s.name for s in report.servers})) or "none"
        raise UserError(
            f"no server named {only!r} in forest {report.forest} "
            f"(servers found or expected: {known})"
        )
    # The GCs it looks through, and those that hold it or lack it: a GC row holds every
    # Location read but those it lacks, so every reachable row concerns a Location.
    located = any(s.guid is not None for s in servers)
    rows = tuple(
        v
        for v in report.visibility
        if any(n.lower() == key for n in v.viewers) or (v.reachable and located)
    )
    return DoctorReport(
        report.forest,
        report.generated,
        rows,
        servers,
        report.notes,
        complete=report.complete,
        findings=report.findings,
        dcs=report.dcs,
    )


def locations_seen(inp: DoctorInput) -> list[Location]:
    """Every Location some DC or GC holds, its freshest copy, in name order: the
    forest as the doctor sees it (the store may have read one DC only)."""
    copies = group_copies(inp)
    return [s.location for s in read_servers(inp, copies, partial_attributes(copies))]


def diagnose(inp: DoctorInput, *, only: str | None = None) -> DoctorReport:
    """Why each Unity server of ``inp.forest`` is (not) seen in the pool, with evidence.

    ``only`` (a server name, case-insensitive) keeps that server's health and the
    visibility rows that concern it; a name that is neither found nor expected is a
    :class:`~poolsync.errors.UserError`.
    """
    copies = group_copies(inp)
    pas = partial_attributes(copies)
    servers = read_servers(inp, copies, pas)
    homed = inp.store.homed if inp.store is not None else {}
    roles = inp.store.roles if inp.store is not None else Roles()
    report = build_pool_report(inp.forest, [s.location for s in servers], homed, roles=roles)
    excluded = {e.guid for e in report.excluded}
    members, gc_notes = viewers(inp, [s for s in servers if s.guid not in excluded])
    found_replication, visibility = replication(inp, servers, members, pas)
    live = live_findings(inp, servers, members)
    excluded_findings = exclusions(report, servers, members)
    for guid in live.superseded:  # attachment-not-published says it, with the server's word
        excluded_findings[guid] = [
            f for f in excluded_findings.get(guid, ()) if f.cause not in SUPERSEDES
        ]
    found: dict[str, list[Finding]] = defaultdict(list)
    for part in (
        excluded_findings,
        found_replication,
        stale_mirror(inp, servers),
        published_stale(inp, report, members, servers),
        duplicate_names(servers),
        live.found,
    ):
        for guid, findings in part.items():
            found[guid] += findings
    dcs = dc_health(inp)
    watched = monitor_findings(inp, dcs, [s.name for s in servers])
    for server in servers:
        if server.name.lower() in watched:
            found[server.guid].append(watched[server.name.lower()])
    health = [
        ServerHealth(s.name, s.guid, tuple(sorted(found[s.guid], key=_finding_key)))
        for s in servers
    ]
    health += expected(inp, servers, members)
    health.sort(key=lambda h: (_worst(h), h.name.lower(), h.name, h.guid or ""))
    complete = all(p.error is None for p in inp.probes) and all(v.reachable for v in visibility)
    result = DoctorReport(
        inp.forest,
        inp.now,
        tuple(visibility),
        tuple(health),
        (*_notes(inp, gc_notes), *report.notes, *live.notes),
        complete=complete,
        findings=tuple(orphaned_subscribers(inp, report)),
        dcs=dcs,
    )
    return _only(result, only) if only is not None else result
