"""The lab topology file: which forest, which DC, which Unity servers with what licenses.

``poolsync lab`` builds a Samba AD domain from it: each server becomes one Location
object with its pooling attachment, and ``subscribers.vm`` users homed on it.
``docs/topology.md`` describes the format.

A server's licenses are either given as numbers (``licenses:``) or read from Unity
license files (``license_files:``), which are combined as a Unity server does on the
lab's date (``lab_date:``, default: the day the topology is loaded).

Each server with a license of its own also serves it itself, on a web page and over
SNMP (:mod:`poolsync.lab.unity`): by default what its Location's attachment says;
``live:`` makes it say other numbers (a stale or missing directory copy) and
``endpoints:`` leaves either interface unstarted or answering errors.

Entry points: :func:`load_topology`, :func:`normalize_mac` (from
:mod:`poolsync.licensing.mac`, re-exported here).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from poolsync.attachment import (
    POOLING_ENABLED,
    SECONDARY_LICENSED,
    SUBSCRIBERS_MAX,
    UM_SUBSCRIBERS_MAX,
    USED_SUBSCRIBERS,
    USED_UM_SUBSCRIBERS,
    USED_VMI_SUBSCRIBERS,
    VMI_SUBSCRIBERS_MAX,
    VOICE_PORTS_MAX,
)
from poolsync.config import forest_base_dn, is_dns_name
from poolsync.errors import LicenseFileError, TopologyError
from poolsync.forest import DEFAULT_SITE
from poolsync.licensing import check_licenses, read_license_file
from poolsync.licensing.check import EXPIRED, HOSTID_MISMATCH
from poolsync.licensing.files import EffectiveXml
from poolsync.licensing.flexlm import ANY, LicenseFile
from poolsync.licensing.mac import normalize_mac
from poolsync.model import Seats
from poolsync.yamlfile import Node, load_yaml_mapping

__all__ = [
    "ATTACHMENTS",
    "DEFAULT_SITE",
    "ENDPOINT_MODES",
    "DcSpec",
    "EndpointsSpec",
    "FaultSpec",
    "LicenseFilesSpec",
    "LicenseSpec",
    "LiveSpec",
    "ServerSpec",
    "Topology",
    "load_topology",
    "normalize_mac",
]

Attachment = Literal["ok", "missing", "corrupt"]
ATTACHMENTS: tuple[Attachment, ...] = ("ok", "missing", "corrupt")
AttachmentEncoding = Literal["utf-8", "utf-16"]
ATTACHMENT_ENCODINGS: tuple[AttachmentEncoding, ...] = ("utf-8", "utf-16")
SubscriberHomes = Literal["own", "unknown"]
SUBSCRIBER_HOMES: tuple[SubscriberHomes, ...] = ("own", "unknown")
EndpointMode = Literal["up", "down", "error"]
ENDPOINT_MODES: tuple[EndpointMode, ...] = ("up", "down", "error")
DEFAULT_VERSION = "4.0(5)"
NETBIOS_MAX = 15
MAX_DCS = 8

_SERVER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DC_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,13}[A-Za-z0-9])?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TOP_KEYS = (
    "forest",
    "dcs",
    "servers",
    "lab_date",
    "replication",
    "faults",
    "license_classes",
    "attachment_encoding",
)
_DC_KEYS = ("name", "site", "gc")
_SERVER_KEYS = (
    "name",
    "version",
    "mac",
    "pooling",
    "licenses",
    "license_files",
    "subscribers",
    "published",
    "attachment",
    "failover_of",
    "dc",
    "gc",
    "subscriber_homes",
    "live",
    "endpoints",
)
_SITE_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
Replication = Literal["manual", "auto"]
REPLICATION_MODES: tuple[Replication, ...] = ("manual", "auto")
FaultType = Literal[
    "inbound-replication-disabled",
    "outbound-replication-disabled",
    "connection-disabled",
    "connection-missing",
]
#: Each fault type and the DC keys it takes.
FAULT_KEYS: dict[str, tuple[str, ...]] = {
    "inbound-replication-disabled": ("dc",),
    "outbound-replication-disabled": ("dc",),
    "connection-disabled": ("from", "to"),
    "connection-missing": ("from", "to"),
}
_OWN_DATA_KEYS = ("licenses", "license_files", "subscribers", "published")
#: What the lab serves only for a server with a license of its own (not a secondary).
_SERVED_KEYS = ("live", "endpoints")
#: ``live.licenses`` keys and ``live.published`` keys -> the AvXmlLicData parameter.
_LIVE_LICENSES = {
    "vm": SUBSCRIBERS_MAX,
    "um": UM_SUBSCRIBERS_MAX,
    "inbox": VMI_SUBSCRIBERS_MAX,
    "ports": VOICE_PORTS_MAX,
}
_LIVE_USED = {"vm": USED_SUBSCRIBERS, "um": USED_UM_SUBSCRIBERS, "inbox": USED_VMI_SUBSCRIBERS}
#: Problems the lab accepts in a license file: they are what a running server lives
#: with (the file then counts for nothing), so a topology can test them end to end.
#: Anything else is a broken file that the Install License File wizard would refuse.
_RUNTIME_PROBLEMS = frozenset({HOSTID_MISMATCH, EXPIRED})


@dataclass(frozen=True)
class DcSpec:
    name: str
    gc: bool
    site: str = DEFAULT_SITE


@dataclass(frozen=True)
class FaultSpec:
    """A lab fault applied after loading: ``dc`` for the replication switches of one
    DC, ``source``/``target`` for the connection ``target`` pulls from ``source``."""

    type: FaultType
    dc: str | None = None
    source: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class LicenseSpec:
    """What the server's license file grants (pooled seat classes, ports, flags)."""

    vm: int = 0
    um: int = 0
    inbox: int = 0
    ports: int = 0
    secondary: bool = False

    @property
    def seats(self) -> Seats:
        return Seats(vm=self.vm, um=self.um, inbox=self.inbox)


@dataclass(frozen=True)
class LicenseFilesSpec:
    """A server licensed by license files: the files, and what they grant on ``at``.

    ``parameters`` holds every license parameter in effect on ``at`` (the lab's date),
    as ``license check`` computes it with the server's ``mac``; ``verdict`` is that
    check's verdict (``licensed``, ``demo``, ``expired`` ...).
    """

    paths: tuple[Path, ...]
    at: dt.date
    verdict: str
    parameters: tuple[tuple[str, int], ...]

    @property
    def values(self) -> Mapping[str, int]:
        return dict(self.parameters)


@dataclass(frozen=True)
class LiveSpec:
    """What the server itself says (its effective-license page and SNMP agent) where it
    differs from its copy in the directory: ``AvXmlLicData`` parameters by name, each
    replacing the directory copy's value. Empty: the server says what its directory
    copy says (or would say, when it has none)."""

    licenses: tuple[tuple[str, int], ...] = ()
    utilization: tuple[tuple[str, int], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.licenses or self.utilization)


@dataclass(frozen=True)
class EndpointsSpec:
    """How the lab serves the server's own license over each interface: ``up``
    answers; ``down`` is not started (nothing listens: unreachable); ``error`` answers
    with an error (the page with HTTP 500; the SNMP agent without the license objects)."""

    http: EndpointMode = "up"
    snmp: EndpointMode = "up"


@dataclass(frozen=True)
class ServerSpec:
    """One Unity server: one Location object in the lab directory.

    ``subscribers`` is the truth (users homed here); ``published`` is what the server's
    pooling attachment claims, already merged with the truth for classes not given,
    or None when the topology does not say (then it publishes the truth).
    With ``license_files``, ``licenses`` and ``pooling`` are what the files grant on
    the lab's date.
    """

    name: str
    version: str
    mac: str | None
    pooling: bool
    licenses: LicenseSpec
    subscribers: Seats
    published: Seats | None
    attachment: Attachment
    failover_of: str | None
    license_files: LicenseFilesSpec | None = None
    #: The DC its domain monitor uses (its Location and subscribers are created there)
    #: and the DC whose Global Catalog its GC monitor uses; the first DC by default.
    dc: str = "DC1"
    gc: str = "DC1"
    #: ``unknown``: its subscribers' homes name no Location (orphans, for tests).
    subscriber_homes: SubscriberHomes = "own"
    #: What the server itself serves where it differs from its directory copy.
    live: LiveSpec = LiveSpec()
    #: Whether its page and SNMP agent answer (for a secondary: not served at all).
    endpoints: EndpointsSpec = EndpointsSpec()

    @property
    def is_secondary(self) -> bool:
        return self.failover_of is not None


@dataclass(frozen=True)
class Topology:
    path: Path
    forest: str
    netbios: str
    dcs: tuple[DcSpec, ...]
    servers: tuple[ServerSpec, ...]
    #: ``lab_date`` as the file gives it (None: license files are read at load time's
    #: today).
    lab_date: dt.date | None = None
    replication: Replication = "manual"
    faults: tuple[FaultSpec, ...] = ()
    #: The older subscriber model: each subscriber carries the profile's license-class
    #: attribute (UM, VMI). Real subscribers carry none (the default).
    license_classes: bool = False
    #: How the lab writes pooling attachments into their octet string.
    attachment_encoding: AttachmentEncoding = "utf-8"

    @property
    def base_dn(self) -> str:
        return forest_base_dn(self.forest)

    @property
    def total_subscribers(self) -> int:
        """How many subscriber users the lab creates (every one uses a VM seat)."""
        return sum(server.subscribers.vm for server in self.servers)

    def server(self, name: str) -> ServerSpec:
        """The server called ``name`` (case-insensitive); KeyError when there is none."""
        for server in self.servers:
            if server.name.lower() == name.lower():
                return server
        raise KeyError(name)


def load_topology(path: Path, *, today: dt.date | None = None) -> Topology:
    """Read and validate a lab topology file; raises :class:`TopologyError`.

    License files are read relative to the topology file and combined on the file's
    ``lab_date``, else on *today* (default: the system's date).
    """
    root = load_yaml_mapping(path, error=TopologyError)
    root.check_keys(_TOP_KEYS)
    forest, netbios = _forest(root)
    dcs = _dcs(root)
    lab_date = _lab_date(root)
    on = lab_date or today or dt.date.today()
    servers = _servers(root, _Licensing(base=path.parent, on=on), dcs)
    return Topology(
        path=path,
        forest=forest,
        netbios=netbios,
        dcs=dcs,
        servers=servers,
        lab_date=lab_date,
        replication=root.choice("replication", REPLICATION_MODES, default="manual"),
        faults=_faults(root, dcs),
        license_classes=root.optional_bool("license_classes", default=False),
        attachment_encoding=root.choice(
            "attachment_encoding", ATTACHMENT_ENCODINGS, default="utf-8"
        ),
    )


@dataclass(frozen=True)
class _Licensing:
    """Where license files are read from, and the day they are combined on."""

    base: Path
    on: dt.date


def _lab_date(root: Node) -> dt.date | None:
    if "lab_date" not in root:
        return None
    value = root.raw("lab_date")
    what = "a date such as 2026-12-01"
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            raise root.error(f"{value!r} is not a date: {exc}", key="lab_date") from None
    raise root.expected(what, value, key="lab_date")


def _forest(root: Node) -> tuple[str, str]:
    forest = root.required_str("forest")
    if not is_dns_name(forest, min_labels=2):
        raise root.expected(
            "a DNS name with at least two labels, such as lab.example.com", forest, key="forest"
        )
    forest = forest.lower()
    first = forest.split(".", 1)[0]
    if len(first) > NETBIOS_MAX:
        raise root.error(
            f"the first label {first!r} is {len(first)} characters, but it becomes the "
            f"NetBIOS domain name, which has at most {NETBIOS_MAX}",
            key="forest",
        )
    return forest, first.upper()


def _dcs(root: Node) -> tuple[DcSpec, ...]:
    if "dcs" not in root:
        return (DcSpec(name="DC1", gc=True),)
    dcs: list[DcSpec] = []
    seen: dict[str, int] = {}
    for index, node in enumerate(root.mapping_list("dcs", min_items=1)):
        node.check_keys(_DC_KEYS)
        name = node.required_str("name")
        if not _DC_NAME.fullmatch(name):
            raise node.expected(
                "a computer name of 1 to 15 letters, digits and inner '-'", name, key="name"
            )
        if name.upper() in seen:
            raise node.error(
                f"duplicate DC name {name!r} (also dcs[{seen[name.upper()]}])", key="name"
            )
        seen[name.upper()] = index
        gc = node.optional_bool("gc", default=True)
        if index == 0 and not gc:
            raise node.error(
                "the forest's first DC is always a Global Catalog in AD; "
                "gc: false is not possible for it",
                key="gc",
            )
        if not gc:
            raise node.error(
                "the lab makes every DC a Global Catalog (Samba's joined DCs "
                "are GCs); gc: false is not supported",
                key="gc",
            )
        site = node.optional_str("site", default=DEFAULT_SITE)
        if not _SITE_NAME.fullmatch(site):
            raise node.expected(
                "a site name of letters, digits and inner '-' (at most 63)", site, key="site"
            )
        # AD compares site names case-insensitively: one site, spelled as first given.
        site = next((d.site for d in dcs if d.site.lower() == site.lower()), site)
        dcs.append(DcSpec(name=name, gc=gc, site=site))
    if len(dcs) > MAX_DCS:
        raise root.error(f"the lab runs at most {MAX_DCS} DCs (got {len(dcs)})", key="dcs")
    return tuple(dcs)


def _dc_ref(node: Node, key: str, dcs: tuple[DcSpec, ...]) -> str:
    """The DC named by ``node[key]`` (case-insensitive), as the dcs list spells it."""
    name = node.required_str(key)
    for dc in dcs:
        if dc.name.lower() == name.lower():
            return dc.name
    known = ", ".join(dc.name for dc in dcs)
    raise node.error(f"names no DC of this topology: {name!r} (dcs: {known})", key=key)


def _faults(root: Node, dcs: tuple[DcSpec, ...]) -> tuple[FaultSpec, ...]:
    if "faults" not in root:
        return ()
    if len(dcs) < 2 and root.mapping_list("faults"):
        raise root.error(
            "faults break replication between DCs; a lab with one DC has none to break",
            key="faults",
        )
    faults: list[FaultSpec] = []
    for node in root.mapping_list("faults"):
        kind = node.choice("type", tuple(FAULT_KEYS))
        node.check_keys(("type", *FAULT_KEYS[kind]))
        if FAULT_KEYS[kind] == ("dc",):
            faults.append(FaultSpec(type=kind, dc=_dc_ref(node, "dc", dcs)))  # type: ignore[arg-type]
            continue
        source, target = _dc_ref(node, "from", dcs), _dc_ref(node, "to", dcs)
        if source == target:
            raise node.error("a connection joins two different DCs", key="to")
        faults.append(FaultSpec(type=kind, source=source, target=target))  # type: ignore[arg-type]
    return tuple(faults)


def _servers(root: Node, licensing: _Licensing, dcs: tuple[DcSpec, ...]) -> tuple[ServerSpec, ...]:
    nodes = root.mapping_list("servers")
    # First pass: names, so failover_of can point forwards.
    by_name: dict[str, int] = {}
    names: list[str] = []
    for index, node in enumerate(nodes):
        node.check_keys(_SERVER_KEYS)
        name = node.required_str("name")
        if not _SERVER_NAME.fullmatch(name):
            raise node.expected(
                "a server name of 1 to 64 letters, digits, '-' and '_'", name, key="name"
            )
        if name.lower() in by_name:
            raise node.error(
                f"duplicate server name {name!r} (also servers[{by_name[name.lower()]}]; "
                "names are compared case-insensitively)",
                key="name",
            )
        by_name[name.lower()] = index
        names.append(name)

    primaries = [_failover_target(node, by_name) for node in nodes]
    secondary_of: dict[int, int] = {}
    for index, (node, target) in enumerate(zip(nodes, primaries, strict=True)):
        if target is None:
            continue
        if target == index:
            raise node.error("a server cannot be its own failover secondary", key="failover_of")
        grand = primaries[target]
        if grand is not None:
            raise node.error(
                f"{names[target]} is itself a failover secondary (of {names[grand]}); "
                "point failover_of at a primary",
                key="failover_of",
            )
        if target in secondary_of:
            raise node.error(
                f"{names[target]} already has a failover secondary "
                f"({names[secondary_of[target]]}); a failover pair has one secondary",
                key="failover_of",
            )
        secondary_of[target] = index

    return tuple(
        _server(node, name, None if target is None else names[target], licensing, dcs)
        for node, name, target in zip(nodes, names, primaries, strict=True)
    )


def _failover_target(node: Node, by_name: dict[str, int]) -> int | None:
    target = node.optional_str("failover_of")
    if target is None:
        return None
    if target.lower() not in by_name:
        known = ", ".join(sorted(by_name)) or "none"
        raise node.error(
            f"names no server in this topology: {target!r} (servers: {known})",
            key="failover_of",
        )
    return by_name[target.lower()]


def _server(
    node: Node, name: str, failover_of: str | None, licensing: _Licensing, dcs: tuple[DcSpec, ...]
) -> ServerSpec:
    if failover_of is not None:
        for key in _OWN_DATA_KEYS:
            if key in node:
                raise node.error(
                    f"a failover secondary (failover_of: {failover_of}) has no {key} "
                    f"of its own; remove it",
                    key=key,
                )
        for key in _SERVED_KEYS:
            if key in node:
                raise node.error(
                    f"the lab serves no license page or SNMP agent for a failover secondary "
                    f"(failover_of: {failover_of}); remove it",
                    key=key,
                )
    mac_text = node.optional_str("mac")
    mac = None
    if mac_text is not None:
        try:
            mac = normalize_mac(mac_text)
        except ValueError as exc:
            raise node.error(str(exc), key="mac") from exc
    subscribers = _subscribers(node.child_or_empty("subscribers"))
    published_node = node.optional_child("published")
    files = None
    if "license_files" in node:
        for key in ("licenses", "pooling"):
            if key in node:
                raise node.error(
                    f"{key} comes from the license files when license_files "
                    "is given; remove one of them",
                    key=key,
                )
        files = _license_files(node, mac, licensing)
        values = files.values
        licenses = LicenseSpec(
            vm=values[SUBSCRIBERS_MAX],
            um=values[UM_SUBSCRIBERS_MAX],
            inbox=values[VMI_SUBSCRIBERS_MAX],
            ports=values[VOICE_PORTS_MAX],
            secondary=values[SECONDARY_LICENSED] >= 1,
        )
        pooling = values[POOLING_ENABLED] >= 1
    else:
        licenses = _licenses(node.child_or_empty("licenses"))
        pooling = node.optional_bool("pooling", default=True)
    return ServerSpec(
        name=name,
        version=node.optional_str("version", default=DEFAULT_VERSION),
        mac=mac,
        pooling=pooling,
        licenses=licenses,
        subscribers=subscribers,
        published=None if published_node is None else _published(published_node, subscribers),
        attachment=node.choice("attachment", ATTACHMENTS, default="ok"),
        failover_of=failover_of,
        license_files=files,
        dc=_dc_ref(node, "dc", dcs) if "dc" in node else dcs[0].name,
        gc=_dc_ref(node, "gc", dcs) if "gc" in node else dcs[0].name,
        subscriber_homes=node.choice("subscriber_homes", SUBSCRIBER_HOMES, default="own"),
        live=_live(node.child_or_empty("live")),
        endpoints=_endpoints(node.child_or_empty("endpoints")),
    )


def _live(node: Node) -> LiveSpec:
    node.check_keys(("licenses", "pooling", "published"))
    licenses = node.child_or_empty("licenses")
    licenses.check_keys(("vm", "um", "inbox", "ports", "secondary"))
    values = [
        (name, licenses.optional_int(key, default=0, minimum=0))
        for key, name in _LIVE_LICENSES.items()
        if key in licenses
    ]
    if "secondary" in licenses:
        values.append((SECONDARY_LICENSED, int(licenses.optional_bool("secondary", default=False))))
    if "pooling" in node:
        values.append((POOLING_ENABLED, int(node.optional_bool("pooling", default=True))))
    published = node.child_or_empty("published")
    published.check_keys(("vm", "um", "inbox"))
    used = [
        (name, published.optional_int(key, default=0, minimum=0))
        for key, name in _LIVE_USED.items()
        if key in published
    ]
    return LiveSpec(licenses=tuple(values), utilization=tuple(used))


def _endpoints(node: Node) -> EndpointsSpec:
    node.check_keys(("http", "snmp"))
    return EndpointsSpec(
        http=node.choice("http", ENDPOINT_MODES, default="up"),
        snmp=node.choice("snmp", ENDPOINT_MODES, default="up"),
    )


def _license_paths(node: Node, base: Path) -> list[Path]:
    value = node.raw("license_files")
    if not isinstance(value, list):
        raise node.expected(
            "a list of license file paths (relative to the topology file)",
            value,
            key="license_files",
        )
    if not value:
        raise node.error(
            "expected at least one license file path, got an empty list", key="license_files"
        )
    paths: list[Path] = []
    seen: dict[Path, int] = {}
    for index, item in enumerate(value):
        key = f"license_files[{index}]"
        # No control characters: the OS refuses a NUL in a path (Python raises
        # ValueError wherever it is used), and a newline would split the messages.
        if not isinstance(item, str) or not item or any(ord(c) < 32 or c == "\x7f" for c in item):
            raise node.expected("a license file path", item, key=key)
        path = base / item
        resolved = path.resolve()
        if resolved in seen:
            raise node.error(
                f"{item!r} is listed twice (also license_files[{seen[resolved]}]); "
                "each file counts once",
                key=key,
            )
        seen[resolved] = index
        paths.append(path)
    return paths


def _read(node: Node, path: Path, key: str) -> LicenseFile:
    try:
        read = read_license_file(path)
    except LicenseFileError as exc:
        raise node.error(str(exc), key=key) from None
    if isinstance(read, EffectiveXml):
        raise node.error(
            f"{path} is an effective-license XML (AvXmlLicData), not a license "
            "file; list FLEXlm license files",
            key=key,
        )
    return read


def _license_files(node: Node, mac: str | None, licensing: _Licensing) -> LicenseFilesSpec:
    paths = _license_paths(node, licensing.base)
    files = [_read(node, path, f"license_files[{i}]") for i, path in enumerate(paths)]
    for index, file in enumerate(files):
        if mac is None and file.hostid not in (None, ANY):
            raise node.error(
                f"{file.path} is bound to the MAC {file.hostid}: give the "
                "server's mac so the lab can check it",
                key=f"license_files[{index}]",
            )
    result = check_licenses(files, at=licensing.on, macs=[] if mac is None else [mac])
    for index, report in enumerate(result.files):
        for problem in report.problems:
            if problem.severity == "error" and problem.code not in _RUNTIME_PROBLEMS:
                where = "" if problem.line is None else f" line {problem.line}"
                raise node.error(
                    f"{report.path}{where}: {problem.code}: {problem.message} "
                    "(the Install License File wizard would refuse this file)",
                    key=f"license_files[{index}]",
                )
    return LicenseFilesSpec(
        paths=tuple(paths),
        at=licensing.on,
        verdict=result.verdict,
        parameters=tuple(result.effective.values.items()),
    )


def _licenses(node: Node) -> LicenseSpec:
    node.check_keys(("vm", "um", "inbox", "ports", "secondary"))
    return LicenseSpec(
        vm=node.optional_int("vm", default=0, minimum=0),
        um=node.optional_int("um", default=0, minimum=0),
        inbox=node.optional_int("inbox", default=0, minimum=0),
        ports=node.optional_int("ports", default=0, minimum=0),
        secondary=node.optional_bool("secondary", default=False),
    )


def _subscribers(node: Node) -> Seats:
    node.check_keys(("vm", "um", "inbox"))
    vm = node.optional_int("vm", default=0, minimum=0)
    seats = {"vm": vm}
    for key in ("um", "inbox"):
        count = node.optional_int(key, default=0, minimum=0)
        if count > vm:
            # UM and Inbox subscribers are some of the vm subscribers, not extra ones.
            raise node.error(f"expected an integer <= vm ({vm}), got {count}", key=key)
        seats[key] = count
    return Seats(**seats)


def _published(node: Node, truth: Seats) -> Seats:
    node.check_keys(("vm", "um", "inbox"))
    return Seats(
        vm=node.optional_int("vm", default=truth.vm, minimum=0),
        um=node.optional_int("um", default=truth.um, minimum=0),
        inbox=node.optional_int("inbox", default=truth.inbox, minimum=0),
    )
