"""The pooling graph: sites, DCs, Unity servers and the pool as one networkx graph (pure).

One :class:`networkx.MultiDiGraph` joins what the other parts of poolsync compute
separately: the forest's replication topology (:class:`~poolsync.forest.ForestConfig`),
the pool (:class:`~poolsync.allocation.PoolReport`), which DC and GC each Unity server
uses (:class:`~poolsync.doctor.model.Monitor`) and, when given, which servers cannot
see which (:class:`~poolsync.doctor.model.DoctorReport`): a ``cannot-see`` edge from
each Global Catalog's DC to each server it lacks, which every server monitoring that GC
cannot see. Every part grows with the servers, never with their square.
:mod:`poolsync.graph.export` turns it into DOT, SVG, GraphML and JSON.

Node ids are strings: ``site:<name>``, ``dc:<name>``, ``server:<name>`` (with
``#<first 8 characters of the objectGUID>`` appended when two Locations carry the same
name) and ``pool:<id>``. Every node has ``kind`` and ``label``; every edge has ``kind``.
Attribute values are str, int, float or bool only, never None, so the graph can be
written as GraphML as it is.

Entry point: :func:`build_graph`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import networkx as nx

from poolsync.allocation import (
    Exclusion,
    ExclusionReason,
    Pool,
    PoolReport,
    ServerSeats,
    read_license,
)
from poolsync.attachment import LicenseData
from poolsync.doctor.model import DoctorReport, Monitor
from poolsync.forest import ForestConfig
from poolsync.model import SEAT_CLASSES, Location, SeatClass, Seats

__all__ = [
    "EDGE_KINDS",
    "NODE_KINDS",
    "ROLES",
    "build_graph",
    "dc_id",
    "pool_id",
    "site_id",
]

NODE_KINDS: Final = ("site", "dc", "server", "pool")
EDGE_KINDS: Final = (
    "in-site",
    "replicates",
    "monitors-dc",
    "monitors-gc",
    "member",
    "excluded",
    "failover",
    "no-path",
    "cannot-see",
)
#: A server's role: a pool member, excluded for a reason, or a failover secondary
#: (which the pool counts with its primary). ``unknown``: a Location the report does
#: not mention (report and Locations from different reads).
ROLES: Final = ("member", "excluded", "secondary", "unknown")

#: The value of ``published_<class>`` (and of ``used_<class>`` on a server the pool
#: does not count) when there is no number to give.
NOT_KNOWN: Final = -1


def site_id(name: str) -> str:
    return f"site:{name}"


def dc_id(name: str) -> str:
    return f"dc:{name}"


def pool_id(name: str) -> str:
    return f"pool:{name}"


@dataclass(frozen=True, slots=True)
class _Server:
    """One server node to be: a Location and what the report says about it."""

    node: str
    name: str
    guid: str
    location: Location | None


def build_graph(
    forest: str,
    topology: ForestConfig,
    report: PoolReport,
    locations: Sequence[Location],
    monitors: Sequence[Monitor] = (),
    *,
    default_gc: str | None = None,
    doctor: DoctorReport | None = None,
) -> nx.MultiDiGraph:
    """The pooling graph of ``forest``.

    ``report`` should be the pool report of ``locations``
    (:func:`~poolsync.allocation.build_pool_report`); servers are matched between the
    two by (name, objectGUID). ``monitors`` name each server's DC and GC (matched by
    server name, case-insensitive); a server without a GC monitor is taken to use
    ``default_gc`` when given. Monitors, connections and visibility rows that name an
    unknown DC or server are left out: the graph only links what it can place.
    """
    graph = nx.MultiDiGraph(forest=forest)
    _add_sites_and_dcs(graph, topology)
    servers = _server_nodes(locations, report)
    pools = _add_pools(graph, forest, report.pools)
    _add_servers(graph, forest, servers, report, pools)
    _add_failover(graph, servers)
    _add_monitors(graph, topology, servers, monitors, default_gc)
    _add_missing_paths(graph, topology)
    if doctor is not None:
        _add_visibility(graph, forest, topology, servers, doctor)
    return graph


def _add_sites_and_dcs(graph: nx.MultiDiGraph, topology: ForestConfig) -> None:
    sites: dict[str, str] = {}  # lower-cased name -> node id
    for site in topology.sites:
        sites.setdefault(site.name.lower(), site_id(site.name))
        graph.add_node(site_id(site.name), kind="site", label=site.name, name=site.name)
    for dc in topology.dcs:
        node = dc_id(dc.name)
        graph.add_node(
            node,
            kind="dc",
            label=dc.name,
            name=dc.name,
            site=dc.site,
            gc=dc.gc,
            inbound_disabled=dc.inbound_disabled,
            outbound_disabled=dc.outbound_disabled,
            dns_host=dc.dns_host or "",
        )
        if not dc.site:
            continue
        # The DN's spelling of a site may differ in case from the site object's name.
        site_node = sites.get(dc.site.lower())
        if site_node is None:
            site_node = sites.setdefault(dc.site.lower(), site_id(dc.site))
            graph.add_node(site_node, kind="site", label=dc.site, name=dc.site)
        graph.add_edge(node, site_node, key="in-site", kind="in-site")
    for conn in topology.connections:
        source, target = topology.dc(conn.source), topology.dc(conn.target)
        if source is None or target is None:
            continue
        graph.add_edge(
            dc_id(source.name),
            dc_id(target.name),
            key=f"replicates:{conn.dn}",
            kind="replicates",
            enabled=conn.enabled,
            usable=topology.usable(conn),
            name=conn.name,
            dn=conn.dn,
        )


def _server_nodes(locations: Sequence[Location], report: PoolReport) -> list[_Server]:
    """One node per Location, plus one per report entry no Location matches; ids are
    unique even when names (or names and guids) repeat."""
    found: list[tuple[str, str, Location | None]] = [
        (loc.name, loc.guid, loc)
        for loc in sorted(locations, key=lambda loc: (loc.name, loc.guid, loc.object_id, loc.dn))
    ]
    known = {(name, guid) for name, guid, _ in found}
    reported = [(s.name, s.guid) for pool in report.pools for s in pool.servers]
    reported += [(e.name, e.guid) for e in report.excluded]
    for name, guid in sorted(set(reported) - known):
        found.append((name, guid, None))
    counts: dict[str, int] = {}
    for name, _, _ in found:
        counts[name] = counts.get(name, 0) + 1
    used: set[str] = set()
    servers: list[_Server] = []
    for name, guid, location in found:
        node = f"server:{name}" if counts[name] == 1 else f"server:{name}#{guid[:8]}"
        if node in used:  # guids sharing their first 8 characters, or equal guids
            node = f"server:{name}#{guid}"
            suffix = 2
            while node in used:
                node = f"server:{name}#{guid}~{suffix}"
                suffix += 1
        used.add(node)
        servers.append(_Server(node=node, name=name, guid=guid, location=location))
    return servers


def _add_pools(graph: nx.MultiDiGraph, forest: str, pools: Iterable[Pool]) -> dict[str, str]:
    """Pool nodes, one per pool of the report and always one for ``forest``; returns
    pool id -> node id."""
    nodes: dict[str, str] = {}
    for pool in pools:
        node = pool_id(pool.id)
        attrs: dict[str, object] = {
            "kind": "pool",
            "label": pool.id,
            "name": pool.id,
            "compliant": pool.compliant,
            "members": len(pool.members),
        }
        for c in SEAT_CLASSES:
            seats = pool.seats.get(c)
            attrs[f"licensed_{c.value}"] = seats.licensed if seats else 0
            attrs[f"used_{c.value}"] = seats.used if seats else 0
            attrs[f"available_{c.value}"] = seats.available if seats else 0
        graph.add_node(node, **attrs)
        nodes[pool.id] = node
    if forest not in nodes:
        empty = Pool(id=forest, members=(), seats={}, servers=())
        return nodes | _add_pools(graph, forest, [empty])
    return nodes


def _add_servers(
    graph: nx.MultiDiGraph,
    forest: str,
    servers: Sequence[_Server],
    report: PoolReport,
    pools: dict[str, str],
) -> None:
    # Report entries are consumed in (name, guid) order, as build_pool_report lists
    # them, so two Locations sharing both name and guid still get one entry each.
    members: dict[tuple[str, str], list[tuple[ServerSeats, str]]] = {}
    for pool in report.pools:
        for seats in pool.servers:
            members.setdefault((seats.name, seats.guid), []).append((seats, pools[pool.id]))
    excluded: dict[tuple[str, str], list[Exclusion]] = {}
    for exclusion in report.excluded:
        excluded.setdefault((exclusion.name, exclusion.guid), []).append(exclusion)
    names = _names_by_object_id(servers)
    for server in servers:
        key = (server.name, server.guid)
        location = server.location
        attrs: dict[str, object] = {
            "kind": "server",
            "name": server.name,
            "guid": server.guid,
            "version": (location.version if location else None) or "",
            "failover_of": _primary_name(location, names),
        }
        if members.get(key):
            seats, pool_node = members[key].pop(0)
            attrs |= {"role": "member", "reason": "", "detail": ""}
            attrs |= _member_seats(seats)
            graph.add_node(server.node, **attrs)
            graph.add_edge(server.node, pool_node, key="member", kind="member")
            continue
        if excluded.get(key):
            exclusion = excluded[key].pop(0)
            secondary = exclusion.reason is ExclusionReason.FAILOVER_SECONDARY
            attrs |= {
                "role": "secondary" if secondary else "excluded",
                "reason": exclusion.reason.value,
                "detail": exclusion.detail,
            }
            attrs |= _uncounted_seats(_license(location, report))
            graph.add_node(server.node, **attrs)
            graph.add_edge(
                server.node,
                pool_id(forest),
                key="excluded",
                kind="excluded",
                reason=exclusion.reason.value,
                detail=exclusion.detail,
            )
            continue
        attrs |= {"role": "unknown", "reason": "", "detail": ""}
        attrs |= _uncounted_seats(_license(location, report))
        graph.add_node(server.node, **attrs)
    for server in servers:
        graph.nodes[server.node]["label"] = _server_label(graph.nodes[server.node])


def _server_label(attrs: dict[str, object]) -> str:
    name = str(attrs["name"])
    return name if not attrs["reason"] else f"{name} ({attrs['reason']})"


def _member_seats(seats: ServerSeats) -> dict[str, object]:
    attrs: dict[str, object] = {}
    published = seats.published_classes
    for c in SEAT_CLASSES:
        value = seats.published_used.get(c) if seats.published_used and c in published else None
        attrs |= {
            f"licensed_{c.value}": seats.licensed.get(c),
            f"used_{c.value}": seats.used.get(c),
            f"published_{c.value}": NOT_KNOWN if value is None else value,
            f"borrowed_{c.value}": seats.borrowed.get(c),
            f"lent_{c.value}": seats.lent.get(c),
        }
    attrs["stale"] = ",".join(c.value for c in seats.stale)
    return attrs


def _license(location: Location | None, report: PoolReport) -> LicenseData | None:
    """``location``'s license data as the report parsed it; parsed here only for a
    Location the report was not built from (a caller's report of other Locations)."""
    if location is None or location in report.licenses:
        return report.license(location)
    parsed = read_license(location)
    return parsed if isinstance(parsed, LicenseData) else None


def _uncounted_seats(data: LicenseData | None) -> dict[str, object]:
    """Seats of a server the pool does not count: what its attachment licenses and
    publishes when it can be read; ``used`` is not known (the report sums the seats
    homed on excluded servers into ``unpooled``, not per server)."""
    licensed, published = Seats(), None
    classes: tuple[SeatClass, ...] = ()
    if data is not None:  # None: no attachment, or a corrupt one (the exclusion says so)
        licensed, published = data.licensed, data.published_used
        classes = data.published_classes
    attrs: dict[str, object] = {}
    for c in SEAT_CLASSES:
        value = published.get(c) if published is not None and c in classes else None
        attrs |= {
            f"licensed_{c.value}": licensed.get(c),
            f"used_{c.value}": NOT_KNOWN,
            f"published_{c.value}": NOT_KNOWN if value is None else value,
            f"borrowed_{c.value}": 0,
            f"lent_{c.value}": 0,
        }
    attrs["stale"] = ""
    return attrs


def _names_by_object_id(servers: Sequence[_Server]) -> dict[str, _Server]:
    """Object id -> the server it identifies; a primary (no ``failover_of``) wins over
    a secondary with the same object id, as in build_pool_report."""
    out: dict[str, _Server] = {}
    for want_primary in (True, False):
        for server in servers:
            loc = server.location
            if loc is None or not loc.object_id or (loc.failover_of is None) != want_primary:
                continue
            out.setdefault(loc.object_id, server)
    return out


def _primary_name(location: Location | None, by_object_id: dict[str, _Server]) -> str:
    if location is None or location.failover_of is None:
        return ""
    primary = by_object_id.get(location.failover_of)
    return primary.name if primary is not None else ""


def _add_failover(graph: nx.MultiDiGraph, servers: Sequence[_Server]) -> None:
    by_object_id = _names_by_object_id(servers)
    for server in servers:
        loc = server.location
        if loc is None or loc.failover_of is None:
            continue
        primary = by_object_id.get(loc.failover_of)
        if primary is not None and primary.node != server.node:
            graph.add_edge(server.node, primary.node, key="failover", kind="failover")


def _add_monitors(
    graph: nx.MultiDiGraph,
    topology: ForestConfig,
    servers: Sequence[_Server],
    monitors: Sequence[Monitor],
    default_gc: str | None,
) -> None:
    # The first monitor naming a server says which DC it uses; the first naming a GC
    # says which GC (a config may list a server twice, once per monitor).
    dcs: dict[str, str] = {}
    gcs: dict[str, str] = {}
    for monitor in monitors:
        key = monitor.server.lower()
        if monitor.dc:
            dcs.setdefault(key, monitor.dc)
        if monitor.gc:
            gcs.setdefault(key, monitor.gc)
    fallback = topology.dc(default_gc) if default_gc else None
    for server in servers:
        key = server.name.lower()
        dc = topology.dc(dcs[key]) if key in dcs else None
        if dc is not None:
            graph.add_edge(server.node, dc_id(dc.name), key="monitors-dc", kind="monitors-dc")
        if key in gcs:
            gc, configured = topology.dc(gcs[key]), True
        else:
            gc, configured = fallback, False
        if gc is not None:
            graph.add_edge(
                server.node,
                dc_id(gc.name),
                key="monitors-gc",
                kind="monitors-gc",
                configured=configured,
            )


def _add_missing_paths(graph: nx.MultiDiGraph, topology: ForestConfig) -> None:
    for source in topology.dcs:
        for target in topology.dcs:
            if source.name == target.name:
                continue
            if topology.replication_path(source.name, target.name) is None:
                graph.add_edge(
                    dc_id(source.name), dc_id(target.name), key="no-path", kind="no-path"
                )


def _add_visibility(
    graph: nx.MultiDiGraph,
    forest: str,
    topology: ForestConfig,
    servers: Sequence[_Server],
    doctor: DoctorReport,
) -> None:
    """``cannot-see`` edges, one per GC and server it lacks (from the GC's DC, which
    every server monitoring it sees the pool through): an edge per viewer and server
    grew with their product (10,000 viewers behind one GC lacking 5,000 servers)."""
    by_name: dict[str, list[str]] = {}
    for server in servers:
        by_name.setdefault(server.name.lower(), []).append(server.node)
    rows = {row.gc.lower(): row for row in doctor.visibility}
    # Servers expected in the pool that no DC holds a Location for: drawn, in red,
    # with what cannot see them.
    for health in doctor.servers:
        if health.guid is not None or health.name.lower() in by_name:
            continue
        finding = health.findings[0] if health.findings else None
        node = f"server:{health.name}"
        attrs: dict[str, object] = {
            "kind": "server",
            "name": health.name,
            "guid": "",
            "version": "",
            "failover_of": "",
            "role": "missing",
            "reason": finding.cause if finding else "location-missing",
            "detail": finding.evidence if finding else "",
        }
        attrs |= _uncounted_seats(None)
        graph.add_node(node, **attrs)
        graph.nodes[node]["label"] = _server_label(graph.nodes[node])
        by_name[health.name.lower()] = [node]
        if finding is None:
            continue
        affects = finding.affects
        if affects.members:  # every member: the pool does not see it
            graph.add_edge(
                pool_id(forest),
                node,
                key="cannot-see",
                kind="cannot-see",
                gc="",
                viewers=affects.count,
            )
        for gc in affects.gcs:
            dc = topology.dc(gc)
            row = rows.get(gc.lower())
            if dc is not None:
                graph.add_edge(
                    dc_id(dc.name),
                    node,
                    key="cannot-see",
                    kind="cannot-see",
                    gc=dc.name,
                    viewers=len(row.viewers) if row else 0,
                )
        for viewer_name in affects.names:
            for viewer in by_name.get(viewer_name.lower(), ()):
                graph.add_edge(viewer, node, key="cannot-see", kind="cannot-see", gc="", viewers=1)
    for row in doctor.visibility:
        dc = topology.dc(row.gc) if row.reachable and row.missing else None
        if dc is None:
            continue  # a GC the forest does not know is left out, as its monitors are
        for missing in row.missing:
            for target in by_name.get(missing.lower(), ()):
                graph.add_edge(
                    dc_id(dc.name),
                    target,
                    key="cannot-see",
                    kind="cannot-see",
                    gc=dc.name,
                    viewers=len(row.viewers),
                )
