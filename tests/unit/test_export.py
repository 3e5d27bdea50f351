"""Exports of the pooling graph: DOT (clusters, escaping, highlights), GraphML, JSON, SVG."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import networkx as nx
import pytest

from poolsync.allocation import build_pool_report
from poolsync.doctor.model import DoctorReport, Monitor, Visibility
from poolsync.errors import MissingToolError, PoolsyncError
from poolsync.forest import ForestConfig, Site
from poolsync.graph.export import MISSING_DOT, to_dot, to_graphml, to_json, to_svg
from poolsync.graph.pooling import build_graph
from tests.support.graphs import (
    FOREST,
    HOMED,
    attachment,
    dc,
    loc,
    sample_graph,
    sample_locations,
    sample_topology,
)

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
HOSTILE = 'Q"uo\\te\\"} -> x [label=\\N]\n'


@pytest.fixture
def dot_program() -> str:
    """Graphviz's dot. Installed wherever these tests run: missing, the tests fail
    (with what to install) rather than skip, so SVG export cannot go untested."""
    found = shutil.which("dot")
    if found is None:
        pytest.fail("Graphviz's `dot` is not installed (apt-get install graphviz)")
    return found


def statement(dot: str, node: str) -> str:
    """The DOT statement declaring ``node`` (an already quoted id)."""
    (line,) = [ln.strip() for ln in dot.splitlines() if ln.strip().startswith(node + " [")]
    return line


def edge_statement(dot: str, source: str, target: str) -> list[str]:
    return [
        ln.strip()
        for ln in dot.splitlines()
        if ln.strip().startswith(f'"{source}" -> "{target}" [')
    ]


def clusters(dot: str) -> dict[str, list[str]]:
    """Cluster id -> the node ids declared inside it (one level of nesting)."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in dot.splitlines():
        head = re.match(r'\s*subgraph "(cluster_[^"]*)" \{', line)
        if head and head.group(1) == "cluster_legend":
            current = None  # the key, not a site
        elif head:
            current = head.group(1)
            found[current] = []
        elif line.strip() == "}":
            current = None
        elif current is not None and (node := re.match(r'\s*"([^"]+)" \[', line)):
            found[current].append(node.group(1))
    return found


def test_dot_has_one_cluster_per_site() -> None:
    dot = to_dot(sample_graph(), title="Pool lab.example.com")
    assert dot.startswith('digraph "pool-graph" {') and dot.rstrip().endswith("}")
    found = clusters(dot)
    assert sorted(found) == [
        "cluster_site_Branch-East",
        "cluster_site_Branch-West",
        "cluster_site_HQ",
    ]
    assert sorted(found["cluster_site_HQ"]) == [
        "dc:DC1",
        "dc:DC2",
        "server:UNITY-HQ1",
        "server:UNITY-HQ2",
        "server:UNITY-HQ2B",
        "server:UNITY-OLD",
        "server:UNITY-X",
    ]
    assert sorted(found["cluster_site_Branch-West"]) == [
        "dc:DC4",
        "server:UNITY-W1",
        "server:UNITY-W2",
    ]
    # UNITY-E3's DC monitor decides, not the default GC in HQ
    assert "server:UNITY-E3" in found["cluster_site_Branch-East"]
    # UNITY-OLD has only the default GC (DC1, in HQ); the pool is never in a cluster
    assert not any(f"pool:{FOREST}" in nodes for nodes in found.values())
    assert 'label="Pool lab.example.com"' in dot
    assert 'label="HQ"' in dot


def test_servers_without_monitor_are_outside_clusters() -> None:
    locations = [loc(1, "NOMON", attachment_text=attachment(10))]
    graph = build_graph(
        FOREST, sample_topology(), build_pool_report(FOREST, locations, {}), locations
    )
    dot = to_dot(graph)
    assert not any("server:NOMON" in nodes for nodes in clusters(dot).values())
    assert statement(dot, '"server:NOMON"')


def test_dot_labels_and_shapes() -> None:
    dot = to_dot(sample_graph())
    dc4 = statement(dot, '"dc:DC4"')
    assert 'label="DC4\\nGC\\ninbound off"' in dc4
    assert 'label="DC2"' in statement(dot, '"dc:DC2"')
    hq2 = statement(dot, '"server:UNITY-HQ2"')
    assert 'label="UNITY-HQ2\\nvm 350/300 (borrows 50)\\nDC DC2, GC DC1"' in hq2
    assert "DC+GC DC1" in statement(dot, '"server:UNITY-HQ1"')
    assert "GC DC1 (default)" in statement(dot, '"server:UNITY-OLD"')
    assert "excluded: pooling-disabled" in statement(dot, '"server:UNITY-E3"')
    assert "secondary of UNITY-HQ2" in statement(dot, '"server:UNITY-HQ2B"')
    assert "stale: vm" in statement(dot, '"server:UNITY-E1"')
    pool = statement(dot, f'"pool:{FOREST}"')
    assert 'shape="doubleoctagon"' in pool
    assert 'shape="box"' in hq2


def test_edges_styled() -> None:
    dot = to_dot(sample_graph())
    (member,) = edge_statement(dot, "server:UNITY-HQ1", f"pool:{FOREST}")
    assert "dashed" not in member and "dotted" not in member
    (excluded,) = edge_statement(dot, "server:UNITY-E3", f"pool:{FOREST}")
    assert 'style="dashed"' in excluded and 'label="pooling-disabled"' in excluded
    assert 'color="#8a8a8a"' in excluded
    (failover,) = edge_statement(dot, "server:UNITY-HQ2B", "server:UNITY-HQ2")
    assert 'style="dotted"' in failover
    (disabled,) = edge_statement(dot, "dc:DC3", "dc:DC2")
    assert 'color="#c62828"' in disabled and 'label="disabled"' in disabled
    assert 'style="dashed"' in disabled
    # an unusable connection and the missing path it causes: one line saying both
    (into_dc4,) = edge_statement(dot, "dc:DC1", "dc:DC4")
    assert 'label="unusable, no path"' in into_dc4 and 'style="dashed,bold"' in into_dc4
    (no_path,) = edge_statement(dot, "dc:DC2", "dc:DC4")
    assert 'style="dashed,bold"' in no_path and 'color="#c62828"' in no_path
    assert 'label="no path"' in no_path
    (ok,) = edge_statement(dot, "dc:DC1", "dc:DC2")
    assert "#c62828" not in ok
    (cannot,) = edge_statement(dot, "dc:DC4", "server:UNITY-HQ1")
    assert 'style="dashed,bold"' in cannot and 'color="#c62828"' in cannot
    # No label on the line (they piled up on busy forests): the legend and a tooltip.
    assert "label=" not in cannot
    assert 'tooltip="DC4\'s GC lacks UNITY-HQ1: 1 server monitoring it cannot see it"' in cannot
    assert 'subgraph "cluster_legend"' in dot and "cannot see" in dot.split("cluster_legend")[1]
    # site membership is drawn as clusters, not edges
    assert edge_statement(dot, "dc:DC1", "site:HQ") == []
    # monitors within the server's own site are in its label; across sites, an edge
    assert edge_statement(dot, "server:UNITY-HQ1", "dc:DC1") == []
    (cross,) = edge_statement(dot, "server:UNITY-E3", "dc:DC1")
    assert 'label="GC (default)"' in cross and 'style="invis"' not in cross
    # invisible edges only order the columns: DC, then its servers
    assert '"dc:DC3" -> "server:UNITY-E3" [style=invis, weight=2];' in dot


def hostile_graph() -> nx.MultiDiGraph:
    name = "UNITY" + HOSTILE
    locations = [
        loc(1, name, attachment_text=attachment(10)),
        loc(2, "PLAIN\\", attachment_text=attachment(10)),
    ]
    topology = ForestConfig(
        sites=(Site(name=HOSTILE, dn="CN=x"),), dcs=(dc("DC1", HOSTILE, gc=True),)
    )
    report = build_pool_report(FOREST, locations, {})
    doctor = DoctorReport(
        forest=FOREST,
        generated=NOW,
        servers=(),
        visibility=(Visibility(gc="DC1", viewers=("PLAIN\\",), holds=1, missing=(name,)),),
    )
    return build_graph(
        FOREST,
        topology,
        report,
        locations,
        (Monitor(name, dc="DC1"), Monitor("PLAIN\\", dc="DC1")),
        doctor=doctor,
    )


def test_hostile_names_are_escaped(dot_program: str) -> None:
    dot = to_dot(hostile_graph(), title='say "hi" \\N')
    escaped = 'Q\\"uo\\\\te\\\\\\"} -> x [label=\\\\N]'
    assert f'subgraph "cluster_site_{escaped}\\u000a" {{' in dot  # id: injective escape
    assert f'label="{escaped}\\n"' in dot  # label: newline is a line break
    assert '"server:PLAIN\\\\" [' in dot
    assert '"dc:DC1" -> "server:UNITY' in dot
    assert 'label="say \\"hi\\" \\\\N"' in dot
    # Graphviz reads it back as the same nodes and one cluster: nothing broke out
    canon = subprocess.run(
        [dot_program, "-Tcanon"], input=dot.encode(), capture_output=True, check=True
    ).stdout.decode()
    assert canon.count("subgraph") == 2  # the site's cluster, and the legend
    assert "-> x" not in canon.replace(escaped, "")
    svg = html.unescape(to_svg(dot, dot_binary=dot_program))
    # shown as written: quotes kept, backslashes single, \N not expanded to the node id
    assert '>say "hi" \\N</text>' in svg
    assert '>UNITYQ"uo\\te\\"} -> x [label=\\N]</text>' in svg
    assert ">PLAIN\\</text>" in svg
    assert 'lacks UNITYQ"uo\\te\\"} -> x [label=\\N]' in svg  # the cannot-see tooltip


def test_graphml_round_trips() -> None:
    graph = sample_graph()
    back = nx.read_graphml(io.StringIO(to_graphml(graph)), force_multigraph=True)
    assert isinstance(back, nx.MultiDiGraph)
    assert dict(back.nodes(data=True)) == dict(graph.nodes(data=True))
    assert sorted(back.edges(keys=True)) == sorted(graph.edges(keys=True))
    assert back.edges["dc:DC3", "dc:DC2", "replicates:CN=DC3-to-DC2,CN=DC2"]["enabled"] is False


def test_graphml_with_hostile_names() -> None:
    graph = hostile_graph()
    back = nx.read_graphml(io.StringIO(to_graphml(graph)), force_multigraph=True)
    assert set(back.nodes) == set(graph.nodes)


def test_json_shape() -> None:
    doc = to_json(sample_graph(), generated=NOW)
    assert doc["meta"] == {
        "type": "pool-graph",
        "version": 2,
        "generated": "2024-05-01T12:00:00+00:00",
    }
    assert doc["graph"] == {"forest": FOREST}
    ids = [n["id"] for n in doc["nodes"]]
    assert ids == sorted(ids) and len(ids) == 18
    hq2 = next(n for n in doc["nodes"] if n["id"] == "server:UNITY-HQ2")
    assert (hq2["kind"], hq2["role"], hq2["used_vm"]) == ("server", "member", 350)
    keys = [(e["source"], e["target"], e["key"]) for e in doc["edges"]]
    assert keys == sorted(keys)
    assert all({"source", "target", "key", "kind"} <= set(e) for e in doc["edges"])
    off = next(
        e
        for e in doc["edges"]
        if e["kind"] == "replicates" and (e["source"], e["target"]) == ("dc:DC3", "dc:DC2")
    )
    assert (off["enabled"], off["usable"], off["name"]) == (False, False, "DC3-to-DC2")
    assert json.loads(json.dumps(doc)) == doc
    assert to_json(sample_graph(), generated=NOW) == doc  # deterministic


def test_svg_renders_the_ten_server_forest(dot_program: str) -> None:
    svg = html.unescape(
        to_svg(to_dot(sample_graph(), title="lab.example.com"), dot_binary=dot_program)
    )
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and svg.rstrip().endswith("</svg>")
    for site in ("HQ", "Branch-East", "Branch-West"):
        assert f"<title>cluster_site_{site}</title>" in svg
        assert f">{site}</text>" in svg
    for n in ("HQ1", "HQ2", "HQ2B", "E1", "E2", "E3", "W1", "W2", "OLD", "X"):
        assert f">UNITY-{n}</text>" in svg


def test_svg_without_dot_is_a_missing_tool() -> None:
    with pytest.raises(MissingToolError) as info:
        to_svg("digraph {}", dot_binary="/nonexistent/bin/dot")
    assert str(info.value) == MISSING_DOT
    assert "apt-get install graphviz" in str(info.value)


def test_svg_dot_failure_carries_its_message(dot_program: str) -> None:
    with pytest.raises(PoolsyncError) as info:
        to_svg("digraph { this is not dot", dot_binary=dot_program)
    assert not isinstance(info.value, MissingToolError)
    assert "syntax error" in str(info.value)


def test_svg_timeout_is_an_error(tmp_path: Path) -> None:
    slow = tmp_path / "slow-dot"
    slow.write_text("#!/bin/sh\nexec sleep 10\n")
    slow.chmod(0o755)
    with pytest.raises(PoolsyncError, match=r"did not finish within 0\.2 s"):
        to_svg("digraph {}", dot_binary=str(slow), timeout=0.2)


def test_site_without_dc_and_dc_without_site(dot_program: str) -> None:
    topology = ForestConfig(sites=(Site(name="Empty", dn="CN=Empty"),), dcs=(dc("DC9", ""),))
    graph = build_graph(FOREST, topology, build_pool_report(FOREST, [], {}), [])
    dot = to_dot(graph)
    assert clusters(dot) == {"cluster_site_Empty": ["site:Empty"]}
    assert 'label="(no DC)"' in statement(dot, '"site:Empty"')
    assert statement(dot, '"dc:DC9"')  # outside any cluster
    assert "<title>cluster_site_Empty</title>" in to_svg(dot, dot_binary=dot_program)


def test_two_way_replication_is_one_edge_with_two_heads() -> None:
    dot = to_dot(sample_graph(), title="t")
    between = [line for line in dot.splitlines() if re.search(r'"dc:DC[12]" -> "dc:DC[12]"', line)]
    assert len(between) == 1 and 'dir="both"' in between[0]  # DC1 <-> DC2
    # One way only (DC3 -> DC1 usable, DC1 -> DC3 too: both ways) vs DC4 -> DC1, whose
    # return is unusable (DC4 refuses inbound): that one keeps its single head.
    into_dc1 = [line for line in dot.splitlines() if '"dc:DC4" -> "dc:DC1"' in line]
    assert into_dc1 and 'dir="both"' not in into_dc1[0]


def test_servers_sharing_a_gc_that_lacks_a_server_draw_one_arrow_from_the_gc() -> None:
    locations = sample_locations()
    report = build_pool_report(FOREST, locations, HOMED)
    viewers = ("UNITY-W1", "UNITY-W2")
    doctor = DoctorReport(
        forest=FOREST,
        generated=NOW,
        servers=(),
        visibility=(Visibility(gc="DC4", viewers=viewers, holds=9, missing=("UNITY-HQ1",)),),
    )
    graph = build_graph(
        FOREST,
        sample_topology(),
        report,
        locations,
        tuple(Monitor(v, dc="DC4", gc="DC4") for v in viewers),
        doctor=doctor,
    )
    assert sum(1 for *_, k in graph.edges(keys=True) if k == "cannot-see") == 1  # the model
    dot = to_dot(graph, title="t")
    arrows = [
        line
        for line in dot.splitlines()
        if '-> "server:UNITY-HQ1"' in line and "dashed,bold" in line
    ]
    assert len(arrows) == 1 and arrows[0].startswith('  "dc:DC4" ->')  # the picture
    assert "DC4's GC lacks UNITY-HQ1: 2 servers monitoring it cannot see it" in arrows[0]


def test_graphml_stays_valid_xml_with_control_characters_in_names() -> None:
    import defusedxml.ElementTree as SafeET

    locations = [
        loc(1, "UNITY-\x01BELL\x07", attachment_text=attachment(100)),
        loc(2, "UNITY-OK", attachment_text=attachment(100)),
    ]
    report = build_pool_report(FOREST, locations, {})
    graph = build_graph(FOREST, sample_topology(), report, locations)
    text = to_graphml(graph)
    root = SafeET.fromstring(text.encode())  # raised "not well-formed" before
    assert "UNITY-\\x01BELL\\x07" in text
    assert root.tag.endswith("graphml")
