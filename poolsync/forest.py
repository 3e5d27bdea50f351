"""The forest's replication topology, from its configuration partition (pure).

A forest's configuration naming context says which sites exist, which domain
controllers sit in them (``server`` objects with their ``nTDSDSA`` "NTDS Settings"
child), which of them are Global Catalogs (``options`` bit 1 of the nTDSDSA), whether a
DC refuses inbound or outbound replication (bits 2 and 4), and which replication
connections exist (``nTDSConnection`` objects under the *receiving* DC's NTDS Settings,
naming the sending DC in ``fromServer``; ``enabledConnection`` FALSE switches one off).

Every DC holds its own copy of the configuration partition, and that copy can lag. A
DC's own options and its own inbound connections are authoritative on that DC, so
:func:`merge_views` takes each DC's record from the DC itself when it was read there.

Entry points: :func:`decode_forest` (directory entries -> :class:`ForestConfig`),
:func:`merge_views`, :meth:`ForestConfig.replication_path`,
:meth:`ForestConfig.inbound_problems`, :func:`parse_repl_metadata`.
"""

from __future__ import annotations

import datetime as dt
import functools
import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

import networkx as nx

from poolsync.dn import DnKey, parent, rdns
from poolsync.dn import key as dn_key
from poolsync.model import Entry

__all__ = [
    "AttributeStamp",
    "Break",
    "Connection",
    "DomainController",
    "ForestConfig",
    "Site",
    "decode_forest",
    "merge_views",
    "parse_repl_metadata",
    "site_of",
]

#: nTDSDSA ``options`` bits (MS-ADTS 6.1.1.2.2.1.2.1.1).
DSA_IS_GC: Final = 0x1
DSA_DISABLE_INBOUND_REPL: Final = 0x2
DSA_DISABLE_OUTBOUND_REPL: Final = 0x4
#: nTDSConnection ``options`` bit: the KCC created it (MS-ADTS 6.1.1.2.2.1.2.1.2).
CONNECTION_IS_GENERATED: Final = 0x1

#: The site AD (and ``samba-tool domain provision``) creates with a forest.
DEFAULT_SITE: Final = "Default-First-Site-Name"

#: What to ask the configuration partition for (objectClass filter and attributes).
CONFIG_FILTER: Final = (
    "(|(objectClass=site)(objectClass=server)(objectClass=nTDSDSA)"
    "(objectClass=nTDSConnection)(objectClass=siteLink))"
)
CONFIG_ATTRIBUTES: Final = (
    "objectClass",
    "objectGUID",
    "name",
    "cn",
    "dNSHostName",
    "options",
    "invocationId",
    "fromServer",
    "enabledConnection",
    "siteList",
    "whenChanged",
)


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    dn: str


@dataclass(frozen=True, slots=True)
class DomainController:
    """One DC: its ``server`` object and its NTDS Settings (``nTDSDSA``).

    ``name`` is the server object's name (the DC's computer name, e.g. ``DC1``);
    ``dsa_dn`` the NTDS Settings DN, which is what ``dsServiceName`` in a DC's rootDSE
    and ``fromServer`` in a connection name.
    """

    name: str
    site: str
    dsa_dn: str
    dns_host: str | None = None
    dsa_guid: str | None = None
    invocation_id: str | None = None
    gc: bool = False
    inbound_disabled: bool = False
    outbound_disabled: bool = False


@dataclass(frozen=True, slots=True)
class Connection:
    """A replication connection: ``target`` pulls from ``source`` (both DC names)."""

    name: str
    dn: str
    source: str
    target: str
    enabled: bool = True
    generated: bool = False


@dataclass(frozen=True, slots=True)
class ForestConfig:
    """Sites, DCs and connections, each tuple sorted by name (connections by target,
    source, name). ``site_links`` maps a site link's name to the sites it joins."""

    sites: tuple[Site, ...] = ()
    dcs: tuple[DomainController, ...] = ()
    connections: tuple[Connection, ...] = ()
    site_links: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def dc(self, name: str) -> DomainController | None:
        """The DC called ``name`` (case-insensitive; a DNS host name matches too)."""
        key = name.lower()
        for dc in self.dcs:
            if dc.name.lower() == key or (dc.dns_host or "").lower() == key:
                return dc
        short = key.split(".", 1)[0]
        matches = [dc for dc in self.dcs if dc.name.lower() == short]
        return matches[0] if len(matches) == 1 else None

    def dc_by_dsa(self, dsa_dn: str) -> DomainController | None:
        key = dsa_dn.lower()
        return next((dc for dc in self.dcs if dc.dsa_dn.lower() == key), None)

    def dc_by_invocation(self, invocation_id: str) -> DomainController | None:
        key = invocation_id.lower()
        return next((dc for dc in self.dcs if (dc.invocation_id or "").lower() == key), None)

    def usable(self, connection: Connection) -> bool:
        """Whether changes flow over ``connection``: enabled, the source sends and the
        target accepts."""
        source, target = self.dc(connection.source), self.dc(connection.target)
        return (
            connection.enabled
            and source is not None
            and target is not None
            and not source.outbound_disabled
            and not target.inbound_disabled
        )

    def replication_path(self, source: str, target: str) -> tuple[str, ...] | None:
        """The shortest chain of DC names along which a change made on ``source``
        reaches ``target`` (``(source,)`` when they are the same DC), or None."""
        src, dst = self.dc(source), self.dc(target)
        if src is None or dst is None:
            return None
        graph = self.replication_graph()
        try:
            return tuple(nx.shortest_path(graph, src.name, dst.name))
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return None

    def replication_graph(self) -> nx.DiGraph:
        """DC names as nodes, an edge source -> target for every usable connection."""
        graph = nx.DiGraph()
        graph.add_nodes_from(dc.name for dc in self.dcs)
        graph.add_edges_from((c.source, c.target) for c in self.connections if self.usable(c))
        return graph

    def inbound_breaks(self, target: str) -> list[Break] | None:
        """The broken pieces of ``target``'s inbound replication, in the order its
        problems are told (None when ``target`` is not a DC of this forest)."""
        dc = self.dc(target)
        if dc is None:
            return None
        found: list[Break] = []
        if dc.inbound_disabled:
            found.append(Break("inbound-disabled", dc))
        inbound = [c for c in self.connections if c.target == dc.name]
        if not inbound:
            found.append(Break("no-connections", dc))
        for conn in inbound:
            if not conn.enabled:
                found.append(Break("connection-disabled", dc, conn))
            sender = self.dc(conn.source)
            if sender is not None and sender.outbound_disabled:
                found.append(Break("sender-outbound-disabled", sender, conn))
        return found

    def inbound_problems(self, target: str) -> list[str]:
        """Why ``target`` may receive nothing: one sentence per broken piece (inbound
        replication disabled, no connection objects, disabled connections, senders with
        outbound replication disabled). Empty when none of these apply."""
        breaks = self.inbound_breaks(target)
        if breaks is None:
            return [f"{target} is not a domain controller of this forest"]
        return [b.sentence() for b in breaks]


@dataclass(frozen=True, slots=True)
class Break:
    """One broken piece of a DC's inbound replication. ``dc`` is the receiving DC, or
    the sending one for ``sender-outbound-disabled``; ``connection`` the connection
    concerned, if any."""

    kind: Literal[
        "inbound-disabled", "no-connections", "connection-disabled", "sender-outbound-disabled"
    ]
    dc: DomainController
    connection: Connection | None = None

    def sentence(self) -> str:
        dc, conn = self.dc, self.connection
        if self.kind == "inbound-disabled":
            return (
                f"{dc.name} has inbound replication disabled "
                f"(DISABLE_INBOUND_REPL in the options of {dc.dsa_dn})"
            )
        if self.kind == "no-connections":
            return (
                f"{dc.name} has no replication connection objects "
                f"(nTDSConnection under {dc.dsa_dn})"
            )
        assert conn is not None
        if self.kind == "connection-disabled":
            return (
                f"the connection {conn.source} -> {conn.target} is disabled "
                f"(enabledConnection FALSE on {conn.dn})"
            )
        return (
            f"{dc.name} has outbound replication disabled (DISABLE_OUTBOUND_REPL), so "
            f"{conn.source} -> {conn.target} carries nothing"
        )


def site_of(dn: str) -> str | None:
    """The site named in a DN under ``CN=Sites`` (…,CN=<site>,CN=Sites,CN=Configuration,…)."""
    parts = rdns(dn)
    for i, (attr, value) in enumerate(parts):
        if attr == "cn" and value.lower() == "sites" and i > 0:
            return parts[i - 1][1]
    return None


def _same(dn: str) -> DnKey | str:
    """What tells DNs apart: their parsed key (case, spacing and escapes aside), or the
    lower-cased text of one that does not parse."""
    try:
        return dn_key(dn)
    except ValueError:
        return dn.lower()


def _classes(entry: Entry) -> set[str]:
    return {c.lower() for c in entry.texts("objectClass")}


def _int(entry: Entry, name: str) -> int:
    text = entry.text(name)
    try:
        return int(text) if text is not None else 0
    except ValueError:
        return 0


def _guid(entry: Entry, name: str) -> str | None:
    raw = entry.first(name)
    return str(uuid.UUID(bytes_le=raw)) if raw is not None and len(raw) == 16 else None


def _name(entry: Entry) -> str:
    parts = rdns(entry.dn)
    return entry.text("name") or entry.text("cn") or (parts[0][1] if parts else entry.dn)


def decode_forest(entries: Iterable[Entry]) -> ForestConfig:
    """A :class:`ForestConfig` from a subtree search of ``CN=Sites`` in the
    configuration partition (:data:`CONFIG_FILTER`, :data:`CONFIG_ATTRIBUTES`).

    DCs without an NTDS Settings object (a plain ``server`` object, e.g. after a failed
    demotion) are left out; connections whose ``fromServer`` names no known DC keep the
    DN's first value as the source name.
    """
    sites: list[Site] = []
    servers: dict[DnKey | str, Entry] = {}  # server DN -> entry
    dsas: list[Entry] = []
    conns: list[Entry] = []
    links: list[tuple[str, tuple[str, ...]]] = []
    for entry in entries:
        classes = _classes(entry)
        if "ntdsconnection" in classes:
            conns.append(entry)
        elif "ntdsdsa" in classes:
            dsas.append(entry)
        elif "server" in classes:
            servers[_same(entry.dn)] = entry
        elif "sitelink" in classes:
            names = tuple(
                sorted(parts[0][1] for dn in entry.texts("siteList") if (parts := rdns(dn)))
            )
            links.append((_name(entry), names))
        elif "site" in classes:
            sites.append(Site(name=_name(entry), dn=entry.dn))
    dcs: list[DomainController] = []
    for dsa in dsas:
        server = servers.get(_same(parent(dsa.dn)))
        parts = rdns(dsa.dn)
        if server is not None:
            server_name = _name(server)
        elif len(parts) > 1:
            server_name = parts[1][1]
        else:
            continue  # not under a server object: no DC to speak of
        options = _int(dsa, "options")
        dcs.append(
            DomainController(
                name=server_name,
                site=site_of(dsa.dn) or "",
                dsa_dn=dsa.dn,
                dns_host=server.text("dNSHostName") if server is not None else None,
                dsa_guid=_guid(dsa, "objectGUID"),
                invocation_id=_guid(dsa, "invocationId"),
                gc=bool(options & DSA_IS_GC),
                inbound_disabled=bool(options & DSA_DISABLE_INBOUND_REPL),
                outbound_disabled=bool(options & DSA_DISABLE_OUTBOUND_REPL),
            )
        )
    by_dsa = {_same(dc.dsa_dn): dc.name for dc in dcs}
    connections: list[Connection] = []
    for conn in conns:
        target = by_dsa.get(_same(parent(conn.dn)))
        if target is None:
            continue
        from_dn = conn.text("fromServer") or ""
        parts = rdns(from_dn)
        source = by_dsa.get(_same(from_dn)) or (parts[1][1] if len(parts) > 1 else from_dn)
        enabled = (conn.text("enabledConnection") or "TRUE").upper() != "FALSE"
        connections.append(
            Connection(
                name=_name(conn),
                dn=conn.dn,
                source=source,
                target=target,
                enabled=enabled,
                generated=bool(_int(conn, "options") & CONNECTION_IS_GENERATED),
            )
        )
    return ForestConfig(
        sites=tuple(sorted(sites, key=lambda s: s.name.lower())),
        dcs=tuple(sorted(dcs, key=lambda d: d.name.lower())),
        connections=tuple(sorted(connections, key=lambda c: (c.target, c.source, c.name))),
        site_links=tuple(sorted(links)),
    )


def merge_views(views: Mapping[str, ForestConfig]) -> ForestConfig:
    """One forest from the configuration partitions read on several DCs.

    ``views`` maps the DC a copy was read on (its name) to what it held. Each DC's own
    record (options, invocation id) and its inbound connections come from its own copy
    when there is one, else from any copy that has them; sites and site links are the
    union.
    """
    if not views:
        return ForestConfig()
    ordered = sorted(views.items(), key=lambda kv: kv[0].lower())
    dcs: dict[str, DomainController] = {}
    conns: dict[str, list[Connection]] = {}
    own: set[str] = set()
    sites: dict[str, Site] = {}
    links: dict[str, tuple[str, ...]] = {}
    for reader, view in ordered:
        reader_dc = view.dc(reader)
        reader_name = reader_dc.name if reader_dc is not None else reader
        for site in view.sites:
            sites.setdefault(site.name.lower(), site)
        for name, members in view.site_links:
            links.setdefault(name, members)
        for dc in view.dcs:
            key = dc.name.lower()
            if key == reader_name.lower():
                dcs[key] = dc
                conns[key] = [c for c in view.connections if c.target == dc.name]
                own.add(key)
            elif key not in own:
                dcs.setdefault(key, dc)
                conns.setdefault(key, [c for c in view.connections if c.target == dc.name])
    return ForestConfig(
        sites=tuple(sorted(sites.values(), key=lambda s: s.name.lower())),
        dcs=tuple(sorted(dcs.values(), key=lambda d: d.name.lower())),
        connections=tuple(
            sorted(
                (c for cs in conns.values() for c in cs), key=lambda c: (c.target, c.source, c.name)
            )
        ),
        site_links=tuple(sorted(links.items())),
    )


@dataclass(frozen=True, slots=True)
class AttributeStamp:
    """One attribute's replication metadata on one copy of an object."""

    attid: int
    version: int
    changed: dt.datetime  # originating change time (UTC)
    origin: str  # originating DC's invocationId
    origin_usn: int
    local_usn: int


_NTTIME_EPOCH: Final = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)
_HEADER: Final = struct.Struct("<IIII")
_STAMP: Final = struct.Struct("<IIQ16sqq")


def parse_repl_metadata(raw: bytes | None) -> tuple[AttributeStamp, ...]:
    """``replPropertyMetaData`` (replPropertyMetaDataBlob version 1, MS-DRSR 5.172)
    as stamps, or ``()`` when absent or not understood (never raises)."""
    if raw is None or len(raw) < _HEADER.size:
        return ()
    version, _, count, _ = _HEADER.unpack_from(raw, 0)
    if version != 1 or len(raw) < _HEADER.size + count * _STAMP.size:
        return ()
    stamps: list[AttributeStamp] = []
    for i in range(count):
        attid, ver, seconds, origin, o_usn, l_usn = _STAMP.unpack_from(
            raw, _HEADER.size + i * _STAMP.size
        )
        stamps.append(
            AttributeStamp(
                attid=attid,
                version=ver,
                changed=_nttime(seconds),
                origin=_invocation_id(origin),
                origin_usn=o_usn,
                local_usn=l_usn,
            )
        )
    return tuple(stamps)


# Every stamp of every copy names one of the forest's few invocation ids, and the
# attributes of one object mostly share a time: made once each, not once a stamp (the
# doctor holds about ten stamps per Location per DC asked; 10,000 Locations read from
# four endpoints made 360,000 equal strings, 29 MB). Bounded, whatever a DC sends.
@functools.lru_cache(maxsize=256)
def _invocation_id(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=raw))


@functools.lru_cache(maxsize=4096)
def _nttime(seconds: int) -> dt.datetime:
    try:
        return _NTTIME_EPOCH + dt.timedelta(seconds=seconds)
    except OverflowError:
        return _NTTIME_EPOCH


def behind(copy: Sequence[AttributeStamp], newer: Sequence[AttributeStamp]) -> list[int]:
    """The attids on which ``copy`` lacks a change that ``newer`` holds: ``newer`` has
    a higher version, or has the attribute and ``copy`` does not.

    Equal versions never count, even with different originating stamps: that is a
    conflict replication has already resolved (or, on Samba, the RDN re-stamped by the
    DC that joined), not a change still on its way.
    """
    have = {s.attid: s for s in copy}
    missing: list[int] = []
    for stamp in newer:
        mine = have.get(stamp.attid)
        if mine is None or mine.version < stamp.version:
            missing.append(stamp.attid)
    return missing


def with_dc(forest: ForestConfig, dc: DomainController) -> ForestConfig:
    """``forest`` with ``dc`` replacing the DC of the same name (tests, what-ifs)."""
    return replace(forest, dcs=tuple(dc if d.name == dc.name else d for d in forest.dcs))
