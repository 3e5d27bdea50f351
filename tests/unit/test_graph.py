"""The pooling graph: nodes and attributes, replication and monitor edges, missing links."""

from __future__ import annotations

import io

import networkx as nx
import pytest

from poolsync.allocation import build_pool_report
from poolsync.doctor.model import (
    DoctorReport,
    Finding,
    Monitor,
    ServerHealth,
    Viewers,
    Visibility,
)
from poolsync.forest import ForestConfig
from poolsync.graph.export import to_dot
from poolsync.graph.pooling import EDGE_KINDS, NODE_KINDS, build_graph
from poolsync.model import Location
from tests.support.graphs import (
    FOREST,
    HOMED,
    NOW,
    attachment,
    guid,
    loc,
    sample,
    sample_graph,
    sample_locations,
    sample_topology,
)


def edges(graph: nx.MultiDiGraph, kind: str) -> set[tuple[str, str]]:
    return {(u, v) for u, v, d in graph.edges(data=True) if d["kind"] == kind}


def edge(graph: nx.MultiDiGraph, source: str, target: str, kind: str) -> dict[str, object]:
    (data,) = [
        d for d in graph.get_edge_data(source, target, default={}).values() if d["kind"] == kind
    ]
    return dict(data)


@pytest.fixture
def graph() -> nx.MultiDiGraph:
    return sample_graph()


def test_node_kinds_and_labels(graph: nx.MultiDiGraph) -> None:
    kinds: dict[str, list[str]] = {}
    for node, attrs in graph.nodes(data=True):
        assert attrs["label"], node
        kinds.setdefault(attrs["kind"], []).append(node)
    assert set(kinds) == set(NODE_KINDS)
    assert sorted(kinds["site"]) == ["site:Branch-East", "site:Branch-West", "site:HQ"]
    assert sorted(kinds["dc"]) == ["dc:DC1", "dc:DC2", "dc:DC3", "dc:DC4"]
    assert len(kinds["server"]) == 10
    assert kinds["pool"] == [f"pool:{FOREST}"]
    assert {d["kind"] for _, _, d in graph.edges(data=True)} == set(EDGE_KINDS)


def test_dc_attributes(graph: nx.MultiDiGraph) -> None:
    dc4 = graph.nodes["dc:DC4"]
    assert dc4 == {
        "kind": "dc",
        "label": "DC4",
        "name": "DC4",
        "site": "Branch-West",
        "gc": True,
        "inbound_disabled": True,
        "outbound_disabled": False,
        "dns_host": "dc4.lab.example.com",
    }
    assert graph.nodes["dc:DC2"]["dns_host"] == ""
    assert graph.nodes["dc:DC2"]["gc"] is False
    assert edges(graph, "in-site") == {
        ("dc:DC1", "site:HQ"),
        ("dc:DC2", "site:HQ"),
        ("dc:DC3", "site:Branch-East"),
        ("dc:DC4", "site:Branch-West"),
    }


def test_member_seats(graph: nx.MultiDiGraph) -> None:
    hq2 = graph.nodes["server:UNITY-HQ2"]
    assert (hq2["role"], hq2["reason"], hq2["failover_of"]) == ("member", "", "")
    assert hq2["guid"] == guid(2) and hq2["version"] == "4.0(5)"
    # its secondary's 20 subscribers are counted with it
    assert (hq2["licensed_vm"], hq2["used_vm"], hq2["borrowed_vm"]) == (300, 350, 50)
    assert hq2["published_vm"] == -1 and hq2["published_um"] == -1
    assert sum(graph.nodes[n]["lent_vm"] for n in graph if n.startswith("server:")) == 50
    e1 = graph.nodes["server:UNITY-E1"]
    assert (e1["published_vm"], e1["used_vm"], e1["stale"]) == (150, 180, "vm")
    assert graph.nodes["server:UNITY-E2"]["stale"] == ""


def test_excluded_and_secondary(graph: nx.MultiDiGraph) -> None:
    e3 = graph.nodes["server:UNITY-E3"]
    assert (e3["role"], e3["reason"]) == ("excluded", "pooling-disabled")
    # licensed from its attachment; used is not counted per excluded server
    assert (e3["licensed_vm"], e3["used_vm"], e3["published_vm"]) == (100, -1, -1)
    assert graph.nodes["server:UNITY-X"]["reason"] == "attachment-corrupt"
    assert graph.nodes["server:UNITY-X"]["licensed_vm"] == 0
    assert graph.nodes["server:UNITY-OLD"]["reason"] == "attachment-missing"
    assert graph.nodes["server:UNITY-W2"]["reason"] == "version-unsupported"
    b = graph.nodes["server:UNITY-HQ2B"]
    assert (b["role"], b["reason"], b["failover_of"]) == (
        "secondary",
        "failover-secondary",
        "UNITY-HQ2",
    )
    pool = f"pool:{FOREST}"
    assert edges(graph, "member") == {
        (f"server:UNITY-{n}", pool) for n in ("HQ1", "HQ2", "E1", "E2", "W1")
    }
    assert edge(graph, "server:UNITY-E3", pool, "excluded")["reason"] == "pooling-disabled"
    assert edge(graph, "server:UNITY-HQ2B", pool, "excluded")["reason"] == "failover-secondary"
    assert edges(graph, "failover") == {("server:UNITY-HQ2B", "server:UNITY-HQ2")}


def test_pool_node(graph: nx.MultiDiGraph) -> None:
    pool = graph.nodes[f"pool:{FOREST}"]
    assert pool["members"] == 5
    assert (pool["licensed_vm"], pool["used_vm"], pool["available_vm"]) == (1450, 1140, 310)
    assert pool["compliant"] is True
    assert (pool["licensed_um"], pool["used_um"], pool["available_um"]) == (0, 0, 0)


def test_replication_edges(graph: nx.MultiDiGraph) -> None:
    assert len(edges(graph, "replicates")) == 7
    off = edge(graph, "dc:DC3", "dc:DC2", "replicates")
    assert (off["enabled"], off["usable"], off["name"]) == (False, False, "DC3-to-DC2")
    assert off["dn"] == "CN=DC3-to-DC2,CN=DC2"
    into_dc4 = edge(graph, "dc:DC1", "dc:DC4", "replicates")
    assert (into_dc4["enabled"], into_dc4["usable"]) == (True, False)
    assert edge(graph, "dc:DC1", "dc:DC2", "replicates")["usable"] is True


def test_no_path_marks_the_partitioned_dc(graph: nx.MultiDiGraph) -> None:
    # DC3 -> DC2 is disabled, but DC3 -> DC1 -> DC2 replicates: not a missing path
    assert edges(graph, "no-path") == {
        ("dc:DC1", "dc:DC4"),
        ("dc:DC2", "dc:DC4"),
        ("dc:DC3", "dc:DC4"),
    }


def test_monitor_edges(graph: nx.MultiDiGraph) -> None:
    dcs = edges(graph, "monitors-dc")
    assert ("server:UNITY-HQ1", "dc:DC1") in dcs  # by DNS name, server case-insensitive
    assert ("server:UNITY-HQ2", "dc:DC2") in dcs
    assert not any(u == "server:UNITY-OLD" for u, _ in dcs)  # no monitor configured
    gcs = edges(graph, "monitors-gc")
    assert ("server:UNITY-E1", "dc:DC3") in gcs
    assert edge(graph, "server:UNITY-E1", "dc:DC3", "monitors-gc")["configured"] is True
    # no GC monitor: the default GC, marked as such
    assert edge(graph, "server:UNITY-E3", "dc:DC1", "monitors-gc")["configured"] is False
    assert edge(graph, "server:UNITY-OLD", "dc:DC1", "monitors-gc")["configured"] is False
    # a GC that is not in the forest is left out, not replaced by the default
    assert not any(u == "server:UNITY-W2" for u, _ in gcs)


def test_without_default_gc_only_configured_monitors() -> None:
    graph = sample().graph(default_gc=None)
    assert not any(
        u in ("server:UNITY-E3", "server:UNITY-OLD") for u, _ in edges(graph, "monitors-gc")
    )
    assert edges(graph, "cannot-see") == set()  # no doctor report given


def test_cannot_see_from_doctor(graph: nx.MultiDiGraph) -> None:
    # From the GC's DC, for every server monitoring it (UNITY-W1 does): one edge per GC
    # and server it lacks, never one per viewer and server.
    assert edges(graph, "cannot-see") == {
        ("dc:DC4", "server:UNITY-HQ1"),
        ("dc:DC4", "server:UNITY-E1"),
    }
    assert edge(graph, "dc:DC4", "server:UNITY-E1", "cannot-see") == {
        "kind": "cannot-see",
        "gc": "DC4",
        "viewers": 1,
    }
    assert ("server:UNITY-W1", "dc:DC4") in edges(graph, "monitors-gc")


def test_duplicate_names_get_guid_suffixes() -> None:
    locations = [
        *sample_locations(),
        loc(21, "UNITY-DUP", attachment_text=attachment(100)),
        loc(22, "UNITY-DUP", version="2.4(6)"),
    ]
    report = build_pool_report(FOREST, locations, HOMED)
    doctor = DoctorReport(
        forest=FOREST,
        generated=NOW,
        servers=(),
        visibility=(Visibility(gc="DC1", viewers=("UNITY-HQ1",), holds=0, missing=("UNITY-DUP",)),),
    )
    graph = build_graph(
        FOREST,
        sample_topology(),
        report,
        locations,
        (Monitor("UNITY-DUP", dc="DC3"),),
        doctor=doctor,
    )
    first, second = f"server:UNITY-DUP#{guid(21)[:8]}", f"server:UNITY-DUP#{guid(22)[:8]}"
    assert "server:UNITY-DUP" not in graph
    assert graph.nodes[first]["role"] == "member"
    assert graph.nodes[second]["reason"] == "version-unsupported"
    assert graph.nodes[first]["name"] == graph.nodes[second]["name"] == "UNITY-DUP"
    assert {(first, "dc:DC3"), (second, "dc:DC3")} <= edges(graph, "monitors-dc")
    assert edges(graph, "cannot-see") == {("dc:DC1", first), ("dc:DC1", second)}


def test_same_name_and_guid_still_two_nodes() -> None:
    twins = [
        loc(31, "TWIN", attachment_text=attachment(10), guid_text=guid(31)),
        Location(
            guid=guid(31),
            dn="CN=TWIN2",
            name="TWIN",
            object_id="oid-32",
            version="4.0(5)",
            attachment=attachment(20),
        ),
    ]
    report = build_pool_report(FOREST, twins, {})
    graph = build_graph(FOREST, ForestConfig(), report, twins)
    servers = sorted(n for n, a in graph.nodes(data=True) if a["kind"] == "server")
    assert len(servers) == 2
    assert sorted(graph.nodes[n]["licensed_vm"] for n in servers) == [10, 20]


def test_report_and_locations_disagreeing() -> None:
    known = [loc(1, "A", attachment_text=attachment(10))]
    report = build_pool_report(FOREST, [*known, loc(2, "B", attachment_text=attachment(5))], {})
    only_in_locations = loc(3, "C", attachment_text=attachment(7))
    graph = build_graph(FOREST, ForestConfig(), report, [*known, only_in_locations])
    assert graph.nodes["server:B"]["role"] == "member"  # from the report alone
    assert graph.nodes["server:B"]["version"] == ""
    assert graph.nodes["server:C"]["role"] == "unknown"
    assert graph.nodes["server:C"]["licensed_vm"] == 7


def test_secondary_of_unknown_primary_has_no_failover_edge() -> None:
    locations = [loc(1, "LONE", failover_of="oid-404", attachment_text=attachment(10))]
    graph = build_graph(FOREST, ForestConfig(), build_pool_report(FOREST, locations, {}), locations)
    assert graph.nodes["server:LONE"]["role"] == "secondary"
    assert graph.nodes["server:LONE"]["failover_of"] == ""
    assert edges(graph, "failover") == set()


def test_empty_report_still_has_the_pool() -> None:
    graph = build_graph(FOREST, sample_topology(), build_pool_report(FOREST, [], {}), [])
    pool = graph.nodes[f"pool:{FOREST}"]
    assert (pool["members"], pool["licensed_vm"], pool["compliant"]) == (0, 0, True)
    assert len(edges(graph, "no-path")) == 3


def test_graphml_safe(graph: nx.MultiDiGraph) -> None:
    for _, attrs in graph.nodes(data=True):
        assert all(isinstance(v, str | int | float | bool) for v in attrs.values()), attrs
    for _, _, attrs in graph.edges(data=True):
        assert all(isinstance(v, str | int | float | bool) for v in attrs.values()), attrs
    buffer = io.BytesIO()
    nx.write_graphml(graph, buffer)
    assert b"server:UNITY-HQ2B" in buffer.getvalue()


def test_an_expected_server_without_a_location_is_drawn_missing_with_who_cannot_see_it() -> None:
    locations = sample_locations()
    report = build_pool_report(FOREST, locations, HOMED)
    ghost = ServerHealth(
        "UNITY-GHOST",
        None,
        (
            Finding(
                "location-missing",
                "error",
                Viewers(members=True, count=7),
                "No Location named UNITY-GHOST on any DC asked",
                "check its monitors",
            ),
        ),
    )
    doctor = DoctorReport(forest=FOREST, generated=NOW, servers=(ghost,), visibility=())
    graph = build_graph(FOREST, sample_topology(), report, locations, doctor=doctor)
    node = graph.nodes["server:UNITY-GHOST"]
    assert (node["role"], node["reason"]) == ("missing", "location-missing")
    # every member misses it: one edge from the pool, not one from each member
    assert [
        (s, d)
        for s, _, k, d in graph.in_edges("server:UNITY-GHOST", keys=True, data=True)
        if k == "cannot-see"
    ] == [(f"pool:{FOREST}", {"kind": "cannot-see", "gc": "", "viewers": 7})]
    dot = to_dot(graph, title="t")
    assert "MISSING: location-missing" in dot
    assert "no pool member sees UNITY-GHOST (7 servers)" in dot
    # named viewers (a report built by hand) and GCs are drawn from where they are
    by_gc = ServerHealth(
        "UNITY-GHOST",
        None,
        (
            Finding(
                "location-missing",
                "error",
                Viewers(names=("UNITY-HQ1",), gcs=("DC4",), count=2),
                "e",
                "f",
            ),
        ),
    )
    doctor = DoctorReport(FOREST, NOW, (Visibility("DC4", ("UNITY-W1",), 1, ()),), (by_gc,))
    graph = build_graph(FOREST, sample_topology(), report, locations, doctor=doctor)
    assert {
        s for s, _, k in graph.in_edges("server:UNITY-GHOST", keys=True) if k == "cannot-see"
    } == {"server:UNITY-HQ1", "dc:DC4"}
