"""What each Unity server says about its own license, beside the directory's copy (pure).

The servers' own readings (``servers probe``, the latest per server and source, in
:class:`~poolsync.doctor.model.ServerReadings`) are indexed by server name once, then
each Location with a configured server and a reading is looked at once: linear in the
servers. Three causes:

- ``attachment-not-published`` (error): the server's reading says its license enables
  pooling, but its Location carries no pooling attachment, or one that says pooling is
  disabled. It takes the place of the pool rule's ``attachment-missing`` or
  ``pooling-disabled`` finding for that server (:data:`SUPERSEDES`): the same fact with
  the server's word as evidence, and ``pooling-disabled``'s fix (install a license
  with pooling) would be wrong, the server has one.
- ``attachment-differs`` (warning): the copy and the reading disagree on licensed seats
  (vm, um, inbox), the pooling flag or the secondary flag. Published utilization is
  listed too when something else differs; alone it drifts between publishes and is
  ``published-stale``'s business.
- ``server-unreachable`` (info): no configured endpoint of the server gave a reading
  in its latest probe. Each endpoint is told as it was: did not answer, answered with
  an error (HTTP 500, noSuchInstance: it *is* reachable), or was not asked because a
  secret reference could not be resolved.

A reading older than the copy's whenChanged is not compared (the server may have
published since): a note says so. Servers without a reading get no finding.

Internal to :mod:`poolsync.doctor`; the entry point is
:func:`poolsync.doctor.causes.diagnose`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from poolsync.attachment import LicenseData, parse_attachment
from poolsync.doctor.model import NO_VIEWERS, DoctorInput, Finding, ServerReadings, Viewers
from poolsync.doctor.pool import others, viewing
from poolsync.doctor.servers import Server, Viewer, iso, sorted_names
from poolsync.errors import AttachmentError
from poolsync.model import SEAT_CLASSES, SeatClass
from poolsync.servers.endpoints import ServerEndpoints
from poolsync.servers.model import SOURCES, ServerReading, Source

__all__ = ["SUPERSEDES", "Live", "live_findings"]

#: The pool rules' exclusion causes ``attachment-not-published`` replaces.
SUPERSEDES: Final = frozenset({"attachment-missing", "pooling-disabled"})
#: A reading's error from a secret reference that could not be resolved: it names the
#: config key (``FILE: servers.NAME.snmp.auth.password: ...``), or, for a reference
#: built without one, starts with what it could not read (poolsync.secrets). A server's
#: own errors start with its endpoint (``https://...``, ``snmp://...``) instead.
_SECRET: Final = re.compile(
    r"(?:^|: )servers\..+\.(?:http|snmp)\.(?:auth\.|priv\.)?(?:password|community): "
    r"|^(?:environment variable |secret file |secret command)"
)
_PROBE: Final = "`poolsync servers probe`"
#: How many servers a note names; the rest are counted.
NAMED: Final = 10


@dataclass(slots=True)
class Live:
    """What :func:`live_findings` found: findings per server guid, the guids whose
    exclusion finding ``attachment-not-published`` replaces, and notes."""

    found: dict[str, list[Finding]] = field(default_factory=lambda: defaultdict(list))
    superseded: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def _index(
    live: ServerReadings,
) -> tuple[dict[str, ServerEndpoints], dict[str, list[ServerReading]]]:
    """The configured servers, and their readings over configured endpoints only, both
    by lower-case name (a reading of an endpoint since removed from the config says
    nothing about the server now)."""
    configured: dict[str, ServerEndpoints] = {}
    for server in live.servers:
        configured.setdefault(server.name.lower(), server)
    readings: dict[str, list[ServerReading]] = defaultdict(list)
    for reading in live.readings:
        endpoints = configured.get(reading.server.lower())
        if endpoints is not None and _has(endpoints, reading.source):
            readings[reading.server.lower()].append(reading)
    return configured, readings


def _has(server: ServerEndpoints, source: Source) -> bool:
    return (server.http if source == "http" else server.snmp) is not None


def _latest_good(readings: Sequence[ServerReading]) -> ServerReading | None:
    good = [r for r in readings if r.ok]
    return max(good, key=lambda r: (r.read_at, -SOURCES.index(r.source)), default=None)


def live_findings(inp: DoctorInput, servers: Sequence[Server], viewers: Sequence[Viewer]) -> Live:
    """The three live causes for every Location whose server is configured and read."""
    out = Live()
    live = inp.live
    if live is None or not live.servers:
        return out
    configured, readings = _index(live)
    if not readings:
        out.notes.append(
            f"no reading of the servers configured under servers: ({len(configured)}) is in "
            f"poolsync's store: run {_PROBE} to compare what each server says with its "
            "directory copy"
        )
        return out
    seeing = viewing(viewers)
    located: set[str] = set()
    older: list[str] = []
    for server in servers:
        key = server.name.lower()
        located.add(key)
        held = readings.get(key)
        if not held:
            continue
        reading = _latest_good(held)
        if reading is None:
            out.found[server.guid].append(_unreachable(server, held))
            continue
        changed = server.ref.copy.when_changed
        if changed is not None and reading.read_at < changed:
            older.append(
                f"{server.name}'s latest reading ({reading.source}, "
                f"{iso(reading.read_at)}) is older than its Location's copy "
                f"(whenChanged {iso(changed)})"
            )
            continue
        finding = _compare(server, reading, others(seeing, server))
        if finding is not None:
            out.found[server.guid].append(finding)
            if finding.cause == "attachment-not-published":
                out.superseded.add(server.guid)
    if older:
        pair = "they were not" if len(older) == 1 else "none of these was"
        out.notes.append(f"{_some(older, '; ')}, so {pair} compared: run {_PROBE}")
    unlocated = sorted_names(configured[k].name for k in readings if k not in located)
    if unlocated:
        out.notes.append(
            f"servers: names {_some(unlocated, ', ')}, read by {_PROBE}, but "
            "no Location carries that name: their readings were not compared"
        )
    return out


def _some(items: Sequence[str], sep: str) -> str:
    """Up to :data:`NAMED` of ``items``, the rest counted: a note stays short however
    many servers it is about."""
    more = len(items) - NAMED
    return sep.join(items[:NAMED]) + (f" and {more:,} more" if more > 0 else "")


# --- the directory's copy against the server's reading -----------------------------------


def _where(server: Server) -> str:
    copy = server.ref.copy
    return (
        f"its Location {copy.location.dn} (read on {server.ref.dc}, whenChanged "
        f"{iso(copy.when_changed)})"
    )


def _said(reading: ServerReading) -> str:
    return f"over {reading.source}, read {iso(reading.read_at)}"


def _compare(server: Server, reading: ServerReading, affects: Viewers) -> Finding | None:
    location = server.location
    name = server.name
    publish = (
        f"DOHPropTest's Total Resync on {name}, or restart its license service; "
        "then run `poolsync resync --total`."
    )
    if location.attachment is None and location.attachment_refused is None:
        if not reading.pooling_enabled:
            return None  # not pooling, and nothing published: consistent
        return Finding(
            cause="attachment-not-published",
            severity="error",
            affects=affects,
            evidence=(
                f"{name} says its license enables pooling (LicPoolingIsEnabled 1, "
                f"{_said(reading)}), but {_where(server)} carries no pooling "
                "attachment: the other servers do not count it."
            ),
            fix=f"Have {name} publish its pooling attachment: {publish}",
        )
    if location.attachment is None:
        return None  # too large to read: attachment-too-large says so
    try:
        data = parse_attachment(location.attachment)
    except AttachmentError:
        return None  # attachment-corrupt says so
    differ = _differences(data, reading)
    if reading.pooling_enabled and not data.pooling_enabled:
        state = "absent" if "LicPoolingIsEnabled" not in data.licenses else "0"
        rest = [d for d in differ if not d.startswith("LicPoolingIsEnabled")]
        also = f" It differs in {'; '.join(rest)} too." if rest else ""
        return Finding(
            cause="attachment-not-published",
            severity="error",
            affects=affects,
            evidence=(
                f"{name} says its license enables pooling (LicPoolingIsEnabled 1, "
                f"{_said(reading)}), but the copy on {_where(server)} has "
                f"LicPoolingIsEnabled {state}: the other servers do not count it." + also
            ),
            fix=f"Have {name} publish its pooling attachment: {publish}",
        )
    if not differ:
        return None
    return Finding(
        cause="attachment-differs",
        severity="warning",
        affects=affects,
        evidence=(
            f"{name}'s own license ({_said(reading)}) and the copy on "
            f"{_where(server)} disagree, directory vs server: {'; '.join(differ)}. "
            "The other servers pool with the directory's copy."
        ),
        fix=(
            f"Have {name} republish its pooling attachment: {publish} If the server "
            "is the one that is wrong (a license file installed but not in effect), "
            f"check its license in Unity's Licensing pages, then run {_PROBE}."
        ),
    )


def _differences(data: LicenseData, reading: ServerReading) -> list[str]:
    """Directory vs server, field by field: licensed seats and the two flags; the
    published utilization only when one of those differs too."""
    differ: list[str] = []
    if reading.licensed is not None:
        differ += [
            f"licensed {c.value} {data.licensed.get(c)} vs {reading.licensed.get(c)}"
            for c in SEAT_CLASSES
            if data.licensed.get(c) != reading.licensed.get(c)
        ]
    flags = (
        ("LicPoolingIsEnabled", data.pooling_enabled, reading.pooling_enabled),
        ("LicSecondaryServerIsLicensed", data.secondary_licensed, reading.secondary_licensed),
    )
    differ += [
        f"{label} {int(mine)} vs {int(theirs)}"
        for label, mine, theirs in flags
        if theirs is not None and theirs != mine
    ]
    if differ and reading.published_used is not None and data.published_used is not None:
        # A Unity server publishes no UM use (its reading's um is always 0).
        for c in data.published_classes:
            if c is SeatClass.UM:
                continue
            mine, theirs = data.published_used.get(c), reading.published_used.get(c)
            if mine != theirs:
                differ.append(f"published {c.value} {mine} vs {theirs}")
    return differ


# --- servers whose own license could not be read -------------------------------------------


def _kind(reading: ServerReading) -> str:
    if _SECRET.search(reading.error or ""):
        return "secret"
    return "answered" if reading.reachable else "unreachable"


_KIND_WORDS: Final = {
    "unreachable": "did not answer",
    "answered": "answered with an error",
    "secret": "was not asked: a secret in the config could not be resolved",
}


def _unreachable(server: Server, held: Sequence[ServerReading]) -> Finding:
    name = server.name
    order = {s: i for i, s in enumerate(SOURCES)}
    held = sorted(held, key=lambda r: order[r.source])
    kinds = [_kind(r) for r in held]
    said = "; ".join(
        f"its {r.source} endpoint {_KIND_WORDS[k]} ({iso(r.read_at)}): {r.error}"
        for r, k in zip(held, kinds, strict=True)
    )
    fixes = []
    if "unreachable" in kinds:
        fixes.append(
            f"Check that {name} is up and that this host can reach it (a firewall, "
            f"IIS, the Windows SNMP service), then run {_PROBE}."
        )
    if "answered" in kinds:
        fixes.append(
            f"{name} answered, but not with its license: fix what the error says "
            f"(docs/servers.md lists each error), then run {_PROBE}."
        )
    if "secret" in kinds:
        fixes.append(
            "Fix the secret reference the error names (the config's servers: "
            f"section), then run {_PROBE}."
        )
    return Finding(
        cause="server-unreachable",
        severity="info",
        affects=NO_VIEWERS,
        evidence=(
            f"{name}'s own license could not be read, so it was not compared with "
            f"the copy on {_where(server)}: {said}. The pool counts the directory's "
            "copy meanwhile."
        ),
        fix="\n".join(fixes),
    )
