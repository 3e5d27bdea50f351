"""Why a Unity server is missing from the pool: the doctor's pure classifier.

:func:`diagnose` takes what every DC and Global Catalog answered
(:class:`~poolsync.doctor.model.DoctorInput`) and returns one
:class:`~poolsync.doctor.model.DoctorReport`: per server its findings (cause code,
severity, which viewers are affected, evidence, fix) and per pool member what its
Global Catalog holds. No I/O and no clock (``inp.now`` stamps the report), so the same
input always gives the same report.

Each cause code comes from exactly one rule:

- exclusions from the pool rules (``pooling-disabled``, ``version-unsupported``,
  ``attachment-missing``, ``attachment-corrupt``, ``failover-secondary``);
- a viewer's GC without the server's current Location (``replication-pending`` when a
  usable chain of connections leads there, ``no-replication-path`` when none does);
- poolsync's own store behind its GC (``stale-mirror``);
- expected names without a Location (``other-forest``, ``location-missing``);
- published utilization that disagrees with the store (``published-stale``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from poolsync.allocation import Exclusion, ExclusionReason, PoolReport, build_pool_report
from poolsync.doctor.model import (
    CAUSES,
    SEVERITIES,
    DcProbe,
    DoctorInput,
    DoctorReport,
    Finding,
    LocationCopy,
    ServerHealth,
    Severity,
    StoreView,
    Visibility,
)
from poolsync.errors import UserError
from poolsync.forest import ForestConfig, behind
from poolsync.model import SEAT_CLASSES, Location, SeatClass

__all__ = ["diagnose"]

_EPOCH: Final = dt.datetime.min.replace(tzinfo=dt.UTC)
#: replPropertyMetaData attid of objectClass: its originating DC created the object.
_OBJECT_CLASS_ATTID: Final = 0

_EXCLUSION_SEVERITY: Final[dict[ExclusionReason, Severity]] = {
    ExclusionReason.FAILOVER_SECONDARY: "info",
    ExclusionReason.POOLING_DISABLED: "warning",
    ExclusionReason.VERSION_UNSUPPORTED: "error",
    ExclusionReason.ATTACHMENT_MISSING: "error",
    ExclusionReason.ATTACHMENT_CORRUPT: "error",
}
_SUBSCRIBERS: Final = {SeatClass.VM: "subscribers", SeatClass.UM: "UM subscribers",
                       SeatClass.INBOX: "Inbox subscribers"}


# --- what was read -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Copy:
    """A Location copy with the probe it came from (GC port or not matters)."""

    copy: LocationCopy
    probe: DcProbe
    dc: str  # the copy's DC, as the forest configuration names it


@dataclass(frozen=True, slots=True)
class _Server:
    guid: str
    ref: _Copy
    copies: tuple[_Copy, ...]
    home: str

    @property
    def name(self) -> str:
        return self.ref.copy.location.name

    @property
    def location(self) -> Location:
        return self.ref.copy.location

    def holders(self) -> list[str]:
        return sorted({c.dc for c in self.copies}, key=str.lower)


@dataclass(frozen=True, slots=True)
class _Viewer:
    server: _Server
    gc: str | None
    probe: DcProbe | None


@dataclass(frozen=True, slots=True)
class _Gap:
    """What one GC lacks of one server: its cause, evidence sentence and fix (for a
    pending change, the hops to replicate along, so that GCs sharing a hop share it)."""

    cause: str
    sentence: str
    fix: tuple[str, ...] = ()
    hops: tuple[tuple[str, str], ...] = ()
    nc: str = ""


def _canon(topology: ForestConfig, name: str) -> str:
    dc = topology.dc(name)
    return dc.name if dc is not None else name


def _when(copy: _Copy) -> dt.datetime:
    return copy.copy.when_changed or copy.copy.when_created or _EPOCH


def _iso(moment: dt.datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "an unknown time"


def _names(names: Iterable[str]) -> str:
    return ", ".join(names)


def _where(probe: DcProbe) -> str:
    return f"{probe.dc}'s Global Catalog" if probe.gc else probe.dc


def _lacks(copy: _Copy, newer: _Copy, pas: frozenset[int]) -> list[int]:
    """The attids on which ``copy`` lacks a change ``newer`` holds. A copy read through
    a GC port is not blamed for attributes no GC copy holds at all (outside the partial
    attribute set, a GC never receives them)."""
    if not copy.copy.stamps or not newer.copy.stamps:
        return []
    missing = behind(copy.copy.stamps, newer.copy.stamps)
    if copy.probe.gc:
        have = {s.attid for s in copy.copy.stamps}
        missing = [a for a in missing if a in have or a in pas]
    return missing


def _older(copy: _Copy, newer: _Copy, pas: frozenset[int]) -> bool:
    if copy.copy.stamps and newer.copy.stamps:
        return bool(_lacks(copy, newer, pas))
    return _when(copy) < _when(newer)


def _copies(inp: DoctorInput) -> dict[str, list[_Copy]]:
    by_guid: dict[str, list[_Copy]] = defaultdict(list)
    for probe in inp.probes:
        if probe.error is None:
            for copy in probe.copies:
                by_guid[copy.location.guid].append(
                    _Copy(copy, probe, _canon(inp.topology, copy.dc)))
    return by_guid


def _partial_attributes(copies: Mapping[str, Sequence[_Copy]]) -> frozenset[int]:
    return frozenset(s.attid for cs in copies.values() for c in cs if c.probe.gc
                     for s in c.copy.stamps)


def _monitored_dc(inp: DoctorInput, name: str) -> str | None:
    for monitor in inp.monitors:
        if monitor.server.lower() == name.lower() and monitor.dc is not None:
            dc = inp.topology.dc(monitor.dc)
            if dc is not None:
                return dc.name
    return None


def _creator(inp: DoctorInput, copies: Sequence[_Copy]) -> str | None:
    """The DC whose invocation id originated objectClass (the DC that created it)."""
    stamps = [s for c in copies for s in c.copy.stamps if s.attid == _OBJECT_CLASS_ATTID]
    if not stamps:
        return None
    stamp = max(stamps, key=lambda s: (s.version, s.changed, s.origin))
    dc = inp.topology.dc_by_invocation(stamp.origin)
    return dc.name if dc is not None else None


def _reference(copies: Sequence[_Copy], hint: str | None, pas: frozenset[int]) -> _Copy:
    """The freshest copy: the fewest other copies ahead of it (none, unless copies
    diverge), then the home DC's copy, then by DC name."""
    def key(c: _Copy) -> tuple[int, bool, str, bool, str]:
        ahead = sum(1 for o in copies if o is not c and _older(c, o, pas))
        home = hint is not None and c.dc.lower() == hint.lower()
        return ahead, not home, c.dc.lower(), c.probe.gc, c.probe.url
    return min(copies, key=key)


def _servers(inp: DoctorInput, copies: Mapping[str, Sequence[_Copy]],
             pas: frozenset[int]) -> list[_Server]:
    servers: list[_Server] = []
    for guid, held in copies.items():
        names = sorted({c.copy.location.name for c in held})
        hint = next((d for d in (_monitored_dc(inp, n) for n in names) if d), None)
        ref = _reference(held, hint or _creator(inp, held), pas)
        home = _monitored_dc(inp, ref.copy.location.name) or _creator(inp, held) or ref.dc
        servers.append(_Server(guid, ref, tuple(held), home))
    return sorted(servers, key=lambda s: (s.name.lower(), s.guid))


def _probe_for(inp: DoctorInput, dc: str) -> DcProbe | None:
    """The successful probe of ``dc``, its GC port preferred."""
    ok = [p for p in inp.probes if p.error is None
          and _canon(inp.topology, p.dc).lower() == dc.lower()]
    ok.sort(key=lambda p: (not p.gc, p.url))
    return ok[0] if ok else None


# --- exclusions (pool rules) -----------------------------------------------------------


def _exclusion_fix(exclusion: Exclusion, server: _Server, servers: Sequence[_Server]) -> str:
    name = server.name
    reason = exclusion.reason
    if reason is ExclusionReason.POOLING_DISABLED:
        return (f"Install a license file with LicPoolingIsEnabled=1 on {name} (Unity's "
                "Install License File wizard), then run `poolsync resync`.")
    if reason is ExclusionReason.VERSION_UNSUPPORTED:
        return f"License pooling needs Cisco Unity 4.0 or later: upgrade {name}."
    if reason is ExclusionReason.FAILOVER_SECONDARY:
        primary = _primary(server, servers)
        if primary is None:
            return (f"{name} is a failover secondary whose primary is not in the directory: "
                    "check the failover pair's configuration.")
        return f"None needed: {name} is counted with its primary {primary.name}."
    return (f"{name} republishes its pooling attachment when its license service restarts "
            f"(the classic fix: DOHPropTest's Total Resync on {name}); then run "
            "`poolsync resync --total`.")


def _primary(server: _Server, servers: Sequence[_Server]) -> _Server | None:
    target = server.location.failover_of
    matches = [s for s in servers if s.location.object_id == target and s is not server]
    matches.sort(key=lambda s: s.location.failover_of is not None)
    return matches[0] if matches else None


def _exclusions(report: PoolReport, servers: Sequence[_Server],
                viewers: Sequence[_Viewer]) -> dict[str, list[Finding]]:
    by_guid = {s.guid: s for s in servers}
    found: dict[str, list[Finding]] = defaultdict(list)
    for exclusion in report.excluded:
        server = by_guid[exclusion.guid]
        found[server.guid].append(Finding(
            cause=exclusion.reason.value,
            severity=_EXCLUSION_SEVERITY[exclusion.reason],
            viewers=_others(viewers, server),
            evidence=(f"{server.name}: {exclusion.detail} (Location {server.location.dn}, "
                      f"read on {server.ref.dc})."),
            fix=_exclusion_fix(exclusion, server, servers),
        ))
    return found


def _others(viewers: Sequence[_Viewer], server: _Server) -> tuple[str, ...]:
    return tuple(v.server.name for v in viewers if v.server.guid != server.guid)


# --- viewers and their Global Catalogs -------------------------------------------------


def _viewers(inp: DoctorInput, members: Sequence[_Server]) -> tuple[list[_Viewer], list[str]]:
    viewers: list[_Viewer] = []
    notes: list[str] = []
    for server in members:
        configured = next((m.gc for m in inp.monitors
                           if m.server.lower() == server.name.lower() and m.gc), None)
        gc = configured or inp.default_gc
        gc = _canon(inp.topology, gc) if gc else None
        probe = _probe_for(inp, gc) if gc else None
        viewers.append(_Viewer(server, gc, probe))
        if gc is None:
            notes.append(f"{server.name} has no Global Catalog to check: no GC monitor is "
                         "configured for it and there is no default GC.")
        elif probe is None:
            asked = any(_canon(inp.topology, p.dc).lower() == gc.lower() for p in inp.probes)
            why = "could not be read" if asked else "was not asked"
            notes.append(f"{server.name}'s Global Catalog {gc} {why}, so what {server.name} "
                         "sees was not checked.")
    return viewers, notes


# --- replication: what each viewer's GC lacks ------------------------------------------


def _naming_context(dn: str) -> str:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in dn + ",":
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == ",":
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    return ",".join("DC=" + p.partition("=")[2].strip() for p in parts
                    if p.partition("=")[0].strip().lower() == "dc")


def _source(inp: DoctorInput, server: _Server, holders: Sequence[str], gc: str) -> str:
    """Where the change should come from: the home DC when it holds it, else the first
    holder with a path to ``gc``, else the first holder."""
    if any(h.lower() == server.home.lower() for h in holders):
        return server.home
    reach = [h for h in holders if inp.topology.replication_path(h, gc)]
    return (reach or list(holders))[0]


_PARTIAL_FIX: Final = ("Check that the Location's attributes are in the partial attribute set "
                       "(replicated to the Global Catalog), or wait for the Global Catalog to "
                       "finish building its partial replica.")


def _pending_fix(hops: Sequence[tuple[str, str]], nc: str) -> tuple[str, ...]:
    """Replicate hop by hop: each hop has a usable connection, so the DCs know it."""
    if not hops:
        return ()
    windows = " then ".join(f"`repadmin /replicate {b} {a} {nc}`" for a, b in hops)
    samba = " then ".join(f"`samba-tool drs replicate {b} {a} {nc}`" for a, b in hops)
    lab = " then ".join(f"`poolsync lab replicate --from {a} --to {b}`" for a, b in hops)
    return (f"Replicate now: {windows} (Windows) or {samba} (Samba), or wait for the next "
            "scheduled replication.", f"In a poolsync lab: {lab}.")


def _options_fix(dc: str, option: str) -> str:
    return (f"Re-enable {option.split('_')[1].lower()} replication on {dc}: "
            f"`repadmin /options {dc} -{option}` (Windows) or "
            f"`samba-tool drs options {dc} --dsa-option=-{option}` (Samba).")


def _kcc(dc: str) -> str:
    return f"`repadmin /kcc {dc}` / `samba-tool drs kcc {dc}`"


def _path_problems(topology: ForestConfig, source: str,
                   gc: str) -> tuple[list[str], list[str]]:
    """Sentences and fixes for why nothing from ``source`` reaches ``gc``: the GC's own
    inbound problems, else those of the DCs that can still reach it."""
    if topology.dc(source) is None:
        return ([f"{source} is not a domain controller in the forest configuration read"],
                [f"Check the forest configuration: {source} holds the Location but is not "
                 "listed as a domain controller."])
    problems = topology.inbound_problems(gc)
    examined = [gc]
    if not problems:
        reachers = [d.name for d in topology.dcs
                    if d.name != gc and topology.replication_path(d.name, gc)]
        if reachers:
            problems.append(f"only {_names(reachers)} can send changes to {gc}, and none "
                            f"of them is reachable from {source}")
        else:
            problems.append(f"no other DC can send changes to {gc}")
        for dc in reachers:
            problems += topology.inbound_problems(dc)
        examined += reachers
    src = topology.dc(source)
    if src is not None and src.outbound_disabled and not any(
            p.startswith(f"{src.name} has outbound") for p in problems):
        problems.append(f"{src.name} has outbound replication disabled "
                        "(DISABLE_OUTBOUND_REPL), so nothing leaves it")
    return problems, _path_fixes(topology, source, gc, examined)


def _path_fixes(topology: ForestConfig, source: str, gc: str,
                examined: Sequence[str]) -> list[str]:
    fixes: list[str] = []
    for name in examined:
        dc = topology.dc(name)
        if dc is None:
            continue
        if dc.inbound_disabled:
            fixes.append(_options_fix(dc.name, "DISABLE_INBOUND_REPL"))
        inbound = [c for c in topology.connections if c.target == dc.name]
        if not inbound:
            fixes.append(f"Create a replication connection into {dc.name} (Active Directory "
                         f"Sites and Services) or run the KCC: {_kcc(dc.name)}.")
        for conn in inbound:
            if not conn.enabled:
                fixes.append(f"Set enabledConnection TRUE on {conn.dn}, or let the KCC "
                             f"rebuild it: {_kcc(conn.target)}.")
            sender = topology.dc(conn.source)
            if sender is not None and sender.outbound_disabled:
                fixes.append(_options_fix(sender.name, "DISABLE_OUTBOUND_REPL"))
    src = topology.dc(source)
    if src is not None and src.outbound_disabled:
        fixes.append(_options_fix(src.name, "DISABLE_OUTBOUND_REPL"))
    if not fixes:
        fixes.append(f"Make sure a chain of enabled replication connections leads from "
                     f"{source} to {gc} (Active Directory Sites and Services), or run the "
                     f"KCC: {_kcc(gc)}.")
    return list(dict.fromkeys(fixes))


def _stale_fields(copy: Location, ref: Location) -> list[str]:
    fields = ("dn", "name", "object_id", "version", "failover_of")
    differ = [f for f in fields if getattr(copy, f) != getattr(ref, f)]
    if _attachment_bytes(copy.attachment) != _attachment_bytes(ref.attachment):
        differ.append("attachment")
    return differ


def _attachment_bytes(value: str | bytes | None) -> bytes | None:
    return value.encode("utf-8") if isinstance(value, str) else value


def _lag(copy: _Copy, ref: _Copy, pas: frozenset[int]) -> tuple[str, dt.datetime | None] | None:
    """How ``copy`` is behind ``ref`` (words, and since when), or None when current."""
    if copy is ref:
        return None
    if copy.copy.stamps and ref.copy.stamps:
        lacking = _lacks(copy, ref, pas)
        if not lacking:
            return None
        latest = max(s.changed for s in ref.copy.stamps if s.attid in lacking)
        attids = ", ".join(str(a) for a in sorted(lacking))
        count = f"{len(lacking)} attribute{'' if len(lacking) == 1 else 's'}"
        return f"{count} behind {ref.dc}'s copy (attid {attids})", latest
    differ = _stale_fields(copy.copy.location, ref.copy.location)
    if not differ or _when(copy) >= _when(ref):
        return None
    since = ref.copy.when_changed or ref.copy.when_created
    return f"it differs from {ref.dc}'s copy in {', '.join(differ)}", since


def _changed(copy: _Copy) -> dt.datetime | None:
    stamps = copy.copy.stamps
    if stamps:
        return max(s.changed for s in stamps)
    return copy.copy.when_changed or copy.copy.when_created


def _gap(inp: DoctorInput, server: _Server, probe: DcProbe,
         pas: frozenset[int]) -> _Gap | None:
    gc = _canon(inp.topology, probe.dc)
    held = next((c for c in server.copies if c.probe is probe), None)
    dn = server.location.dn
    if held is None:
        holders = server.holders()
        what = f"Location {dn} is on {_names(holders)} but not on {_where(probe)}"
        since = _changed(server.ref)
    else:
        lag = _lag(held, server.ref, pas)
        if lag is None:
            return None
        holders = sorted({c.dc for c in server.copies
                          if _lag(c, server.ref, pas) is None}, key=str.lower)
        what = f"{_where(probe)} holds an older copy of {dn}: {lag[0]}"
        since = lag[1]
    source = _source(inp, server, holders, gc)
    path = inp.topology.replication_path(source, gc)
    nc = _naming_context(dn)
    if path is not None:
        how = (f"it replicates {' -> '.join(path)}" if len(path) > 1 else
               f"{gc} holds it, but its Global Catalog does not return it")
        return _Gap("replication-pending", f"{what}; {how}, pending since {_iso(since)}.",
                    fix=() if len(path) > 1 else (_PARTIAL_FIX,),
                    hops=tuple(pairwise(path)), nc=nc)
    problems, fixes = _path_problems(inp.topology, source, gc)
    return _Gap("no-replication-path",
                f"{what}, and no replication path leads from {source} to {gc}: "
                f"{'; '.join(problems)}.", fix=tuple(fixes))


def _replication(inp: DoctorInput, servers: Sequence[_Server], viewers: Sequence[_Viewer],
                 pas: frozenset[int]) -> tuple[dict[str, list[Finding]], list[Visibility]]:
    gaps: dict[int, dict[str, _Gap | None]] = {}
    for viewer in viewers:
        if viewer.probe is not None and id(viewer.probe) not in gaps:
            gaps[id(viewer.probe)] = {s.guid: _gap(inp, s, viewer.probe, pas) for s in servers}
    # (guid, cause) -> gc -> (gap, viewers)
    grouped: dict[tuple[str, str], dict[str, tuple[_Gap, list[str]]]] = defaultdict(dict)
    rows: list[Visibility] = []
    for viewer in viewers:
        if viewer.probe is None:
            rows.append(Visibility(viewer.server.name, viewer.gc or "", (), (), reachable=False))
            continue
        on_gc = gaps[id(viewer.probe)]
        gc = viewer.gc or viewer.probe.dc
        for server in servers:
            gap = on_gc[server.guid]
            if gap is not None:
                entry = grouped[(server.guid, gap.cause)].setdefault(gc, (gap, []))
                entry[1].append(viewer.server.name)
        sees = [s.name for s in servers if on_gc[s.guid] is None]
        missing = [s.name for s in servers if on_gc[s.guid] is not None]
        rows.append(Visibility(viewer.server.name, gc, _sorted(sees), _sorted(missing)))
    severity: dict[str, Severity] = {"replication-pending": "warning",
                                     "no-replication-path": "error"}
    found: dict[str, list[Finding]] = defaultdict(list)
    for (guid, cause), per_gc in grouped.items():
        entries = [per_gc[gc] for gc in sorted(per_gc, key=str.lower)]
        found[guid].append(Finding(
            cause=cause,
            severity=severity[cause],
            viewers=_sorted({v for _, vs in entries for v in vs}),
            evidence=" ".join(gap.sentence for gap, _ in entries),
            fix=_fix([gap for gap, _ in entries]),
        ))
    return found, sorted(rows, key=lambda r: (r.viewer.lower(), r.viewer))


def _fix(gaps: Sequence[_Gap]) -> str:
    hops = list(dict.fromkeys(h for gap in gaps for h in gap.hops))
    lines = [*_pending_fix(hops, gaps[0].nc), *(f for gap in gaps for f in gap.fix)]
    return "\n".join(dict.fromkeys(lines))


def _sorted(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(names, key=lambda n: (n.lower(), n)))


# --- poolsync's own store ---------------------------------------------------------------


def _before_last_read(copy: LocationCopy, store: StoreView) -> bool | None:
    """Whether the store's last GC pass should have taken this version of the copy: by
    the pass's watermark when both USNs are known (they are the same DC's), else by
    time; None when neither says."""
    if store.usn is not None and copy.usn_changed is not None:
        return copy.usn_changed <= store.usn
    changed = copy.when_changed or copy.when_created
    if store.synced_at is not None and changed is not None:
        return changed < store.synced_at
    return None


def _stale_mirror(inp: DoctorInput, servers: Sequence[_Server]) -> dict[str, list[Finding]]:
    store = inp.store
    found: dict[str, list[Finding]] = defaultdict(list)
    if store is None or store.gc is None:
        return found
    gc = _canon(inp.topology, store.gc)
    probe = _probe_for(inp, gc)
    if probe is None:
        return found
    stored = {loc.guid: loc for loc in store.locations}
    mark = f" (watermark USN {store.usn})" if store.usn is not None else ""
    for server in servers:
        copy = next((c.copy for c in server.copies if c.probe is probe), None)
        if copy is None:
            continue
        mine = stored.get(server.guid)
        taken = _before_last_read(copy, store)
        if mine is None:
            if taken is False:
                continue  # changed after the last read: the next sync takes it
            why = "does not have it: the watermark skipped it"
        else:
            differ = _stale_fields(mine, copy.location)
            if not differ or not taken:
                continue
            why = (f"holds an older version (differs in {', '.join(differ)}): the watermark "
                   "skipped the change")
        usn = copy.usn_changed if copy.usn_changed is not None else "?"
        found[server.guid].append(Finding(
            cause="stale-mirror", severity="error", viewers=("poolsync",),
            evidence=(f"{server.name}'s Location {copy.location.dn} is on {_where(probe)} "
                      f"(uSNChanged {usn}, changed {_iso(copy.when_changed)}), but "
                      f"poolsync's store, last read from {gc} at {_iso(store.synced_at)}"
                      f"{mark}, {why}."),
            fix="Run `poolsync resync --total` to throw the watermark away and re-read "
                "everything.",
        ))
    return found


def _published_stale(inp: DoctorInput, report: PoolReport, viewers: Sequence[_Viewer],
                     servers: Sequence[_Server]) -> dict[str, list[Finding]]:
    found: dict[str, list[Finding]] = defaultdict(list)
    store = inp.store
    if store is None:
        return found
    by_guid = {s.guid: s for s in servers}
    for pool in report.pools:
        for seats in pool.servers:
            if not seats.stale or seats.published_used is None:
                continue
            server = by_guid[seats.guid]
            also = f" and its failover secondary {seats.failover}" if seats.failover else ""
            sentences = [
                f"{seats.name} publishes {c.value} {seats.published_used.get(c)} in its "
                f"pooling attachment, but {seats.used.get(c)} {_SUBSCRIBERS[c]} are homed on "
                f"it{also} (poolsync's store, synced {_iso(store.synced_at)})."
                for c in SEAT_CLASSES if c in seats.stale
            ]
            found[server.guid].append(Finding(
                cause="published-stale", severity="warning", viewers=_others(viewers, server),
                evidence=" ".join(sentences),
                fix=(f"{seats.name}'s own count is behind; it recounts when it republishes its "
                     f"pooling attachment (DOHPropTest's Total Resync on {seats.name}, or "
                     "restart its license service). poolsync already counts the directory's "
                     "truth."),
            ))
    return found


# --- expected servers without a Location --------------------------------------------------


def _expected(inp: DoctorInput, servers: Sequence[_Server],
              viewers: Sequence[_Viewer]) -> list[ServerHealth]:
    known = {s.name.lower() for s in servers}
    everyone = _sorted(v.server.name for v in viewers)
    asked = sorted({_canon(inp.topology, p.dc) for p in inp.probes if p.error is None},
                   key=str.lower)
    failed = sorted({_canon(inp.topology, p.dc) for p in inp.probes if p.error is not None},
                    key=str.lower)
    health: list[ServerHealth] = []
    for name in dict.fromkeys(inp.expected):
        if name.lower() in known:
            continue
        seen = sorted((f for f in inp.foreign if f.server.lower() == name.lower()),
                      key=lambda f: (f.forest, f.dn, f.dc))
        if seen:
            finding = Finding(
                cause="other-forest", severity="error", viewers=everyone,
                evidence=" ".join(f"{name}'s Location {f.dn} is in forest {f.forest} (read on "
                                  f"{f.dc}), not in {inp.forest}: one directory is one pool."
                                  for f in seen),
                fix=(f"A Unity server pools only with servers of its own forest: move {name} "
                     f"(re-run Unity's directory setup against {inp.forest}) or accept two "
                     "pools."),
            )
        else:
            unread = f"; {_names(failed)} could not be read" if failed else ""
            finding = Finding(
                cause="location-missing", severity="error", viewers=everyone,
                evidence=(f"No Location named {name} on any DC asked ({_names(asked) or 'none'}"
                          f"{unread}) "
                          "nor in the other forests."),
                fix=(f"Check that {name}'s directory monitors point at {inp.forest} and that "
                     "its Location object exists, then run `poolsync resync --total`."),
            )
        health.append(ServerHealth(name=name, guid=None, findings=(finding,)))
    return health


# --- putting it together ------------------------------------------------------------------


def _finding_key(finding: Finding) -> tuple[int, int]:
    return SEVERITIES.index(finding.severity), CAUSES.index(finding.cause)


def _worst(health: ServerHealth) -> int:
    return min((SEVERITIES.index(f.severity) for f in health.findings),
               default=len(SEVERITIES))


def _notes(inp: DoctorInput, gc_notes: Sequence[str]) -> tuple[str, ...]:
    notes = [f"{p.dc} ({p.url}) could not be read: {p.error}"
             for p in sorted(inp.probes, key=lambda p: (p.dc.lower(), p.url))
             if p.error is not None]
    notes += gc_notes
    if inp.store is None:
        notes.append("no committed sync in the store: stale-mirror and published-stale "
                     "were not checked")
    return tuple(notes)


def _only(report: DoctorReport, only: str) -> DoctorReport:
    key = only.lower()
    servers = tuple(s for s in report.servers if s.name.lower() == key)
    if not servers:
        names = _names(_sorted({s.name for s in report.servers})) or "none"
        raise UserError(f"no server named {only!r} in forest {report.forest} "
                        f"(servers found or expected: {names})")
    rows = tuple(v for v in report.visibility if v.viewer.lower() == key
                 or key in {n.lower() for n in (*v.sees, *v.missing)})
    return DoctorReport(report.forest, report.generated, rows, servers, report.notes)


def diagnose(inp: DoctorInput, *, only: str | None = None) -> DoctorReport:
    """Why each Unity server of ``inp.forest`` is (not) seen in the pool, with evidence.

    ``only`` (a server name, case-insensitive) keeps that server's health and the
    visibility rows that concern it; a name that is neither found nor expected is a
    :class:`~poolsync.errors.UserError`.
    """
    copies = _copies(inp)
    pas = _partial_attributes(copies)
    servers = _servers(inp, copies, pas)
    homed = inp.store.homed if inp.store is not None else {}
    report = build_pool_report(inp.forest, [s.location for s in servers], homed)
    excluded = {e.guid for e in report.excluded}
    viewers, gc_notes = _viewers(inp, [s for s in servers if s.guid not in excluded])
    replication, visibility = _replication(inp, servers, viewers, pas)
    found: dict[str, list[Finding]] = defaultdict(list)
    for part in (_exclusions(report, servers, viewers), replication,
                 _stale_mirror(inp, servers),
                 _published_stale(inp, report, viewers, servers)):
        for guid, findings in part.items():
            found[guid] += findings
    health = [ServerHealth(s.name, s.guid, tuple(sorted(found[s.guid], key=_finding_key)))
              for s in servers]
    health += _expected(inp, servers, viewers)
    health.sort(key=lambda h: (_worst(h), h.name.lower(), h.name, h.guid or ""))
    result = DoctorReport(inp.forest, inp.now, tuple(visibility), tuple(health),
                          _notes(inp, gc_notes))
    return _only(result, only) if only is not None else result
