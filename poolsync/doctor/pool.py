"""What the pool rules and the expected names say about each server (pure).

- Exclusions, from :func:`poolsync.allocation.build_pool_report`
  (``failover-secondary``, ``pooling-disabled``, ``version-unsupported``,
  ``attachment-missing``, ``attachment-too-large``, ``attachment-corrupt``), each with
  the fix for its reason.
- ``published-stale``: a member's published utilization disagrees with the subscribers
  poolsync's store homes on it.
- Expected names without a Location: ``other-forest`` when another forest holds one by
  that name, else ``location-missing``.
- ``orphaned-subscribers`` (about the forest, not one server): subscribers whose home
  matches no Location's object id or objectGUID.
- ``duplicate-name``: Locations that share a name (case aside).

Internal to :mod:`poolsync.doctor`; the entry point is
:func:`poolsync.doctor.causes.diagnose`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Final

from poolsync.allocation import Exclusion, ExclusionReason, PoolReport
from poolsync.doctor.model import (
    NO_VIEWERS,
    DoctorInput,
    Finding,
    ServerHealth,
    Severity,
    Viewers,
)
from poolsync.doctor.servers import Server, Viewer, canon, iso, names
from poolsync.model import SEAT_CLASSES, SeatClass

__all__ = [
    "duplicate_names",
    "exclusions",
    "expected",
    "orphaned_subscribers",
    "others",
    "published_stale",
    "viewing",
]

_EXCLUSION_SEVERITY: Final[dict[ExclusionReason, Severity]] = {
    ExclusionReason.FAILOVER_SECONDARY: "info",
    ExclusionReason.POOLING_DISABLED: "warning",
    ExclusionReason.VERSION_UNSUPPORTED: "error",
    ExclusionReason.ATTACHMENT_MISSING: "error",
    ExclusionReason.ATTACHMENT_TOO_LARGE: "error",
    ExclusionReason.ATTACHMENT_CORRUPT: "error",
}
#: How the fix of a failover secondary that the pool counts with its primary begins.
COUNTED_WITH_PRIMARY: Final = "None needed:"
_SUBSCRIBERS: Final = {
    SeatClass.VM: "subscribers",
    SeatClass.UM: "UM subscribers",
    SeatClass.INBOX: "Inbox subscribers",
}


def viewing(viewers: Sequence[Viewer]) -> frozenset[str]:
    """The viewers' guids, for :func:`others`."""
    return frozenset(v.server.guid for v in viewers)


def others(viewing: frozenset[str], server: Server) -> Viewers:
    """Every viewer but ``server`` itself (``viewing``: their guids), as a group: a
    finding per excluded server naming every member was quadratic in the pool."""
    return Viewers(members=True, count=len(viewing) - (server.guid in viewing))


# --- exclusions ------------------------------------------------------------------------


def exclusions(
    report: PoolReport, servers: Sequence[Server], viewers: Sequence[Viewer]
) -> dict[str, list[Finding]]:
    """One finding per excluded server (by guid), with the fix for its reason."""
    by_guid = {s.guid: s for s in servers}
    members = frozenset(s.guid for pool in report.pools for s in pool.servers)
    primaries = _Primaries(servers)
    seeing = viewing(viewers)
    found: dict[str, list[Finding]] = defaultdict(list)
    for exclusion in report.excluded:
        server = by_guid[exclusion.guid]
        fix = _exclusion_fix(exclusion, server, primaries, members)
        severity = _EXCLUSION_SEVERITY[exclusion.reason]
        if exclusion.reason is ExclusionReason.FAILOVER_SECONDARY and not fix.startswith(
            COUNTED_WITH_PRIMARY
        ):
            severity = "warning"  # a broken pair: its subscribers count in no pool
        found[server.guid].append(
            Finding(
                cause=exclusion.reason.value,
                severity=severity,
                affects=others(seeing, server),
                evidence=(
                    f"{server.name}: {exclusion.detail} (Location {server.location.dn}, "
                    f"read on {server.ref.dc})."
                ),
                fix=fix,
            )
        )
    return found


def _exclusion_fix(
    exclusion: Exclusion, server: Server, primaries: _Primaries, members: frozenset[str]
) -> str:
    name = server.name
    reason = exclusion.reason
    if reason is ExclusionReason.POOLING_DISABLED:
        return (
            f"Install a license file with LicPoolingIsEnabled=1 on {name} (Unity's "
            "Install License File wizard), then run `poolsync resync`."
        )
    if reason is ExclusionReason.VERSION_UNSUPPORTED:
        return f"License pooling needs Cisco Unity 4.0 or later: upgrade {name}."
    if reason is ExclusionReason.FAILOVER_SECONDARY:
        return _failover_fix(server, primaries, members)
    if reason is ExclusionReason.ATTACHMENT_TOO_LARGE:
        return (
            f"A real pooling attachment is a few kilobytes: this one is not Unity's. "
            f"Find who wrote it (the Location's whenChanged, the DC's audit log), then "
            f"have {name} republish its own (DOHPropTest's Total Resync on {name}, or "
            "restart its license service) and run `poolsync resync --total`."
        )
    return (
        f"{name} republishes its pooling attachment when its license service restarts "
        f"(the classic fix: DOHPropTest's Total Resync on {name}); then run "
        "`poolsync resync --total`."
    )


def _failover_fix(server: Server, primaries: _Primaries, members: frozenset[str]) -> str:
    """Nothing to do only when the pool really counts the secondary with its primary:
    the primary exists, is not the secondary itself, and is a pool member."""
    name = server.name
    primary = primaries.of(server)
    if primary is None:
        return (
            f"{name} is a failover secondary whose primary is not in the directory: "
            "check the failover pair's configuration."
        )
    if primary is server:
        return (
            f"{name} names itself as its failover primary, so its subscribers are "
            "counted in no pool: check the failover pair's configuration."
        )
    if primary.guid in members:
        return f"{COUNTED_WITH_PRIMARY} {name} is counted with its primary {primary.name}."
    if primary.location.failover_of is not None:
        return (
            f"{name}'s primary {primary.name} is itself a failover secondary, so "
            f"{name}'s subscribers are counted in no pool: check the failover pair's "
            "configuration."
        )
    return (
        f"Make {primary.name} a pool member first (see its own finding): {name}'s "
        f"subscribers are counted with {primary.name} only while it is one."
    )


class _Primaries:
    """Each secondary's primary, looked up in indexes built once (a scan of every
    server per secondary was quadratic)."""

    def __init__(self, servers: Sequence[Server]) -> None:
        self._by_object_id: dict[str, list[Server]] = defaultdict(list)
        self._by_guid: dict[str, list[Server]] = defaultdict(list)
        for s in servers:
            self._by_object_id[s.location.object_id].append(s)
            self._by_guid[s.guid.lower()].append(s)

    def of(self, server: Server) -> Server | None:
        """The Location the pool takes for ``server``'s primary, chosen as
        :func:`~poolsync.allocation.build_pool_report` chooses it: the object id named
        by ``failover_of``, non-secondaries first, then by (name, guid); an empty
        object id matches no Location (docs/allocation.md, rule 7)."""
        target = server.location.failover_of
        if not target:
            return None
        matches = self._by_object_id.get(target) or self._by_guid.get(target) or []
        return min(
            matches,
            default=None,
            key=lambda s: (s.location.failover_of is not None, s.location.name, s.guid),
        )


# --- published utilization ---------------------------------------------------------------


def published_stale(
    inp: DoctorInput, report: PoolReport, viewers: Sequence[Viewer], servers: Sequence[Server]
) -> dict[str, list[Finding]]:
    """``published-stale`` findings per member guid: none without a store, and none for
    a server whose Location the store does not hold."""
    found: dict[str, list[Finding]] = defaultdict(list)
    store = inp.store
    if store is None:
        return found
    by_guid = {s.guid: s for s in servers}
    seeing = viewing(viewers)
    # The store's subscriber counts say nothing about a server whose Location it does
    # not hold: its subscribers have not reached the store's DC either (replication).
    stored = {loc.guid for loc in store.locations}
    for pool in report.pools:
        for seats in pool.servers:
            if not seats.stale or seats.published_used is None or seats.guid not in stored:
                continue
            server = by_guid[seats.guid]
            also = f" and its failover secondary {seats.failover}" if seats.failover else ""
            sentences = [
                f"{seats.name} publishes {c.value} {seats.published_used.get(c)} in its "
                f"pooling attachment, but {seats.used.get(c)} {_SUBSCRIBERS[c]} are homed on "
                f"it{also} (poolsync's store, synced {iso(store.synced_at)})."
                for c in SEAT_CLASSES
                if c in seats.stale
            ]
            found[server.guid].append(
                Finding(
                    cause="published-stale",
                    severity="warning",
                    affects=others(seeing, server),
                    evidence=" ".join(sentences),
                    fix=(
                        f"{seats.name}'s own count is behind; it recounts when it republishes its "
                        f"pooling attachment (DOHPropTest's Total Resync on {seats.name}, or "
                        "restart its license service). poolsync already counts the directory's "
                        "truth."
                    ),
                )
            )
    return found


# --- expected servers without a Location --------------------------------------------------


def expected(
    inp: DoctorInput, servers: Sequence[Server], viewers: Sequence[Viewer]
) -> list[ServerHealth]:
    """One health entry per expected name (case-insensitive, first spelling kept) that
    no Location carries."""
    known = {s.name.lower() for s in servers}
    everyone = Viewers(members=True, count=len(viewing(viewers)))
    asked = sorted(
        {canon(inp.topology, p.dc) for p in inp.probes if p.error is None}, key=str.lower
    )
    failed = sorted(
        {canon(inp.topology, p.dc) for p in inp.probes if p.error is not None}, key=str.lower
    )
    health: list[ServerHealth] = []
    first: dict[str, str] = {}
    for name in inp.expected:
        first.setdefault(name.lower(), name)
    for key, name in first.items():
        if key in known:
            continue
        seen = sorted(
            (f for f in inp.foreign if f.server.lower() == name.lower()),
            key=lambda f: (f.forest, f.dn, f.dc),
        )
        if seen:
            finding = Finding(
                cause="other-forest",
                severity="error",
                affects=everyone,
                evidence=" ".join(
                    f"{name}'s Location {f.dn} is in forest {f.forest} (read on "
                    f"{f.dc}), not in {inp.forest}: one directory is one pool."
                    for f in seen
                ),
                fix=(
                    f"A Unity server pools only with servers of its own forest: move {name} "
                    f"(re-run Unity's directory setup against {inp.forest}) or accept two "
                    "pools."
                ),
            )
        else:
            unread = f"; {names(failed)} could not be read" if failed else ""
            finding = Finding(
                cause="location-missing",
                severity="error",
                affects=everyone,
                evidence=(
                    f"No Location named {name} on any DC asked ({names(asked) or 'none'}"
                    f"{unread})"
                    + (
                        f" nor in the other forests ({names(inp.other_forests)})."
                        if inp.other_forests
                        else "; no other forest is configured (doctor.other_forests)."
                    )
                ),
                fix=(
                    f"Check that {name}'s directory monitors point at {inp.forest} and that "
                    "its Location object exists, then run `poolsync resync --total`."
                ),
            )
        health.append(ServerHealth(name=name, guid=None, findings=(finding,)))
    return health


# --- subscribers whose home names no Location --------------------------------------------


def orphaned_subscribers(inp: DoctorInput, report: PoolReport) -> list[Finding]:
    """One forest finding when subscribers' homes match no Location: an error above
    ORPHAN_THRESHOLD of the subscribers (the pool's numbers are then unverified), a
    warning below it."""
    store = inp.store
    if store is None or report.orphaned.vm == 0:
        return []
    count, total = report.orphaned.vm, report.subscribers
    samples = "; ".join(f"{dn} (home {_home(key)})" for dn, key in store.orphans)
    no_home = "" in report.orphan_keys
    evidence = (
        f"{count:,} of {total:,} subscribers ({report.orphan_share:.1%}) have a home "
        "that matches no Location's object id or objectGUID"
        + (" (some have no home value at all)" if no_home else "")
        + f", so no pool counts them (poolsync's store, synced "
        f"{iso(store.synced_at)}). " + (f"For example: {samples}." if samples else "")
    )
    fix = (
        "Check the schema profile against the forest: `poolsync schema discover` shows "
        "which attribute holds each subscriber's home and which Location attribute "
        "(or objectGUID) it names; `poolsync schema discover --write-profile p.yaml` "
        "writes a profile to use. If the homes name Locations that were removed, move "
        "those subscribers to a live server in Unity."
    )
    return [
        Finding(
            cause="orphaned-subscribers",
            severity="error" if report.orphans_significant else "warning",
            affects=NO_VIEWERS,
            evidence=evidence,
            fix=fix,
        )
    ]


def _home(key: str) -> str:
    if not key:
        return "none"
    return key if len(key) <= 80 else key[:77] + "..."


# --- Locations that share a name ----------------------------------------------------------

#: The other Locations a ``duplicate-name`` finding names (the rest are counted).
DUPLICATES_NAMED: Final = 5


def duplicate_names(servers: Sequence[Server]) -> dict[str, list[Finding]]:
    """A ``duplicate-name`` warning on each Location whose name (case aside) another
    Location has too: reports and metrics tell them apart by objectGUID, but the
    config's server names (``doctor.monitors``, ``doctor.expected``) match them all,
    and an operator reading a report cannot. Linear: each finding names at most
    :data:`DUPLICATES_NAMED` of the others."""
    groups: dict[str, list[Server]] = defaultdict(list)
    for server in servers:
        groups[server.name.casefold()].append(server)
    found: dict[str, list[Finding]] = {}
    for group in groups.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda s: (s.location.dn.lower(), s.guid))
        for server in group:
            others = [s for s in group[: DUPLICATES_NAMED + 1] if s is not server]
            shown = "; ".join(
                f"{s.location.dn} (objectGUID {s.guid}, changed {iso(s.ref.copy.when_changed)})"
                for s in others[:DUPLICATES_NAMED]
            )
            more = len(group) - 1 - min(len(others), DUPLICATES_NAMED)
            found[server.guid] = [
                Finding(
                    cause="duplicate-name",
                    severity="warning",
                    affects=NO_VIEWERS,
                    evidence=(
                        f"{len(group)} Locations are named {server.name} (case aside): "
                        f"this one, {server.location.dn} (objectGUID {server.guid}, "
                        f"changed {iso(server.ref.copy.when_changed)}), and {shown}"
                        + (f" and {more} more" if more else "")
                        + ". poolsync tells them "
                        "apart by objectGUID; a name in the config matches them all."
                    ),
                    fix=(
                        "Find the Location the running server writes to (the one whose "
                        "subscribers are homed on it, usually changed last) and remove the "
                        "others, left by a reinstall or a restore, with the Unity tools; "
                        "poolsync only reads the directory."
                    ),
                )
            ]
    return found
